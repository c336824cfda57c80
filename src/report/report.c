/*
 * The report: building it (internal, used by the meter) and reading it
 * (public accessors and writers). Totals are computed once, in
 * em_report_finish(); the formatters only print what is here.
 */
#include "report.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- building */

struct em_report *em_report_new(const char *label, int include_idle)
{
    struct em_report *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    if (label) {
        r->label = em_strdup(label);
        if (!r->label) {
            free(r);
            return NULL;
        }
    }
    r->include_idle = include_idle ? 1 : 0;
    return r;
}

static void free_argv(struct em_report *r)
{
    if (r->argv) {
        for (int i = 0; i < r->argc; i++)
            free(r->argv[i]);
        free(r->argv);
    }
    r->argv = NULL;
    r->argc = 0;
}

static void free_devices(struct em_report_component *c)
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

void em_report_free(struct em_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->ncomps; i++) {
        struct em_report_component *c = &r->comps[i];
        free(c->name);
        free(c->source);
        free(c->reason);
        free_devices(c);
        em_extras_free(&c->extras);
    }
    free(r->comps);
    for (size_t i = 0; i < r->nwarnings; i++)
        free(r->warnings[i]);
    free(r->warnings);
    free_argv(r);
    free(r->label);
    free(r->sample_t);
    free(r);
}

/*
 * The array is grown by realloc, so a pointer returned earlier is invalid
 * after the next call: callers fill one component before adding another.
 */
struct em_report_component *em_report_add_component(struct em_report *r, const char *name)
{
    if (!r || !name)
        return NULL;
    if (r->ncomps >= SIZE_MAX / sizeof(*r->comps) - 1)
        return NULL;
    struct em_report_component *comps = realloc(r->comps, (r->ncomps + 1) * sizeof(*comps));
    if (!comps)
        return NULL;
    /* The larger array is kept even if the name copy fails: ncomps still
     * says how much of it is in use, and em_report_free() frees it. */
    r->comps = comps;
    char *copy = em_strdup(name);
    if (!copy)
        return NULL;
    struct em_report_component *c = &comps[r->ncomps++];
    memset(c, 0, sizeof(*c));
    c->name = copy;
    c->status = EM_STATUS_MEASURED;
    c->joules = 0.0;
    c->uncertainty_j = 0.0;
    c->in_total = 1;
    return c;
}

int em_report_set_unavailable(struct em_report_component *c, const char *reason)
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

int em_report_add_device(struct em_report_component *c, const char *name, double joules,
                         double uncertainty_j)
{
    if (!c || !name)
        return EM_ERR_INVALID;
    if (c->ndevices >= SIZE_MAX / sizeof(*c->devices) - 1)
        return EM_ERR_NOMEM;
    struct em_report_device *devs = realloc(c->devices, (c->ndevices + 1) * sizeof(*devs));
    if (!devs)
        return EM_ERR_NOMEM;
    c->devices = devs;
    char *copy = em_strdup(name);
    if (!copy)
        return EM_ERR_NOMEM;
    struct em_report_device *d = &devs[c->ndevices++];
    *d = (struct em_report_device){.name = copy, .joules = joules, .uncertainty_j = uncertainty_j};
    return EM_OK;
}

int em_report_set_series(struct em_report *r, const double *t, size_t n, double interval_s,
                         unsigned downsampled_by)
{
    double *copy = malloc((n + 1) * sizeof *copy);
    if (!copy)
        return EM_ERR_NOMEM;
    memcpy(copy, t, (n + 1) * sizeof *copy);
    free(r->sample_t);
    r->sample_t = copy;
    r->nsamples = n;
    r->series_interval_s = interval_s;
    r->series_downsampled_by = downsampled_by;
    return 0;
}

int em_report_set_device_series(struct em_report *r, struct em_report_component *c, const double *j,
                                size_t stride)
{
    if (!c->ndevices || !r->sample_t)
        return EM_ERR_INVALID;
    struct em_report_device *d = &c->devices[c->ndevices - 1];
    double *copy = malloc((r->nsamples + 1) * sizeof *copy);
    if (!copy)
        return EM_ERR_NOMEM;
    for (size_t i = 0; i <= r->nsamples; i++)
        copy[i] = j[i * stride];
    free(d->series_j);
    d->series_j = copy;
    return 0;
}

double em_report_device_power_at(const struct em_report *r, const struct em_report_device *d,
                                 size_t i)
{
    if (!d->series_j || i >= r->nsamples)
        return NAN;
    double dt = r->sample_t[i + 1] - r->sample_t[i];
    if (!(dt > 0))
        return NAN;
    return (d->series_j[i + 1] - d->series_j[i]) / dt;
}

int em_report_add_warning(struct em_report *r, const char *fmt, ...)
{
    if (!r || !fmt)
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

    char **w = realloc(r->warnings, (r->nwarnings + 1) * sizeof(*w));
    if (!w) {
        free(msg);
        return EM_ERR_NOMEM;
    }
    r->warnings = w;
    w[r->nwarnings++] = msg;
    return EM_OK;
}

void em_report_finish(struct em_report *r)
{
    if (!r)
        return;
    double total = 0.0;
    for (size_t i = 0; i < r->ncomps; i++) {
        struct em_report_component *c = &r->comps[i];
        if (c->status == EM_STATUS_UNAVAILABLE) {
            /* Enforce the invariant even for a caller that set the status
             * by hand instead of through em_report_set_unavailable(). */
            c->joules = NAN;
            c->uncertainty_j = NAN;
            continue;
        }
        if (c->ndevices > 0) {
            double j = 0.0, u = 0.0;
            for (size_t d = 0; d < c->ndevices; d++) {
                j += c->devices[d].joules;
                /* Errors of different counters may all lean the same way,
                 * so the bound adds them instead of adding in quadrature. */
                u += c->devices[d].uncertainty_j;
            }
            c->joules = j;
            c->uncertainty_j = u;
        }
        if (c->in_total)
            total += c->joules;
    }
    r->total_joules = total;
}

/* --------------------------------------------------------------- accessors */

const char *em_status_name(em_status status)
{
    switch (status) {
    case EM_STATUS_MEASURED:
        return "measured";
    case EM_STATUS_ESTIMATED:
        return "estimated";
    case EM_STATUS_UNAVAILABLE:
        return "unavailable";
    }
    return "unknown";
}

int em_report_set_command(em_report *r, int argc, const char *const *argv)
{
    if (!r || argc < 0 || (argc > 0 && !argv))
        return EM_ERR_INVALID;
    for (int i = 0; i < argc; i++)
        if (!argv[i])
            return EM_ERR_INVALID;

    /* NULL-terminated, so that an empty command is still "set" (argv != NULL). */
    char **copy = calloc((size_t)argc + 1, sizeof(*copy));
    if (!copy)
        return EM_ERR_NOMEM;
    for (int i = 0; i < argc; i++) {
        copy[i] = em_strdup(argv[i]);
        if (!copy[i]) {
            for (int j = 0; j < i; j++)
                free(copy[j]);
            free(copy);
            return EM_ERR_NOMEM;
        }
    }
    free_argv(r);
    r->argv = copy;
    r->argc = argc;
    return EM_OK;
}

void em_report_set_exit_status(em_report *r, int status)
{
    if (!r)
        return;
    r->exit_status = status;
    r->has_exit_status = 1;
}

const char *em_report_label(const em_report *r)
{
    return r ? r->label : NULL;
}

double em_report_duration_s(const em_report *r)
{
    return r ? r->duration_s : NAN;
}

int64_t em_report_start_ns(const em_report *r)
{
    return r ? r->start_ns : 0;
}

int64_t em_report_end_ns(const em_report *r)
{
    return r ? r->end_ns : 0;
}

double em_report_total_joules(const em_report *r)
{
    return r ? r->total_joules : NAN;
}

size_t em_report_component_count(const em_report *r)
{
    return r ? r->ncomps : 0;
}

int em_report_find(const em_report *r, const char *name)
{
    if (!r || !name)
        return -1;
    for (size_t i = 0; i < r->ncomps && i <= (size_t)INT_MAX; i++)
        if (r->comps[i].name && strcmp(r->comps[i].name, name) == 0)
            return (int)i;
    return -1;
}

static const struct em_report_component *comp_at(const em_report *r, size_t c)
{
    return (r && c < r->ncomps) ? &r->comps[c] : NULL;
}

static const struct em_report_device *dev_at(const em_report *r, size_t c, size_t d)
{
    const struct em_report_component *comp = comp_at(r, c);
    return (comp && d < comp->ndevices) ? &comp->devices[d] : NULL;
}

const char *em_component_name(const em_report *r, size_t c)
{
    const struct em_report_component *comp = comp_at(r, c);
    return comp ? comp->name : NULL;
}

em_status em_component_status(const em_report *r, size_t c)
{
    const struct em_report_component *comp = comp_at(r, c);
    /* Nothing there is nothing measured: the only safe answer. */
    return comp ? comp->status : EM_STATUS_UNAVAILABLE;
}

double em_component_joules(const em_report *r, size_t c)
{
    const struct em_report_component *comp = comp_at(r, c);
    if (!comp || comp->status == EM_STATUS_UNAVAILABLE)
        return NAN;
    return comp->joules;
}

double em_component_uncertainty(const em_report *r, size_t c)
{
    const struct em_report_component *comp = comp_at(r, c);
    if (!comp || comp->status == EM_STATUS_UNAVAILABLE)
        return NAN;
    return comp->uncertainty_j;
}

const char *em_component_source(const em_report *r, size_t c)
{
    const struct em_report_component *comp = comp_at(r, c);
    if (!comp || comp->status == EM_STATUS_UNAVAILABLE)
        return NULL;
    return comp->source;
}

const char *em_component_reason(const em_report *r, size_t c)
{
    const struct em_report_component *comp = comp_at(r, c);
    if (!comp || comp->status != EM_STATUS_UNAVAILABLE)
        return NULL;
    return comp->reason;
}

int em_component_in_total(const em_report *r, size_t c)
{
    const struct em_report_component *comp = comp_at(r, c);
    return comp ? (comp->in_total != 0) : 0;
}

int em_component_degraded(const em_report *r, size_t c)
{
    const struct em_report_component *comp = comp_at(r, c);
    return comp ? (comp->degraded != 0) : 0;
}

size_t em_report_sample_count(const em_report *r)
{
    return r ? r->nsamples : 0;
}

double em_report_sample_time(const em_report *r, size_t i)
{
    return r && i < r->nsamples ? r->sample_t[i + 1] : NAN;
}

double em_report_sample_device_power(const em_report *r, size_t i, size_t c, size_t d)
{
    const struct em_report_device *dev = dev_at(r, c, d);
    return dev ? em_report_device_power_at(r, dev, i) : NAN;
}

double em_report_sample_power(const em_report *r, size_t i, size_t c)
{
    const struct em_report_component *comp = comp_at(r, c);
    if (!comp || comp->status == EM_STATUS_UNAVAILABLE || comp->ndevices == 0)
        return NAN;
    double sum = 0;
    for (size_t d = 0; d < comp->ndevices; d++)
        sum += em_report_device_power_at(r, &comp->devices[d], i);
    return sum;
}

double em_component_number(const em_report *r, size_t c, const char *key)
{
    const struct em_report_component *comp = comp_at(r, c);
    const struct em_report_extra *e = comp && key ? em_extras_get(&comp->extras, key) : NULL;
    return e && e->kind != EM_EXTRA_STRING ? e->num : NAN;
}

const char *em_component_string(const em_report *r, size_t c, const char *key)
{
    const struct em_report_component *comp = comp_at(r, c);
    const struct em_report_extra *e = comp && key ? em_extras_get(&comp->extras, key) : NULL;
    return e && e->kind == EM_EXTRA_STRING ? e->str : NULL;
}

size_t em_component_device_count(const em_report *r, size_t c)
{
    const struct em_report_component *comp = comp_at(r, c);
    return comp ? comp->ndevices : 0;
}

const char *em_device_name(const em_report *r, size_t c, size_t d)
{
    const struct em_report_device *dev = dev_at(r, c, d);
    return dev ? dev->name : NULL;
}

double em_device_joules(const em_report *r, size_t c, size_t d)
{
    const struct em_report_device *dev = dev_at(r, c, d);
    return dev ? dev->joules : NAN;
}

size_t em_report_warning_count(const em_report *r)
{
    return r ? r->nwarnings : 0;
}

const char *em_report_warning(const em_report *r, size_t i)
{
    return (r && i < r->nwarnings) ? r->warnings[i] : NULL;
}

/* ------------------------------------------------------------------ output */

int em_report_to_string(const em_report *r, em_format format, char **out)
{
    if (!out)
        return EM_ERR_INVALID;
    *out = NULL;
    if (!r)
        return EM_ERR_INVALID;

    struct em_buf b;
    em_buf_init(&b);
    switch (format) {
    case EM_FORMAT_TEXT:
        em_format_text(r, &b);
        break;
    case EM_FORMAT_JSON:
        em_format_json(r, &b);
        break;
    case EM_FORMAT_CSV:
        em_format_csv(r, &b);
        break;
    case EM_FORMAT_SVG:
        em_format_svg(r, &b);
        break;
    case EM_FORMAT_PROMETHEUS: {
        /* One window's report: the totals of that window alone. */
        em_buf_free(&b);
        em_totals *t = NULL;
        int err = em_totals_new(&t);
        if (!err)
            err = em_totals_add(t, r);
        if (!err)
            err = em_totals_to_string(t, EM_FORMAT_PROMETHEUS, out);
        em_totals_free(t);
        return err;
    }
    default:
        em_buf_free(&b);
        return EM_ERR_INVALID;
    }
    char *s = em_buf_steal(&b);
    if (!s)
        return EM_ERR_NOMEM;
    *out = s;
    return EM_OK;
}

int em_report_write(const em_report *r, em_format format, FILE *f)
{
    if (!f)
        return EM_ERR_INVALID;
    char *s = NULL;
    int rc = em_report_to_string(r, format, &s);
    if (rc != EM_OK)
        return rc;
    size_t n = strlen(s);
    /* Flush too: a full disk or closed pipe often shows only then, and a
     * report that silently went nowhere is what this tool exists to avoid. */
    if (fwrite(s, 1, n, f) != n || fflush(f) != 0)
        rc = EM_ERR_IO;
    free(s);
    return rc;
}

void em_free(void *p)
{
    free(p);
}
