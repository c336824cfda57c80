/*
 * energymeter: measure the energy that a piece of work costs on Linux.
 *
 * One opaque handle (em_meter) owns the sources, a sampler thread and the
 * last report. Every function returns 0 or a negative EM_ERR_* code; the
 * handle keeps a message that names the file and the fix
 * (em_meter_errmsg()). The library never prints and never exits: logging
 * goes to a callback that is silent by default (or to stderr when the
 * environment variable ENERGYMETER_LOG is set).
 */
#ifndef ENERGYMETER_ENERGYMETER_H
#define ENERGYMETER_ENERGYMETER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define EM_API __attribute__((visibility("default")))
#else
#define EM_API
#endif

#define EM_VERSION_MAJOR 0
#define EM_VERSION_MINOR 2
#define EM_VERSION_PATCH 0
#define EM_VERSION_STRING "0.2.0"
/* MAJOR * 10000 + MINOR * 100 + PATCH, for compile-time comparisons. */
#define EM_VERSION_NUMBER (EM_VERSION_MAJOR * 10000 + EM_VERSION_MINOR * 100 + EM_VERSION_PATCH)

/* The version of the library actually loaded ("0.2.0"). */
EM_API const char *em_version(void);

/* ------------------------------------------------------------------ errors */

/*
 * Append only, never renumber: programs built against an older header, and
 * the Python package, compare these values. A new code takes the next
 * negative number and a line in em_strerror().
 */
enum em_error {
    EM_OK = 0,
    EM_ERR_INVALID = -1,     /* invalid argument or option */
    EM_ERR_NOMEM = -2,       /* out of memory */
    EM_ERR_STATE = -3,       /* call out of order (em_end() without em_begin()) */
    EM_ERR_IO = -4,          /* a sensor file or device could not be read */
    EM_ERR_PERM = -5,        /* permission denied */
    EM_ERR_NOT_FOUND = -6,   /* no such sensor, file or device */
    EM_ERR_UNSUPPORTED = -7, /* not supported on this machine or build */
    EM_ERR_THREAD = -8,      /* the sampler thread could not be started */
    EM_ERR_FORMAT = -9,      /* malformed sensor data */
};

/* A static, human-readable description of an EM_ERR_* code. */
EM_API const char *em_strerror(int err);

/* ----------------------------------------------------------------- logging */

typedef enum em_log_level {
    EM_LOG_DEBUG = 0,
    EM_LOG_INFO = 1,
    EM_LOG_WARN = 2,
    EM_LOG_ERROR = 3,
    EM_LOG_OFF = 4,
} em_log_level;

typedef void (*em_log_fn)(em_log_level level, const char *message, void *userdata);

/* ----------------------------------------------------------------- options */

/*
 * Size-first options so that the ABI can grow: always start from
 * em_options_init(), which sets .size, then change fields.
 */
typedef struct em_options {
    size_t size;              /* sizeof(struct em_options), set by em_options_init() */
    const char *label;        /* free text copied into the report; NULL: none */
    int include_idle;         /* disk model: add the idle term (see DESIGN) */
    double disk_avg_speed;    /* bytes/s for the bytes/speed disk model; 0: not given */
    double disk_active_power; /* W; negative: default (6 W) */
    double disk_idle_power;   /* W; negative: default (1.42 W) */
    unsigned interval_ms;     /* > 0: record a time series every interval_ms */
    em_log_fn log_fn;         /* NULL: silent (or stderr if ENERGYMETER_LOG is set) */
    void *log_userdata;
    em_log_level log_level; /* least severe level passed to log_fn */

    /* GPUs */
    const char *gpu_list;   /* "0,2": indexes of the GPUs to measure; NULL: all */
    unsigned gpu_settle_ms; /* em_end() may wait this long for the energy counter's next step */

    /* Storage */
    int disk_scope;         /* enum em_disk_scope */
    int disk_time;          /* enum em_disk_time */
    const char *disk_power; /* "DEV:ACTIVE_W:IDLE_W[,...]": per-device powers; NULL: none */
    int ignore_disk;        /* do not measure storage at all */
    int no_bpf;             /* never use eBPF (fallbacks only) */

    /* Estimates where no sensor exists (source "model") */
    int no_estimates;  /* never estimate: components without a sensor are unavailable */
    double cpu_tdp_w;  /* the CPUs' power at full load, W (0: from the built-in table) */
    double cpu_idle_w; /* the CPUs' idle power, W (0: from the table, or 30 % of the TDP) */
} em_options;

/* Whose block I/O counts. */
enum em_disk_scope {
    EM_DISK_SCOPE_TREE = 0,   /* this process and all its descendants (default) */
    EM_DISK_SCOPE_SYSTEM = 1, /* every process on the machine */
};

/* How the disk's active time is obtained. */
enum em_disk_time {
    EM_DISK_TIME_BUSY = 0,  /* measured busy time (default) */
    EM_DISK_TIME_BYTES = 1, /* bytes / disk_avg_speed (the original tool's model) */
};

EM_API void em_options_init(em_options *opts);

/* ------------------------------------------------------------------- meter */

typedef struct em_meter em_meter;
typedef struct em_report em_report;

/*
 * Create a meter: probe and open every source (slow work happens here, so
 * that em_begin() and em_end() are fast). Components without a working
 * source are not an error: they are reported unavailable with the reason.
 * opts may be NULL for the defaults. Meters of one process whose options
 * (but for the label) and environment are the same share their sources and
 * sampler thread (one eBPF program), made by the first and freed with the
 * last; each keeps its own windows, label and baseline.
 */
EM_API int em_meter_new(const em_options *opts, em_meter **out);
EM_API void em_meter_free(em_meter *meter);

/* The last error message of this meter ("" when none). */
EM_API const char *em_meter_errmsg(const em_meter *meter);

/*
 * A meter belongs to the process that made it: in a forked child, em_begin(),
 * em_end(), em_meter_calibrate() and the em_window_*() calls return
 * EM_ERR_STATE (the message says to make a new meter there), since the
 * sampler thread did not survive the fork; em_meter_free() there frees only
 * what is not the parent's.
 */

/* Start a measurement window. EM_ERR_STATE if one is already running. */
EM_API int em_begin(em_meter *meter);
/* End the window and build the report. EM_ERR_STATE without em_begin(). */
EM_API int em_end(em_meter *meter);

/*
 * The report of the last completed window, owned by the meter: valid until
 * the next em_end() or em_meter_free(). NULL before the first em_end().
 */
EM_API em_report *em_meter_report(em_meter *meter);
/*
 * The report of the last completed window, handed over: the caller owns it
 * (em_report_free()) and em_meter_report() is NULL until the next em_end().
 * NULL before the first em_end() or when it was already taken.
 */
EM_API em_report *em_meter_take_report(em_meter *meter);
/* Free a report the caller owns (NULL is a no-op). */
EM_API void em_report_free(em_report *report);

/*
 * Named windows: any number open at once on one meter, nested or
 * overlapping, ended in any order, from any thread (these calls are
 * thread-safe), beside the em_begin()/em_end() window. All share the
 * meter's sampler thread and sources (one eBPF program); each costs a copy
 * of the channels' counters and of the storage counters. Each is the
 * difference of the counters between its edges: RAPL and hwmon exactly,
 * storage (eBPF, or its fallbacks) and the power models as in any window,
 * and NVML's energy counter, which steps every ~100 ms, with up to one step
 * at each end in uncertainty_j (the edge estimate of docs/gpu.md serves only
 * an em_begin()/em_end() window that starts while no named window is open;
 * one that starts while one is open is measured like a named window).
 *
 * em_window_begin: EM_ERR_STATE when a window of that name is open;
 * EM_ERR_INVALID for a NULL or empty name (at most 255 bytes).
 * em_window_end: the window's report into *out, which the caller frees with
 * em_report_free(); EM_ERR_NOT_FOUND when no window of that name is open.
 * em_window_split: em_window_end, and the window begins again at the same
 * reading (consecutive windows that lose no time between them).
 * em_window_cancel: forget it without a report.
 */
EM_API int em_window_begin(em_meter *meter, const char *name);
EM_API int em_window_end(em_meter *meter, const char *name, em_report **out);
EM_API int em_window_split(em_meter *meter, const char *name, em_report **out);
EM_API int em_window_cancel(em_meter *meter, const char *name);
/* Named windows open now. */
EM_API size_t em_window_count(em_meter *meter);

/* ------------------------------------------------------------------ report */

typedef enum em_status {
    EM_STATUS_MEASURED = 0,
    EM_STATUS_ESTIMATED = 1,
    EM_STATUS_UNAVAILABLE = 2,
} em_status;

/* "measured", "estimated", "unavailable". */
EM_API const char *em_status_name(em_status status);

/* Command and exit status are filled in by whoever ran the work (the CLI). */
EM_API int em_report_set_command(em_report *r, int argc, const char *const *argv);
EM_API void em_report_set_exit_status(em_report *r, int status);

EM_API const char *em_report_label(const em_report *r);
/* A named window's name; NULL for an em_begin()/em_end() window. */
EM_API const char *em_report_window(const em_report *r);
EM_API double em_report_duration_s(const em_report *r);
/* Wall-clock start and end, nanoseconds since the Unix epoch. */
EM_API int64_t em_report_start_ns(const em_report *r);
EM_API int64_t em_report_end_ns(const em_report *r);
/* Sum of the components that count towards the total (see DESIGN). */
EM_API double em_report_total_joules(const em_report *r);

/* Components: always cpu, dram, gpu and disk (in that order), then extras. */
EM_API size_t em_report_component_count(const em_report *r);
/* Index of the component called name, or -1. */
EM_API int em_report_find(const em_report *r, const char *name);

EM_API const char *em_component_name(const em_report *r, size_t c);
EM_API em_status em_component_status(const em_report *r, size_t c);
/* Joules in the window; NaN exactly when the status is unavailable. */
EM_API double em_component_joules(const em_report *r, size_t c);
/* Half-width of the interval the true value lies in, joules (NaN if unavailable). */
EM_API double em_component_uncertainty(const em_report *r, size_t c);
/* Source name ("rapl-powercap"); NULL when unavailable. */
EM_API const char *em_component_source(const em_report *r, size_t c);
/* Why the component is unavailable (and how to fix it); NULL otherwise. */
EM_API const char *em_component_reason(const em_report *r, size_t c);
/* 1 when the component is added to the total (0 for psys-like extras). */
EM_API int em_component_in_total(const em_report *r, size_t c);
/* 1 when a counter fault (reset, vanished file) made part of the value an estimate. */
EM_API int em_component_degraded(const em_report *r, size_t c);

/* Extra keys a source adds (disk: "read_bytes", "write_bytes", "busy_s"; ...):
 * the number (NaN when absent or a string) or the string (NULL when absent). */
EM_API double em_component_number(const em_report *r, size_t c, const char *key);
EM_API const char *em_component_string(const em_report *r, size_t c, const char *key);

EM_API size_t em_component_device_count(const em_report *r, size_t c);
EM_API const char *em_device_name(const em_report *r, size_t c, size_t d);
EM_API double em_device_joules(const em_report *r, size_t c, size_t d);

/*
 * Time series, when em_options.interval_ms > 0: sample i covers the interval
 * that ends em_report_sample_time(r, i) seconds after the start (and began
 * at the previous sample, or the start). Powers are the mean over it, in
 * watts; NaN when unknown. At most 4096 samples are kept per window: longer
 * windows are downsampled by powers of two (exactly, from cumulative energy).
 */
EM_API size_t em_report_sample_count(const em_report *r);
EM_API double em_report_sample_time(const em_report *r, size_t i);
EM_API double em_report_sample_power(const em_report *r, size_t i, size_t c);
EM_API double em_report_sample_device_power(const em_report *r, size_t i, size_t c, size_t d);

EM_API size_t em_report_warning_count(const em_report *r);
EM_API const char *em_report_warning(const em_report *r, size_t i);

/*
 * All of a report's figures that a window's end needs, in one call (for
 * bindings such as the Python package, where each call costs microseconds):
 * the report's times, total and counts into *rs, and for the first
 * min(rs->component_count, cap) components what the single accessors above
 * return, into comps. comp_size is sizeof(em_component_summary) as the
 * caller knows it (a larger one is zero-filled beyond what this version
 * writes). The strings belong to the report. EM_ERR_INVALID.
 */
typedef struct em_component_summary {
    const char *name;
    const char *source;   /* NULL when unavailable */
    const char *reason;   /* NULL unless unavailable */
    double joules;        /* NaN when unavailable */
    double uncertainty_j; /* NaN when unavailable */
    size_t device_count;
    int status; /* em_status */
    int degraded;
    int in_total;
} em_component_summary;

typedef struct em_report_summary {
    int64_t start_ns;
    int64_t end_ns;
    double duration_s;
    double total_joules;
    size_t component_count; /* all of them, even beyond cap */
    size_t warning_count;
} em_report_summary;

EM_API int em_report_summarize(const em_report *r, em_report_summary *rs,
                               em_component_summary *comps, size_t comp_size, size_t cap);

/* ------------------------------------------------------------------ output */

typedef enum em_format {
    EM_FORMAT_TEXT = 0,       /* human table, like perf stat */
    EM_FORMAT_JSON = 1,       /* schema energymeter/1 */
    EM_FORMAT_CSV = 2,        /* one row per component and device */
    EM_FORMAT_SVG = 3,        /* self-contained SVG plot: joules per component, power over time */
    EM_FORMAT_PROMETHEUS = 4, /* Prometheus text exposition format 0.0.4 (one window's
                                 report: counters of that window alone) */
} em_format;

/* Write the report to f. EM_ERR_IO when the write fails. */
EM_API int em_report_write(const em_report *r, em_format format, FILE *f);
/* The report as a NUL-terminated string; free it with em_free(). */
EM_API int em_report_to_string(const em_report *r, em_format format, char **out);
EM_API void em_free(void *p);

/* ------------------------------------------------------------------ totals */

/*
 * Running totals over many windows, for exporters (`energymeter serve`):
 * add each window's report, and the totals hold per component and device
 * the joules summed over the windows (counters that only grow), disk bytes
 * and busy time, uncertainty, and the last window's power, status and
 * source. A component unavailable in a window adds nothing for it; one never
 * measured has no energy at all (never 0 J). Formatted as Prometheus text
 * (EM_FORMAT_PROMETHEUS; the metrics are listed in the README). Not
 * thread-safe: serialise em_totals_add() and em_totals_to_string().
 */
typedef struct em_totals em_totals;

EM_API int em_totals_new(em_totals **out);
EM_API void em_totals_free(em_totals *totals);
/* Add a window's report; all of it, or nothing with EM_ERR_NOMEM. */
EM_API int em_totals_add(em_totals *totals, const em_report *r);
/* The totals as a NUL-terminated string (EM_FORMAT_PROMETHEUS only, else
 * EM_ERR_INVALID); free it with em_free(). */
EM_API int em_totals_to_string(const em_totals *totals, em_format format, char **out);

/* ---------------------------------------------------------- idle baseline */

/*
 * Measure idle power for `seconds` now (an em_begin()/em_end() window with
 * nothing running): later reports of this meter carry idle_joules and
 * dynamic_joules for every component measured by a sensor. The window's
 * report is em_meter_report() until the next em_end().
 */
EM_API int em_meter_calibrate(em_meter *meter, double seconds);
/* Store the meter's baseline as JSON at path (NULL: em_baseline_default_path()). */
EM_API int em_meter_save_baseline(em_meter *meter, const char *path);
/* Use a stored baseline (NULL: the default path). EM_ERR_NOT_FOUND when there is none. */
EM_API int em_meter_load_baseline(em_meter *meter, const char *path);
/* $ENERGYMETER_BASELINE, else /var/lib/energymeter/baseline.json for root, else
 * $XDG_STATE_HOME (or ~/.local/state)/energymeter/baseline.json. */
EM_API int em_baseline_default_path(char *buf, size_t size);

/* ------------------------------------------------------------------ probe */

/*
 * Every source the library knows and every zone it found, available or not,
 * with the reason and a safe fix: what `energymeter list` prints. As text or
 * as JSON (format EM_FORMAT_TEXT or EM_FORMAT_JSON); free with em_free().
 */
EM_API int em_list_sources(em_format format, char **out);

#ifdef __cplusplus
}
#endif

#endif /* ENERGYMETER_ENERGYMETER_H */
