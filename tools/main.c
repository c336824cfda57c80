/* energymeter: the command line tool. Dispatches subcommands; each lives in its own file. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "energymeter/energymeter.h"

int usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("energymeter: ", stderr);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'energymeter %s--help')\n", cmd ? cmd : "");
    va_end(ap);
    return EXIT_USAGE;
}

int option_error(const char *cmd, int c, char **argv)
{
    char ctx[32];
    snprintf(ctx, sizeof ctx, "%s ", cmd);
    if (c == ':')
        return usage_error(ctx, "%s: option '%s' needs a value", cmd, argv[optind - 1]);
    return usage_error(ctx, "%s: unknown option '%s'", cmd, argv[optind - 1]);
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
    if (*s == '-' || *s == '+')
        return -1;
    unsigned long v = strtoul(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE || v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

void help_main(FILE *f)
{
    fputs("Usage: energymeter [--version] [--help] COMMAND [ARGS]\n"
          "\n"
          "Measure the energy a program costs, per component (CPU packages, DRAM, GPUs,\n"
          "storage) and per device, in joules.\n"
          "\n"
          "Commands:\n"
          "  stat [OPTIONS] -- CMD [ARGS...]  run CMD and report the energy it cost\n"
          "  list [--json]                    show every energy source, usable or not, and why\n"
          "  calibrate [--duration S]         measure and store idle power (idle/dynamic split)\n"
          "  monitor [--interval MS] [--duration S] [--json|--csv]\n"
          "                                   live power per component and device\n"
          "  serve [--listen ADDR:PORT] [--interval MS]\n"
          "                                   Prometheus exporter (/metrics, loopback by default)\n"
          "\n"
          "'energymeter COMMAND --help' describes a command; 'man energymeter' has more.\n"
          "Environment: ENERGYMETER_SYSFS_ROOT, ENERGYMETER_LOG (see the README).\n",
          f);
}

void help_list(FILE *f)
{
    fputs("Usage: energymeter list [--json]\n"
          "\n"
          "List every energy source energymeter knows, every zone or device it found,\n"
          "which one is used for each component, and for the others why not and a safe\n"
          "way to fix it.\n"
          "\n"
          "  -j, --json   machine-readable output (schema energymeter-list/1)\n"
          "  -h, --help   this help\n",
          f);
}

int cmd_list(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    int json = 0, c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":jh", longopts, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = 1;
            break;
        case 'h':
            help_list(stdout);
            return 0;
        default:
            return usage_error("list ", "list: unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("list ", "list: unexpected argument '%s'", argv[optind]);
    char *text = NULL;
    int err = em_list_sources(json ? EM_FORMAT_JSON : EM_FORMAT_TEXT, &text);
    if (err) {
        fprintf(stderr, "energymeter: list: %s\n", em_strerror(err));
        return 1;
    }
    fputs(text, stdout);
    em_free(text);
    return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        help_main(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("energymeter %s\n", em_version());
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        help_main(stdout);
        return 0;
    }
    if (strcmp(cmd, "help") == 0) {
        const char *topic = argc > 2 ? argv[2] : "";
        if (strcmp(topic, "stat") == 0)
            help_stat(stdout);
        else if (strcmp(topic, "list") == 0)
            help_list(stdout);
        else if (strcmp(topic, "calibrate") == 0)
            help_calibrate(stdout);
        else if (strcmp(topic, "monitor") == 0)
            help_monitor(stdout);
        else if (strcmp(topic, "serve") == 0)
            help_serve(stdout);
        else
            help_main(stdout);
        return 0;
    }
    if (strcmp(cmd, "stat") == 0)
        return cmd_stat(argc - 1, argv + 1);
    if (strcmp(cmd, "list") == 0)
        return cmd_list(argc - 1, argv + 1);
    if (strcmp(cmd, "calibrate") == 0)
        return cmd_calibrate(argc - 1, argv + 1);
    if (strcmp(cmd, "monitor") == 0)
        return cmd_monitor(argc - 1, argv + 1);
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argc - 1, argv + 1);
    if (cmd[0] == '-')
        return usage_error(NULL, "unknown option '%s'", cmd);
    return usage_error(NULL, "unknown command '%s'", cmd);
}
