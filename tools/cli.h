/* Shared pieces of the energymeter command line tool. */
#ifndef EM_CLI_H
#define EM_CLI_H

#include <stdio.h>

#include "energymeter/energymeter.h"

/* Exit status for bad usage (like perf and getopt-based tools). */
#define EXIT_USAGE 2
/* Exit status when the command cannot be run (like a shell). */
#define EXIT_NOEXEC 127

/* Print "energymeter: MESSAGE" (plus a hint to --help) on stderr; return EXIT_USAGE. */
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The usage error for what getopt_long() returned that no case took: a
 * missing value (':') or an unknown option of subcommand cmd ("stat"). */
int option_error(const char *cmd, int c, char **argv);

/* Strict number parsing: the whole string, finite, >= 0. 0 on success. */
int parse_nonneg_double(const char *s, double *out);
int parse_uint(const char *s, unsigned max, unsigned *out);

/* Back-to-back windows on one meter (tools/windows.c), for monitor and serve. */
struct windows {
    double interval_s;
    double duration_s; /* 0: until stopped; the last window ends exactly then */
    int keep_cut;      /* hand over a window cut short by SIGINT/SIGTERM too */
    /* Each window's report (valid until it returns) and when it ended,
     * seconds since the first began: 0 to go on, > 0 to stop with that exit
     * status, < 0 to stop with 0. */
    int (*each)(em_report *r, double t_s, void *ctx);
    void *ctx;
};

/* --interval MS (min_ms to 3600000) and --duration S (> 0) of monitor and
 * serve: 0, or the exit status of the usage error printed. */
int parse_interval(const char *cmd, const char *arg, unsigned min_ms, unsigned *out);
int parse_duration(const char *cmd, const char *arg, double *out);

/* SIGINT and SIGTERM end the current window (and run_windows()); SIGPIPE is
 * ignored. Call before creating the meter, so that a signal then is not fatal. */
void catch_stop_signals(void);

/* Run windows until stopped, the duration is over or each() says so; the
 * exit status (1 after a library error, with its message on stderr). */
int run_windows(em_meter *m, const struct windows *w);

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
