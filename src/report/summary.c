/*
 * A report's figures in one call (em_report_summarize()): what bindings
 * need at every window's end, without one call per figure. The values are
 * those of the single accessors (access.c), read the same way.
 */
#include <math.h>
#include <string.h>

#include "report.h"

static void summarize_component(const em_report *r, size_t c, em_component_summary *s)
{
    s->name = em_component_name(r, c);
    s->source = em_component_source(r, c);
    s->reason = em_component_reason(r, c);
    s->joules = em_component_joules(r, c);
    s->uncertainty_j = em_component_uncertainty(r, c);
    s->device_count = em_component_device_count(r, c);
    s->status = (int)em_component_status(r, c);
    s->degraded = em_component_degraded(r, c);
    s->in_total = em_component_in_total(r, c);
}

int em_report_summarize(const em_report *r, em_report_summary *rs, em_component_summary *comps,
                        size_t comp_size, size_t cap)
{
    if (!r || !rs || (cap > 0 && (!comps || comp_size < sizeof *comps)))
        return EM_ERR_INVALID;
    rs->start_ns = em_report_start_ns(r);
    rs->end_ns = em_report_end_ns(r);
    rs->duration_s = em_report_duration_s(r);
    rs->total_joules = em_report_total_joules(r);
    rs->component_count = em_report_component_count(r);
    rs->warning_count = em_report_warning_count(r);
    unsigned char *at = (unsigned char *)comps;
    for (size_t c = 0; c < rs->component_count && c < cap; c++, at += comp_size) {
        /* A caller built against a later header may pass larger elements:
         * what this version does not know of is zeroed. */
        memset(at, 0, comp_size);
        summarize_component(r, c, (em_component_summary *)(void *)at);
    }
    return 0;
}
