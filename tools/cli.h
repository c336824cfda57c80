/* Shared pieces of the energymeter command line tool. */
#ifndef EM_CLI_H
#define EM_CLI_H

#include <stdio.h>

/* Exit status for bad usage (like perf and getopt-based tools). */
#define EXIT_USAGE 2
/* Exit status when the command cannot be run (like a shell). */
#define EXIT_NOEXEC 127

/* Print "energymeter: MESSAGE" (plus a hint to --help) on stderr; return EXIT_USAGE. */
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Strict number parsing: the whole string, finite, >= 0. 0 on success. */
int parse_nonneg_double(const char *s, double *out);
int parse_uint(const char *s, unsigned max, unsigned *out);

int cmd_stat(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_calibrate(int argc, char **argv);
int cmd_monitor(int argc, char **argv);
int cmd_serve(int argc, char **argv);

void help_main(FILE *f);
void help_stat(FILE *f);
void help_list(FILE *f);
void help_calibrate(FILE *f);
void help_monitor(FILE *f);
void help_serve(FILE *f);

#endif
