/*
 * energymeter calibrate: measure idle power per component and device and
 * store it, so that later reports split joules into idle and dynamic parts.
 */
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "energymeter/energymeter.h"
#include "options.h"

void help_calibrate(FILE *f)
{
    fputs("Usage: energymeter calibrate [--duration S] [--baseline-file PATH] [--json]\n"
          "\n"
          "Measure the machine's idle power per component and device for S seconds\n"
          "(default 10; keep the machine otherwise idle) and store it. Later 'stat'\n"
          "reports carry idle_joules and dynamic_joules beside joules.\n"
          "\n"
          "  -d, --duration S        how long to measure (0.1 to 3600 s, default 10)\n"
          "  -f, --baseline-file P   where to store it (default: $ENERGYMETER_BASELINE, else\n"
          "                          /var/lib/energymeter/baseline.json for root, else\n"
          "                          $XDG_STATE_HOME/energymeter/baseline.json)\n"
          "  -j, --json              print the idle window's report as JSON\n"
          "  -h, --help              this help\n",
          f);
}

struct calibrate_args {
    double seconds;
    const char *path; /* NULL: the default baseline path */
    int json;
};

/* 0 to go on, -1 after --help, else the exit status of a usage error. */
static int parse_args(int argc, char **argv, struct calibrate_args *a)
{
    static const struct option longopts[] = {
        {"duration", required_argument, NULL, 'd'},
        {"baseline-file", required_argument, NULL, 'f'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    int c;
    a->seconds = 10;
    options_reset();
    while ((c = getopt_long(argc, argv, ":d:f:jh", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            if (parse_seconds("calibrate", "--duration", optarg, 0.1, 3600, &a->seconds))
                return EXIT_USAGE;
            break;
        case 'f':
            a->path = optarg;
            break;
        case 'j':
            a->json = 1;
            break;
        case 'h':
            help_calibrate(stdout);
            return -1;
        default:
            return option_error("calibrate", c, argv);
        }
    }
    if (optind < argc)
        return operand_error("calibrate", argv);
    return 0;
}

/* The idle power of every component a sensor measures, and of its devices. */
static void print_idle_power(const em_report *r)
{
    size_t stored = 0;
    printf("Idle power over %.3f s:\n", em_report_duration_s(r));
    for (size_t i = 0; i < em_report_component_count(r); i++) {
        if (em_component_status(r, i) != EM_STATUS_MEASURED)
            continue;
        double t = em_report_duration_s(r);
        printf("  %-12s %10.3f W\n", em_component_name(r, i), em_component_joules(r, i) / t);
        for (size_t d = 0; d < em_component_device_count(r, i); d++)
            printf("    %-10s %10.3f W\n", em_device_name(r, i, d), em_device_joules(r, i, d) / t);
        stored++;
    }
    if (!stored)
        printf("  (no component is measured by a sensor here: nothing to subtract later)\n");
}

/* Measure for a->seconds with a meter of sensors only, store the baseline in
 * path and show it: the exit status. */
static int calibrate(const struct calibrate_args *a, const char *path)
{
    em_options o;
    em_options_init(&o);
    o.label = "idle baseline";
    o.no_estimates = 1; /* an estimate's idle power is an assumption, not a measurement */
    o.ignore_disk = 1;
    em_meter *m = NULL;
    if (em_meter_new(&o, &m))
        return meter_error(NULL);
    int rc = 0;
    fprintf(stderr, "energymeter: measuring idle power for %g s; keep the machine idle\n",
            a->seconds);
    if (em_meter_calibrate(m, a->seconds) || em_meter_save_baseline(m, path)) {
        rc = meter_error(m);
    } else {
        em_report *r = em_meter_report(m);
        if (a->json)
            em_report_write(r, EM_FORMAT_JSON, stdout);
        else
            print_idle_power(r);
        fprintf(stderr, "energymeter: baseline stored in %s\n", path);
    }
    em_meter_free(m);
    return rc;
}

int cmd_calibrate(int argc, char **argv)
{
    struct calibrate_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (a.path)
        return calibrate(&a, a.path);
    char def[PATH_MAX];
    if (em_baseline_default_path(def, sizeof def)) {
        fprintf(stderr, "energymeter: no default baseline path: give --baseline-file\n");
        return 1;
    }
    return calibrate(&a, def);
}
