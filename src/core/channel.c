/*
 * One reading of a channel into its counter, and the warnings a window
 * collects on the way (a file that vanished, a counter reset, readings too
 * far apart). Shared by the sampler thread and the window's edges.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine_state.h"

/* At most this many warnings are kept per window (the rest are counted). */
#define MAX_WARNINGS 64

void em_engine_warn(struct em_engine *e, const char *fmt, ...)
{
    if (e->nwarnings >= MAX_WARNINGS) {
        e->dropped_warnings++;
        return;
    }
    char buf[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char **w = realloc(e->warnings, (e->nwarnings + 1) * sizeof *w);
    if (!w)
        return; /* a lost warning must not fail the measurement */
    e->warnings = w;
    w[e->nwarnings] = em_strdup(buf);
    if (w[e->nwarnings])
        e->nwarnings++;
    em_log(e->log, EM_LOG_WARN, "%s", buf);
}

void em_engine_clear_warnings(struct em_engine *e)
{
    for (size_t i = 0; i < e->nwarnings; i++)
        free(e->warnings[i]);
    free(e->warnings);
    e->warnings = NULL;
    e->nwarnings = 0;
    e->dropped_warnings = 0;
}

void em_engine_account(struct em_engine *e, struct em_channel *ch, int err, uint64_t raw, double t,
                       int at_end)
{
    if (err) {
        ch->failing = 1;
        if (!ch->warned_fail) {
            ch->warned_fail = 1;
            em_engine_warn(e,
                           "%s %s: cannot read %s (%s) %.3f s into the window; the time "
                           "since its last reading is estimated",
                           ch->component, ch->device, ch->path, em_strerror(err),
                           t - e->begin_mono);
        }
        if (at_end)
            em_counter_fail(&ch->ctr, t);
        return;
    }
    ch->failing = 0;
    double dt = t - ch->ctr.last_t;
    if (dt > ch->max_gap_s)
        ch->max_gap_s = dt;
    int ev = ch->kind == EM_CH_POWER ? em_counter_update_power(&ch->ctr, raw, t)
                                     : em_counter_update(&ch->ctr, raw, t);
    if (ev == EM_CTR_IMPLAUSIBLE && !ch->warned_fault) {
        ch->warned_fault = 1;
        em_engine_warn(e,
                       "%s %s: %s changed by more than the device can draw in %.3f s (a "
                       "counter reset?) %.3f s into the window; that interval is estimated",
                       ch->component, ch->device, ch->path, dt, t - e->begin_mono);
    } else if (ev == EM_CTR_LATE && !ch->warned_fault) {
        ch->warned_fault = 1;
        em_engine_warn(e,
                       "%s %s: %.3f s between readings exceeds the counter's wrap period "
                       "(%.3f s at maximum power); wraps may be missed, see uncertainty_j",
                       ch->component, ch->device, dt, em_counter_wrap_period(&ch->ctr));
    }
}

void em_engine_read_source(struct em_engine *e, struct em_source *s)
{
    if (s->ops->read_all) {
        s->ops->read_all(s, e->scratch_raw, e->scratch_err);
        double t = em_now_mono();
        for (size_t i = 0; i < s->nch; i++)
            e->scratch_t[i] = t;
        return;
    }
    for (size_t i = 0; i < s->nch; i++) {
        e->scratch_err[i] = s->ops->read(s, i, &e->scratch_raw[i]);
        e->scratch_t[i] = em_now_mono();
    }
}
