/*
 * Running totals over many windows (src/totals.c), for an exporter: what
 * every component and device saw, summed over the reports added, and the
 * last window's power. Formatted by outputs/prom.c.
 */
#ifndef EM_TOTALS_H
#define EM_TOTALS_H

#include <stddef.h>
#include <stdint.h>

#include "report.h"

struct em_totals_device {
    char *name;
    double joules;     /* summed over the windows it was measured in */
    double last_watts; /* the last window's mean power; NaN when not measured then */
    /* Disk devices: summed bytes and busy time (has_disk once a window had them). */
    int has_disk;
    double read_bytes, write_bytes, busy_s;
};

struct em_totals_component {
    char *name;
    int in_total;
    int ever_measured; /* some window had it measured or estimated */
    double joules, uncertainty_j;
    unsigned long degraded_windows;
    /* The last window's view: status, source or reason, power. */
    em_status status;
    char *source, *reason;
    double last_watts;
    int has_disk;
    double read_bytes, write_bytes, busy_s;
    struct em_totals_device *devices;
    size_t ndevices;
};

struct em_totals {
    struct em_totals_component *comps;
    size_t ncomps;
    unsigned long windows, warnings;
    double seconds; /* summed window durations */
    double gaps_s;  /* time between one window's end and the next's start */
    double last_duration_s;
    int64_t last_end_ns; /* wall clock, 0 before the first window */
};

#endif
