/*
 * What a window measured: per component and device, joules, status, source,
 * uncertainty, the reason when unavailable, extra keys, the window's
 * warnings and its time series. Plain data: at the window's end the meter
 * fills it in one pass (core/window.c), with the sources that build a
 * component of their own (storage, estimates) or add to one (a GPU's UUID),
 * and the report is built from it in one function (report/report.c).
 */
#ifndef EM_CORE_READING_H
#define EM_CORE_READING_H

#include <stddef.h>
#include <stdint.h>

#include "util/extras.h"
#include "util/util.h"

/* Longest component or device name a channel holds ("package-0"), NUL included. */
#define EM_NAME_MAX 48

struct em_reading_device {
    char *name;
    double joules;
    double uncertainty_j;
    struct em_extras extras;
    double *series_j; /* cumulative joules at each time-series sample (origin first); NULL */
};

/* One component. */
struct em_reading {
    char *name;
    em_status status;
    double joules;        /* without devices, the component's own value (a tree total);
                             with devices, the report sums them instead */
    double uncertainty_j; /* likewise */
    char *source;         /* NULL when unavailable */
    char *reason;         /* NULL unless unavailable */
    int in_total;
    int degraded;
    struct em_reading_device *devices;
    size_t ndevices;
    struct em_extras extras;
};

/* A whole window. */
struct em_readings {
    char *label;
    char *window; /* a named window's name; NULL for begin()/end() */
    int include_idle;
    int64_t start_ns, end_ns; /* wall clock */
    double duration_s;        /* monotonic */
    struct em_reading *comps;
    size_t ncomps;
    char **warnings;
    size_t nwarnings;
    /* Time series: sample_t[0] = 0 is the window's start, sample_t[1..nsamples]
     * the end of each interval (seconds since the start). */
    size_t nsamples;
    double *sample_t;
    double series_interval_s; /* the interval after downsampling */
    unsigned series_downsampled_by;
};

/* The components every report has, in this order (then extras such as psys,
 * in the order channels name them). */
#define EM_NFIXED 4
EM_INTERNAL extern const char *const em_fixed_components[EM_NFIXED];

/* An empty window (label copied; NULL: none). EM_ERR_NOMEM. */
EM_INTERNAL int em_readings_init(struct em_readings *w, const char *label, int include_idle);
/* Free what w holds and leave it empty. */
EM_INTERNAL void em_readings_free(struct em_readings *w);
/* A new measured component, named; NULL when out of memory. The pointer is
 * into an array that the next add reallocates: fill one component before
 * adding another. */
EM_INTERNAL struct em_reading *em_readings_add(struct em_readings *w, const char *name);
/* The component called name, or NULL. */
EM_INTERNAL struct em_reading *em_readings_find(struct em_readings *w, const char *name);
EM_INTERNAL int em_readings_warn(struct em_readings *w, const char *fmt, ...) EM_PRINTF(2, 3);
/* Time series: copy the sample times (n + 1 values, origin first) into w,
 * and a device's cumulative joules (as many values, stride apart) into the
 * last device added to c. EM_ERR_NOMEM, EM_ERR_INVALID. */
EM_INTERNAL int em_readings_set_series(struct em_readings *w, const double *t, size_t n,
                                       double interval_s, unsigned downsampled_by);
EM_INTERNAL int em_reading_set_device_series(const struct em_readings *w, struct em_reading *c,
                                             const double *j, size_t stride);

/* Unavailable, with the reason (copied; may be c's own): joules, source and
 * devices go, so that nothing claims a value the component does not have. */
EM_INTERNAL int em_reading_set_unavailable(struct em_reading *c, const char *reason);
/* Replace the source name (copied). EM_ERR_NOMEM. */
EM_INTERNAL int em_reading_set_source(struct em_reading *c, const char *source);
EM_INTERNAL int em_reading_add_device(struct em_reading *c, const char *name, double joules,
                                      double uncertainty_j);
/* The device called name, or NULL. */
EM_INTERNAL struct em_reading_device *em_reading_find_device(struct em_reading *c,
                                                             const char *name);

#endif
