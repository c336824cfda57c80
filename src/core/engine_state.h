/*
 * The engine's state, shared by the files that make it up and by no one
 * else: engine.c (life cycle), channel.c (one reading of a channel, the
 * window's warnings), sampler.c (the thread, periods, time series) and
 * window.c (begin, end, the window's readings). Every function here is
 * called with the engine's lock held, but for life-cycle ones.
 */
#ifndef EM_CORE_ENGINE_STATE_H
#define EM_CORE_ENGINE_STATE_H

#include <pthread.h>

#include "engine.h"

/* Time series: samples kept per window (plus the origin). When full, every
 * other sample is dropped and the interval doubles: exact, since samples hold
 * cumulative energy. 4096 x 8 bytes per channel. */
#define EM_SERIES_MAX 4096

/* Where a window began: the time and, for a window measured from counters
 * that keep running (named windows, and a begin()/end() window that starts
 * while one is open), each channel's counter then (by channel index). */
struct em_snap {
    const struct em_config *owner; /* the meter's (its label) */
    char *name;                    /* named windows; NULL: a begin()/end() window */
    double begin_mono;
    int64_t begin_real;
    struct em_counter *ctr;
    unsigned char *started;
    void **src; /* per source: its snap() (sources with fill_between()) */
};

struct em_engine {
    const struct em_config *cfg;
    const struct em_logger *log;

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
    unsigned long generation; /* bumped by each em_engine_begin(), wakes the sampler */
    uint64_t *scratch_raw;    /* one entry per channel of the largest source */
    int *scratch_err;
    double *scratch_t;

    /* time series (interval_ms > 0) */
    double series_s;        /* the interval asked for */
    size_t ser_n;           /* samples recorded, origin included */
    unsigned ser_stride;    /* record every ser_stride-th tick */
    unsigned long ser_tick; /* ticks since the start */
    double next_tick;       /* monotonic time of the next tick */
    double *ser_t;          /* EM_SERIES_MAX + 1 */
    double *ser_j;          /* (EM_SERIES_MAX + 1) per channel, channel-major */

    /* named windows open (named.c), in the order they began */
    struct em_snap *win;
    size_t nwin, capwin;
    /* running: the begin()/end() window that started while no window was
     * open, which runs the sources' hooks, for plain_owner (a meter's
     * config); other begin()/end() windows are in win, without a name */
    const struct em_config *plain_owner;

    /* the running window's start, or when the counters started */
    double begin_mono;
    int64_t begin_real;
    char **warnings;
    size_t nwarnings;
    size_t dropped_warnings;
};

/* The counters run while any window is open. */
static inline int em_engine_active(const struct em_engine *e)
{
    return e->running || e->nwin > 0;
}

/* window.c */
/* Take snap of every channel now (after a reading), and of every source that
 * can snap(); 0 or EM_ERR_NOMEM. */
EM_INTERNAL int em_snap_take(struct em_engine *e, struct em_snap *snap, const char *name);
EM_INTERNAL void em_snap_free(struct em_engine *e, struct em_snap *snap);
/* The first reading of every channel: the counters start (no hooks). */
EM_INTERNAL void em_engine_start_counters(struct em_engine *e);
/* The begin()/end() window with hooks: it starts the counters; its end
 * hands over its readings (EM_ERR_NOMEM). */
EM_INTERNAL void em_plain_begin(struct em_engine *e);
EM_INTERNAL int em_plain_end(struct em_engine *e, struct em_readings *out);
/* A reading of every started channel now (at_end: failures end the channel's
 * time), as at a window's end. */
EM_INTERNAL void em_engine_read_all(struct em_engine *e, int at_end);
/* The readings of a window that ends at now's time: the begin()/end()
 * window with hooks (snap NULL; only now's time is read), or the one from
 * snapshot snap to snapshot now. */
EM_INTERNAL int em_engine_build_readings(struct em_engine *e, const struct em_snap *snap,
                                         const struct em_snap *now, struct em_readings *w);

/* channel.c */
EM_INTERNAL void em_engine_warn(struct em_engine *e, const char *fmt, ...) EM_PRINTF(2, 3);
EM_INTERNAL void em_engine_clear_warnings(struct em_engine *e);
/* Account one reading of a channel (or its failure: err) taken at t. */
EM_INTERNAL void em_engine_account(struct em_engine *e, struct em_channel *ch, int err,
                                   uint64_t raw, double t, int at_end);
/* Read every channel of s now, at once where the source can, into the
 * engine's scratch arrays. */
EM_INTERNAL void em_engine_read_source(struct em_engine *e, struct em_source *s);

/* sampler.c */
/* Set each channel's sampler period; the shortest. */
EM_INTERNAL double em_sampler_set_periods(struct em_engine *e);
/* Allocate the series (when asked for) and start the thread (when there is
 * anything to sample). 0, EM_ERR_NOMEM or EM_ERR_THREAD (msg says why). */
EM_INTERNAL int em_sampler_start(struct em_engine *e, char *msg, size_t msgsz);
EM_INTERNAL void em_sampler_stop(struct em_engine *e);
/* The window's first and last samples of the series (when one is kept). */
EM_INTERNAL void em_series_begin(struct em_engine *e);
EM_INTERNAL void em_series_end(struct em_engine *e, double end_mono);

#endif
