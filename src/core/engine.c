/*
 * The engine's life cycle: the sources of a table probed and opened, their
 * channels numbered, the sampler's periods set and its thread started; and
 * all of it undone.
 */
#include <stdlib.h>
#include <time.h>

#include "engine_state.h"

static int open_sources(struct em_engine *e, const struct em_source_ops *const *table, char *msg,
                        size_t msgsz)
{
    size_t maxch = 1;
    int err = em_sources_open(table, e->cfg, &e->src, &e->probes, &e->nsrc, msg, msgsz);
    if (err)
        return err;
    for (size_t k = 0; k < e->nsrc; k++) {
        for (size_t i = 0; i < e->src[k].nch; i++)
            e->src[k].ch[i].index = e->nchannels + i;
        e->nchannels += e->src[k].nch;
        if (e->src[k].nch > maxch)
            maxch = e->src[k].nch;
        em_log(e->log, EM_LOG_INFO, "source %s: %zu channel(s)%s%s", e->src[k].ops->name,
               e->src[k].nch, e->probes[k].reason ? ": " : "",
               e->probes[k].reason ? e->probes[k].reason : "");
    }
    e->scratch_raw = calloc(maxch, sizeof *e->scratch_raw);
    e->scratch_err = calloc(maxch, sizeof *e->scratch_err);
    e->scratch_t = calloc(maxch, sizeof *e->scratch_t);
    if (!e->scratch_raw || !e->scratch_err || !e->scratch_t) {
        snprintf(msg, msgsz, "out of memory");
        return EM_ERR_NOMEM;
    }
    return 0;
}

int em_engine_new(const struct em_source_ops *const *table, const struct em_config *cfg,
                  const struct em_logger *log, struct em_engine **out, char *msg, size_t msgsz)
{
    *out = NULL;
    struct em_engine *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(msg, msgsz, "out of memory");
        return EM_ERR_NOMEM;
    }
    e->cfg = cfg;
    e->log = log;
    pthread_mutex_init(&e->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->cond, &ca);
    pthread_condattr_destroy(&ca);

    int err = open_sources(e, table, msg, msgsz);
    if (!err) {
        e->period_s = em_sampler_set_periods(e);
        err = em_sampler_start(e, msg, msgsz);
    }
    if (err) {
        em_engine_free(e);
        return err;
    }
    em_log(e->log, EM_LOG_DEBUG, "sampler period %.3f s over %zu channel(s)", e->period_s,
           e->nchannels);
    *out = e;
    return 0;
}

void em_engine_free(struct em_engine *e)
{
    if (!e)
        return;
    em_sampler_stop(e);
    /* Snapshots hold the sources' own (snap_free()): before they close. */
    for (size_t i = 0; i < e->nwin; i++)
        em_snap_free(e, &e->win[i]);
    free(e->win);
    em_sources_close(e->src, e->probes, e->nsrc);
    free(e->scratch_raw);
    free(e->scratch_err);
    free(e->scratch_t);
    em_engine_clear_warnings(e);
    pthread_cond_destroy(&e->cond);
    pthread_mutex_destroy(&e->lock);
    free(e);
}
