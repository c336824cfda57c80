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

#include "cli.h"
#include "energymeter/energymeter.h"

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

int cmd_calibrate(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"duration", required_argument, NULL, 'd'},
        {"baseline-file", required_argument, NULL, 'f'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    double seconds = 10;
    const char *path = NULL;
    int json = 0, c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":d:f:jh", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            if (parse_nonneg_double(optarg, &seconds) || seconds < 0.1 || seconds > 3600)
                return usage_error("calibrate ",
                                   "calibrate: --duration wants seconds from 0.1 to 3600, not "
                                   "'%s'",
                                   optarg);
            break;
        case 'f':
            path = optarg;
            break;
        case 'j':
            json = 1;
            break;
        case 'h':
            help_calibrate(stdout);
            return 0;
        default:
            return option_error("calibrate", c, argv);
        }
    }
    if (optind < argc)
        return usage_error("calibrate ", "calibrate: unexpected argument '%s'", argv[optind]);

    char def[PATH_MAX];
    if (!path) {
        if (em_baseline_default_path(def, sizeof def)) {
            fprintf(stderr, "energymeter: no default baseline path: give --baseline-file\n");
            return 1;
        }
        path = def;
    }
    em_options o;
    em_options_init(&o);
    o.label = "idle baseline";
    o.no_estimates = 1; /* an estimate's idle power is an assumption, not a measurement */
    o.ignore_disk = 1;
    em_meter *m = NULL;
    if (em_meter_new(&o, &m)) {
        fprintf(stderr, "energymeter: %s\n", em_meter_errmsg(NULL));
        return 1;
    }
    int rc = 0;
    fprintf(stderr, "energymeter: measuring idle power for %g s; keep the machine idle\n", seconds);
    if (em_meter_calibrate(m, seconds) || em_meter_save_baseline(m, path)) {
        fprintf(stderr, "energymeter: %s\n", em_meter_errmsg(m));
        rc = 1;
        goto cleanup;
    }
    em_report *r = em_meter_report(m);
    if (json) {
        em_report_write(r, EM_FORMAT_JSON, stdout);
    } else {
        size_t stored = 0;
        printf("Idle power over %.3f s:\n", em_report_duration_s(r));
        for (size_t i = 0; i < em_report_component_count(r); i++) {
            if (em_component_status(r, i) != EM_STATUS_MEASURED)
                continue;
            double t = em_report_duration_s(r);
            printf("  %-12s %10.3f W\n", em_component_name(r, i), em_component_joules(r, i) / t);
            for (size_t d = 0; d < em_component_device_count(r, i); d++)
                printf("    %-10s %10.3f W\n", em_device_name(r, i, d),
                       em_device_joules(r, i, d) / t);
            stored++;
        }
        if (!stored)
            printf("  (no component is measured by a sensor here: nothing to subtract later)\n");
    }
    fprintf(stderr, "energymeter: baseline stored in %s\n", path);
cleanup:
    em_meter_free(m);
    return rc;
}
