/*
 * The report is plain data: what a window measured (its readings, taken over
 * from the meter), the command that ran, and the totals, computed here once.
 * Outputs only read it (src/outputs/), through a const pointer.
 */
#ifndef EM_REPORT_REPORT_H
#define EM_REPORT_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "core/reading.h"

struct em_baseline;

struct em_report {
    struct em_readings win; /* components, devices, warnings, time series */
    double total_joules;
    char **argv;
    int argc;
    int has_exit_status;
    int exit_status;
};

/*
 * The report of a window, built from its readings in one pass: it takes
 * them over (*w is left empty, whatever the result), sums devices into
 * components and components into the total, and with a baseline (NULL:
 * none) adds idle_joules and dynamic_joules. EM_ERR_NOMEM (nothing is
 * returned then).
 */
EM_INTERNAL int em_report_build(struct em_readings *w, const struct em_baseline *baseline,
                                struct em_report **out);
/* The sums and the total (em_report_build() does it; doing it again gives
 * the same figures, and drops components whose status was set to
 * unavailable by hand). */
EM_INTERNAL void em_report_finish(struct em_report *r);
/* em_report_free() is public (include/energymeter/energymeter.h). */

/* Mean power of a device over series interval i (0-based), NaN when unknown. */
EM_INTERNAL double em_report_device_power_at(const struct em_report *r,
                                             const struct em_reading_device *d, size_t i);

#endif
