/*
 * Estimates where no sensor exists (virtual machines, containers): source
 * "model", status "estimated", always labelled with the parameters used.
 *
 * cpu:  E = P_idle x T + (P_max - P_idle) x cpu_s / ncpus
 *       cpu_s is the CPU time of this process and its waited-for children
 *       over the window (getrusage), ncpus the logical CPUs, P_max the
 *       packages' TDP (--cpu-tdp, or the table below times the sockets) and
 *       P_idle the idle power (--cpu-idle, or 30 % of P_max). The idle term
 *       is there because RAPL, which the estimate stands in for, measures
 *       whole packages, idle included.
 * dram: E = DRAM_W_PER_GIB x GiB in use (MemTotal - MemAvailable, mean of
 *       the window's ends) x T.
 * Both are rough: the uncertainty is half the estimate.
 *
 * The model only fills components no sensor measures (the meter calls
 * fill() for those alone), and never with --no-estimates.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "sources/sources.h"
#include "util/sysfs.h"

/* Typical DDR4/DDR5 background and refresh power per GiB in use. */
#define DRAM_W_PER_GIB 0.375
#define IDLE_SHARE 0.30
#define RELATIVE_UNCERTAINTY 0.5

/* Nominal TDP per socket of common server CPUs, matched as a substring of
 * /proc/cpuinfo's "model name" (vendor data sheets). */
static const struct {
    const char *model;
    double tdp_w;
} cpu_table[] = {
    {"EPYC 9654", 360},       {"EPYC 9554", 360},      {"EPYC 7763", 280},
    {"EPYC 7742", 225},       {"EPYC 7713", 225},      {"EPYC 7543", 225},
    {"EPYC 7R13", 280},       {"Platinum 8488C", 350}, {"Platinum 8480", 350},
    {"Platinum 8380", 270},   {"Platinum 8375C", 300}, {"Platinum 8275CL", 240},
    {"Platinum 8259CL", 210}, {"Gold 6338", 205},      {"Gold 6248", 150},
    {"Gold 6230", 125},       {"E5-2686 v4", 145},     {"E5-2690 v4", 135},
};

/* What the model reads at a window's edge. */
struct model_snap {
    double cpu_s, gib;
};

struct model_priv {
    int cpu_ok, dram_ok;
    double p_max, p_idle;
    char basis[160];
    int ncpus;
    struct model_snap win[2]; /* the begin()/end() window's: 0 begin, 1 end */
};

static double cpu_seconds(void)
{
    struct rusage self, kids;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &kids);
    return (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec + kids.ru_utime.tv_sec +
                    kids.ru_stime.tv_sec) +
           (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec + kids.ru_utime.tv_usec +
                    kids.ru_stime.tv_usec) /
               1e6;
}

/* GiB in use from /proc/meminfo; negative when unreadable. */
static double mem_gib_in_use(const char *root)
{
    char path[PATH_MAX], line[256];
    long long total = -1, avail = -1;
    if (em_sysfs_path(root, path, sizeof path, "/proc/meminfo"))
        return -1;
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        sscanf(line, "MemTotal: %lld kB", &total);
        sscanf(line, "MemAvailable: %lld kB", &avail);
    }
    fclose(f);
    if (total < 0 || avail < 0 || avail > total)
        return -1;
    return (double)(total - avail) / (1024.0 * 1024.0);
}

/* Model name, logical CPUs and sockets from /proc/cpuinfo. */
static void read_cpuinfo(const char *root, char *model, size_t modelsz, int *ncpus, int *sockets)
{
    char path[PATH_MAX], line[512];
    int ids[256], nids = 0;
    model[0] = '\0';
    *ncpus = 0;
    if (em_sysfs_path(root, path, sizeof path, "/proc/cpuinfo") == 0) {
        FILE *f = fopen(path, "re");
        while (f && fgets(line, sizeof line, f)) {
            int id;
            char *colon = strchr(line, ':');
            if (!strncmp(line, "processor", 9))
                (*ncpus)++;
            else if (!strncmp(line, "model name", 10) && !model[0] && colon)
                snprintf(model, modelsz, "%s", colon + 2);
            else if (sscanf(line, "physical id : %d", &id) == 1) {
                int seen = 0;
                for (int i = 0; i < nids; i++)
                    seen |= ids[i] == id;
                if (!seen && nids < 256)
                    ids[nids++] = id;
            }
        }
        if (f)
            fclose(f);
    }
    model[strcspn(model, "\n")] = '\0';
    *sockets = nids > 0 ? nids : 1;
    if (*ncpus == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        *ncpus = n > 0 ? (int)n : 1;
    }
}

static int model_probe(struct em_source *s, struct em_probe *probe)
{
    const struct em_config *cfg = s->cfg;
    if (cfg->no_estimates)
        return em_probe_set_reason(probe, "estimates are off (--no-estimates)", NULL);
    struct model_priv *mp = calloc(1, sizeof *mp);
    if (!mp)
        return EM_ERR_NOMEM;
    s->priv = mp;
    char model[256];
    int sockets;
    read_cpuinfo(cfg->sysfs_root, model, sizeof model, &mp->ncpus, &sockets);

    double tdp = cfg->cpu_tdp_w, idle = cfg->cpu_idle_w;
    if (tdp > 0) {
        snprintf(mp->basis, sizeof mp->basis, "--cpu-tdp %g W%s", tdp,
                 idle > 0 ? ", --cpu-idle" : ", idle 30 % of it");
    } else {
        for (size_t i = 0; i < sizeof cpu_table / sizeof cpu_table[0] && tdp == 0; i++)
            if (strstr(model, cpu_table[i].model)) {
                tdp = cpu_table[i].tdp_w * sockets;
                snprintf(mp->basis, sizeof mp->basis, "table: %s, %g W TDP x %d socket(s)",
                         cpu_table[i].model, cpu_table[i].tdp_w, sockets);
            }
    }
    int err;
    if (tdp > 0) {
        mp->cpu_ok = 1;
        mp->p_max = tdp;
        mp->p_idle = idle > 0 ? idle : IDLE_SHARE * tdp;
        err = em_probe_add_zone(probe, "cpu-time", "cpu", "estimate", "/proc/cpuinfo", NULL, NULL);
    } else {
        char *why = em_asprintf("no power model for CPU '%s'", model[0] ? model : "unknown");
        err = why ? em_probe_add_zone(probe, "cpu-time", "cpu", "estimate", "/proc/cpuinfo", why,
                                      "give --cpu-tdp W (and --cpu-idle W) to estimate from CPU "
                                      "time")
                  : EM_ERR_NOMEM;
        free(why);
    }
    if (err)
        return err;
    mp->dram_ok = mem_gib_in_use(cfg->sysfs_root) >= 0;
    return em_probe_add_zone(probe, "memory-in-use", "dram", "estimate", "/proc/meminfo",
                             mp->dram_ok ? NULL : "cannot read MemTotal and MemAvailable", NULL);
}

static void read_snap(struct em_source *s, struct model_snap *sn)
{
    sn->cpu_s = cpu_seconds();
    sn->gib = mem_gib_in_use(s->cfg->sysfs_root);
}

static int model_begin(struct em_source *s)
{
    struct model_priv *mp = s->priv;
    if (mp)
        read_snap(s, &mp->win[0]);
    return 0;
}

static int model_end(struct em_source *s)
{
    struct model_priv *mp = s->priv;
    if (mp)
        read_snap(s, &mp->win[1]);
    return 0;
}

static int fill_common(struct em_reading *c, double joules, const char *device)
{
    c->status = EM_STATUS_ESTIMATED;
    if (em_reading_set_source(c, "model"))
        return EM_ERR_NOMEM;
    return em_reading_add_device(c, device, joules, RELATIVE_UNCERTAINTY * joules);
}

static void *model_snap(struct em_source *s)
{
    struct model_snap *sn = calloc(1, sizeof *sn);
    if (sn)
        read_snap(s, sn);
    return sn;
}

static void model_snap_free(struct em_source *s, void *sn)
{
    (void)s;
    free(sn);
}

static int model_fill_between(struct em_source *s, const void *pa, const void *pz,
                              struct em_reading *c, struct em_readings *w)
{
    struct model_priv *mp = s->priv;
    const struct model_snap *a = pa, *z = pz;
    if (!mp)
        return 0;
    double t = w->duration_s;
    if (!strcmp(c->name, "cpu") && mp->cpu_ok) {
        double cpu_s = z->cpu_s - a->cpu_s;
        if (cpu_s < 0)
            cpu_s = 0;
        double j = mp->p_idle * t + (mp->p_max - mp->p_idle) * cpu_s / mp->ncpus;
        int err = fill_common(c, j, "estimate");
        if (!err)
            err = em_extras_set_string(&c->extras, "model",
                                       "idle_w x duration + (tdp_w - idle_w) x cpu_time_s / ncpus");
        if (!err)
            err = em_extras_set_string(&c->extras, "model_basis", mp->basis);
        if (!err)
            err = em_extras_set_number(&c->extras, "tdp_w", mp->p_max);
        if (!err)
            err = em_extras_set_number(&c->extras, "idle_w", mp->p_idle);
        if (!err)
            err = em_extras_set_number(&c->extras, "cpu_time_s", cpu_s);
        if (!err)
            err = em_extras_set_integer(&c->extras, "ncpus", mp->ncpus);
        return err ? err : 1;
    }
    if (!strcmp(c->name, "dram") && mp->dram_ok && a->gib >= 0 && z->gib >= 0) {
        double gib = (a->gib + z->gib) / 2;
        int err = fill_common(c, DRAM_W_PER_GIB * gib * t, "estimate");
        if (!err)
            err = em_extras_set_string(&c->extras, "model", "w_per_gib x gib_in_use x duration");
        if (!err)
            err = em_extras_set_number(&c->extras, "w_per_gib", DRAM_W_PER_GIB);
        if (!err)
            err = em_extras_set_number(&c->extras, "gib_in_use", gib);
        return err ? err : 1;
    }
    return 0;
}

static int model_fill(struct em_source *s, struct em_reading *c, struct em_readings *w)
{
    struct model_priv *mp = s->priv;
    if (!mp)
        return 0;
    return model_fill_between(s, &mp->win[0], &mp->win[1], c, w);
}

static int model_read(struct em_source *s, size_t i, uint64_t *raw)
{
    (void)s;
    (void)i;
    (void)raw;
    return EM_ERR_UNSUPPORTED; /* no channels */
}

static void model_close(struct em_source *s)
{
    free(s->priv);
    s->priv = NULL;
}

const struct em_source_ops em_src_model = {
    .name = "model",
    .serves = "cpu,dram",
    .probe = model_probe,
    .read = model_read,
    .close = model_close,
    .begin = model_begin,
    .end = model_end,
    .fill = model_fill,
    .snap = model_snap,
    .snap_free = model_snap_free,
    .fill_between = model_fill_between,
};
