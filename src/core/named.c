/*
 * Named windows: each is the time since a snapshot of every channel's
 * counter (em_counter_since()), so that any number may be open at once on
 * one engine, with its one sampler thread, while the counters keep running.
 * Sources that are not counters (storage, the models) take snapshots of
 * their own (snap(), fill_between()); the sources' begin and end hooks (the
 * GPU's edge estimate) serve only a begin()/end() window that started while
 * no named window was open.
 */
#include <stdlib.h>
#include <string.h>

#include "engine_state.h"

static struct em_snap *find(struct em_engine *e, const char *name)
{
    for (size_t i = 0; i < e->nwin; i++)
        if (strcmp(e->win[i].name, name) == 0)
            return &e->win[i];
    return NULL;
}

static void drop(struct em_engine *e, struct em_snap *w)
{
    em_snap_free(e, w);
    size_t i = (size_t)(w - e->win);
    memmove(&e->win[i], &e->win[i + 1], (e->nwin - i - 1) * sizeof *e->win);
    e->nwin--;
}

/* Counters running and read now: the start of the first window, or a
 * reading of every channel. */
static void read_now(struct em_engine *e)
{
    if (em_engine_active(e)) {
        em_engine_read_all(e, 0);
        return;
    }
    em_engine_start_counters(e);
    e->plain_hooks = 0;
}

int em_engine_window_begin(struct em_engine *e, const char *name)
{
    pthread_mutex_lock(&e->lock);
    int err = 0;
    if (find(e, name)) {
        err = EM_ERR_STATE;
    } else if (e->nwin == e->capwin) {
        size_t cap = e->capwin ? 2 * e->capwin : 8;
        struct em_snap *grown = realloc(e->win, cap * sizeof *grown);
        if (!grown)
            err = EM_ERR_NOMEM;
        else {
            e->win = grown;
            e->capwin = cap;
        }
    }
    if (!err) {
        read_now(e);
        err = em_snap_take(e, &e->win[e->nwin], name);
    }
    if (!err) {
        e->nwin++;
        e->generation++; /* the sampler wakes to the new window */
        pthread_cond_broadcast(&e->cond);
    }
    pthread_mutex_unlock(&e->lock);
    return err;
}

int em_engine_window_end(struct em_engine *e, const char *name, int again, struct em_readings *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&e->lock);
    struct em_snap *w = find(e, name);
    if (!w) {
        pthread_mutex_unlock(&e->lock);
        return EM_ERR_NOT_FOUND;
    }
    em_engine_read_all(e, 1);
    struct em_snap now;
    int err = em_snap_take(e, &now, name);
    if (!err)
        err = em_engine_build_readings(e, w, &now, out);
    if (!err && again) {
        /* The next window starts where this one ended: no time between. */
        em_snap_free(e, w);
        *w = now;
    } else {
        em_snap_free(e, &now);
        if (!err)
            drop(e, w);
    }
    pthread_mutex_unlock(&e->lock);
    return err;
}

int em_engine_window_cancel(struct em_engine *e, const char *name)
{
    pthread_mutex_lock(&e->lock);
    struct em_snap *w = find(e, name);
    if (w)
        drop(e, w);
    pthread_mutex_unlock(&e->lock);
    return w ? 0 : EM_ERR_NOT_FOUND;
}

size_t em_engine_window_count(struct em_engine *e)
{
    pthread_mutex_lock(&e->lock);
    size_t n = e->nwin;
    pthread_mutex_unlock(&e->lock);
    return n;
}
