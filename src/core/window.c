/*
 * A measurement window: its first readings (em_engine_begin()), its last
 * ones (em_engine_end()), and the window's readings built from the
 * channels' counters in one pass, with the sources that build a component
 * of their own (fill) or add to one (annotate).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine_state.h"

/* A source's begin or end hook, if it has one; a failure is a warning. */
static void run_hook(struct em_engine *e, struct em_source *s, int (*hook)(struct em_source *),
                     const char *what)
{
    int err = hook ? hook(s) : 0;
    if (err)
        em_engine_warn(e, "source %s: could not %s the window (%s)", s->ops->name, what,
                       em_strerror(err));
}

/* The first reading of every channel of s. */
static void start_channels(struct em_engine *e, struct em_source *s)
{
    em_engine_read_source(e, s);
    for (size_t i = 0; i < s->nch; i++) {
        struct em_channel *ch = &s->ch[i];
        int err = e->scratch_err[i];
        double t = e->scratch_t[i];
        ch->started = err == 0 && !ch->unused;
        ch->failing = 0;
        ch->warned_fail = 0;
        ch->warned_fault = 0;
        ch->max_gap_s = 0;
        ch->next_due = t + ch->period_s;
        if (ch->unused)
            continue;
        if (err)
            em_engine_warn(e, "%s %s: cannot read %s at the start (%s); not measured",
                           ch->component, ch->device, ch->path, em_strerror(err));
        else if (ch->kind == EM_CH_POWER)
            /* Power holds from the window's start to the first reading. */
            em_counter_start_power(&ch->ctr, e->scratch_raw[i], e->begin_mono);
        else
            em_counter_start(&ch->ctr, e->scratch_raw[i], t);
    }
}

/* Snapshots: where a window measured from running counters began. */
int em_snap_take(struct em_engine *e, struct em_snap *snap, const char *name)
{
    *snap = (struct em_snap){0};
    size_t n = e->nchannels ? e->nchannels : 1;
    snap->ctr = calloc(n, sizeof *snap->ctr);
    snap->started = calloc(n, sizeof *snap->started);
    snap->src = calloc(e->nsrc ? e->nsrc : 1, sizeof *snap->src);
    int oom =
        !snap->ctr || !snap->started || !snap->src || (name && !(snap->name = em_strdup(name)));
    for (size_t k = 0; k < e->nsrc && !oom; k++)
        if (e->src[k].ops->snap && e->src[k].ops->fill_between)
            oom = !(snap->src[k] = e->src[k].ops->snap(&e->src[k]));
    if (oom) {
        em_snap_free(e, snap);
        return EM_ERR_NOMEM;
    }
    snap->begin_mono = em_now_mono();
    snap->begin_real = em_now_real_ns();
    for (size_t k = 0; k < e->nsrc; k++)
        for (size_t i = 0; i < e->src[k].nch; i++) {
            const struct em_channel *ch = &e->src[k].ch[i];
            snap->ctr[ch->index] = ch->ctr;
            snap->started[ch->index] = (unsigned char)(ch->started && !ch->failing);
        }
    return 0;
}

void em_snap_free(struct em_engine *e, struct em_snap *snap)
{
    for (size_t k = 0; snap->src && k < e->nsrc; k++)
        if (snap->src[k])
            e->src[k].ops->snap_free(&e->src[k], snap->src[k]);
    free(snap->src);
    free(snap->name);
    free(snap->ctr);
    free(snap->started);
    *snap = (struct em_snap){0};
}

void em_engine_start_counters(struct em_engine *e)
{
    em_engine_clear_warnings(e);
    e->begin_real = em_now_real_ns();
    e->begin_mono = em_now_mono();
    for (size_t k = 0; k < e->nsrc; k++)
        start_channels(e, &e->src[k]);
}

/* The begin()/end() window that starts while no window is open: the
 * counters start, with the sources' begin hooks (the lock held). */
void em_plain_begin(struct em_engine *e)
{
    em_engine_clear_warnings(e);
    e->begin_real = em_now_real_ns();
    e->begin_mono = em_now_mono();
    for (size_t k = 0; k < e->nsrc; k++) {
        run_hook(e, &e->src[k], e->src[k].ops->begin, "start");
        start_channels(e, &e->src[k]);
    }
    em_series_begin(e);
    e->running = 1;
}

/* ------------------------------------------------------------ readings */

/* Let each source that served c add what it knows beyond joules. */
static int annotate_component(struct em_engine *e, struct em_readings *w, struct em_reading *c)
{
    for (size_t k = 0; k < e->nsrc; k++) {
        struct em_source *s = &e->src[k];
        int served = 0;
        for (size_t i = 0; i < s->nch && !served; i++)
            served =
                !s->ch[i].unused && s->ch[i].started && strcmp(s->ch[i].component, c->name) == 0;
        if (served && s->ops->annotate) {
            int err = s->ops->annotate(s, c, w);
            if (err)
                return err;
        }
    }
    return 0;
}

/* A counter that did not move in a window long enough that it should have:
 * frozen (seen on virtual machines), never 0 J. */
static int is_frozen(const struct em_channel *ch, const struct em_counter *c, double duration_s)
{
    return ch->kind == EM_CH_ENERGY && ch->frozen_s > 0 && c->changes == 0 && c->faults == 0 &&
           c->gap_s == 0 && duration_s >= ch->frozen_s;
}

/* The channel's counter over the window: its own, or since snap. */
static const struct em_counter *view(const struct em_snap *snap, const struct em_channel *ch,
                                     struct em_counter *tmp)
{
    if (!snap)
        return &ch->ctr;
    em_counter_since(&ch->ctr, &snap->ctr[ch->index], tmp);
    return tmp;
}

/* One channel's device in c (ctr: its counter over the window); 0, or
 * EM_ERR_NOMEM. */
static int add_channel(struct em_engine *e, struct em_readings *w, struct em_reading *c,
                       const struct em_source *s, const struct em_channel *ch,
                       const struct em_counter *ctr)
{
    if (!c->source && em_reading_set_source(c, s->ops->name))
        return EM_ERR_NOMEM;
    if (ctr->gap_s > 0 || ctr->faults > 0 || ctr->late > 0) {
        c->degraded = 1;
        if (ctr->gap_s > 0)
            c->status = EM_STATUS_ESTIMATED;
    }
    if (em_reading_add_device(c, ch->device, em_counter_joules(ctr), em_counter_uncertainty(ctr)))
        return EM_ERR_NOMEM;
    if (w->sample_t &&
        em_reading_set_device_series(w, c, &e->ser_j[ch->index * (EM_SERIES_MAX + 1)], 1))
        return EM_ERR_NOMEM;
    return 0;
}

/* Component c, which no channel serves, from a source that builds it
 * itself (storage, the model): over its own begin()/end() window, or
 * between the snapshots snap and now. 1 when one did, 0 when none, or an
 * error. */
static int fill_component(struct em_engine *e, const struct em_snap *snap,
                          const struct em_snap *now, struct em_readings *w, struct em_reading *c)
{
    for (size_t k = 0; k < e->nsrc; k++) {
        struct em_source *s = &e->src[k];
        int rc = 0;
        if (!snap && s->ops->fill)
            rc = s->ops->fill(s, c, w);
        else if (snap && snap->src[k])
            rc = s->ops->fill_between(s, snap->src[k], now->src[k], c, w);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Why c has no figure: a message to free, or NULL when out of memory. */
static char *why_unavailable(struct em_engine *e, const char *name, size_t found, size_t frozen,
                             double duration_s)
{
    if (frozen)
        return em_asprintf("every %s counter is frozen: it did not change in %.3f s (seen on "
                           "virtual machines); not reported as 0 J",
                           name, duration_s);
    if (found)
        return em_asprintf("no %s counter could be read at the start of the window (see "
                           "warnings)",
                           name);
    return em_probe_component_reason(e->probes, e->nsrc, name);
}

/* Fill one component of the window from every channel that serves it. */
static int build_component(struct em_engine *e, const struct em_snap *snap,
                           const struct em_snap *now, struct em_readings *w, const char *name)
{
    struct em_reading *c = em_readings_add(w, name);
    if (!c)
        return EM_ERR_NOMEM;
    size_t found = 0, started = 0, frozen = 0;
    for (size_t k = 0; k < e->nsrc; k++) {
        struct em_source *s = &e->src[k];
        for (size_t i = 0; i < s->nch; i++) {
            struct em_channel *ch = &s->ch[i];
            if (ch->unused || strcmp(ch->component, name) != 0)
                continue;
            found++;
            c->in_total = ch->in_total;
            if (!ch->started || (snap && !snap->started[ch->index]))
                continue;
            struct em_counter tmp;
            const struct em_counter *ctr = view(snap, ch, &tmp);
            if (is_frozen(ch, ctr, w->duration_s)) {
                frozen++;
                if (em_readings_warn(w,
                                     "%s %s: %s did not change in %.3f s while power should "
                                     "flow: a frozen counter, not counted",
                                     ch->component, ch->device, ch->path, w->duration_s))
                    return EM_ERR_NOMEM;
                continue;
            }
            started++;
            if (add_channel(e, w, c, s, ch, ctr))
                return EM_ERR_NOMEM;
        }
    }
    if (started > 0) {
        /* A frozen device is missing from the sum: say the value is partial. */
        if (frozen)
            c->degraded = 1;
        /* What sources add beyond joules is about the begin()/end() window. */
        return snap ? 0 : annotate_component(e, w, c);
    }
    if (!found) {
        int rc = fill_component(e, snap, now, w, c);
        if (rc != 0)
            return rc < 0 ? rc : 0;
    }
    char *why = why_unavailable(e, name, found, frozen, w->duration_s);
    if (!why)
        return EM_ERR_NOMEM;
    int err = em_reading_set_unavailable(c, why);
    free(why);
    return err;
}

static int is_fixed(const char *name)
{
    for (size_t i = 0; i < EM_NFIXED; i++)
        if (strcmp(em_fixed_components[i], name) == 0)
            return 1;
    return 0;
}

/* The window's readings: the fixed components, the extras (psys, cpu-core,
 * ...) once each in the order channels appear, then the warnings. */
int em_engine_build_readings(struct em_engine *e, const struct em_snap *snap,
                             const struct em_snap *now, struct em_readings *w)
{
    double end_mono = now->begin_mono;
    int64_t end_real = now->begin_real;
    const struct em_config *oc = snap ? snap->owner : e->plain_owner;
    if (!oc)
        oc = e->cfg;
    int err = em_readings_init(w, oc->label, oc->include_idle);
    if (!err && snap && snap->name && !(w->window = em_strdup(snap->name)))
        err = EM_ERR_NOMEM;
    w->start_ns = snap ? snap->begin_real : e->begin_real;
    w->end_ns = end_real;
    w->duration_s = end_mono - (snap ? snap->begin_mono : e->begin_mono);
    if (!err && !snap && e->series_s > 0 && e->ser_n > 1)
        err = em_readings_set_series(w, e->ser_t, e->ser_n - 1, e->series_s * e->ser_stride,
                                     e->ser_stride);
    for (size_t i = 0; i < EM_NFIXED && !err; i++)
        err = build_component(e, snap, now, w, em_fixed_components[i]);
    for (size_t k = 0; k < e->nsrc && !err; k++)
        for (size_t i = 0; i < e->src[k].nch && !err; i++) {
            const char *name = e->src[k].ch[i].component;
            if (!is_fixed(name) && !em_readings_find(w, name))
                err = build_component(e, snap, now, w, name);
        }
    /* The engine's warnings are the begin()/end() window's. */
    for (size_t i = 0; i < e->nwarnings && !err && !snap; i++)
        err = em_readings_warn(w, "%s", e->warnings[i]);
    if (!err && !snap && e->dropped_warnings)
        err = em_readings_warn(w, "%zu more warnings not shown", e->dropped_warnings);
    if (err)
        em_readings_free(w);
    return err;
}

/* ------------------------------------------------------------------ end */

void em_engine_read_all(struct em_engine *e, int at_end)
{
    for (size_t k = 0; k < e->nsrc; k++) {
        struct em_source *s = &e->src[k];
        em_engine_read_source(e, s);
        for (size_t i = 0; i < s->nch; i++)
            if (s->ch[i].started)
                em_engine_account(e, &s->ch[i], e->scratch_err[i], e->scratch_raw[i],
                                  e->scratch_t[i], at_end);
    }
}

/* Every channel's counter, to be put back after the end hooks changed them
 * for the begin()/end() window's report, while named windows still need
 * them running; NULL when none are open. */
static struct em_counter *save_counters(struct em_engine *e, int *err)
{
    *err = 0;
    if (e->nwin == 0 || e->nchannels == 0)
        return NULL;
    struct em_counter *saved = calloc(e->nchannels, sizeof *saved);
    if (!saved) {
        *err = EM_ERR_NOMEM;
        return NULL;
    }
    for (size_t k = 0; k < e->nsrc; k++)
        for (size_t i = 0; i < e->src[k].nch; i++)
            saved[e->src[k].ch[i].index] = e->src[k].ch[i].ctr;
    return saved;
}

static void restore_counters(struct em_engine *e, struct em_counter *saved)
{
    if (!saved)
        return;
    for (size_t k = 0; k < e->nsrc; k++)
        for (size_t i = 0; i < e->src[k].nch; i++)
            e->src[k].ch[i].ctr = saved[e->src[k].ch[i].index];
    free(saved);
}

/* Its end, with the end hooks (the lock held). */
int em_plain_end(struct em_engine *e, struct em_readings *out)
{
    em_engine_read_all(e, 1);
    /* The window ends with the last reading: end hooks (collecting maps,
     * waiting for a GPU counter's next step) must not lengthen it. */
    double end_mono = em_now_mono();
    int err;
    struct em_counter *saved = save_counters(e, &err);
    if (err)
        return err;
    /* Power channels: the last reading holds up to the window's end. */
    for (size_t k = 0; k < e->nsrc; k++)
        for (size_t i = 0; i < e->src[k].nch; i++) {
            struct em_channel *ch = &e->src[k].ch[i];
            if (ch->started && ch->kind == EM_CH_POWER && !ch->failing)
                em_counter_update_power(&ch->ctr, ch->ctr.last_raw, end_mono);
        }
    int64_t end_real = em_now_real_ns();
    for (size_t k = 0; k < e->nsrc; k++)
        run_hook(e, &e->src[k], e->src[k].ops->end, "end");
    em_series_end(e, end_mono);
    e->running = 0;
    struct em_snap end = {.begin_mono = end_mono, .begin_real = end_real};
    err = em_engine_build_readings(e, NULL, &end, out);
    restore_counters(e, saved);
    return err;
}
