/*
 * Counter arithmetic: raw register values -> joules.
 *
 * The sampler reads every counter at least every quarter of its wrap period
 * at maximum power, so between two readings at most one wrap can have
 * happened. A decrease is therefore a wrap if the wrapped difference is
 * plausible (no more energy than the zone can draw in the time elapsed), and
 * a reset otherwise. An interval that nothing explains is not counted: it
 * becomes a gap whose energy is estimated at the mean power of the rest of
 * the window, with the uncertainty widened to cover the worst case.
 */
#include "counter.h"

#include <math.h>

/* Readings are timestamped just after the read: allow this much jitter. */
#define EM_CTR_SLACK_S 0.005
/* ... and this much relative margin over the stated maximum power. */
#define EM_CTR_POWER_MARGIN 1.10

void em_counter_init(struct em_counter *c, double scale, uint64_t modulus, double max_power_w)
{
    *c = (struct em_counter){0};
    c->scale = scale;
    c->modulus = modulus;
    c->max_power_w = max_power_w > 0 ? max_power_w : 1000.0;
}

void em_counter_start(struct em_counter *c, uint64_t raw, double t)
{
    c->started = 1;
    c->last_raw = c->modulus ? raw % c->modulus : raw;
    c->last_t = t;
    c->start_t = t;
    c->joules = 0;
    c->covered_s = 0;
    c->gap_s = 0;
    c->uncertainty_j = 0;
    c->wraps = 0;
    c->faults = 0;
    c->late = 0;
    c->changes = 0;
    c->restart = 0;
}

double em_counter_wrap_period(const struct em_counter *c)
{
    if (!c->modulus)
        return INFINITY;
    return (double)c->modulus * c->scale / c->max_power_w;
}

static int plausible(const struct em_counter *c, double joules, double dt)
{
    double bound = c->max_power_w * EM_CTR_POWER_MARGIN * (dt + EM_CTR_SLACK_S + c->step_s);
    return joules <= bound + 2 * c->scale;
}

int em_counter_update(struct em_counter *c, uint64_t raw, double t)
{
    if (!c->started) {
        em_counter_start(c, raw, t);
        return EM_CTR_OK;
    }
    if (c->modulus)
        raw %= c->modulus;
    if (c->restart) {
        /* The failure already counted the time up to it as a gap; the time
         * since is a gap too, and this reading is the new reference. */
        if (t > c->last_t)
            c->gap_s += t - c->last_t;
        c->restart = 0;
        c->last_raw = raw;
        c->last_t = t;
        return EM_CTR_OK;
    }
    if (raw != c->last_raw)
        c->changes++;
    double dt = t > c->last_t ? t - c->last_t : 0;
    int event = EM_CTR_OK;
    double joules;

    if (raw >= c->last_raw) {
        joules = (double)(raw - c->last_raw) * c->scale;
    } else if (c->modulus) {
        joules = (double)(c->modulus - c->last_raw + raw) * c->scale;
        event = EM_CTR_WRAPPED;
    } else {
        joules = -1; /* a 64-bit counter that went backwards: a reset */
    }

    if (joules < 0 || !plausible(c, joules, dt)) {
        /* A reset or a jump: the interval is a gap. */
        c->faults++;
        c->gap_s += dt;
        event = EM_CTR_IMPLAUSIBLE;
    } else {
        c->joules += joules;
        c->covered_s += dt;
        if (event == EM_CTR_WRAPPED)
            c->wraps++;
        if (c->modulus && dt > em_counter_wrap_period(c)) {
            /* Readings too far apart: at max power more wraps could hide in
             * here. The value counted is the least energy consistent with
             * the readings; each wrap that could be missing is a full range. */
            double missable = floor(dt / em_counter_wrap_period(c));
            c->uncertainty_j += missable * (double)c->modulus * c->scale;
            c->late++;
            event = EM_CTR_LATE;
        }
    }
    c->last_raw = raw;
    c->last_t = t;
    return event;
}

void em_counter_fail(struct em_counter *c, double t)
{
    if (!c->started)
        return;
    if (t > c->last_t) {
        c->gap_s += t - c->last_t;
        c->last_t = t;
    }
    c->faults++;
    c->restart = 1;
}

double em_counter_joules(const struct em_counter *c)
{
    double j = c->joules;
    if (c->gap_s > 0 && c->covered_s > 0)
        j += c->joules / c->covered_s * c->gap_s;
    return j;
}

void em_counter_since(const struct em_counter *now, const struct em_counter *then,
                      struct em_counter *out)
{
    *out = *now;
    out->start_t = then->last_t;
    out->joules = now->joules - then->joules;
    out->covered_s = now->covered_s - then->covered_s;
    out->gap_s = now->gap_s - then->gap_s;
    out->uncertainty_j = now->uncertainty_j - then->uncertainty_j;
    out->wraps = now->wraps - then->wraps;
    out->faults = now->faults - then->faults;
    out->late = now->late - then->late;
    out->changes = now->changes - then->changes;
    if (now->step_s > 0) {
        double dur = now->last_t - then->last_t;
        double p = dur > now->step_s ? out->joules / dur : now->max_power_w;
        out->uncertainty_j += 2 * p * now->step_s;
    }
}

double em_counter_uncertainty(const struct em_counter *c)
{
    /* One unit of resolution at each end, plus one unit per wrap for the
     * modulus rounding of the stated range. */
    double u = c->scale * (2.0 + c->wraps) + c->uncertainty_j;
    if (c->gap_s > 0) {
        /* The gap's true energy lies in [0, max power x gap]; the estimate
         * sits somewhere inside, so the whole width bounds the error. */
        u += c->max_power_w * c->gap_s;
    }
    return u;
}

void em_counter_start_power(struct em_counter *c, uint64_t raw, double t)
{
    em_counter_start(c, raw, t);
    c->last_power_w = (double)raw * c->scale;
}

int em_counter_update_power(struct em_counter *c, uint64_t raw, double t)
{
    if (!c->started) {
        em_counter_start_power(c, raw, t);
        return EM_CTR_OK;
    }
    double p = (double)raw * c->scale;
    double dt = t > c->last_t ? t - c->last_t : 0;
    int event = EM_CTR_OK;
    if (p > c->max_power_w * EM_CTR_POWER_MARGIN) {
        /* A reading beyond what the device can draw is not believed. */
        c->faults++;
        c->gap_s += dt;
        event = EM_CTR_IMPLAUSIBLE;
    } else {
        c->joules += (c->last_power_w + p) / 2 * dt;
        c->uncertainty_j += fabs(p - c->last_power_w) / 2 * dt;
        c->covered_s += dt;
        c->last_power_w = p;
    }
    c->last_raw = raw;
    c->last_t = t;
    return event;
}
