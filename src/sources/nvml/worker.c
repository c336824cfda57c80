/*
 * Per-GPU worker threads for NVML's energy counter (about 4 ms a call on an
 * H100): at em_begin() and em_end() each GPU's worker reads the counter, all
 * GPUs at once, then watches for the counter's next steps, so that window.c
 * can place the partial steps at the window's edges instead of guessing
 * them; the steps they see teach steps.c the counter's period and jitter.
 * During a window they also list the GPU's compute processes, to say
 * whether the measured process tree used it. See docs/gpu.md.
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

/* The power now (a reading costs ~1 us), W; NAN when unknown. */
static double power_now(struct em_nvml_gpu *g)
{
    const struct em_nvml_api *api = &g->n->api;
    unsigned mw = 0;
    return api->power && api->power(g->dev, &mw) == NVML_SUCCESS ? mw / 1000.0 : NAN;
}

static void read_edge(struct em_nvml_gpu *g, struct em_nvml_edge *e)
{
    const struct em_nvml_api *api = &g->n->api;
    unsigned long long v = 0;
    double t0 = em_now_mono();
    e->err = api->energy(g->dev, &v);
    double t1 = em_now_mono();
    e->v = v;
    e->t = (t0 + t1) / 2;
    e->h = (t1 - t0) / 2;
    e->last_same = e->t;
    /* The power before the window. */
    e->power_w = power_now(g);
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
        if (atomic_load(&g->cancel)) {
            /* A job came while this call ran: its sample, taken within one
             * call of the job's request, is the job's reading. A fresh call
             * would sample later and make em_end() wait for two calls. */
            g->handoff = (struct em_nvml_edge){.v = v, .t = mid, .h = (t1 - t0) / 2};
            g->handoff.last_same = mid;
            g->has_handoff = 1;
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
    if (g->has_handoff && job != EM_NVML_JOB_CAL) {
        mine = g->handoff;
        mine.power_w = power_now(g);
    } else {
        read_edge(g, &mine);
    }
    g->has_handoff = 0;
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
        /* in_window ends with the window (nvml_end()), not with every end
         * reading: a named window's readings come between. */
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
