/*
 * Exact short windows for NVML's energy counter: per-GPU worker threads that
 * read the counter at the window's edges (all GPUs at once: a call costs
 * ~4 ms on an H100) and then watch for its next step, and the arithmetic
 * that turns those observations into the energy of the window.
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
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nvml.h"
#include "util/sysfs.h"

/* Gap between two calls while watching for a step: the calls themselves
 * (~4 ms on real hardware) set the pace; the gap only stops a cheap fake
 * from spinning. */
#define WATCH_GAP_S 0.0005
/* How long before a step is due the watch starts calling again: a wake-up
 * may come late by a scheduler tick or more on a loaded machine, and a step
 * that passes while the watch sleeps is bracketed only loosely (3 ms made
 * 4 of 24 runs of test_nvml miss their bounds with three running at once on
 * two cores; 15 ms none). */
#define WATCH_MARGIN_S 0.015
/* How often the running compute processes are listed during a window. */
#define PROC_PERIOD_S 0.25
/* Steps watched after a window begins (about 0.4 s on a real GPU): four,
 * so that a fresh meter (every `energymeter stat`), whose calibration the
 * window's start cancels, has enough to tell jitter from a regular period
 * (with three, one fresh meter in ~60 missed a 15 ms jitter). */
#define BEGIN_STEPS EM_NVML_MAX_STEPS
/* Steps watched when the meter is created, to learn the period. */
#define CAL_STEPS EM_NVML_MAX_STEPS
/* Largest process list read. */
#define MAX_PROCS 256

static double clamp(double x, double lo, double hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

/* Seconds (a duration, or a CLOCK_MONOTONIC time) as a timespec. */
static struct timespec ts_of(double s)
{
    double whole = floor(s);
    return (struct timespec){.tv_sec = (time_t)whole, .tv_nsec = (long)((s - whole) * 1e9)};
}

static void sleep_s(double s)
{
    struct timespec ts = ts_of(s);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ------------------------------------------------------------ processes */

int em_nvml_pid_in_tree(const char *root, unsigned pid)
{
    unsigned self = (unsigned)getpid();
    /* A chain of parents is short; the bound only guards against a loop in
     * a fake tree. */
    for (int depth = 0; depth < 128 && pid > 1; depth++) {
        if (pid == self)
            return 1;
        char rel[64], path[PATH_MAX], buf[1024];
        snprintf(rel, sizeof rel, "/proc/%u/stat", pid);
        if (em_sysfs_path(root, path, sizeof path, rel) || em_read_text(path, buf, sizeof buf))
            return 0;
        /* "pid (comm) S ppid ...": comm may hold spaces and parentheses. */
        const char *p = strrchr(buf, ')');
        unsigned ppid;
        char state;
        if (!p || sscanf(p + 1, " %c %u", &state, &ppid) != 2)
            return 0;
        pid = ppid;
    }
    return 0;
}

/* List the GPU's compute processes and note whether one is ours (no lock). */
static void check_procs(struct em_nvml_gpu *g, int *used, int *known)
{
    const struct em_nvml_api *api = &g->n->api;
    static _Thread_local struct em_nvml_proc_v2 v2[MAX_PROCS];
    static _Thread_local struct em_nvml_proc_v1 v1[MAX_PROCS];
    unsigned count = MAX_PROCS;
    nvmlReturn_t r;
    if (api->procs_v2) {
        r = api->procs_v2(g->dev, &count, v2);
        if (r == NVML_SUCCESS) {
            *known = 1;
            for (unsigned i = 0; i < count && i < MAX_PROCS; i++)
                *used |= em_nvml_pid_in_tree(g->n->root, v2[i].pid);
        }
    } else if (api->procs_v1) {
        r = api->procs_v1(g->dev, &count, v1);
        if (r == NVML_SUCCESS) {
            *known = 1;
            for (unsigned i = 0; i < count && i < MAX_PROCS; i++)
                *used |= em_nvml_pid_in_tree(g->n->root, v1[i].pid);
        }
    }
}

/* --------------------------------------------------------------- worker */

static void read_edge(struct em_nvml_gpu *g, struct em_nvml_edge *e)
{
    const struct em_nvml_api *api = &g->n->api;
    unsigned long long v = 0;
    unsigned mw = 0;
    double t0 = em_now_mono();
    e->err = api->energy(g->dev, &v);
    double t1 = em_now_mono();
    e->v = v;
    e->t = (t0 + t1) / 2;
    e->h = (t1 - t0) / 2;
    e->last_same = e->t;
    /* A power reading costs ~1 us: the power before the window. */
    e->power_w = api->power && api->power(g->dev, &mw) == NVML_SUCCESS ? mw / 1000.0 : NAN;
}

/* Sleep until t (CLOCK_MONOTONIC s), or less when the watch is cancelled
 * (em_nvml_edges_read() and em_nvml_workers_stop() broadcast n->cv, whose
 * clock is CLOCK_MONOTONIC). */
static void wait_until(struct em_nvml_gpu *g, double t)
{
    struct em_nvml *n = g->n;
    struct timespec ts = ts_of(t);
    pthread_mutex_lock(&n->mu);
    while (!atomic_load(&g->cancel) && !n->quit && em_now_mono() < t)
        if (pthread_cond_timedwait(&n->cv, &n->mu, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&n->mu);
}

/* When the counter should step next after `after`: a period after the last
 * step this watch saw, and in *early how much sooner it may come; NAN before
 * the watch saw a step or while the period is not learnt yet. (Predicting
 * from an older step would let an error of the period grow with the steps
 * in between, and a step predicted as past that is in fact late would be
 * slept through.) Only this GPU's worker writes what it reads. */
static double next_step(const struct em_nvml_gpu *g, const struct em_nvml_edge *e, double after,
                        double *early)
{
    const struct em_nvml_steps *st = &g->steps;
    double T = st->period;
    if (!(T > 0) || st->period_err >= EM_NVML_PERIOD_ERR_PRIOR_S / 2 || e->ticks == 0)
        return NAN;
    double base = e->tt[e->ticks - 1];
    if (after - base >= T)
        return NAN; /* late already: keep calling */
    *early = e->te[e->ticks - 1] + em_nvml_steps_spacing_err(st);
    return base + T;
}

/* Poll the counter until it stepped `want` times, the deadline passed or the
 * watch is cancelled (no lock held; e is the worker's own copy). Once the
 * period is learnt, the watch sleeps until shortly before each step is due
 * instead of calling all along between the steps it sees (each call costs
 * ~4 ms of the driver's time, and an em_end() arriving during one waits for
 * it): the call just before the step and the one just after still bracket
 * it tightly. */
static void watch(struct em_nvml_gpu *g, struct em_nvml_edge *e, int want, double deadline)
{
    double prev = e->t;
    uint64_t last = e->v;
    if (want > EM_NVML_MAX_STEPS)
        want = EM_NVML_MAX_STEPS;
    while (e->ticks < want && !atomic_load(&g->cancel)) {
        sleep_s(WATCH_GAP_S);
        double t0 = em_now_mono();
        if (t0 > deadline)
            break;
        unsigned long long v;
        nvmlReturn_t r = g->n->api.energy(g->dev, &v);
        double t1 = em_now_mono(), mid = (t0 + t1) / 2;
        if (r != NVML_SUCCESS) {
            e->werr = r;
            break;
        }
        if (v != last) {
            /* It stepped between the previous call's sample and this one's;
             * each sample lies somewhere inside its call. */
            int k = e->ticks++;
            e->tv[k] = v;
            e->tt[k] = (prev + mid) / 2;
            e->te[k] = (mid - prev) / 2 + (t1 - t0) / 2;
            last = v;
        } else if (e->ticks == 0) {
            e->last_same = mid;
        }
        prev = mid;
        if (e->ticks >= want)
            break;
        double early = 0, next = next_step(g, e, mid, &early);
        if (isfinite(next) && early < g->steps.period / 4) {
            double wake = next - early - 2 * (t1 - t0) - WATCH_MARGIN_S;
            if (wake > em_now_mono() + WATCH_GAP_S)
                wait_until(g, fmin(wake, deadline));
        }
    }
}

static void run_job(struct em_nvml_gpu *g, int job)
{
    struct em_nvml *n = g->n;
    struct em_nvml_edge cal = {0}, mine = {0};
    struct em_nvml_edge *dst = job == EM_NVML_JOB_BEGIN ? &g->b
                               : job == EM_NVML_JOB_END ? &g->e
                                                        : &cal;
    atomic_store(&g->cancel, 0);
    pthread_mutex_unlock(&n->mu);
    read_edge(g, &mine);
    int used = 0, known = 0;
    if (job == EM_NVML_JOB_BEGIN && mine.err == NVML_SUCCESS)
        check_procs(g, &used, &known);
    pthread_mutex_lock(&n->mu);

    int want = 0;
    double deadline = mine.t;
    if (job == EM_NVML_JOB_BEGIN) {
        g->in_window = 1;
        g->used |= used;
        g->procs_known |= known;
        g->next_proc = em_now_mono() + PROC_PERIOD_S;
        /* The first steps after the window starts: the first bounds the
         * head; the later ones, seen rather than predicted, pin the last
         * step before the end of a short window and show whether the steps
         * keep to their period. */
        want = BEGIN_STEPS;
        deadline += (BEGIN_STEPS + 0.5) * g->steps.period + 2 * g->steps.jitter;
    } else if (job == EM_NVML_JOB_END) {
        g->in_window = 0;
        want = n->settle_s > 0 ? 1 : 0;
        deadline += n->settle_s;
    } else {
        /* Calibration: three intervals between steps, so that steps that
         * do not come at a regular period are seen before a window needs
         * the period. */
        want = CAL_STEPS;
        deadline += (CAL_STEPS + 1) * g->steps.period;
    }
    if (mine.err != NVML_SUCCESS) {
        if (g->last_err == NVML_SUCCESS) {
            g->last_err = mine.err;
            g->last_err_t = mine.t;
        }
        want = 0;
    }
    mine.done = 1;
    mine.watching = want > 0;
    *dst = mine;
    pthread_cond_broadcast(&n->cv);
    if (!want)
        return;

    pthread_mutex_unlock(&n->mu);
    watch(g, &mine, want, deadline);
    pthread_mutex_lock(&n->mu);
    em_nvml_steps_learn(&g->steps, mine.tt, mine.te, mine.ticks);
    if (mine.werr != NVML_SUCCESS && g->last_err == NVML_SUCCESS) {
        g->last_err = mine.werr;
        g->last_err_t = em_now_mono();
    }
    mine.watching = 0;
    /* A new job for the same edge already reset it: this watch is stale. */
    if (dst != &cal && g->job != job)
        *dst = mine;
    pthread_cond_broadcast(&n->cv);
}

static void *worker_main(void *arg)
{
    struct em_nvml_gpu *g = arg;
    struct em_nvml *n = g->n;
    pthread_mutex_lock(&n->mu);
    while (!n->quit) {
        if (g->job != EM_NVML_JOB_NONE) {
            int job = g->job;
            g->job = EM_NVML_JOB_NONE;
            run_job(g, job);
            continue;
        }
        int procs = n->api.procs_v2 || n->api.procs_v1;
        if (g->in_window && procs && em_now_mono() >= g->next_proc) {
            /* Which processes use the GPU: the measured tree may start its
             * GPU work (and end it) at any time in the window. */
            int used = 0, known = 0;
            pthread_mutex_unlock(&n->mu);
            check_procs(g, &used, &known);
            pthread_mutex_lock(&n->mu);
            g->used |= used;
            g->procs_known |= known;
            g->next_proc = em_now_mono() + PROC_PERIOD_S;
            continue;
        }
        if (g->in_window && procs) {
            struct timespec ts = ts_of(g->next_proc);
            pthread_cond_timedwait(&n->cv, &n->mu, &ts);
        } else {
            pthread_cond_wait(&n->cv, &n->mu);
        }
    }
    pthread_mutex_unlock(&n->mu);
    return NULL;
}

int em_nvml_worker_start(struct em_nvml_gpu *g)
{
    int err = pthread_create(&g->thread, NULL, worker_main, g);
    if (err)
        return err;
    g->thread_ok = 1;
    /* Learn the step period now, while the caller prepares its work. */
    pthread_mutex_lock(&g->n->mu);
    g->job = EM_NVML_JOB_CAL;
    pthread_cond_broadcast(&g->n->cv);
    pthread_mutex_unlock(&g->n->mu);
    return 0;
}

void em_nvml_workers_stop(struct em_nvml *n)
{
    pthread_mutex_lock(&n->mu);
    n->quit = 1;
    for (size_t i = 0; i < n->ng; i++)
        atomic_store(&n->g[i].cancel, 1);
    pthread_cond_broadcast(&n->cv);
    pthread_mutex_unlock(&n->mu);
    for (size_t i = 0; i < n->ng; i++)
        if (n->g[i].thread_ok) {
            pthread_join(n->g[i].thread, NULL);
            n->g[i].thread_ok = 0;
        }
}

void em_nvml_edges_read(struct em_nvml *n, int job)
{
    for (size_t i = 0; i < n->ng; i++) {
        struct em_nvml_gpu *g = &n->g[i];
        if (!g->thread_ok)
            continue;
        struct em_nvml_edge *e = job == EM_NVML_JOB_BEGIN ? &g->b : &g->e;
        *e = (struct em_nvml_edge){0};
        atomic_store(&g->cancel, 1);
        g->job = job;
    }
    pthread_cond_broadcast(&n->cv);
    for (size_t i = 0; i < n->ng; i++) {
        struct em_nvml_gpu *g = &n->g[i];
        struct em_nvml_edge *e = job == EM_NVML_JOB_BEGIN ? &g->b : &g->e;
        while (g->thread_ok && !e->done)
            pthread_cond_wait(&n->cv, &n->mu);
    }
}

void em_nvml_edges_settle(struct em_nvml *n, double deadline)
{
    struct timespec ts = ts_of(deadline);
    for (size_t i = 0; i < n->ng; i++) {
        struct em_nvml_gpu *g = &n->g[i];
        while (g->thread_ok && g->e.watching)
            if (pthread_cond_timedwait(&n->cv, &n->mu, &ts) == ETIMEDOUT)
                return;
    }
}

/* ------------------------------------------------------------ arithmetic */

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
 * started yet) and at the window's power at its end.
 */
static void add_slices(const struct em_nvml_window *w, struct em_nvml_estimate *out, double p_head,
                       double p_tail)
{
    double sb = isfinite(w->tb) ? fmax(0, w->b.t - w->tb) : 0;
    double se = isfinite(w->te) ? fmax(0, w->te - w->e.t) : 0;
    double pre = isfinite(w->b.power_w) ? w->b.power_w : p_head;
    out->joules += pre * sb + p_tail * se;
    out->uncertainty_j += fabs(pre - p_head) * sb + 0.5 * p_tail * se;
}

void em_nvml_estimate_window(const struct em_nvml_window *w, struct em_nvml_estimate *out)
{
    const struct em_nvml_edge *b = &w->b, *e = &w->e;
    double T = w->period, sT = w->period_err;
    *out = (struct em_nvml_estimate){0};
    if (!b->done || !e->done || b->err || e->err || e->v < b->v || !(T > 0))
        return;
    double tb = b->t, te = e->t, pre = b->power_w;
    double vb = b->v * 1e-3, ve = e->v * 1e-3;

    /* The first step after tb, if it came before the end reading. */
    int have1 = 0;
    double v1 = 0, t1 = 0, s1 = 0;
    if (b->ticks >= 1 && b->tv[0] <= e->v && b->tt[0] <= te) {
        have1 = 1;
        v1 = b->tv[0] * 1e-3;
        t1 = b->tt[0];
        s1 = b->te[0];
    } else if (e->v != b->v && te - b->last_same < T) {
        /* The watch was cancelled (by the end reading) after its last call
         * and before the step: it lies between that call and the end's. */
        have1 = 1;
        v1 = ve;
        t1 = (b->last_same + te) / 2;
        s1 = (te - b->last_same) / 2 + e->h;
    }

    if (!have1) {
        if (e->v != b->v)
            return; /* steps nobody watched: keep the plain difference */
        /* No step inside the window: it lies within one step. */
        out->within_step = 1;
        double dur = te - tb;
        if (e->ticks >= 1) {
            /* Settled: the step that holds the window is known. */
            double dE = e->tv[0] * 1e-3 - ve;
            double whole = dE * clamp(dur / T, 0, 1);
            double edge = isfinite(pre) ? clamp(dE - pre * (T - dur), 0, dE) : whole;
            out->joules = edge;
            out->uncertainty_j = fabs(edge - whole) + dE / T * (e->te[0] + sT + b->h + e->h);
            out->ok = 1;
            add_slices(w, out, dur > 0 ? edge / dur : dE / T, dE / T);
            return;
        }
        /* Nothing measured the window: the mean power of the last second
         * is all there is, and it may be anything up to the maximum. */
        double p = isfinite(e->power_w) ? e->power_w : isfinite(pre) ? pre : 0;
        out->joules = p * dur;
        out->uncertainty_j = fmax(p, w->max_power_w - p) * dur;
        out->tail_guessed = 1;
        out->ok = 1;
        add_slices(w, out, p, p);
        return;
    }

    /* Head: the part of step [t1 - T, t1] after tb. */
    double dEb = v1 - vb;
    double head_steady = dEb * clamp((t1 - tb) / T, 0, 1);
    double before = clamp(tb - (t1 - T), 0, T);
    double head = isfinite(pre) ? clamp(dEb - pre * before, 0, dEb) : head_steady;
    /* The head's power, unless the head is too short for its timing errors. */
    int head_known = t1 - tb > 4 * (s1 + sT + b->h);
    double p_head = head_known ? head / (t1 - tb) : dEb / T;
    double p_edge = fmax(dEb / T, fmax(p_head, isfinite(pre) ? pre : 0));
    double u_head = fabs(head - head_steady) + p_edge * (s1 + sT + b->h);

    /* Middle: exact. */
    double mid = ve - v1;

    /* Tail: the part of the step in progress at te. */
    double tail, u_tail, p_win;
    /* The last step before te (the one the end reading holds): seen by the
     * begin watch (its time is then known, not predicted from the period,
     * which matters where steps do not come at a regular period), or else
     * after the last step it saw, tl, and not after te. */
    double tl = t1, sl = s1, vl = v1;
    for (int j = 0; j < b->ticks && j < EM_NVML_MAX_STEPS; j++)
        if (b->tv[j] <= e->v && b->tt[j] <= te) {
            tl = b->tt[j];
            sl = b->te[j];
            vl = b->tv[j] * 1e-3;
        }
    int have_c = vl == ve;
    double lo = have_c ? tl - sl : tl, hi = have_c ? fmin(te, tl + sl) : te;

    if (e->ticks >= 1) {
        double t2 = e->tt[0], v2 = e->tv[0] * 1e-3, dEe = v2 - ve;
        /* The step in progress at te: [tc, t2], its length seen or T. */
        if (!have_c)
            narrow(&lo, &hi, t2 - T - sT - e->te[0], t2 - T + sT + e->te[0]);
        double tc = (lo + hi) / 2, sc = (hi - lo) / 2;
        double len = have_c && t2 > tc ? t2 - tc : T;
        double a = clamp(te - tc, 0, len);
        int win_known = tc - t1 >= 0.5 * T || head_known;
        p_win = tc - t1 >= 0.5 * T ? mid / (tc - t1) : p_head;
        double tail_steady = dEe * a / len, tail_win = fmin(p_win * a, dEe);
        /* The window's own power where it is known, else the step's. */
        tail = win_known ? tail_win : tail_steady;
        u_tail = fabs(tail_win - tail_steady) + fmax(dEe / len, p_win) * (e->te[0] + sc + e->h);
    } else {
        /* No settle: the step not seen is predicted from tl and the period
         * (its error grows with the steps in between; the jitter does not:
         * it is an offset from the grid, not a random walk); the partial
         * step is extrapolated at the window's power, give or take half of
         * it. */
        if (!have_c) {
            double k = fmax(1, floor((te - tl) / T));
            double spread = k * (sT - 2 * w->jitter) + 2 * w->jitter + sl;
            narrow(&lo, &hi, tl + k * T - spread, tl + k * T + spread);
        }
        double tc = (lo + hi) / 2, sc = (hi - lo) / 2 + e->h;
        p_win = tc - t1 >= 0.5 * T ? mid / (tc - t1) : p_head;
        double a = te - tc;
        out->tail_guessed = 1;
        if (sc > T / 4) {
            /* The phase is lost: anywhere in the step, which may be as
             * long as a period and its spacing error. */
            tail = p_win * (T + sT) / 2;
            u_tail = p_win * (T + sT) / 2;
        } else {
            tail = p_win * a;
            u_tail = p_win * sc + 0.5 * tail;
            if (a < sc || a > T - sc)
                u_tail += p_win * (T + sT); /* the end reading may straddle a step */
        }
    }
    out->joules = head + mid + tail;
    out->uncertainty_j = u_head + u_tail;
    out->ok = 1;
    add_slices(w, out, p_head, p_win);
}
