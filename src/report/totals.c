/*
 * Running totals over many windows: the exporter (`energymeter serve`)
 * measures back-to-back windows and adds each window's report here, so that
 * what it serves are counters that only grow, as Prometheus expects, and
 * every joule a sensor saw in a window is counted once.
 *
 * A component or device is kept from the first window that had it; one that
 * is unavailable in a window adds nothing that window (never a 0 J that
 * looks measured), and its last status and reason say why. Adding a report
 * either applies all of it or, out of memory, nothing.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "totals.h"

int em_totals_new(em_totals **out)
{
    if (!out)
        return EM_ERR_INVALID;
    *out = calloc(1, sizeof(**out));
    return *out ? EM_OK : EM_ERR_NOMEM;
}

void em_totals_free(em_totals *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->ncomps; i++) {
        struct em_totals_component *c = &t->comps[i];
        for (size_t d = 0; d < c->ndevices; d++)
            free(c->devices[d].name);
        free(c->devices);
        free(c->name);
        free(c->source);
        free(c->reason);
    }
    free(t->comps);
    free(t);
}

/* The entry called name, appended (zeroed, unavailable) when new; NULL when
 * out of memory. */
static struct em_totals_component *component(struct em_totals *t, const char *name)
{
    for (size_t i = 0; i < t->ncomps; i++)
        if (strcmp(t->comps[i].name, name) == 0)
            return &t->comps[i];
    struct em_totals_component *v = realloc(t->comps, (t->ncomps + 1) * sizeof(*v));
    if (!v)
        return NULL;
    t->comps = v;
    struct em_totals_component *c = &v[t->ncomps];
    memset(c, 0, sizeof(*c));
    c->status = EM_STATUS_UNAVAILABLE;
    c->last_watts = NAN;
    if (!(c->name = em_strdup(name)))
        return NULL;
    t->ncomps++;
    return c;
}

static struct em_totals_device *device(struct em_totals_component *c, const char *name)
{
    for (size_t i = 0; i < c->ndevices; i++)
        if (strcmp(c->devices[i].name, name) == 0)
            return &c->devices[i];
    struct em_totals_device *v = realloc(c->devices, (c->ndevices + 1) * sizeof(*v));
    if (!v)
        return NULL;
    c->devices = v;
    struct em_totals_device *d = &v[c->ndevices];
    memset(d, 0, sizeof(*d));
    d->last_watts = NAN;
    if (!(d->name = em_strdup(name)))
        return NULL;
    c->ndevices++;
    return d;
}

static double watts(double joules, double duration_s)
{
    return isfinite(joules) && duration_s > 0 ? joules / duration_s : NAN;
}

/* Disk counters of a window into the sums; has: set once a window had them. */
static void add_disk(const struct em_extras *x, int *has, double *rd, double *wr, double *busy)
{
    double r = em_extras_number(x, "read_bytes"), w = em_extras_number(x, "write_bytes");
    double b = em_extras_number(x, "busy_s");
    if (!isfinite(r) && !isfinite(w) && !isfinite(b))
        return;
    *has = 1;
    *rd += isfinite(r) ? r : 0;
    *wr += isfinite(w) ? w : 0;
    *busy += isfinite(b) ? b : 0;
}

int em_totals_add(em_totals *t, const em_report *r)
{
    if (!t || !r)
        return EM_ERR_INVALID;
    /* First everything that can fail: the entries and the strings. */
    char **src = calloc(r->win.ncomps + 1, sizeof(*src)),
         **why = calloc(r->win.ncomps + 1, sizeof(*why));
    int err = src && why ? EM_OK : EM_ERR_NOMEM;
    for (size_t i = 0; !err && i < r->win.ncomps; i++) {
        const struct em_reading *rc = &r->win.comps[i];
        struct em_totals_component *c = component(t, rc->name);
        if (!c) {
            err = EM_ERR_NOMEM;
            break;
        }
        for (size_t d = 0; !err && rc->status != EM_STATUS_UNAVAILABLE && d < rc->ndevices; d++)
            if (!device(c, rc->devices[d].name))
                err = EM_ERR_NOMEM;
        if ((rc->source && !(src[i] = em_strdup(rc->source))) ||
            (rc->reason && !(why[i] = em_strdup(rc->reason))))
            err = EM_ERR_NOMEM;
    }
    if (err)
        goto cleanup;

    /* Then the sums, which cannot fail. */
    double dur = r->win.duration_s;
    for (size_t i = 0; i < r->win.ncomps; i++) {
        const struct em_reading *rc = &r->win.comps[i];
        struct em_totals_component *c = component(t, rc->name);
        c->in_total = rc->in_total;
        c->status = rc->status;
        free(c->source);
        free(c->reason);
        c->source = src[i];
        c->reason = why[i];
        src[i] = why[i] = NULL;
        for (size_t d = 0; d < c->ndevices; d++)
            c->devices[d].last_watts = NAN;
        if (rc->status == EM_STATUS_UNAVAILABLE || !isfinite(rc->joules)) {
            c->last_watts = NAN;
            continue;
        }
        c->ever_measured = 1;
        c->joules += rc->joules;
        if (isfinite(rc->uncertainty_j))
            c->uncertainty_j += rc->uncertainty_j;
        c->degraded_windows += rc->degraded ? 1 : 0;
        c->last_watts = watts(rc->joules, dur);
        add_disk(&rc->extras, &c->has_disk, &c->read_bytes, &c->write_bytes, &c->busy_s);
        for (size_t k = 0; k < rc->ndevices; k++) {
            const struct em_reading_device *rd = &rc->devices[k];
            struct em_totals_device *d = device(c, rd->name);
            if (isfinite(rd->joules)) {
                d->joules += rd->joules;
                d->last_watts = watts(rd->joules, dur);
            }
            add_disk(&rd->extras, &d->has_disk, &d->read_bytes, &d->write_bytes, &d->busy_s);
            c->has_disk |= d->has_disk; /* served per device, then */
        }
    }
    if (t->windows && r->win.start_ns > t->last_end_ns)
        t->gaps_s += (double)(r->win.start_ns - t->last_end_ns) / 1e9;
    t->windows++;
    t->warnings += r->win.nwarnings;
    if (dur > 0)
        t->seconds += dur;
    t->last_duration_s = dur;
    t->last_end_ns = r->win.end_ns;

cleanup:
    for (size_t i = 0; i < r->win.ncomps && src && why; i++) {
        free(src[i]);
        free(why[i]);
    }
    free(src);
    free(why);
    return err;
}
