/*
 * What the subcommands share for reading their options and for reporting
 * errors (tools/options.c). It calls nothing else of tools/, so every
 * subcommand can use it without a circle.
 */
#ifndef EM_OPTIONS_H
#define EM_OPTIONS_H

#include "energymeter/energymeter.h"

/* Exit status for bad usage (like perf and getopt-based tools). */
#define EXIT_USAGE 2

/* Prepare getopt_long() for a subcommand's argv (argv[0] is its name): from
 * the start, and silent, as our own messages say what went wrong. */
void options_reset(void);

/* Print "energymeter: CMD: MESSAGE (see 'energymeter CMD --help')" on
 * stderr, or without CMD when it is NULL (the top level); return EXIT_USAGE. */
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The usage error for what getopt_long() returned that no case took: a
 * missing value (':') or an unknown option of subcommand cmd ("stat"). */
int option_error(const char *cmd, int c, char **argv);

/* The usage error for argv[optind], an argument cmd does not take. */
int operand_error(const char *cmd, char **argv);

/* Strict number parsing: the whole string, finite, >= 0 (at most max). 0 on
 * success; *out is left alone on failure. */
int parse_nonneg_double(const char *s, double *out);
int parse_uint(const char *s, unsigned max, unsigned *out);

/*
 * The value arg of option opt ("--cpu-tdp") of cmd, checked, into *out: 0,
 * or the exit status of the usage error printed ("CMD: OPT wants ..., not
 * 'ARG'"), with *out left alone.
 */

/* A quantity in unit ("watts"), > 0 when positive, else >= 0. */
int parse_amount(const char *cmd, const char *opt, const char *arg, const char *unit, int positive,
                 double *out);
/* Seconds from min to max. */
int parse_seconds(const char *cmd, const char *opt, const char *arg, double min, double max,
                  double *out);
/* Whole milliseconds from min to max. */
int parse_ms(const char *cmd, const char *opt, const char *arg, unsigned min, unsigned max,
             unsigned *out);
/* --interval MS (min_ms to 3600000) and --duration S (> 0), alike for every
 * subcommand that takes them. */
int parse_interval(const char *cmd, const char *arg, unsigned min_ms, unsigned *out);
int parse_duration(const char *cmd, const char *arg, double *out);

/* Print the library's message for what failed last on m (or in
 * em_meter_new() when m is NULL) as "energymeter: MESSAGE"; return 1. */
int meter_error(const em_meter *m);

#endif
