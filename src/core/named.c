/*
 * The windows of an engine, for every meter (owner) that uses it: a meter's
 * begin()/end() window and its named windows. The first window to open
 * while none is open is a begin()/end() window with the sources' hooks (the
 * GPU's edge estimate), if it is one; every other window is the time since
 * a snapshot of every channel's counter (em_counter_since()) and of the
 * sources that are not counters (snap(), fill_between()), so that any
 * number may be open at once on one engine, with its one sampler thread,
 * while the counters keep running.
 */
#include <stdlib.h>
#include <string.h>

#include "engine_state.h"

/* The owner's window of that name (NULL: its begin()/end() window). */
static struct em_snap *find(struct em_engine *e, const struct em_config *owner, const char *name)
{
    for (size_t i = 0; i < e->nwin; i++) {
        struct em_snap *w = &e->win[i];
        if (w->owner == owner && (name ? w->name && strcmp(w->name, name) == 0 : !w->name))
            return w;
    }
    return NULL;
}

static void drop(struct em_engine *e, struct em_snap *w)
{
    em_snap_free(e, w);
    size_t i = (size_t)(w - e->win);
    memmove(&e->win[i], &e->win[i + 1], (e->nwin - i - 1) * sizeof *e->win);
    e->nwin--;
}

/* A window from a snapshot now (the lock held). */
static int open_window(struct em_engine *e, const struct em_config *owner, const char *name)
{
    if (e->nwin == e->capwin) {
        size_t cap = e->capwin ? 2 * e->capwin : 8;
        struct em_snap *grown = realloc(e->win, cap * sizeof *grown);
        if (!grown)
            return EM_ERR_NOMEM;
        e->win = grown;
        e->capwin = cap;
    }
    /* The counters run and are read now: the start of the first window, or
     * a reading of every channel. */
    if (em_engine_active(e))
        em_engine_read_all(e, 0);
    else
        em_engine_start_counters(e);
    int err = em_snap_take(e, &e->win[e->nwin], name);
    if (err)
        return err;
    e->win[e->nwin].owner = owner;
    e->nwin++;
    e->generation++; /* the sampler wakes to the new window */
    pthread_cond_broadcast(&e->cond);
    return 0;
}

/* Its end (the lock held); again: it begins anew at the same reading. */
static int close_window(struct em_engine *e, struct em_snap *w, int again, struct em_readings *out)
{
    em_engine_read_all(e, 1);
    struct em_snap now;
    int err = em_snap_take(e, &now, w->name);
    if (!err)
        err = em_engine_build_readings(e, w, &now, out);
    if (!err && again) {
        /* The next window starts where this one ended: no time between. */
        now.owner = w->owner;
        em_snap_free(e, w);
        *w = now;
    } else {
        em_snap_free(e, &now);
        if (!err)
            drop(e, w);
    }
    return err;
}

int em_engine_begin(struct em_engine *e, const struct em_config *owner)
{
    pthread_mutex_lock(&e->lock);
    int err = 0;
    if ((e->running && e->plain_owner == owner) || find(e, owner, NULL)) {
        err = EM_ERR_STATE;
    } else if (!em_engine_active(e)) {
        em_plain_begin(e);
        e->plain_owner = owner;
        e->generation++;
        pthread_cond_broadcast(&e->cond);
    } else {
        err = open_window(e, owner, NULL);
    }
    pthread_mutex_unlock(&e->lock);
    return err;
}

int em_engine_end(struct em_engine *e, const struct em_config *owner, struct em_readings *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&e->lock);
    int err = EM_ERR_STATE;
    struct em_snap *w;
    if (e->running && e->plain_owner == owner) {
        err = em_plain_end(e, out);
        e->plain_owner = NULL;
    } else if ((w = find(e, owner, NULL)) != NULL)
        err = close_window(e, w, 0, out);
    pthread_mutex_unlock(&e->lock);
    return err;
}

int em_engine_window_begin(struct em_engine *e, const struct em_config *owner, const char *name)
{
    pthread_mutex_lock(&e->lock);
    int err = find(e, owner, name) ? EM_ERR_STATE : open_window(e, owner, name);
    pthread_mutex_unlock(&e->lock);
    return err;
}

int em_engine_window_end(struct em_engine *e, const struct em_config *owner, const char *name,
                         int again, struct em_readings *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&e->lock);
    struct em_snap *w = find(e, owner, name);
    int err = w ? close_window(e, w, again, out) : EM_ERR_NOT_FOUND;
    pthread_mutex_unlock(&e->lock);
    return err;
}

int em_engine_window_cancel(struct em_engine *e, const struct em_config *owner, const char *name)
{
    pthread_mutex_lock(&e->lock);
    struct em_snap *w = find(e, owner, name);
    if (w)
        drop(e, w);
    pthread_mutex_unlock(&e->lock);
    return w ? 0 : EM_ERR_NOT_FOUND;
}

size_t em_engine_window_count(struct em_engine *e, const struct em_config *owner)
{
    pthread_mutex_lock(&e->lock);
    size_t n = 0;
    for (size_t i = 0; i < e->nwin; i++)
        n += e->win[i].owner == owner && e->win[i].name;
    pthread_mutex_unlock(&e->lock);
    return n;
}

void em_engine_forget(struct em_engine *e, const struct em_config *owner)
{
    pthread_mutex_lock(&e->lock);
    for (size_t i = e->nwin; i-- > 0;)
        if (e->win[i].owner == owner)
            drop(e, &e->win[i]);
    if (e->running && e->plain_owner == owner) {
        /* Abandoned: the counters go on for the other windows. */
        e->running = 0;
        e->plain_owner = NULL;
    }
    pthread_mutex_unlock(&e->lock);
}
