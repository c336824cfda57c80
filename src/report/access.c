/*
 * The public accessors of a report (include/energymeter/energymeter.h):
 * plain reads of what em_report_build() made, NULL- and range-safe.
 */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "report.h"

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

const char *em_report_label(const em_report *r)
{
    return r ? r->win.label : NULL;
}

const char *em_report_window(const em_report *r)
{
    return r ? r->win.window : NULL;
}

double em_report_duration_s(const em_report *r)
{
    return r ? r->win.duration_s : NAN;
}

int64_t em_report_start_ns(const em_report *r)
{
    return r ? r->win.start_ns : 0;
}

int64_t em_report_end_ns(const em_report *r)
{
    return r ? r->win.end_ns : 0;
}

double em_report_total_joules(const em_report *r)
{
    return r ? r->total_joules : NAN;
}

size_t em_report_component_count(const em_report *r)
{
    return r ? r->win.ncomps : 0;
}

int em_report_find(const em_report *r, const char *name)
{
    if (!r || !name)
        return -1;
    for (size_t i = 0; i < r->win.ncomps && i <= (size_t)INT_MAX; i++)
        if (r->win.comps[i].name && strcmp(r->win.comps[i].name, name) == 0)
            return (int)i;
    return -1;
}

static const struct em_reading *comp_at(const em_report *r, size_t c)
{
    return (r && c < r->win.ncomps) ? &r->win.comps[c] : NULL;
}

static const struct em_reading_device *dev_at(const em_report *r, size_t c, size_t d)
{
    const struct em_reading *comp = comp_at(r, c);
    return (comp && d < comp->ndevices) ? &comp->devices[d] : NULL;
}

const char *em_component_name(const em_report *r, size_t c)
{
    const struct em_reading *comp = comp_at(r, c);
    return comp ? comp->name : NULL;
}

em_status em_component_status(const em_report *r, size_t c)
{
    const struct em_reading *comp = comp_at(r, c);
    /* Nothing there is nothing measured: the only safe answer. */
    return comp ? comp->status : EM_STATUS_UNAVAILABLE;
}

double em_component_joules(const em_report *r, size_t c)
{
    const struct em_reading *comp = comp_at(r, c);
    if (!comp || comp->status == EM_STATUS_UNAVAILABLE)
        return NAN;
    return comp->joules;
}

double em_component_uncertainty(const em_report *r, size_t c)
{
    const struct em_reading *comp = comp_at(r, c);
    if (!comp || comp->status == EM_STATUS_UNAVAILABLE)
        return NAN;
    return comp->uncertainty_j;
}

const char *em_component_source(const em_report *r, size_t c)
{
    const struct em_reading *comp = comp_at(r, c);
    if (!comp || comp->status == EM_STATUS_UNAVAILABLE)
        return NULL;
    return comp->source;
}

const char *em_component_reason(const em_report *r, size_t c)
{
    const struct em_reading *comp = comp_at(r, c);
    if (!comp || comp->status != EM_STATUS_UNAVAILABLE)
        return NULL;
    return comp->reason;
}

int em_component_in_total(const em_report *r, size_t c)
{
    const struct em_reading *comp = comp_at(r, c);
    return comp ? (comp->in_total != 0) : 0;
}

int em_component_degraded(const em_report *r, size_t c)
{
    const struct em_reading *comp = comp_at(r, c);
    return comp ? (comp->degraded != 0) : 0;
}

size_t em_report_sample_count(const em_report *r)
{
    return r ? r->win.nsamples : 0;
}

double em_report_sample_time(const em_report *r, size_t i)
{
    return r && i < r->win.nsamples ? r->win.sample_t[i + 1] : NAN;
}

double em_report_sample_device_power(const em_report *r, size_t i, size_t c, size_t d)
{
    const struct em_reading_device *dev = dev_at(r, c, d);
    return dev ? em_report_device_power_at(r, dev, i) : NAN;
}

double em_report_sample_power(const em_report *r, size_t i, size_t c)
{
    const struct em_reading *comp = comp_at(r, c);
    if (!comp || comp->status == EM_STATUS_UNAVAILABLE || comp->ndevices == 0)
        return NAN;
    double sum = 0;
    for (size_t d = 0; d < comp->ndevices; d++)
        sum += em_report_device_power_at(r, &comp->devices[d], i);
    return sum;
}

double em_component_number(const em_report *r, size_t c, const char *key)
{
    const struct em_reading *comp = comp_at(r, c);
    const struct em_extra *e = comp && key ? em_extras_get(&comp->extras, key) : NULL;
    return e && e->kind != EM_EXTRA_STRING ? e->num : NAN;
}

const char *em_component_string(const em_report *r, size_t c, const char *key)
{
    const struct em_reading *comp = comp_at(r, c);
    const struct em_extra *e = comp && key ? em_extras_get(&comp->extras, key) : NULL;
    return e && e->kind == EM_EXTRA_STRING ? e->str : NULL;
}

size_t em_component_device_count(const em_report *r, size_t c)
{
    const struct em_reading *comp = comp_at(r, c);
    return comp ? comp->ndevices : 0;
}

const char *em_device_name(const em_report *r, size_t c, size_t d)
{
    const struct em_reading_device *dev = dev_at(r, c, d);
    return dev ? dev->name : NULL;
}

double em_device_joules(const em_report *r, size_t c, size_t d)
{
    const struct em_reading_device *dev = dev_at(r, c, d);
    return dev ? dev->joules : NAN;
}

size_t em_report_warning_count(const em_report *r)
{
    return r ? r->win.nwarnings : 0;
}

const char *em_report_warning(const em_report *r, size_t i)
{
    return (r && i < r->win.nwarnings) ? r->win.warnings[i] : NULL;
}
