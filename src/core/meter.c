/*
 * The meter owns the sources, a sampler thread and the last report.
 *
 * em_meter_new() does the slow work (probing and opening every source, and
 * starting the sampler thread, which then sleeps). em_begin() and em_end()
 * only read each counter once. Between them the sampler reads every counter
 * at least every quarter of its shortest wrap period at maximum power, so
 * that at most one wrap separates two readings and none can be missed.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/config.h"
#include "report/baseline.h"
#include "report/report.h"
#include "source.h"
#include "sources/sources.h"
#include "util/util.h"

/* Bounds on the sampler period: never busier than this... */
#define MIN_PERIOD_S 0.001
/* ...and never asleep longer than this, so a stuck counter is noticed. */
#define MAX_PERIOD_S 60.0
/* Time series: samples kept per window (plus the origin). When full, every
 * other sample is dropped and the interval doubles: exact, since samples hold
 * cumulative energy. 4096 x 8 bytes per channel. */
#define SERIES_MAX 4096
/* At most this many warnings are kept per window (the rest are counted). */
#define MAX_WARNINGS 64

static const char *const fixed_components[] = {"cpu", "dram", "gpu", "disk"};
#define N_FIXED (sizeof fixed_components / sizeof fixed_components[0])

struct em_meter {
    struct em_logger log;

    struct em_source *src;
    struct em_probe *probes;
    size_t nsrc;
    size_t nchannels;
    double period_s;

    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    int thread_started;
    int stop;
    int running;
    unsigned long generation; /* bumped by each em_begin(), wakes the sampler */
    struct em_config cfg;
    uint64_t *scratch_raw; /* one entry per channel of the largest source */
    int *scratch_err;
    double *scratch_t;

    /* time series (interval_ms > 0) */
    double series_s;        /* the interval asked for */
    size_t ser_n;           /* samples recorded, origin included */
    unsigned ser_stride;    /* record every ser_stride-th tick */
    unsigned long ser_tick; /* ticks since the start */
    double next_tick;       /* monotonic time of the next tick */
    double *ser_t;          /* SERIES_MAX + 1 */
    double *ser_j;          /* (SERIES_MAX + 1) per channel, channel-major */

    double begin_mono;
    int64_t begin_real;
    char **warnings; /* of the window in progress */
    size_t nwarnings;
    size_t dropped_warnings;

    struct em_report *report;
    struct em_baseline *baseline; /* NULL: none */
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

/* Record a warning of the window in progress (lock held). */
static void window_warning(em_meter *m, const char *fmt, ...) EM_PRINTF(2, 3);

static void window_warning(em_meter *m, const char *fmt, ...)
{
    if (m->nwarnings >= MAX_WARNINGS) {
        m->dropped_warnings++;
        return;
    }
    char buf[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char **w = realloc(m->warnings, (m->nwarnings + 1) * sizeof *w);
    if (!w)
        return; /* a lost warning must not fail the measurement */
    m->warnings = w;
    w[m->nwarnings] = em_strdup(buf);
    if (w[m->nwarnings])
        m->nwarnings++;
    em_log(&m->log, EM_LOG_WARN, "%s", buf);
}

static void clear_warnings(em_meter *m)
{
    for (size_t i = 0; i < m->nwarnings; i++)
        free(m->warnings[i]);
    free(m->warnings);
    m->warnings = NULL;
    m->nwarnings = 0;
    m->dropped_warnings = 0;
}

/* ------------------------------------------------------------- sampling */

/* Account one reading of a channel (or its failure) taken at t (lock held). */
static void account(em_meter *m, struct em_channel *ch, int err, uint64_t raw, double t, int at_end)
{
    if (err) {
        ch->failing = 1;
        if (!ch->warned_fail) {
            ch->warned_fail = 1;
            window_warning(m,
                           "%s %s: cannot read %s (%s) %.3f s into the window; the time "
                           "since its last reading is estimated",
                           ch->component, ch->device, ch->path, em_strerror(err),
                           t - m->begin_mono);
        }
        if (at_end)
            em_counter_fail(&ch->ctr, t);
        return;
    }
    ch->failing = 0;
    double dt = t - ch->ctr.last_t;
    if (dt > ch->max_gap_s)
        ch->max_gap_s = dt;
    int ev = ch->kind == EM_CH_POWER ? em_counter_update_power(&ch->ctr, raw, t)
                                     : em_counter_update(&ch->ctr, raw, t);
    if (ev == EM_CTR_IMPLAUSIBLE && !ch->warned_fault) {
        ch->warned_fault = 1;
        window_warning(m,
                       "%s %s: %s changed by more than the device can draw in %.3f s (a "
                       "counter reset?) %.3f s into the window; that interval is estimated",
                       ch->component, ch->device, ch->path, dt, t - m->begin_mono);
    } else if (ev == EM_CTR_LATE && !ch->warned_fault) {
        ch->warned_fault = 1;
        window_warning(m,
                       "%s %s: %.3f s between readings exceeds the counter's wrap period "
                       "(%.3f s at maximum power); wraps may be missed, see uncertainty_j",
                       ch->component, ch->device, dt, em_counter_wrap_period(&ch->ctr));
    }
}

/* Read every channel of s now, at once where the source can (lock held). */
static void read_source(em_meter *m, struct em_source *s)
{
    if (s->ops->read_all) {
        s->ops->read_all(s, m->scratch_raw, m->scratch_err);
        double t = em_now_mono();
        for (size_t i = 0; i < s->nch; i++)
            m->scratch_t[i] = t;
        return;
    }
    for (size_t i = 0; i < s->nch; i++) {
        m->scratch_err[i] = s->ops->read(s, i, &m->scratch_raw[i]);
        m->scratch_t[i] = em_now_mono();
    }
}

/* One sampler reading of channel i of s, and when it is due next (lock held). */
static void sample_channel(em_meter *m, struct em_source *s, size_t i)
{
    struct em_channel *ch = &s->ch[i];
    uint64_t raw;
    int err = s->ops->read(s, i, &raw);
    double t = em_now_mono();
    account(m, ch, err, raw, t, 0);
    ch->next_due = t + ch->period_s;
}

/* Append a time-series sample at t: cumulative joules of every channel. */
static void record_sample(em_meter *m, double t)
{
    const size_t cap = SERIES_MAX + 1;
    if (m->ser_n == cap) {
        /* Full: keep every other sample (the origin stays first). */
        size_t kept = 0;
        for (size_t i = 0; i < cap; i += 2, kept++) {
            m->ser_t[kept] = m->ser_t[i];
            for (size_t c = 0; c < m->nchannels; c++)
                m->ser_j[c * cap + kept] = m->ser_j[c * cap + i];
        }
        m->ser_n = kept;
        m->ser_stride *= 2;
    }
    size_t n = m->ser_n++;
    m->ser_t[n] = t - m->begin_mono;
    size_t c = 0;
    for (size_t k = 0; k < m->nsrc; k++)
        for (size_t i = 0; i < m->src[k].nch; i++, c++) {
            const struct em_channel *ch = &m->src[k].ch[i];
            m->ser_j[c * cap + n] = ch->started ? em_counter_joules(&ch->ctr) : NAN;
        }
}

/* A time-series tick: read every channel, record when the stride says so. */
static void series_tick(em_meter *m)
{
    double now = em_now_mono();
    m->ser_tick = (unsigned long)floor((now - m->begin_mono) / m->series_s + 1e-9);
    m->next_tick = m->begin_mono + (double)(m->ser_tick + 1) * m->series_s;
    if (m->ser_tick % m->ser_stride != 0)
        return;
    for (size_t k = 0; k < m->nsrc; k++) {
        struct em_source *s = &m->src[k];
        for (size_t i = 0; i < s->nch; i++) {
            struct em_channel *ch = &s->ch[i];
            if (ch->started)
                sample_channel(m, s, i);
        }
    }
    record_sample(m, em_now_mono());
}

/* The sampler's work: read the channels that are due (lock held). */
static void sample_due(em_meter *m)
{
    double now = em_now_mono();
    for (size_t k = 0; k < m->nsrc; k++) {
        struct em_source *s = &m->src[k];
        for (size_t i = 0; i < s->nch; i++) {
            struct em_channel *ch = &s->ch[i];
            /* Channels due within a millisecond are read together. */
            if (ch->started && ch->next_due <= now + 0.001)
                sample_channel(m, s, i);
        }
    }
}

static double next_due(const em_meter *m)
{
    double due = INFINITY;
    for (size_t k = 0; k < m->nsrc; k++)
        for (size_t i = 0; i < m->src[k].nch; i++)
            if (m->src[k].ch[i].started && m->src[k].ch[i].next_due < due)
                due = m->src[k].ch[i].next_due;
    return due;
}

static struct timespec mono_deadline(double t)
{
    struct timespec ts;
    double whole = floor(t);
    ts.tv_sec = (time_t)whole;
    ts.tv_nsec = (long)((t - whole) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static void *sampler_main(void *arg)
{
    em_meter *m = arg;
    pthread_mutex_lock(&m->lock);
    while (!m->stop) {
        double due = m->running ? next_due(m) : INFINITY;
        int tick = m->running && m->series_s > 0 && m->next_tick <= due;
        if (tick)
            due = m->next_tick;
        if (!isfinite(due)) {
            pthread_cond_wait(&m->cond, &m->lock);
            continue;
        }
        struct timespec dl = mono_deadline(due);
        unsigned long gen = m->generation;
        int rc = 0;
        while (!m->stop && m->running && m->generation == gen && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&m->cond, &m->lock, &dl);
        if (rc == ETIMEDOUT && m->running && !m->stop && m->generation == gen) {
            if (tick)
                series_tick(m);
            else
                sample_due(m);
        }
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

/* -------------------------------------------------------------- set-up */

/* How often the sampler reads a channel: a quarter of its wrap period at
 * maximum power or its own polling period, whichever is shorter (time-series
 * ticks read every channel besides). Returns the shortest over all channels. */
static double set_periods(em_meter *m)
{
    double shortest = MAX_PERIOD_S;
    for (size_t k = 0; k < m->nsrc; k++)
        for (size_t i = 0; i < m->src[k].nch; i++) {
            struct em_channel *ch = &m->src[k].ch[i];
            if (ch->unused)
                continue;
            double p = em_counter_wrap_period(&ch->ctr) / 4;
            if (ch->poll_s > 0 && ch->poll_s < p)
                p = ch->poll_s;
            if (p > MAX_PERIOD_S)
                p = MAX_PERIOD_S;
            if (p < MIN_PERIOD_S)
                p = MIN_PERIOD_S;
            ch->period_s = p;
            if (p < shortest)
                shortest = p;
        }
    return shortest;
}

static int open_sources(em_meter *m)
{
    size_t maxch = 1;
    int err = em_sources_open(em_builtin_sources, &m->cfg, &m->src, &m->probes, &m->nsrc,
                              new_errmsg, sizeof new_errmsg);
    if (err)
        return err;
    for (size_t k = 0; k < m->nsrc; k++) {
        for (size_t i = 0; i < m->src[k].nch; i++)
            m->src[k].ch[i].index = m->nchannels + i;
        m->nchannels += m->src[k].nch;
        if (m->src[k].nch > maxch)
            maxch = m->src[k].nch;
        em_log(&m->log, EM_LOG_INFO, "source %s: %zu channel(s)%s%s", m->src[k].ops->name,
               m->src[k].nch, m->probes[k].reason ? ": " : "",
               m->probes[k].reason ? m->probes[k].reason : "");
    }
    m->scratch_raw = calloc(maxch, sizeof *m->scratch_raw);
    m->scratch_err = calloc(maxch, sizeof *m->scratch_err);
    m->scratch_t = calloc(maxch, sizeof *m->scratch_t);
    if (!m->scratch_raw || !m->scratch_err || !m->scratch_t)
        return set_error(NULL, EM_ERR_NOMEM, "out of memory");
    return 0;
}

int em_meter_new(const em_options *opts, em_meter **out)
{
    if (!out)
        return set_error(NULL, EM_ERR_INVALID, "em_meter_new: out is NULL");
    *out = NULL;
    new_errmsg[0] = '\0';
    em_meter *m = calloc(1, sizeof *m);
    if (!m)
        return set_error(NULL, EM_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&m->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cond, &ca);
    pthread_condattr_destroy(&ca);

    int err = em_config_init(&m->cfg, opts, new_errmsg, sizeof new_errmsg);
    if (!err) {
        em_logger_init(&m->log, opts, m->cfg.log_env);
        err = open_sources(m);
    }
    if (err)
        goto fail;
    m->period_s = set_periods(m);
    if (m->cfg.interval_ms > 0) {
        m->series_s = m->cfg.interval_ms / 1000.0;
        m->ser_t = calloc(SERIES_MAX + 1, sizeof *m->ser_t);
        m->ser_j = calloc((SERIES_MAX + 1) * (m->nchannels ? m->nchannels : 1), sizeof *m->ser_j);
        if (!m->ser_t || !m->ser_j) {
            err = set_error(NULL, EM_ERR_NOMEM, "out of memory for the time series");
            goto fail;
        }
    }
    if (m->nchannels > 0 || m->series_s > 0) {
        err = pthread_create(&m->thread, NULL, sampler_main, m);
        if (err) {
            err = set_error(NULL, EM_ERR_THREAD, "cannot start the sampler thread: %s",
                            strerror(err));
            goto fail;
        }
        m->thread_started = 1;
    }
    em_log(&m->log, EM_LOG_DEBUG, "sampler period %.3f s over %zu channel(s)", m->period_s,
           m->nchannels);
    *out = m;
    return 0;

fail:
    em_meter_free(m);
    return err;
}

void em_meter_free(em_meter *m)
{
    if (!m)
        return;
    if (m->thread_started) {
        pthread_mutex_lock(&m->lock);
        m->stop = 1;
        pthread_cond_broadcast(&m->cond);
        pthread_mutex_unlock(&m->lock);
        pthread_join(m->thread, NULL);
    }
    em_sources_close(m->src, m->probes, m->nsrc);
    free(m->scratch_raw);
    free(m->scratch_err);
    free(m->scratch_t);
    free(m->ser_t);
    free(m->ser_j);
    clear_warnings(m);
    em_report_free(m->report);
    em_baseline_free(m->baseline);
    em_config_free(&m->cfg);
    pthread_cond_destroy(&m->cond);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* -------------------------------------------------------------- window */

/* A source's begin or end hook, if it has one; a failure is a warning. */
static void run_hook(em_meter *m, struct em_source *s, int (*hook)(struct em_source *),
                     const char *what)
{
    int err = hook ? hook(s) : 0;
    if (err)
        window_warning(m, "source %s: could not %s the window (%s)", s->ops->name, what,
                       em_strerror(err));
}

int em_begin(em_meter *m)
{
    if (!m)
        return EM_ERR_INVALID;
    pthread_mutex_lock(&m->lock);
    if (m->running) {
        pthread_mutex_unlock(&m->lock);
        return set_error(m, EM_ERR_STATE, "em_begin() called twice without em_end()");
    }
    clear_warnings(m);
    m->begin_real = em_now_real_ns();
    m->begin_mono = em_now_mono();
    for (size_t k = 0; k < m->nsrc; k++) {
        struct em_source *s = &m->src[k];
        run_hook(m, s, s->ops->begin, "start");
        read_source(m, s);
        for (size_t i = 0; i < s->nch; i++) {
            struct em_channel *ch = &s->ch[i];
            int err = m->scratch_err[i];
            double t = m->scratch_t[i];
            ch->started = err == 0 && !ch->unused;
            ch->failing = 0;
            ch->warned_fail = 0;
            ch->warned_fault = 0;
            ch->max_gap_s = 0;
            ch->next_due = t + ch->period_s;
            if (ch->unused)
                continue;
            if (err)
                window_warning(m, "%s %s: cannot read %s at the start (%s); not measured",
                               ch->component, ch->device, ch->path, em_strerror(err));
            else if (ch->kind == EM_CH_POWER)
                /* Power holds from the window's start to the first reading. */
                em_counter_start_power(&ch->ctr, m->scratch_raw[i], m->begin_mono);
            else
                em_counter_start(&ch->ctr, m->scratch_raw[i], t);
        }
    }
    if (m->series_s > 0) {
        m->ser_n = 0;
        m->ser_stride = 1;
        m->ser_tick = 0;
        m->next_tick = m->begin_mono + m->series_s;
        record_sample(m, m->begin_mono);
    }
    m->running = 1;
    m->generation++;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
    return 0;
}

/* Let each source that served c add what it knows beyond joules. */
static int annotate_component(em_meter *m, struct em_report *r, struct em_report_component *c)
{
    struct em_window w = {.duration_s = r->duration_s, .cfg = &m->cfg, .report = r};
    for (size_t k = 0; k < m->nsrc; k++) {
        struct em_source *s = &m->src[k];
        int served = 0;
        for (size_t i = 0; i < s->nch && !served; i++)
            served =
                !s->ch[i].unused && s->ch[i].started && strcmp(s->ch[i].component, c->name) == 0;
        if (served && s->ops->annotate) {
            int err = s->ops->annotate(s, c, &w);
            if (err)
                return err;
        }
    }
    return 0;
}

/* Fill one component of the report from every channel that serves it. */
static int build_component(em_meter *m, struct em_report *r, const char *name)
{
    struct em_report_component *c = em_report_add_component(r, name);
    if (!c)
        return EM_ERR_NOMEM;
    size_t found = 0, started = 0, frozen = 0;
    for (size_t k = 0; k < m->nsrc; k++) {
        struct em_source *s = &m->src[k];
        for (size_t i = 0; i < s->nch; i++) {
            struct em_channel *ch = &s->ch[i];
            if (ch->unused || strcmp(ch->component, name) != 0)
                continue;
            found++;
            c->in_total = ch->in_total;
            if (!ch->started)
                continue;
            if (ch->kind == EM_CH_ENERGY && ch->frozen_s > 0 && ch->ctr.changes == 0 &&
                ch->ctr.faults == 0 && ch->ctr.gap_s == 0 && r->duration_s >= ch->frozen_s) {
                frozen++;
                if (em_report_add_warning(r,
                                          "%s %s: %s did not change in %.3f s while power "
                                          "should flow: a frozen counter, not counted",
                                          ch->component, ch->device, ch->path, r->duration_s))
                    return EM_ERR_NOMEM;
                continue;
            }
            started++;
            if (!c->source && !(c->source = em_strdup(s->ops->name)))
                return EM_ERR_NOMEM;
            if (ch->ctr.gap_s > 0 || ch->ctr.faults > 0 || ch->ctr.late > 0) {
                c->degraded = 1;
                if (ch->ctr.gap_s > 0)
                    c->status = EM_STATUS_ESTIMATED;
            }
            if (em_report_add_device(c, ch->device, em_counter_joules(&ch->ctr),
                                     em_counter_uncertainty(&ch->ctr)))
                return EM_ERR_NOMEM;
            if (r->sample_t &&
                em_report_set_device_series(r, c, &m->ser_j[ch->index * (SERIES_MAX + 1)], 1))
                return EM_ERR_NOMEM;
        }
    }
    if (started > 0) {
        /* A frozen device is missing from the sum: say the value is partial. */
        if (frozen)
            c->degraded = 1;
        return annotate_component(m, r, c);
    }
    if (!found) {
        /* Sources that build a component themselves (storage). */
        struct em_window w = {.duration_s = r->duration_s, .cfg = &m->cfg, .report = r};
        for (size_t k = 0; k < m->nsrc; k++) {
            if (!m->src[k].ops->fill)
                continue;
            int rc = m->src[k].ops->fill(&m->src[k], c, &w);
            if (rc < 0)
                return rc;
            if (rc > 0)
                return 0;
        }
    }
    char *why = frozen  ? em_asprintf("every %s counter is frozen: it did not change in "
                                       "%.3f s (seen on virtual machines); not reported as 0 J",
                                      name, r->duration_s)
                : found ? em_asprintf("no %s counter could be read at the start of the window "
                                      "(see warnings)",
                                      name)
                        : em_probe_component_reason(m->probes, m->nsrc, name);
    if (!why)
        return EM_ERR_NOMEM;
    int err = em_report_set_unavailable(c, why);
    free(why);
    return err;
}

static int is_fixed(const char *name)
{
    for (size_t i = 0; i < N_FIXED; i++)
        if (strcmp(fixed_components[i], name) == 0)
            return 1;
    return 0;
}

static int build_report(em_meter *m, double end_mono, int64_t end_real, struct em_report **out)
{
    struct em_report *r = em_report_new(m->cfg.label, m->cfg.include_idle);
    if (!r)
        return EM_ERR_NOMEM;
    int err = 0;
    r->start_ns = m->begin_real;
    r->end_ns = end_real;
    r->duration_s = end_mono - m->begin_mono;
    if (m->series_s > 0 && m->ser_n > 1)
        err = em_report_set_series(r, m->ser_t, m->ser_n - 1, m->series_s * m->ser_stride,
                                   m->ser_stride);
    for (size_t i = 0; i < N_FIXED && !err; i++)
        err = build_component(m, r, fixed_components[i]);
    /* Extras (psys, cpu-core, ...), once each, in the order channels appear. */
    for (size_t k = 0; k < m->nsrc && !err; k++)
        for (size_t i = 0; i < m->src[k].nch && !err; i++) {
            const char *name = m->src[k].ch[i].component;
            if (!is_fixed(name) && em_report_find(r, name) < 0)
                err = build_component(m, r, name);
        }
    for (size_t i = 0; i < m->nwarnings && !err; i++)
        err = em_report_add_warning(r, "%s", m->warnings[i]);
    if (!err && m->dropped_warnings)
        err = em_report_add_warning(r, "%zu more warnings not shown", m->dropped_warnings);
    if (err) {
        em_report_free(r);
        return err;
    }
    em_report_finish(r);
    if (m->baseline && em_baseline_apply(m->baseline, r)) {
        em_report_free(r);
        return EM_ERR_NOMEM;
    }
    *out = r;
    return 0;
}

int em_end(em_meter *m)
{
    if (!m)
        return EM_ERR_INVALID;
    pthread_mutex_lock(&m->lock);
    if (!m->running) {
        pthread_mutex_unlock(&m->lock);
        return set_error(m, EM_ERR_STATE, "em_end() called without em_begin()");
    }
    for (size_t k = 0; k < m->nsrc; k++) {
        struct em_source *s = &m->src[k];
        read_source(m, s);
        for (size_t i = 0; i < s->nch; i++)
            if (s->ch[i].started)
                account(m, &s->ch[i], m->scratch_err[i], m->scratch_raw[i], m->scratch_t[i], 1);
    }
    /* The window ends with the last reading: end hooks (collecting maps,
     * waiting for a GPU counter's next step) must not lengthen it. */
    double end_mono = em_now_mono();
    /* Power channels: the last reading holds up to the window's end. */
    for (size_t k = 0; k < m->nsrc; k++)
        for (size_t i = 0; i < m->src[k].nch; i++) {
            struct em_channel *ch = &m->src[k].ch[i];
            if (ch->started && ch->kind == EM_CH_POWER && !ch->failing)
                em_counter_update_power(&ch->ctr, ch->ctr.last_raw, end_mono);
        }
    int64_t end_real = em_now_real_ns();
    for (size_t k = 0; k < m->nsrc; k++)
        run_hook(m, &m->src[k], m->src[k].ops->end, "end");
    if (m->series_s > 0) {
        /* A last sliver of an interval would give a noisy point: the end
         * extends the last interval instead. */
        double last = m->ser_t[m->ser_n - 1];
        if (m->ser_n > 1 && end_mono - m->begin_mono - last < 0.1 * m->series_s * m->ser_stride)
            m->ser_n--;
        record_sample(m, end_mono);
    }
    m->running = 0;
    struct em_report *r = NULL;
    int err = build_report(m, end_mono, end_real, &r);
    pthread_mutex_unlock(&m->lock);
    if (err)
        return set_error(m, err, "building the report: %s", em_strerror(err));
    em_report_free(m->report);
    m->report = r;
    return 0;
}

em_report *em_meter_report(em_meter *m)
{
    return m ? m->report : NULL;
}

/* ------------------------------------------------------------- baseline */

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
