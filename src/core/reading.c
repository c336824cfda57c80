/* What a window measured (reading.h): filling it. */
#include "reading.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const em_fixed_components[EM_NFIXED] = {"cpu", "dram", "gpu", "disk"};

int em_readings_init(struct em_readings *w, const char *label, int include_idle)
{
    memset(w, 0, sizeof *w);
    w->include_idle = include_idle ? 1 : 0;
    if (label && !(w->label = em_strdup(label)))
        return EM_ERR_NOMEM;
    return 0;
}

static void free_devices(struct em_reading *c)
{
    for (size_t d = 0; d < c->ndevices; d++) {
        free(c->devices[d].name);
        em_extras_free(&c->devices[d].extras);
        free(c->devices[d].series_j);
    }
    free(c->devices);
    c->devices = NULL;
    c->ndevices = 0;
}

void em_readings_free(struct em_readings *w)
{
    for (size_t i = 0; i < w->ncomps; i++) {
        struct em_reading *c = &w->comps[i];
        free(c->name);
        free(c->source);
        free(c->reason);
        free_devices(c);
        em_extras_free(&c->extras);
    }
    free(w->comps);
    free(w->window);
    for (size_t i = 0; i < w->nwarnings; i++)
        free(w->warnings[i]);
    free(w->warnings);
    free(w->label);
    free(w->sample_t);
    memset(w, 0, sizeof *w);
}

/*
 * The array is grown by realloc, so a pointer returned earlier is invalid
 * after the next call: callers fill one component before adding another.
 */
struct em_reading *em_readings_add(struct em_readings *w, const char *name)
{
    if (!w || !name)
        return NULL;
    if (w->ncomps >= SIZE_MAX / sizeof(*w->comps) - 1)
        return NULL;
    struct em_reading *comps = realloc(w->comps, (w->ncomps + 1) * sizeof(*comps));
    if (!comps)
        return NULL;
    /* The larger array is kept even if the name copy fails: ncomps still
     * says how much of it is in use, and em_readings_free() frees it. */
    w->comps = comps;
    char *copy = em_strdup(name);
    if (!copy)
        return NULL;
    struct em_reading *c = &comps[w->ncomps++];
    *c = (struct em_reading){.name = copy, .status = EM_STATUS_MEASURED, .in_total = 1};
    return c;
}

struct em_reading *em_readings_find(struct em_readings *w, const char *name)
{
    for (size_t i = 0; i < w->ncomps; i++)
        if (strcmp(w->comps[i].name, name) == 0)
            return &w->comps[i];
    return NULL;
}

int em_readings_warn(struct em_readings *w, const char *fmt, ...)
{
    if (!w || !fmt)
        return EM_ERR_INVALID;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return EM_ERR_INVALID;
    char *msg = malloc((size_t)n + 1);
    if (!msg)
        return EM_ERR_NOMEM;
    va_start(ap, fmt);
    vsnprintf(msg, (size_t)n + 1, fmt, ap);
    va_end(ap);

    char **v = realloc(w->warnings, (w->nwarnings + 1) * sizeof(*v));
    if (!v) {
        free(msg);
        return EM_ERR_NOMEM;
    }
    w->warnings = v;
    v[w->nwarnings++] = msg;
    return EM_OK;
}

int em_readings_set_series(struct em_readings *w, const double *t, size_t n, double interval_s,
                           unsigned downsampled_by)
{
    double *copy = malloc((n + 1) * sizeof *copy);
    if (!copy)
        return EM_ERR_NOMEM;
    memcpy(copy, t, (n + 1) * sizeof *copy);
    free(w->sample_t);
    w->sample_t = copy;
    w->nsamples = n;
    w->series_interval_s = interval_s;
    w->series_downsampled_by = downsampled_by;
    return 0;
}

int em_reading_set_device_series(const struct em_readings *w, struct em_reading *c, const double *j,
                                 size_t stride)
{
    if (!c->ndevices || !w->sample_t)
        return EM_ERR_INVALID;
    struct em_reading_device *d = &c->devices[c->ndevices - 1];
    double *copy = malloc((w->nsamples + 1) * sizeof *copy);
    if (!copy)
        return EM_ERR_NOMEM;
    for (size_t i = 0; i <= w->nsamples; i++)
        copy[i] = j[i * stride];
    free(d->series_j);
    d->series_j = copy;
    return 0;
}

int em_reading_set_unavailable(struct em_reading *c, const char *reason)
{
    if (!c)
        return EM_ERR_INVALID;
    /* Copy first: reason may point into c->reason itself. */
    char *copy = em_strdup(reason);
    int rc = (reason && !copy) ? EM_ERR_NOMEM : EM_OK;
    /* The status changes even when the copy failed, so that the component
     * never claims a value it does not have. */
    c->status = EM_STATUS_UNAVAILABLE;
    c->joules = NAN;
    c->uncertainty_j = NAN;
    c->degraded = 0;
    free(c->source);
    c->source = NULL;
    free(c->reason);
    c->reason = copy;
    /* Device values would contradict "joules is null exactly when
     * unavailable", so they go too. */
    free_devices(c);
    return rc;
}

int em_reading_set_source(struct em_reading *c, const char *source)
{
    char *copy = em_strdup(source);
    if (source && !copy)
        return EM_ERR_NOMEM;
    free(c->source);
    c->source = copy;
    return 0;
}

int em_reading_add_device(struct em_reading *c, const char *name, double joules,
                          double uncertainty_j)
{
    if (!c || !name)
        return EM_ERR_INVALID;
    if (c->ndevices >= SIZE_MAX / sizeof(*c->devices) - 1)
        return EM_ERR_NOMEM;
    struct em_reading_device *devs = realloc(c->devices, (c->ndevices + 1) * sizeof(*devs));
    if (!devs)
        return EM_ERR_NOMEM;
    c->devices = devs;
    char *copy = em_strdup(name);
    if (!copy)
        return EM_ERR_NOMEM;
    struct em_reading_device *d = &devs[c->ndevices++];
    *d = (struct em_reading_device){.name = copy, .joules = joules, .uncertainty_j = uncertainty_j};
    return EM_OK;
}

struct em_reading_device *em_reading_find_device(struct em_reading *c, const char *name)
{
    for (size_t d = 0; d < c->ndevices; d++)
        if (strcmp(c->devices[d].name, name) == 0)
            return &c->devices[d];
    return NULL;
}
