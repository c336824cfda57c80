/*
 * Option parsing and error reporting shared by the subcommands: one wording
 * for every usage error, so that "energymeter: CMD: ... (see 'energymeter
 * CMD --help')" reads the same whichever subcommand prints it, and one
 * strict reading of numbers (no trailing junk, no sign, no inf or nan).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "options.h"

void options_reset(void)
{
    opterr = 0;
    optind = 1;
}

int usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("energymeter: ", stderr);
    if (cmd)
        fprintf(stderr, "%s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'energymeter %s%s--help')\n", cmd ? cmd : "", cmd ? " " : "");
    va_end(ap);
    return EXIT_USAGE;
}

int option_error(const char *cmd, int c, char **argv)
{
    if (c == ':')
        return usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
    return usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
}

int operand_error(const char *cmd, char **argv)
{
    return usage_error(cmd, "unexpected argument '%s'", argv[optind]);
}

int parse_nonneg_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v) || v < 0)
        return -1;
    *out = v;
    return 0;
}

int parse_uint(const char *s, unsigned max, unsigned *out)
{
    char *end;
    errno = 0;
    /* strtoul() takes a sign, and "-1" would wrap to a huge number. */
    if (*s == '-' || *s == '+')
        return -1;
    unsigned long v = strtoul(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE || v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

int parse_amount(const char *cmd, const char *opt, const char *arg, const char *unit, int positive,
                 double *out)
{
    double v;
    if (parse_nonneg_double(arg, &v) || (positive && v == 0))
        return usage_error(cmd, "%s wants %s %s 0, not '%s'", opt, unit,
                           positive ? ">" : ">=", arg);
    *out = v;
    return 0;
}

int parse_seconds(const char *cmd, const char *opt, const char *arg, double min, double max,
                  double *out)
{
    double v;
    if (parse_nonneg_double(arg, &v) || v < min || v > max)
        return usage_error(cmd, "%s wants seconds from %g to %g, not '%s'", opt, min, max, arg);
    *out = v;
    return 0;
}

int parse_ms(const char *cmd, const char *opt, const char *arg, unsigned min, unsigned max,
             unsigned *out)
{
    unsigned v;
    if (parse_uint(arg, max, &v) || v < min)
        return usage_error(cmd, "%s wants milliseconds from %u to %u, not '%s'", opt, min, max,
                           arg);
    *out = v;
    return 0;
}

int parse_interval(const char *cmd, const char *arg, unsigned min_ms, unsigned *out)
{
    return parse_ms(cmd, "--interval", arg, min_ms, 3600000, out);
}

int parse_duration(const char *cmd, const char *arg, double *out)
{
    double v;
    /* The cap keeps the deadline arithmetic of tools/windows.c far from
     * overflow; nobody means more than 30 years. */
    if (parse_nonneg_double(arg, &v) || v == 0 || v > 1e9)
        return usage_error(cmd, "--duration wants seconds > 0, not '%s'", arg);
    *out = v;
    return 0;
}

int meter_error(const em_meter *m)
{
    fprintf(stderr, "energymeter: %s\n", em_meter_errmsg(m));
    return 1;
}
