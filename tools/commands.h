/*
 * The subcommands that main() (tools/main.c) dispatches to, one file each:
 * cmd_NAME runs "energymeter NAME ARGS..." with argv[0] the name and returns
 * the exit status; help_NAME prints its help.
 */
#ifndef EM_COMMANDS_H
#define EM_COMMANDS_H

#include <stdio.h>

int cmd_stat(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_calibrate(int argc, char **argv);
int cmd_monitor(int argc, char **argv);
int cmd_serve(int argc, char **argv);

void help_stat(FILE *f);
void help_list(FILE *f);
void help_calibrate(FILE *f);
void help_monitor(FILE *f);
void help_serve(FILE *f);

#endif
