/*
 * Named windows: each is the time since a snapshot of every channel's
 * counter (em_counter_since()), so that any number may be open at once on
 * one engine, with its one sampler thread, while the counters keep running.
 * The sources' begin and end hooks (GPU edge estimates, eBPF accounting)
 * serve only a begin()/end() window that no named window overlaps.
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
    em_snap_free(w);
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
    double end_mono = em_now_mono();
    int64_t end_real = em_now_real_ns();
    int err = em_engine_build_readings(e, w, end_mono, end_real, out);
    if (!err && again) {
        /* The next window starts where this one ended: no time between. */
        struct em_snap next;
        err = em_snap_take(e, &next, name);
        if (!err) {
            next.begin_mono = end_mono;
            next.begin_real = end_real;
            em_snap_free(w);
            *w = next;
        } else {
            em_readings_free(out);
        }
    } else if (!err) {
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
