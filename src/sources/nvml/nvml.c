/*
 * GPU energy through NVML (loaded by library.c): the source itself.
 *
 * Each selected GPU is one channel. Where the GPU has an energy counter
 * (nvmlDeviceGetTotalEnergyConsumption, Volta and newer) the channel is that
 * counter, read at the edges by worker threads (worker.c: in parallel,
 * with the partial steps placed by window.c) and by the sampler once a second, so
 * that a GPU lost mid-run still leaves what was measured until then. Where
 * it has none, the sampler integrates nvmlDeviceGetPowerUsage every 20 ms
 * (source "nvml-power"), whose readings NVML averages over about a second:
 * the uncertainty says how much that can hide.
 *
 * Calls go one way: this file -> worker.c -> steps.c, this file -> window.c,
 * library.c, steps.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nvml.h"
#include "sources/sources.h"

/* Used when the GPU states no power limit. */
#define DEFAULT_MAX_POWER_W 1000.0
/* The limit is enforced on average: transients exceed it. */
#define MAX_POWER_MARGIN 1.5
/* The sampler reads an energy counter this often: not for wraps (64-bit
 * mJ), but so that a GPU lost mid-run leaves what was measured until then.
 * A call costs ~4 ms on an H100, so not more often. */
#define ENERGY_POLL_S 1.0
/* Power readings are integrated at this period. */
#define POWER_POLL_S 0.02
/* NVML averages power readings over about this long (measured on an H100). */
#define POWER_AVG_S 1.0
/* A counter that steps every ~100 ms may hold up to one step more energy
 * than the time between two readings explains: with margin for jitter. */
#define ENERGY_STEP_S 0.15
/* Settle: the end watch runs until e.t + settle; allow one more call. */
#define SETTLE_MARGIN_S 0.05
/* At most this many indexes in --gpu. */
#define MAX_SELECTED 64

static int nvml_err(nvmlReturn_t r)
{
    return r == NVML_ERROR_GPU_IS_LOST ? EM_ERR_NOT_FOUND : EM_ERR_IO;
}

/* Indexes of --gpu; *all when none was given. -1 when malformed. */
static int parse_selection(const char *list, unsigned *idx, size_t *n, int *all)
{
    *n = 0;
    *all = !list || !*list;
    for (const char *p = list; p && *p;) {
        char *end;
        unsigned long v = strtoul(p, &end, 10);
        if (end == p || (*end && *end != ',') || v > 65535 || *n >= MAX_SELECTED)
            return -1;
        idx[(*n)++] = (unsigned)v;
        p = *end ? end + 1 : end;
    }
    return 0;
}

static int selected(const unsigned *idx, size_t n, int all, unsigned i)
{
    if (all)
        return 1;
    for (size_t k = 0; k < n; k++)
        if (idx[k] == i)
            return 1;
    return 0;
}

static double gpu_max_power(const struct em_nvml *n, nvmlDevice_t dev)
{
    unsigned mw = 0;
    if (n->api.enforced_limit && n->api.enforced_limit(dev, &mw) == NVML_SUCCESS && mw > 0)
        return mw / 1000.0 * MAX_POWER_MARGIN;
    if (n->api.limit && n->api.limit(dev, &mw) == NVML_SUCCESS && mw > 0)
        return mw / 1000.0 * MAX_POWER_MARGIN;
    return DEFAULT_MAX_POWER_W;
}

/* Open GPU i: a channel when usable, its line in the probe either way. */
static int open_gpu(struct em_source *s, struct em_probe *probe, unsigned i)
{
    struct em_nvml *n = s->priv;
    struct em_nvml_gpu *g = &n->g[n->ng];
    char dev[EM_NAME_MAX], path[160] = "";
    char *why = NULL;
    int usable = 0;
    const char *fix = NULL;
    nvmlReturn_t r;
    snprintf(dev, sizeof dev, "gpu%u", i);
    *g = (struct em_nvml_gpu){.n = n, .index = i, .pmin_w = INFINITY, .pmax_w = -INFINITY};
    em_nvml_steps_init(&g->steps);

    r = n->api.handle(i, &g->dev);
    if (r != NVML_SUCCESS) {
        why = em_asprintf("nvmlDeviceGetHandleByIndex_v2(%u): %s", i,
                          em_nvml_error_string(&n->api, r));
        goto record;
    }
    if (n->api.name(g->dev, g->name, sizeof g->name) != NVML_SUCCESS)
        snprintf(g->name, sizeof g->name, "NVIDIA GPU");
    if (!n->api.uuid || n->api.uuid(g->dev, g->uuid, sizeof g->uuid) != NVML_SUCCESS)
        g->uuid[0] = '\0';
    g->max_power_w = gpu_max_power(n, g->dev);

    unsigned long long mj;
    unsigned mw;
    r = n->api.energy ? n->api.energy(g->dev, &mj) : NVML_ERROR_FUNCTION_NOT_FOUND;
    if (r == NVML_SUCCESS) {
        g->energy_mode = 1;
    } else if (r != NVML_ERROR_NOT_SUPPORTED && r != NVML_ERROR_FUNCTION_NOT_FOUND) {
        why = em_asprintf("reading the energy counter of GPU %u: %s", i,
                          em_nvml_error_string(&n->api, r));
        goto record;
    } else if (!n->api.power) {
        why = em_asprintf("GPU %u has no energy counter and NVML no power readings", i);
        goto record;
    } else if ((r = n->api.power(g->dev, &mw)) != NVML_SUCCESS) {
        why = em_asprintf("GPU %u has no energy counter and its power cannot be read: %s", i,
                          em_nvml_error_string(&n->api, r));
        goto record;
    }

    snprintf(path, sizeof path, "NVML GPU %u %s", i,
             g->energy_mode ? "energy counter" : "power reading");
    struct em_channel *ch = em_source_add_channel(s, "gpu", dev, path, 1);
    if (!ch)
        return EM_ERR_NOMEM;
    if (g->energy_mode) {
        ch->kind = EM_CH_ENERGY;
        em_counter_init(&ch->ctr, 1e-3, 0, g->max_power_w);
        ch->ctr.step_s = ENERGY_STEP_S;
        ch->poll_s = ENERGY_POLL_S;
        /* No frozen-counter check: none is known on GPUs, and the meter's
         * would mistake a GPU lost early in the window for one. */
    } else {
        ch->kind = EM_CH_POWER;
        em_counter_init(&ch->ctr, 1e-3, 0, g->max_power_w);
        ch->poll_s = POWER_POLL_S;
    }
    n->ng++;
    usable = 1;
    snprintf(path, sizeof path, "NVML GPU %u (%s), %s", i, g->name,
             g->energy_mode ? "energy counter" : "power readings (no energy counter)");

record:
    if (!usable && !why)
        return EM_ERR_NOMEM; /* the reason itself could not be allocated */
    int err = em_probe_add_zone(probe, dev, "gpu", dev, path[0] ? path : NULL, why, fix);
    free(why);
    return err;
}

/* The GPUs of the --gpu list (all without one), each a channel or a zone
 * that says why not. */
static int open_selected(struct em_source *s, struct em_probe *probe, unsigned count)
{
    struct em_nvml *n = s->priv;
    char *why;
    int err = 0;
    unsigned idx[MAX_SELECTED];
    size_t nidx;
    int all;
    if (parse_selection(s->cfg->gpu_list, idx, &nidx, &all))
        return em_probe_set_reason(probe, "the GPU list is not indexes separated by commas",
                                   "--gpu 0,2");
    /* GPUs asked for that do not exist come first: they say best why gpu is
     * missing when nothing else is measured. */
    for (size_t k = 0; k < nidx && !err; k++)
        if (idx[k] >= count) {
            char name[32];
            snprintf(name, sizeof name, "gpu%u", idx[k]);
            why = em_asprintf("no GPU %u: NVML sees %u GPU(s), 0 to %u", idx[k], count, count - 1);
            err = why ? em_probe_add_zone(probe, name, "gpu", name, NULL, why, NULL) : EM_ERR_NOMEM;
            free(why);
        }
    n->g = calloc(count, sizeof *n->g);
    if (!n->g)
        return EM_ERR_NOMEM;
    for (unsigned i = 0; i < count && !err; i++) {
        if (!selected(idx, nidx, all, i)) {
            char name[32];
            snprintf(name, sizeof name, "gpu%u", i);
            err = em_probe_add_zone(probe, name, "gpu", name, NULL, "not selected (--gpu)", NULL);
            continue;
        }
        err = open_gpu(s, probe, i);
    }
    if (err)
        return err;
    if (!probe->available)
        return em_probe_set_reason(probe, "no usable GPU (see each GPU)", NULL);
    return 0;
}

static int nvml_probe(struct em_source *s, struct em_probe *probe)
{
    struct em_nvml *n = calloc(1, sizeof *n);
    if (!n)
        return EM_ERR_NOMEM;
    s->priv = n;
    pthread_mutex_init(&n->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&n->cv, &ca);
    pthread_condattr_destroy(&ca);
    n->sync_ok = 1;
    n->settle_s = s->cfg->gpu_settle_ms / 1000.0;
    n->root = s->cfg->sysfs_root;

    unsigned count = 0;
    const char *fix = NULL;
    char *why = NULL;
    int err = em_nvml_library_open(&n->api, s->cfg->nvml_lib, &count, &why, &fix);
    if (err == EM_ERR_NOMEM)
        return err;
    if (err) {
        err = em_probe_set_reason(probe, why, fix);
        free(why);
        return err;
    }
    return open_selected(s, probe, count);
}

/* A meter's GPUs get their worker threads (em_list_sources() never
 * measures, so it never opens). Without a worker (no thread to be had) a GPU
 * is read on the caller's thread and its edges are not interpolated: the
 * uncertainty says so. */
static int nvml_open(struct em_source *s)
{
    struct em_nvml *n = s->priv;
    for (size_t i = 0; i < n->ng; i++)
        if (n->g[i].energy_mode)
            em_nvml_worker_start(&n->g[i]);
    return 0;
}

/* Note an NVML error of a reading for the window's warnings. */
static void note_error(struct em_nvml *n, struct em_nvml_gpu *g, nvmlReturn_t r)
{
    pthread_mutex_lock(&n->mu);
    if (g->last_err == NVML_SUCCESS) {
        g->last_err = r;
        g->last_err_t = em_now_mono();
    }
    pthread_mutex_unlock(&n->mu);
}

static int nvml_read(struct em_source *s, size_t i, uint64_t *raw)
{
    struct em_nvml *n = s->priv;
    struct em_nvml_gpu *g = &n->g[i];
    nvmlReturn_t r;
    if (g->energy_mode) {
        unsigned long long mj = 0;
        r = n->api.energy(g->dev, &mj);
        *raw = mj;
    } else {
        unsigned mw = 0;
        r = n->api.power(g->dev, &mw);
        *raw = mw;
        if (r == NVML_SUCCESS) {
            /* Only the meter's thread holding its lock gets here. */
            double w = mw / 1000.0;
            g->pmin_w = w < g->pmin_w ? w : g->pmin_w;
            g->pmax_w = w > g->pmax_w ? w : g->pmax_w;
        }
    }
    if (r != NVML_SUCCESS) {
        note_error(n, g, r);
        return nvml_err(r);
    }
    return 0;
}

static void nvml_read_all(struct em_source *s, uint64_t *raw, int *errs)
{
    struct em_nvml *n = s->priv;
    pthread_mutex_lock(&n->mu);
    int job = n->next_is_begin ? EM_NVML_JOB_BEGIN : EM_NVML_JOB_END;
    n->next_is_begin = 0;
    em_nvml_edges_read(n, job);
    for (size_t i = 0; i < n->ng; i++) {
        struct em_nvml_gpu *g = &n->g[i];
        const struct em_nvml_edge *e = job == EM_NVML_JOB_BEGIN ? &g->b : &g->e;
        if (g->thread_ok) {
            raw[i] = e->v;
            errs[i] = e->err == NVML_SUCCESS ? 0 : nvml_err(e->err);
        }
    }
    pthread_mutex_unlock(&n->mu);
    /* Power readings (~1 us) and GPUs without a worker: one after another. */
    for (size_t i = 0; i < n->ng; i++)
        if (!n->g[i].thread_ok)
            errs[i] = nvml_read(s, i, &raw[i]);
}

static int nvml_begin(struct em_source *s)
{
    struct em_nvml *n = s->priv;
    pthread_mutex_lock(&n->mu);
    n->next_is_begin = 1;
    n->begin_t = em_now_mono();
    for (size_t i = 0; i < n->ng; i++) {
        struct em_nvml_gpu *g = &n->g[i];
        g->used = 0;
        g->procs_known = 0;
        g->last_err = NVML_SUCCESS;
        g->pmin_w = INFINITY;
        g->pmax_w = -INFINITY;
        g->est = (struct em_nvml_estimate){0};
    }
    pthread_mutex_unlock(&n->mu);
    return 0;
}

/* Power readings are ~1 s averages: the integral of the readings over the
 * window differs from the energy by up to half the averaging time times the
 * range of the power, and a window shorter than the average can hide a
 * burst entirely (bounded by what the GPU can draw). */
static double power_lag_uncertainty(const struct em_nvml_gpu *g, const struct em_channel *ch)
{
    double dur = ch->ctr.last_t - ch->ctr.start_t;
    if (!(g->pmax_w >= g->pmin_w))
        return 0;
    double e = em_counter_joules(&ch->ctr);
    double bound = fmax(e, g->max_power_w * dur - e);
    double range = dur >= 2 * POWER_AVG_S ? g->pmax_w - g->pmin_w : g->max_power_w - g->pmin_w;
    return fmin(POWER_AVG_S / 2 * range, bound);
}

static int nvml_end(struct em_source *s)
{
    struct em_nvml *n = s->priv;
    double end_t = em_now_mono(); /* the meter's window just ended */
    pthread_mutex_lock(&n->mu);
    if (n->settle_s > 0)
        em_nvml_edges_settle(n, em_now_mono() + n->settle_s + SETTLE_MARGIN_S);
    for (size_t i = 0; i < n->ng; i++) {
        struct em_nvml_gpu *g = &n->g[i];
        struct em_channel *ch = &s->ch[i];
        g->in_window = 0;
        if (!ch->started)
            continue;
        if (!g->energy_mode) {
            ch->ctr.uncertainty_j += power_lag_uncertainty(g, ch);
            continue;
        }
        struct em_nvml_window w = {.b = g->b,
                                   .e = g->e,
                                   .period = g->steps.period,
                                   .period_err = em_nvml_steps_spacing_err(&g->steps),
                                   .jitter = g->steps.jitter,
                                   .max_power_w = g->max_power_w,
                                   .tb = n->begin_t,
                                   .te = end_t};
        int clean = !ch->failing && ch->ctr.faults == 0 && ch->ctr.gap_s == 0;
        if (clean && g->thread_ok)
            em_nvml_estimate_window(&w, &g->est);
        if (g->est.ok) {
            ch->ctr.joules = g->est.joules;
            ch->ctr.uncertainty_j += g->est.uncertainty_j;
        } else {
            /* The plain difference: off by up to one step at each end. */
            double dur = ch->ctr.last_t - ch->ctr.start_t;
            double p = dur > g->steps.period ? ch->ctr.joules / dur : g->max_power_w;
            ch->ctr.uncertainty_j += 2 * p * g->steps.period;
        }
    }
    pthread_mutex_unlock(&n->mu);
    return 0;
}

/* Warnings about one GPU's window. */
static int gpu_warnings(const struct em_nvml *n, const struct em_nvml_gpu *g, struct em_reading *c,
                        struct em_readings *w)
{
    if (g->last_err != NVML_SUCCESS) {
        c->degraded = 1;
        double at = g->last_err_t - n->begin_t;
        if (em_readings_warn(
                w,
                "gpu%u (%s): NVML error '%s'%s %.3f s into the window; energy after its last "
                "good reading is estimated (see uncertainty_j)",
                g->index, g->name, em_nvml_error_string(&n->api, g->last_err),
                g->last_err == NVML_ERROR_GPU_IS_LOST ? " (it fell off the bus or is inaccessible)"
                                                      : "",
                at > 0 ? at : 0))
            return EM_ERR_NOMEM;
    }
    if (!g->energy_mode)
        return em_readings_warn(
            w,
            "gpu%u (%s) has no energy counter: energy integrates power readings every %.0f "
            "ms, which NVML averages over ~1 s, so bursts shorter than that are smeared (see "
            "uncertainty_j)",
            g->index, g->name, POWER_POLL_S * 1000);
    if (g->est.ok && g->est.within_step && g->est.tail_guessed)
        return em_readings_warn(
            w,
            "gpu%u: the window (%.3f s) is shorter than one step of the energy counter "
            "(~%.0f ms): its energy is estimated from power readings; --gpu-settle %.0f measures "
            "it",
            g->index, w->duration_s, g->steps.period * 1000, round(g->steps.period * 150) * 10);
    if (g->est.ok && g->est.tail_guessed && g->est.uncertainty_j > 0.05 * g->est.joules)
        return em_readings_warn(
            w,
            "gpu%u: the window ended inside a step of the energy counter; that part (up to "
            "%.0f ms) is extrapolated at the window's power (see uncertainty_j); "
            "--gpu-settle %.0f measures it",
            g->index, g->steps.period * 1000, round(g->steps.period * 150) * 10);
    return 0;
}

static int nvml_annotate(struct em_source *s, struct em_reading *c, struct em_readings *w)
{
    struct em_nvml *n = s->priv;
    int energy = 0, power = 0, known = 0, err = 0;
    struct em_buf used;
    em_buf_init(&used);
    pthread_mutex_lock(&n->mu);
    for (size_t i = 0; i < n->ng && !err; i++) {
        struct em_nvml_gpu *g = &n->g[i];
        struct em_reading_device *d = em_reading_find_device(c, s->ch[i].device);
        if (!d)
            continue;
        energy |= g->energy_mode;
        power |= !g->energy_mode;
        err = em_extras_set_integer(&d->extras, "index", g->index);
        if (!err)
            err = em_extras_set_string(&d->extras, "model", g->name);
        if (!err && g->uuid[0])
            err = em_extras_set_string(&d->extras, "uuid", g->uuid);
        if (!err)
            err = em_extras_set_string(&d->extras, "method",
                                       g->energy_mode ? "energy-counter" : "power-readings");
        if (!err && g->energy_mode && g->steps.seen > 0) {
            /* How the counter steps, as learned: lets a user (and us, on
             * real hardware) see whether it keeps a regular period. */
            err = em_extras_set_number(&d->extras, "counter_step_s", g->steps.period);
            if (!err)
                err = em_extras_set_number(&d->extras, "counter_step_jitter_s", g->steps.jitter);
        }
        if (!err && g->procs_known) {
            known = 1;
            /* 1 when a compute process of this process tree was seen on
             * the GPU during the window, 0 when only others were. */
            err = em_extras_set_bool(&d->extras, "used_by_tree", g->used);
            if (g->used)
                em_buf_printf(&used, "%s%u", used.len ? "," : "", g->index);
        }
        if (!err)
            err = gpu_warnings(n, g, c, w);
    }
    pthread_mutex_unlock(&n->mu);
    if (!err && known)
        err = em_extras_set_string(&c->extras, "gpus_used_by_tree", used.data ? used.data : "");
    if (!err && used.oom)
        err = EM_ERR_NOMEM;
    em_buf_free(&used);
    if (!err && power) {
        if (em_reading_set_source(c, energy ? "nvml+nvml-power" : "nvml-power"))
            return EM_ERR_NOMEM;
    }
    return err;
}

static void nvml_close(struct em_source *s)
{
    struct em_nvml *n = s->priv;
    if (!n)
        return;
    if (n->sync_ok)
        em_nvml_workers_stop(n);
    em_nvml_library_close(&n->api);
    if (n->sync_ok) {
        pthread_cond_destroy(&n->cv);
        pthread_mutex_destroy(&n->mu);
    }
    free(n->g);
    free(n);
    s->priv = NULL;
}

const struct em_source_ops em_src_nvml = {
    .name = "nvml",
    .serves = "gpu",
    .probe = nvml_probe,
    .open = nvml_open,
    .read = nvml_read,
    .close = nvml_close,
    .read_all = nvml_read_all,
    .begin = nvml_begin,
    .end = nvml_end,
    .annotate = nvml_annotate,
};
