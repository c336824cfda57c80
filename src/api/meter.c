/*
 * The public handle (include/energymeter/energymeter.h): a meter is its
 * configuration, read once (config.c), an engine over the built-in sources
 * (core/, sources/table.c), the last window's report (report/) and the idle
 * baseline. This file only joins the stages; each does its own work.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "options.h"
#include "meter.h"
#include "shared.h"
#include "report/baseline.h"
#include "report/report.h"
#include "sources/sources.h"

struct em_meter {
    struct em_config cfg;
    struct em_logger log;
    struct em_shared *shared; /* the engine, shared with the process's like meters */
    struct em_engine *engine;
    struct em_report *report;     /* of the last window; NULL before the first */
    struct em_baseline *baseline; /* NULL: none */
    pid_t pid;                    /* the process that made it: the sampler's */
    char errmsg[512];
};

/* Where em_meter_new() leaves its message when there is no meter to hold it. */
static _Thread_local char new_errmsg[512];

static int set_error(em_meter *m, int err, const char *fmt, ...) EM_PRINTF(3, 4);

static int set_error(em_meter *m, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *dst = m ? m->errmsg : new_errmsg;
    vsnprintf(dst, sizeof m->errmsg, fmt, ap);
    va_end(ap);
    if (m)
        em_log(&m->log, EM_LOG_ERROR, "%s", m->errmsg);
    return err;
}

const char *em_meter_errmsg(const em_meter *m)
{
    return m ? m->errmsg : new_errmsg;
}

int em_meter_new_with(const em_options *opts, const struct em_source_ops *const *table,
                      em_meter **out)
{
    if (!out)
        return set_error(NULL, EM_ERR_INVALID, "em_meter_new: out is NULL");
    *out = NULL;
    new_errmsg[0] = '\0';
    em_meter *m = calloc(1, sizeof *m);
    if (!m)
        return set_error(NULL, EM_ERR_NOMEM, "out of memory");
    int err = em_config_init(&m->cfg, opts, new_errmsg, sizeof new_errmsg);
    if (!err) {
        em_logger_init(&m->log, opts, m->cfg.log_env);
        err =
            em_shared_get(opts, table, &m->cfg, &m->log, &m->shared, new_errmsg, sizeof new_errmsg);
        if (!err)
            m->engine = em_shared_engine(m->shared);
    }
    if (err) {
        em_meter_free(m);
        return err;
    }
    m->pid = getpid();
    *out = m;
    return 0;
}

/* A meter used in a forked child: its sampler thread and the sources'
 * threads stayed in the parent, so it would give wrong numbers. */
static int forked(em_meter *m)
{
    pid_t now = getpid();
    if (now == m->pid)
        return 0;
    return set_error(m, EM_ERR_STATE,
                     "this meter was made by process %d and this is process %d, a fork of it: "
                     "its sampler thread did not survive the fork, so it would give wrong "
                     "numbers. Make a new meter in the child (em_meter_new())",
                     (int)m->pid, (int)now);
}

int em_meter_new(const em_options *opts, em_meter **out)
{
    return em_meter_new_with(opts, em_builtin_sources, out);
}

void em_meter_free(em_meter *m)
{
    if (!m)
        return;
    /* In a forked child the engine's threads are not this process's: they
     * cannot be joined, so the engine's copy is left as it is (a leak of
     * the parent's memory image, never a hang). */
    if (getpid() == m->pid)
        em_shared_put(m->shared, &m->cfg);
    em_report_free(m->report);
    em_baseline_free(m->baseline);
    em_config_free(&m->cfg);
    free(m);
}

int em_begin(em_meter *m)
{
    if (!m)
        return EM_ERR_INVALID;
    int err = forked(m);
    if (err)
        return err;
    err = em_engine_begin(m->engine, &m->cfg);
    if (err == EM_ERR_STATE)
        return set_error(m, err, "em_begin() called twice without em_end()");
    return err;
}

int em_end(em_meter *m)
{
    if (!m)
        return EM_ERR_INVALID;
    int err = forked(m);
    if (err)
        return err;
    struct em_readings w;
    err = em_engine_end(m->engine, &m->cfg, &w);
    if (err == EM_ERR_STATE)
        return set_error(m, err, "em_end() called without em_begin()");
    struct em_report *r = NULL;
    if (err || (err = em_report_build(&w, m->baseline, &r)) != 0)
        return set_error(m, err, "building the report: %s", em_strerror(err));
    em_report_free(m->report);
    m->report = r;
    return 0;
}

/* Named windows ------------------------------------------------------- */

static int window_name_ok(em_meter *m, const char *name)
{
    if (!name || !name[0] || strlen(name) > 255)
        return set_error(m, EM_ERR_INVALID, "a window's name must be 1 to 255 bytes");
    return 0;
}

int em_window_begin(em_meter *m, const char *name)
{
    if (!m)
        return EM_ERR_INVALID;
    int err = window_name_ok(m, name);
    if (err || (err = forked(m)) != 0)
        return err;
    err = em_engine_window_begin(m->engine, &m->cfg, name);
    if (err == EM_ERR_STATE)
        return set_error(m, err, "a window named '%s' is already open: end or cancel it first",
                         name);
    return err ? set_error(m, err, "em_window_begin: %s", em_strerror(err)) : 0;
}

static int window_end(em_meter *m, const char *name, int again, em_report **out)
{
    if (!m || !out)
        return EM_ERR_INVALID;
    *out = NULL;
    int err = window_name_ok(m, name);
    if (err || (err = forked(m)) != 0)
        return err;
    struct em_readings w;
    err = em_engine_window_end(m->engine, &m->cfg, name, again, &w);
    if (err == EM_ERR_NOT_FOUND)
        return set_error(m, err, "no window named '%s' is open", name);
    if (err || (err = em_report_build(&w, m->baseline, out)) != 0)
        return set_error(m, err, "building the report of window '%s': %s", name, em_strerror(err));
    return 0;
}

int em_window_end(em_meter *m, const char *name, em_report **out)
{
    return window_end(m, name, 0, out);
}

int em_window_split(em_meter *m, const char *name, em_report **out)
{
    return window_end(m, name, 1, out);
}

int em_window_cancel(em_meter *m, const char *name)
{
    if (!m)
        return EM_ERR_INVALID;
    int err = window_name_ok(m, name);
    if (!err)
        err = forked(m);
    if (!err && (err = em_engine_window_cancel(m->engine, &m->cfg, name)) == EM_ERR_NOT_FOUND)
        return set_error(m, err, "no window named '%s' is open", name);
    return err;
}

size_t em_window_count(em_meter *m)
{
    return m && getpid() == m->pid ? em_engine_window_count(m->engine, &m->cfg) : 0;
}

em_report *em_meter_report(em_meter *m)
{
    return m ? m->report : NULL;
}

em_report *em_meter_take_report(em_meter *m)
{
    if (!m)
        return NULL;
    em_report *r = m->report;
    m->report = NULL;
    return r;
}

int em_meter_calibrate(em_meter *m, double seconds)
{
    if (!m || !(seconds > 0) || seconds > 86400)
        return m ? set_error(m, EM_ERR_INVALID, "calibration needs 0 < seconds <= 86400")
                 : EM_ERR_INVALID;
    int err = em_begin(m);
    if (err)
        return err;
    struct timespec ts = {(time_t)seconds, (long)((seconds - floor(seconds)) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    if ((err = em_end(m)) != 0)
        return err;
    struct em_baseline *b = NULL;
    if ((err = em_baseline_from_report(m->report, &b)) != 0)
        return set_error(m, err, "calibration: %s", em_strerror(err));
    em_baseline_free(m->baseline);
    m->baseline = b;
    return 0;
}

int em_meter_save_baseline(em_meter *m, const char *path)
{
    if (!m)
        return EM_ERR_INVALID;
    if (!m->baseline)
        return set_error(m, EM_ERR_STATE, "no baseline to save: call em_meter_calibrate() first");
    if (!path && !(path = m->cfg.baseline_path))
        return set_error(m, m->cfg.baseline_path_err,
                         "no default baseline path (set ENERGYMETER_BASELINE)");
    return em_baseline_save(m->baseline, path, m->errmsg, sizeof m->errmsg);
}

int em_meter_load_baseline(em_meter *m, const char *path)
{
    if (!m)
        return EM_ERR_INVALID;
    if (!path && !(path = m->cfg.baseline_path))
        return set_error(m, m->cfg.baseline_path_err,
                         "no default baseline path (set ENERGYMETER_BASELINE)");
    struct em_baseline *b = NULL;
    int err = em_baseline_load(path, &b, m->errmsg, sizeof m->errmsg);
    if (err)
        return err;
    em_baseline_free(m->baseline);
    m->baseline = b;
    return 0;
}
