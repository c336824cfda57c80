/*
 * The sampler thread and the time series. Between a window's edges the
 * thread reads every channel at least every quarter of its shortest wrap
 * period at maximum power (or its own polling period), so that at most one
 * wrap separates two readings and none can be missed; outside windows it
 * sleeps on a condition variable (CLOCK_MONOTONIC). With interval_ms, it
 * also reads every channel at each tick and records the cumulative joules.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_state.h"

/* Bounds on the sampler period: never busier than this... */
#define MIN_PERIOD_S 0.001
/* ...and never asleep longer than this, so a stuck counter is noticed. */
#define MAX_PERIOD_S 60.0

/* One sampler reading of channel i of s, and when it is due next. */
static void sample_channel(struct em_engine *e, struct em_source *s, size_t i)
{
    struct em_channel *ch = &s->ch[i];
    uint64_t raw;
    int err = s->ops->read(s, i, &raw);
    double t = em_now_mono();
    em_engine_account(e, ch, err, raw, t, 0);
    ch->next_due = t + ch->period_s;
}

/* Append a time-series sample at t: cumulative joules of every channel. */
static void record_sample(struct em_engine *e, double t)
{
    const size_t cap = EM_SERIES_MAX + 1;
    if (e->ser_n == cap) {
        /* Full: keep every other sample (the origin stays first). */
        size_t kept = 0;
        for (size_t i = 0; i < cap; i += 2, kept++) {
            e->ser_t[kept] = e->ser_t[i];
            for (size_t c = 0; c < e->nchannels; c++)
                e->ser_j[c * cap + kept] = e->ser_j[c * cap + i];
        }
        e->ser_n = kept;
        e->ser_stride *= 2;
    }
    size_t n = e->ser_n++;
    e->ser_t[n] = t - e->begin_mono;
    size_t c = 0;
    for (size_t k = 0; k < e->nsrc; k++)
        for (size_t i = 0; i < e->src[k].nch; i++, c++) {
            const struct em_channel *ch = &e->src[k].ch[i];
            e->ser_j[c * cap + n] = ch->started ? em_counter_joules(&ch->ctr) : NAN;
        }
}

void em_series_begin(struct em_engine *e)
{
    if (!(e->series_s > 0))
        return;
    e->ser_n = 0;
    e->ser_stride = 1;
    e->ser_tick = 0;
    e->next_tick = e->begin_mono + e->series_s;
    record_sample(e, e->begin_mono);
}

void em_series_end(struct em_engine *e, double end_mono)
{
    if (!(e->series_s > 0))
        return;
    /* A last sliver of an interval would give a noisy point: the end
     * extends the last interval instead. */
    double last = e->ser_t[e->ser_n - 1];
    if (e->ser_n > 1 && end_mono - e->begin_mono - last < 0.1 * e->series_s * e->ser_stride)
        e->ser_n--;
    record_sample(e, end_mono);
}

/* A time-series tick: read every channel, record when the stride says so. */
static void series_tick(struct em_engine *e)
{
    double now = em_now_mono();
    e->ser_tick = (unsigned long)floor((now - e->begin_mono) / e->series_s + 1e-9);
    e->next_tick = e->begin_mono + (double)(e->ser_tick + 1) * e->series_s;
    if (e->ser_tick % e->ser_stride != 0)
        return;
    for (size_t k = 0; k < e->nsrc; k++) {
        struct em_source *s = &e->src[k];
        for (size_t i = 0; i < s->nch; i++)
            if (s->ch[i].started)
                sample_channel(e, s, i);
    }
    record_sample(e, em_now_mono());
}

/* The sampler's work: read the channels that are due. */
static void sample_due(struct em_engine *e)
{
    double now = em_now_mono();
    for (size_t k = 0; k < e->nsrc; k++) {
        struct em_source *s = &e->src[k];
        for (size_t i = 0; i < s->nch; i++) {
            struct em_channel *ch = &s->ch[i];
            /* Channels due within a millisecond are read together. */
            if (ch->started && ch->next_due <= now + 0.001)
                sample_channel(e, s, i);
        }
    }
}

static double next_due(const struct em_engine *e)
{
    double due = INFINITY;
    for (size_t k = 0; k < e->nsrc; k++)
        for (size_t i = 0; i < e->src[k].nch; i++)
            if (e->src[k].ch[i].started && e->src[k].ch[i].next_due < due)
                due = e->src[k].ch[i].next_due;
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
    struct em_engine *e = arg;
    pthread_mutex_lock(&e->lock);
    while (!e->stop) {
        double due = em_engine_active(e) ? next_due(e) : INFINITY;
        /* The series is the begin()/end() window's that runs the hooks. */
        int tick = e->running && e->series_s > 0 && e->next_tick <= due;
        if (tick)
            due = e->next_tick;
        if (!isfinite(due)) {
            pthread_cond_wait(&e->cond, &e->lock);
            continue;
        }
        struct timespec dl = mono_deadline(due);
        unsigned long gen = e->generation;
        int rc = 0;
        while (!e->stop && em_engine_active(e) && e->generation == gen && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&e->cond, &e->lock, &dl);
        if (rc == ETIMEDOUT && em_engine_active(e) && !e->stop && e->generation == gen) {
            if (tick)
                series_tick(e);
            else
                sample_due(e);
        }
    }
    pthread_mutex_unlock(&e->lock);
    return NULL;
}

double em_sampler_set_periods(struct em_engine *e)
{
    /* A quarter of the channel's wrap period at maximum power or its own
     * polling period, whichever is shorter (time-series ticks read every
     * channel besides). */
    double shortest = MAX_PERIOD_S;
    for (size_t k = 0; k < e->nsrc; k++)
        for (size_t i = 0; i < e->src[k].nch; i++) {
            struct em_channel *ch = &e->src[k].ch[i];
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

int em_sampler_start(struct em_engine *e, char *msg, size_t msgsz)
{
    if (e->cfg->interval_ms > 0) {
        e->series_s = e->cfg->interval_ms / 1000.0;
        e->ser_t = calloc(EM_SERIES_MAX + 1, sizeof *e->ser_t);
        e->ser_j =
            calloc((EM_SERIES_MAX + 1) * (e->nchannels ? e->nchannels : 1), sizeof *e->ser_j);
        if (!e->ser_t || !e->ser_j) {
            snprintf(msg, msgsz, "out of memory for the time series");
            return EM_ERR_NOMEM;
        }
    }
    if (e->nchannels == 0 && !(e->series_s > 0))
        return 0; /* nothing to sample */
    int err = pthread_create(&e->thread, NULL, sampler_main, e);
    if (err) {
        snprintf(msg, msgsz, "cannot start the sampler thread: %s", strerror(err));
        return EM_ERR_THREAD;
    }
    e->thread_started = 1;
    return 0;
}

void em_sampler_stop(struct em_engine *e)
{
    if (e->thread_started) {
        pthread_mutex_lock(&e->lock);
        e->stop = 1;
        pthread_cond_broadcast(&e->cond);
        pthread_mutex_unlock(&e->lock);
        pthread_join(e->thread, NULL);
        e->thread_started = 0;
    }
    free(e->ser_t);
    free(e->ser_j);
    e->ser_t = e->ser_j = NULL;
}
