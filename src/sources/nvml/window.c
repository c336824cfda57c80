/*
 * The energy of a window from NVML's energy counter, exact at its ends:
 * pure arithmetic on what the workers saw (worker.c), unit-tested directly.
 *
 * The counter holds E(tau_k), the energy up to its last step tau_k (steps
 * every T ~ 100 ms). The window [tb, te] then is
 *   head   E(tau_1) - E(tb)   the part of the step in progress at tb
 *   middle E(tau_c) - E(tau_1) exact: counter values
 *   tail   E(te) - E(tau_c)   the part of the step in progress at te
 * The watch after the begin reading sees tau_1 and E(tau_1); the watch after
 * the end reading (only with settle) sees the step after te. The model is
 * that the power changes at the window's edges (the measured work starts
 * and stops there) and is otherwise steady within a step; the uncertainty
 * covers the other reading (power steady across the edge) and the timing
 * errors. See docs/gpu.md.
 */
#include <math.h>

#include "nvml.h"

static double clamp(double x, double lo, double hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

/* [lo, hi] narrowed to where it meets [a, b]; kept whole if they do not meet
 * (the model does not hold there: the wider view is the honest one). */
static void narrow(double *lo, double *hi, double a, double b)
{
    double l = fmax(*lo, a), h = fmin(*hi, b);
    if (l <= h) {
        *lo = l;
        *hi = h;
    }
}

/*
 * The meter's window starts a little before the begin reading's midpoint and
 * ends a little after the end reading's (the reading itself, ~2 ms each on an
 * H100): those slivers at the power before the window (the work has not
 * started yet) and at the window's power at its end. A begin reading taken
 * by a watch call that was in flight when the window began (worker.c) lies
 * a little before it instead: that sliver is taken away.
 */
static void add_slices(const struct em_nvml_window *w, struct em_nvml_estimate *out, double p_head,
                       double p_tail)
{
    double sb = isfinite(w->tb) ? w->b.t - w->tb : 0;
    double se = isfinite(w->te) ? fmax(0, w->te - w->e.t) : 0;
    double pre = isfinite(w->b.power_w) ? w->b.power_w : p_head;
    out->joules += pre * sb + p_tail * se;
    out->uncertainty_j += fabs(pre - p_head) * fabs(sb) + 0.5 * p_tail * se;
}

/* A step of the counter: its value after the step (J), when (s) +- err. */
struct step {
    double v, t, err;
};

/* The first step after tb, if it came before the end reading: 1 and *s. */
static int first_step(const struct em_nvml_window *w, struct step *s)
{
    const struct em_nvml_edge *b = &w->b, *e = &w->e;
    if (b->ticks >= 1 && b->tv[0] <= e->v && b->tt[0] <= e->t) {
        *s = (struct step){b->tv[0] * 1e-3, b->tt[0], b->te[0]};
        return 1;
    }
    if (e->v != b->v && e->t - b->last_same < w->period) {
        /* The watch was cancelled (by the end reading) after its last call
         * and before the step: it lies between that call and the end's. */
        *s =
            (struct step){e->v * 1e-3, (b->last_same + e->t) / 2, (e->t - b->last_same) / 2 + e->h};
        return 1;
    }
    return 0;
}

/* No step inside the window: it lies within one step. */
static void within_one_step(const struct em_nvml_window *w, struct em_nvml_estimate *out)
{
    const struct em_nvml_edge *b = &w->b, *e = &w->e;
    double T = w->period, pre = b->power_w, dur = e->t - b->t, ve = e->v * 1e-3;
    out->within_step = 1;
    out->ok = 1;
    if (e->ticks >= 1) {
        /* Settled: the step that holds the window is known. */
        double dE = e->tv[0] * 1e-3 - ve;
        double whole = dE * clamp(dur / T, 0, 1);
        double edge = isfinite(pre) ? clamp(dE - pre * (T - dur), 0, dE) : whole;
        out->joules = edge;
        out->uncertainty_j = fabs(edge - whole) + dE / T * (e->te[0] + w->period_err + b->h + e->h);
        add_slices(w, out, dur > 0 ? edge / dur : dE / T, dE / T);
        return;
    }
    /* Nothing measured the window: the mean power of the last second is all
     * there is, and it may be anything up to the maximum. */
    double p = isfinite(e->power_w) ? e->power_w : isfinite(pre) ? pre : 0;
    out->joules = p * dur;
    out->uncertainty_j = fmax(p, w->max_power_w - p) * dur;
    out->tail_guessed = 1;
    add_slices(w, out, p, p);
}

/* The head: the part of step [t1 - T, t1] after tb. */
struct head {
    double joules, uncertainty_j;
    double power; /* the head's power, or the step's when the head is too short */
    int known;    /* long enough for its timing errors: its power is the window's */
};

static struct head head_of(const struct em_nvml_window *w, const struct step *s1)
{
    const struct em_nvml_edge *b = &w->b;
    double T = w->period, sT = w->period_err, tb = b->t, pre = b->power_w;
    double dEb = s1->v - b->v * 1e-3;
    double steady = dEb * clamp((s1->t - tb) / T, 0, 1);
    double before = clamp(tb - (s1->t - T), 0, T);
    struct head h;
    h.joules = isfinite(pre) ? clamp(dEb - pre * before, 0, dEb) : steady;
    h.known = s1->t - tb > 4 * (s1->err + sT + b->h);
    h.power = h.known ? h.joules / (s1->t - tb) : dEb / T;
    double p_edge = fmax(dEb / T, fmax(h.power, isfinite(pre) ? pre : 0));
    h.uncertainty_j = fabs(h.joules - steady) + p_edge * (s1->err + sT + b->h);
    return h;
}

/*
 * The last step before te (the one the end reading holds): seen by the begin
 * watch (its time is then known, not predicted from the period, which
 * matters where steps do not come at a regular period), or else after the
 * last step it saw, and not after te. 1 when the step seen is it (its value
 * is the end reading's); [*lo, *hi] where it lies.
 */
static int last_step(const struct em_nvml_window *w, const struct step *s1, struct step *l,
                     double *lo, double *hi)
{
    const struct em_nvml_edge *b = &w->b, *e = &w->e;
    *l = *s1;
    for (int j = 0; j < b->ticks && j < EM_NVML_MAX_STEPS; j++)
        if (b->tv[j] <= e->v && b->tt[j] <= e->t)
            *l = (struct step){b->tv[j] * 1e-3, b->tt[j], b->te[j]};
    int have_c = l->v == e->v * 1e-3;
    *lo = have_c ? l->t - l->err : l->t;
    *hi = have_c ? fmin(e->t, l->t + l->err) : e->t;
    return have_c;
}

/* The tail, settled: the step in progress at te, [tc, t2], was seen to end. */
static void tail_settled(const struct em_nvml_window *w, const struct step *s1,
                         const struct head *h, double mid, double *tail, double *u_tail,
                         double *p_win)
{
    const struct em_nvml_edge *e = &w->e;
    double T = w->period, sT = w->period_err, te = e->t, ve = e->v * 1e-3;
    double t2 = e->tt[0], v2 = e->tv[0] * 1e-3, dEe = v2 - ve, lo, hi;
    struct step l;
    int have_c = last_step(w, s1, &l, &lo, &hi);
    if (!have_c)
        narrow(&lo, &hi, t2 - T - sT - e->te[0], t2 - T + sT + e->te[0]);
    double tc = (lo + hi) / 2, sc = (hi - lo) / 2;
    /* Its length, seen or T. */
    double len = have_c && t2 > tc ? t2 - tc : T;
    double a = clamp(te - tc, 0, len);
    int win_known = tc - s1->t >= 0.5 * T || h->known;
    *p_win = tc - s1->t >= 0.5 * T ? mid / (tc - s1->t) : h->power;
    double tail_steady = dEe * a / len, tail_win = fmin(*p_win * a, dEe);
    /* The window's own power where it is known, else the step's. */
    *tail = win_known ? tail_win : tail_steady;
    *u_tail = fabs(tail_win - tail_steady) + fmax(dEe / len, *p_win) * (e->te[0] + sc + e->h);
}

/*
 * The tail without settle: the step not seen is predicted from the last one
 * seen and the period (its error grows with the steps in between; the jitter
 * does not: it is an offset from the grid, not a random walk); the partial
 * step is extrapolated at the window's power, give or take half of it.
 */
static void tail_predicted(const struct em_nvml_window *w, const struct step *s1,
                           const struct head *h, double mid, double *tail, double *u_tail,
                           double *p_win)
{
    const struct em_nvml_edge *e = &w->e;
    double T = w->period, sT = w->period_err, te = e->t, lo, hi;
    struct step l;
    if (!last_step(w, s1, &l, &lo, &hi)) {
        double k = fmax(1, floor((te - l.t) / T));
        double spread = k * (sT - 2 * w->jitter) + 2 * w->jitter + l.err;
        narrow(&lo, &hi, l.t + k * T - spread, l.t + k * T + spread);
    }
    double tc = (lo + hi) / 2, sc = (hi - lo) / 2 + e->h;
    *p_win = tc - s1->t >= 0.5 * T ? mid / (tc - s1->t) : h->power;
    double a = te - tc;
    if (sc > T / 4) {
        /* The phase is lost: anywhere in the step, which may be as long as a
         * period and its spacing error. */
        *tail = *p_win * (T + sT) / 2;
        *u_tail = *p_win * (T + sT) / 2;
        return;
    }
    *tail = *p_win * a;
    *u_tail = *p_win * sc + 0.5 * *tail;
    if (a < sc || a > T - sc)
        *u_tail += *p_win * (T + sT); /* the end reading may straddle a step */
}

void em_nvml_estimate_window(const struct em_nvml_window *w, struct em_nvml_estimate *out)
{
    const struct em_nvml_edge *b = &w->b, *e = &w->e;
    *out = (struct em_nvml_estimate){0};
    if (!b->done || !e->done || b->err || e->err || e->v < b->v || !(w->period > 0))
        return;
    struct step s1;
    if (!first_step(w, &s1)) {
        if (e->v == b->v)
            within_one_step(w, out);
        /* else: steps nobody watched; keep the plain difference */
        return;
    }
    struct head h = head_of(w, &s1);
    double mid = e->v * 1e-3 - s1.v; /* exact */
    double tail, u_tail, p_win;
    if (e->ticks >= 1) {
        tail_settled(w, &s1, &h, mid, &tail, &u_tail, &p_win);
    } else {
        tail_predicted(w, &s1, &h, mid, &tail, &u_tail, &p_win);
        out->tail_guessed = 1;
    }
    out->joules = h.joules + mid + tail;
    out->uncertainty_j = h.uncertainty_j + u_tail;
    out->ok = 1;
    add_slices(w, out, h.power, p_win);
}
