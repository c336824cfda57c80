/*
 * RAPL straight from the model-specific registers, through /dev/cpu/N/msr:
 * the last resort when neither the perf power PMU nor powercap works (an
 * old kernel, a container with the msr device passed in). It needs the msr
 * module (energymeter never loads modules itself) and CAP_SYS_RAWIO.
 *
 * Intel: MSR_RAPL_POWER_UNIT (0x606) gives the energy unit, 1/2^ESU J in bits
 * 12:8, and the power unit in bits 3:0; package (0x611), DRAM (0x619), PP0
 * cores (0x639), PP1 uncore (0x641) and platform (0x64d) energy status
 * registers count in that unit. AMD Zen: unit 0xc0010299, core energy
 * 0xc001029a (per core), package energy 0xc001029b; no DRAM register.
 *
 * Under ENERGYMETER_SYSFS_ROOT the msr files are regular files holding
 * register ADDR as 8 little-endian bytes at offset ADDR x 8 (see msr_offset).
 *
 * The counters are 32 bits wide: the meter's sampler reads them at a quarter
 * of the wrap period at maximum power. Each register is read on one CPU of
 * its package (or core), found through sysfs topology.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rapl.h"
#include "sources/sources.h"
#include "util/sysfs.h"

#define INTEL_POWER_UNIT 0x606
#define INTEL_PKG_POWER_INFO 0x614
#define AMD_POWER_UNIT 0xc0010299
#define MAX_CPUS 4096

#define PERM_FIX "run as root (reading MSRs needs CAP_SYS_RAWIO)"

/* One domain's energy register on this vendor's processors. */
struct reg {
    uint32_t addr; /* 0: the vendor has none */
    const char *what;
    const char *component;
    int in_total;
    int per_core; /* AMD core energy: one register per core */
    int once;     /* platform: one for the machine */
};

static struct reg reg_of(const struct em_rapl_domain *d, int amd)
{
    return (struct reg){
        .addr = amd ? d->amd_msr : d->intel_msr,
        .what = amd ? d->amd_name : d->intel_name,
        .component = d->component,
        .in_total = d->in_total,
        .per_core = amd && d->amd_per_core,
        .once = d->platform,
    };
}

struct cpu {
    int id, pkg, core;
};

struct msr_priv {
    int *fds;
    uint32_t *addrs;
    size_t n;
};

/*
 * The device reads register ADDR at offset ADDR. A fake tree's msr file is a
 * regular file, where 8-byte values at adjacent addresses would overlap
 * (AMD's 0xc001029a and 0xc001029b): there, register ADDR is the 8 bytes at
 * offset ADDR x 8.
 */
static off_t msr_offset(int fd, uint32_t addr)
{
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        return (off_t)addr * 8;
    return (off_t)addr;
}

static int read_msr_fd(int fd, uint32_t addr, uint64_t *v)
{
    ssize_t n = pread(fd, v, sizeof *v, msr_offset(fd, addr));
    if (n == (ssize_t)sizeof *v)
        return 0;
    if (n >= 0)
        return EM_ERR_NOT_FOUND; /* past the end of a fake file: no such register */
    return errno == EIO                        ? EM_ERR_NOT_FOUND
           : errno == EACCES || errno == EPERM ? EM_ERR_PERM
                                               : EM_ERR_IO;
}

static int topo(const char *root, int cpu, const char *file, int fallback)
{
    char rel[128], path[PATH_MAX];
    uint64_t v;
    snprintf(rel, sizeof rel, "/sys/devices/system/cpu/cpu%d/topology/%s", cpu, file);
    if (em_sysfs_path(root, path, sizeof path, rel) || em_read_u64(path, &v) || v > INT_MAX)
        return fallback;
    return (int)v;
}

/* "GenuineIntel", "AuthenticAMD" (or "" when /proc/cpuinfo says nothing). */
static void cpu_vendor(const char *root, char *out, size_t outsz)
{
    char path[PATH_MAX], line[256];
    out[0] = '\0';
    if (em_sysfs_path(root, path, sizeof path, "/proc/cpuinfo"))
        return;
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        char v[64];
        if (sscanf(line, "vendor_id : %63s", v) == 1) {
            snprintf(out, outsz, "%s", v);
            break;
        }
    }
    fclose(f);
}

static int cmp_cpu(const void *a, const void *b)
{
    return ((const struct cpu *)a)->id - ((const struct cpu *)b)->id;
}

/* The CPUs with an msr device node, sorted. */
static size_t list_cpus(const char *root, const char *devdir, struct cpu *cpus, size_t max)
{
    DIR *d = opendir(devdir);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < max) {
        char *end;
        long id = strtol(de->d_name, &end, 10);
        if (end == de->d_name || *end || id < 0 || id > INT_MAX)
            continue;
        cpus[n].id = (int)id;
        n++;
    }
    closedir(d);
    qsort(cpus, n, sizeof *cpus, cmp_cpu);
    for (size_t i = 0; i < n; i++) {
        cpus[i].pkg = topo(root, cpus[i].id, "physical_package_id", 0);
        cpus[i].core = topo(root, cpus[i].id, "core_id", cpus[i].id);
    }
    return n;
}

static int add_fd(struct msr_priv *pp, int fd, uint32_t addr)
{
    int *fds = realloc(pp->fds, (pp->n + 1) * sizeof *fds);
    if (!fds)
        return EM_ERR_NOMEM;
    pp->fds = fds;
    uint32_t *addrs = realloc(pp->addrs, (pp->n + 1) * sizeof *addrs);
    if (!addrs)
        return EM_ERR_NOMEM;
    pp->addrs = addrs;
    pp->fds[pp->n] = fd;
    pp->addrs[pp->n] = addr;
    pp->n++;
    return 0;
}

/* Is cpu the first of its package (or core, for per-core registers)? */
static int first_of(const struct cpu *cpus, size_t i, int per_core)
{
    for (size_t j = 0; j < i; j++)
        if (cpus[j].pkg == cpus[i].pkg && (!per_core || cpus[j].core == cpus[i].core))
            return 0;
    return 1;
}

static int add_register(struct em_source *s, struct em_probe *probe, const char *devdir,
                        const struct cpu *cpu, const struct reg *r, double unit, double max_w)
{
    char path[PATH_MAX + 32], name[96], device[EM_NAME_MAX];
    snprintf(path, sizeof path, "%s/%d/msr", devdir, cpu->id);
    snprintf(name, sizeof name, "%s@cpu%d (0x%x)", r->what, cpu->id, r->addr);
    if (r->once)
        snprintf(device, sizeof device, "platform-0");
    else if (r->per_core)
        snprintf(device, sizeof device, "package-%d/core-%d", cpu->pkg, cpu->core);
    else
        snprintf(device, sizeof device, "package-%d", cpu->pkg);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    uint64_t v;
    int err = fd < 0 ? (errno == EACCES || errno == EPERM ? EM_ERR_PERM : EM_ERR_NOT_FOUND)
                     : read_msr_fd(fd, r->addr, &v);
    if (err == EM_ERR_NOT_FOUND) {
        if (fd >= 0)
            close(fd);
        return 0; /* this CPU has no such register (e.g. no DRAM domain) */
    }
    if (!err && (v & 0xffffffffu) == 0) {
        /* A running domain's counter has counted since boot: 0 means the
         * domain is absent or unused (PP1 on servers). */
        close(fd);
        return em_probe_add_zone(probe, name, r->component, device, path,
                                 "the register reads 0: domain absent or not in use", NULL);
    }
    if (err) {
        if (fd >= 0)
            close(fd);
        char *why = em_asprintf("cannot read %s at 0x%x: %s", path, r->addr, em_strerror(err));
        if (!why)
            return EM_ERR_NOMEM;
        err = em_probe_add_zone(probe, name, r->component, device, path, why,
                                err == EM_ERR_PERM ? PERM_FIX : NULL);
        free(why);
        return err;
    }
    struct em_channel *ch = em_source_add_channel(s, r->component, device, path, r->in_total);
    if (!ch || add_fd(s->priv, fd, r->addr)) {
        close(fd);
        return EM_ERR_NOMEM;
    }
    em_counter_init(&ch->ctr, unit, (uint64_t)1 << 32, max_w);
    ch->frozen_s = EM_RAPL_FROZEN_AFTER_S;
    return em_probe_add_zone(probe, name, r->component, device, path, NULL, NULL);
}

/* The energy unit (J) and a maximum power (W) from the first CPU's registers. */
static int read_units(const char *devdir, int cpu, int amd, double *unit, double *max_w)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%d/msr", devdir, cpu);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == EACCES || errno == EPERM ? EM_ERR_PERM : EM_ERR_NOT_FOUND;
    uint64_t v, info;
    int err = read_msr_fd(fd, amd ? AMD_POWER_UNIT : INTEL_POWER_UNIT, &v);
    if (!err) {
        unsigned esu = (unsigned)(v >> 8) & 0x1f, pu = (unsigned)v & 0xf;
        *unit = 1.0 / (double)(1u << esu);
        *max_w = EM_RAPL_DEFAULT_MAX_POWER_W;
        /* Intel states the package's thermal design power: twice it bounds bursts. */
        if (!amd && read_msr_fd(fd, INTEL_PKG_POWER_INFO, &info) == 0 && (info & 0x7fff))
            *max_w = 2.0 * (double)(info & 0x7fff) / (double)(1u << pu);
    }
    close(fd);
    return err;
}

static int msr_probe(struct em_source *s, struct em_probe *probe)
{
    char devdir[PATH_MAX], vendor[64];
    struct cpu *cpus = NULL;
    int err = 0;
    if (em_sysfs_path(s->cfg->sysfs_root, devdir, sizeof devdir, "/dev/cpu"))
        return em_probe_set_reason(probe, "ENERGYMETER_SYSFS_ROOT is too long", NULL);
    s->priv = calloc(1, sizeof(struct msr_priv));
    cpus = calloc(MAX_CPUS, sizeof *cpus);
    if (!s->priv || !cpus) {
        err = EM_ERR_NOMEM;
        goto cleanup;
    }
    size_t n = list_cpus(s->cfg->sysfs_root, devdir, cpus, MAX_CPUS);
    char first[PATH_MAX + 32];
    snprintf(first, sizeof first, "%s/%d/msr", devdir, n ? cpus[0].id : 0);
    if (n == 0 || access(first, F_OK) != 0) {
        char *why = em_asprintf("no MSR device: %s does not exist", first);
        err = why ? em_probe_set_reason(probe, why, "modprobe msr (energymeter loads no module)")
                  : EM_ERR_NOMEM;
        free(why);
        goto cleanup;
    }
    cpu_vendor(s->cfg->sysfs_root, vendor, sizeof vendor);
    int amd = strcmp(vendor, "AuthenticAMD") == 0 || strcmp(vendor, "HygonGenuine") == 0;
    if (!amd && strcmp(vendor, "GenuineIntel") != 0) {
        char *why = em_asprintf("unknown CPU vendor '%s' in /proc/cpuinfo: no RAPL registers "
                                "known",
                                vendor);
        err = why ? em_probe_set_reason(probe, why, NULL) : EM_ERR_NOMEM;
        free(why);
        goto cleanup;
    }
    double unit = 0, max_w = 0;
    err = read_units(devdir, cpus[0].id, amd, &unit, &max_w);
    if (err) {
        char *why = em_asprintf("cannot read the RAPL unit register through %s: %s", first,
                                em_strerror(err));
        err = why ? em_probe_set_reason(probe, why, err == EM_ERR_PERM ? PERM_FIX : NULL)
                  : EM_ERR_NOMEM;
        free(why);
        goto cleanup;
    }
    for (size_t k = 0; k < em_rapl_ndomains && !err; k++) {
        struct reg r = reg_of(&em_rapl_domains[k], amd);
        for (size_t i = 0; i < n && !err && r.addr; i++) {
            if (!first_of(cpus, i, r.per_core) || (r.once && i > 0))
                continue;
            err = add_register(s, probe, devdir, &cpus[i], &r, unit, max_w);
        }
    }
    if (!err && !probe->available)
        err = em_probe_set_reason(probe, "no RAPL energy register could be read", NULL);

cleanup:
    free(cpus);
    return err;
}

static int msr_read(struct em_source *s, size_t i, uint64_t *raw)
{
    struct msr_priv *pp = s->priv;
    uint64_t v;
    int err = read_msr_fd(pp->fds[i], pp->addrs[i], &v);
    if (!err)
        *raw = v & 0xffffffffu; /* the energy counter is the low 32 bits */
    return err;
}

static void msr_close(struct em_source *s)
{
    struct msr_priv *pp = s->priv;
    if (!pp)
        return;
    for (size_t i = 0; i < pp->n; i++)
        close(pp->fds[i]);
    free(pp->fds);
    free(pp->addrs);
    free(pp);
    s->priv = NULL;
}

const struct em_source_ops em_src_rapl_msr = {
    .name = "rapl-msr",
    .serves = "cpu,dram,cpu-core,cpu-uncore,psys",
    .probe = msr_probe,
    .read = msr_read,
    .close = msr_close,
};
