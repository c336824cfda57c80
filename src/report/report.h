/*
 * The report is plain data: per component and device, joules, status,
 * source, uncertainty, reason and warnings. Totals are computed here, once;
 * outputs only format it.
 */
#ifndef EM_REPORT_H
#define EM_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

/* An extra key of a component or device in the JSON report (read_bytes,
 * model, ...): sources add what they know beyond joules. */
enum em_extra_kind {
    EM_EXTRA_NUMBER = 0,
    EM_EXTRA_INTEGER = 1,
    EM_EXTRA_STRING = 2,
    EM_EXTRA_BOOL = 3,
};

struct em_report_extra {
    char *key;
    enum em_extra_kind kind;
    double num;
    char *str;
};

struct em_report_extras {
    struct em_report_extra *v;
    size_t n;
};

struct em_report_device {
    char *name;
    double joules;
    double uncertainty_j;
    struct em_report_extras extras;
    double *series_j; /* cumulative joules at each time-series sample (origin first); NULL */
};

struct em_report_component {
    char *name;
    em_status status;
    double joules;        /* NaN when unavailable */
    double uncertainty_j; /* NaN when unavailable */
    char *source;         /* NULL when unavailable */
    char *reason;         /* NULL unless unavailable */
    int in_total;
    int degraded;
    struct em_report_device *devices;
    size_t ndevices;
    struct em_report_extras extras;
};

struct em_report {
    char *label;
    int64_t start_ns, end_ns; /* wall clock */
    double duration_s;        /* monotonic */
    char **argv;
    int argc;
    int has_exit_status;
    int exit_status;
    int include_idle;
    struct em_report_component *comps;
    size_t ncomps;
    char **warnings;
    size_t nwarnings;
    double total_joules;

    /* Time series: sample_t[0] = 0 is the window's start, sample_t[1..nsamples]
     * the end of each interval (seconds since the start). */
    size_t nsamples;
    double *sample_t;
    double series_interval_s; /* the interval after downsampling */
    unsigned series_downsampled_by;
};

EM_INTERNAL struct em_report *em_report_new(const char *label, int include_idle);
EM_INTERNAL void em_report_free(struct em_report *r);
/* A new measured component (status and values set by the caller or by
 * em_report_finish); NULL when out of memory. The pointer is into an array
 * that the next add reallocates: fill one component before adding another. */
EM_INTERNAL struct em_report_component *em_report_add_component(struct em_report *r,
                                                                const char *name);
EM_INTERNAL int em_report_set_unavailable(struct em_report_component *c, const char *reason);
EM_INTERNAL int em_report_add_device(struct em_report_component *c, const char *name, double joules,
                                     double uncertainty_j);
/* Time series: copy the sample times (n + 1 values, origin first) into r,
 * and a device's cumulative joules (as many values) into the last device
 * added to c. EM_ERR_NOMEM. */
EM_INTERNAL int em_report_set_series(struct em_report *r, const double *t, size_t n,
                                     double interval_s, unsigned downsampled_by);
EM_INTERNAL int em_report_set_device_series(struct em_report *r, struct em_report_component *c,
                                            const double *j, size_t stride);
/* Mean power of a device over interval i (0-based), NaN when unknown. */
EM_INTERNAL double em_report_device_power_at(const struct em_report *r,
                                             const struct em_report_device *d, size_t i);
/* Set (or replace) an extra key; strings are copied. EM_ERR_NOMEM. */
EM_INTERNAL int em_extras_set_number(struct em_report_extras *x, const char *key, double v);
EM_INTERNAL int em_extras_set_integer(struct em_report_extras *x, const char *key, double v);
EM_INTERNAL int em_extras_set_bool(struct em_report_extras *x, const char *key, int v);
EM_INTERNAL int em_extras_set_string(struct em_report_extras *x, const char *key, const char *v);
EM_INTERNAL const struct em_report_extra *em_extras_get(const struct em_report_extras *x,
                                                        const char *key);
EM_INTERNAL void em_extras_free(struct em_report_extras *x);
/* Append ", \"key\": value" for each extra (JSON). */
EM_INTERNAL void em_extras_json(const struct em_report_extras *x, struct em_buf *b,
                                const char *sep);
EM_INTERNAL int em_report_add_warning(struct em_report *r, const char *fmt, ...) EM_PRINTF(2, 3);
/* Sum devices into components (for those with devices) and components into
 * the total. */
EM_INTERNAL void em_report_finish(struct em_report *r);

/* Formatters (output_text.c, output_json.c, output_csv.c, output_svg.c). */
EM_INTERNAL void em_format_text(const struct em_report *r, struct em_buf *b);
EM_INTERNAL void em_format_json(const struct em_report *r, struct em_buf *b);
EM_INTERNAL void em_format_csv(const struct em_report *r, struct em_buf *b);
EM_INTERNAL void em_format_svg(const struct em_report *r, struct em_buf *b);

#endif
