/*
 * RAPL through the perf `power` PMU (what turbostat and perf use first).
 *
 * sysfs describes the PMU: its type in bus/event_source/devices/power/type,
 * one CPU per package in cpumask, and per event (energy-pkg, energy-ram,
 * energy-cores, energy-gpu, energy-psys) the config ("event=0x02"), a scale
 * in joules per count and the unit. perf_event_open() on that CPU gives a
 * 64-bit count: the kernel follows the 32-bit hardware counter itself, so
 * there is no wrap to handle here. It needs no root when
 * kernel.perf_event_paranoid <= 0 or with CAP_PERFMON, and has none of
 * powercap's file permission problem: it is preferred when it works.
 *
 * perf_event_open() cannot be faked by ENERGYMETER_SYSFS_ROOT: under a fake
 * tree the PMU is parsed and listed but not opened.
 */
#include <errno.h>
#include <limits.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "rapl.h"
#include "sources/sources.h"
#include "util/sysfs.h"

#define PMU_DIR "/sys/bus/event_source/devices/power"

#define PERM_FIX                                                                                   \
    "run as root, or give energymeter CAP_PERFMON (setcap cap_perfmon+ep), or set "                \
    "kernel.perf_event_paranoid to 0 or less"

struct perf_priv {
    int *fds; /* one per channel */
    size_t nfds;
};

/* Parse a sysfs CPU list ("0", "0,28", "0-3,8") into cpus; returns the count. */
static size_t parse_cpulist(const char *s, int *cpus, size_t max)
{
    size_t n = 0;
    while (*s && n < max) {
        char *end;
        long a = strtol(s, &end, 10);
        if (end == s || a < 0)
            break;
        long b = a;
        if (*end == '-') {
            s = end + 1;
            b = strtol(s, &end, 10);
            if (end == s || b < a)
                break;
        }
        for (long c = a; c <= b && n < max; c++)
            cpus[n++] = (int)c;
        s = *end == ',' ? end + 1 : end;
        if (*end != ',')
            break;
    }
    return n;
}

static int package_of(const char *root, int cpu)
{
    char rel[128], path[PATH_MAX];
    uint64_t id;
    snprintf(rel, sizeof rel, "/sys/devices/system/cpu/cpu%d/topology/physical_package_id", cpu);
    if (em_sysfs_path(root, path, sizeof path, rel) || em_read_u64(path, &id) || id > INT_MAX)
        return cpu; /* no topology: one package per listed CPU */
    return (int)id;
}

/* Read "event=0x02" and the scale of one event; 0 when it exists. */
static int read_event(const char *dir, const char *event, uint64_t *config, double *scale)
{
    char path[PATH_MAX + 64], text[128];
    snprintf(path, sizeof path, "%s/events/%s", dir, event);
    int err = em_read_text(path, text, sizeof text);
    if (err)
        return err;
    const char *p = strstr(text, "event=");
    if (!p)
        return EM_ERR_FORMAT;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p + 6, &end, 0);
    if (end == p + 6 || errno)
        return EM_ERR_FORMAT;
    *config = v;
    snprintf(path, sizeof path, "%s/events/%s.scale", dir, event);
    if (em_read_text(path, text, sizeof text) == 0) {
        *scale = strtod(text, &end);
        if (end == text || !(*scale > 0))
            return EM_ERR_FORMAT;
    } else {
        *scale = 2.3283064365386962890625e-10; /* 2^-32 J, the usual RAPL unit */
    }
    return 0;
}

static int open_counter(int type, uint64_t config, int cpu, int *fd_out)
{
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.size = sizeof attr;
    attr.type = (unsigned)type;
    attr.config = config;
    long fd = syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
    if (fd < 0)
        return -errno;
    *fd_out = (int)fd;
    return 0;
}

static char *open_problem(int neg_errno, const char **fix)
{
    *fix = NULL;
    if (neg_errno == -EACCES || neg_errno == -EPERM) {
        *fix = PERM_FIX;
        return em_asprintf("perf_event_open: permission denied (the power PMU needs "
                           "CAP_PERFMON, root, or kernel.perf_event_paranoid <= 0)");
    }
    return em_asprintf("perf_event_open failed: %s", strerror(-neg_errno));
}

static int add_event(struct em_source *s, struct em_probe *probe, const char *dir, int type,
                     const int *cpus, size_t ncpus, const struct em_rapl_domain *k, int fake)
{
    uint64_t config = 0;
    double scale = 0;
    int ev_err = read_event(dir, k->perf_event, &config, &scale), err;
    if (ev_err == EM_ERR_NOT_FOUND) {
        /* This PMU has no such event. For the components in the total, say
         * so: it is why they are not measured here. */
        if (!k->in_total)
            return 0;
        char why[128];
        snprintf(why, sizeof why, "the perf power PMU has no %s event", k->perf_event);
        return em_probe_add_zone(probe, k->perf_event, k->component, NULL, dir, why, NULL);
    }
    for (size_t i = 0; i < ncpus; i++) {
        char device[EM_NAME_MAX], name[64], path[PATH_MAX + 64];
        const char *fix = NULL;
        char *problem = NULL;
        int pkg = package_of(s->cfg->sysfs_root, cpus[i]);
        em_rapl_device(k, pkg, device, sizeof device);
        snprintf(name, sizeof name, "%s/cpu%d", k->perf_event, cpus[i]);
        snprintf(path, sizeof path, "%s/events/%s", dir, k->perf_event);
        int fd = -1;
        if (ev_err)
            problem = em_asprintf("%s is malformed", path);
        else if (fake)
            problem = em_asprintf("not opened: ENERGYMETER_SYSFS_ROOT is set, and "
                                  "perf_event_open() cannot read a fake tree");
        else if ((err = open_counter(type, config, cpus[i], &fd)) != 0)
            problem = open_problem(err, &fix);
        if (!problem && fd < 0)
            return EM_ERR_NOMEM;
        if (!problem) {
            struct perf_priv *pp = s->priv;
            int *fds = realloc(pp->fds, (pp->nfds + 1) * sizeof *fds);
            struct em_channel *ch =
                fds ? em_source_add_channel(s, k->component, device, path, k->in_total) : NULL;
            if (fds)
                pp->fds = fds;
            if (!ch) {
                close(fd);
                return EM_ERR_NOMEM;
            }
            pp->fds[pp->nfds++] = fd;
            em_counter_init(&ch->ctr, scale, 0, EM_RAPL_DEFAULT_MAX_POWER_W);
            ch->frozen_s = EM_RAPL_FROZEN_AFTER_S;
        }
        err = em_probe_add_zone(probe, name, k->component, device, path, problem, fix);
        free(problem);
        if (err)
            return err;
    }
    return 0;
}

static int perf_probe(struct em_source *s, struct em_probe *probe)
{
    char dir[PATH_MAX], path[PATH_MAX + 32], text[256];
    uint64_t type;
    int cpus[1024];
    if (em_sysfs_path(s->cfg->sysfs_root, dir, sizeof dir, PMU_DIR))
        return em_probe_set_reason(probe, "ENERGYMETER_SYSFS_ROOT is too long", NULL);
    s->priv = calloc(1, sizeof(struct perf_priv));
    if (!s->priv)
        return EM_ERR_NOMEM;
    snprintf(path, sizeof path, "%s/type", dir);
    int err = em_read_u64(path, &type);
    if (err || type > INT_MAX) {
        char *why = em_asprintf("no perf power PMU: %s %s (no RAPL, or a kernel without the "
                                "perf RAPL driver; virtual machines usually have none)",
                                path, err == EM_ERR_NOT_FOUND ? "does not exist" : "is unreadable");
        err = why ? em_probe_set_reason(probe, why, NULL) : EM_ERR_NOMEM;
        free(why);
        return err;
    }
    snprintf(path, sizeof path, "%s/cpumask", dir);
    size_t ncpus = em_read_text(path, text, sizeof text) == 0
                       ? parse_cpulist(text, cpus, sizeof cpus / sizeof cpus[0])
                       : 0;
    if (ncpus == 0) {
        cpus[0] = 0; /* one package, read on CPU 0 */
        ncpus = 1;
    }
    int fake = s->cfg->sysfs_root[0] != '\0';
    for (size_t k = 0; k < em_rapl_ndomains; k++) {
        err = add_event(s, probe, dir, (int)type, cpus, ncpus, &em_rapl_domains[k], fake);
        if (err)
            return err;
    }
    if (probe->nzones == 0)
        return em_probe_set_reason(probe, "the perf power PMU lists no energy event", NULL);
    if (!probe->available)
        return em_probe_set_reason(probe, "no perf power event could be opened (see each)",
                                   fake ? NULL : PERM_FIX);
    return 0;
}

static int perf_read(struct em_source *s, size_t i, uint64_t *raw)
{
    struct perf_priv *pp = s->priv;
    uint64_t v;
    ssize_t n = read(pp->fds[i], &v, sizeof v);
    if (n != (ssize_t)sizeof v)
        return n < 0 && (errno == ENODEV || errno == ENOENT) ? EM_ERR_NOT_FOUND : EM_ERR_IO;
    *raw = v;
    return 0;
}

static void perf_close(struct em_source *s)
{
    struct perf_priv *pp = s->priv;
    if (!pp)
        return;
    for (size_t i = 0; i < pp->nfds; i++)
        close(pp->fds[i]);
    free(pp->fds);
    free(pp);
    s->priv = NULL;
}

const struct em_source_ops em_src_rapl_perf = {
    .name = "rapl-perf",
    .serves = "cpu,dram,cpu-core,cpu-uncore,psys",
    .probe = perf_probe,
    .read = perf_read,
    .close = perf_close,
};
