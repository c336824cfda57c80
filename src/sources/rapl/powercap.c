/*
 * RAPL through the powercap sysfs interface (/sys/class/powercap).
 *
 * Zones are intel-rapl:N (a package, or psys) and intel-rapl:N:M (its
 * subzones: core, uncore, dram). AMD Zen uses the same driver and names,
 * with packages and cores but no dram. Core and uncore are contained in the
 * package and psys contains everything, so they are reported as extras that
 * are never added to the total. intel-rapl-mmio:N repeats a package through
 * MMIO on some client parts: it is used only where the MSR zone is missing.
 *
 * energy_uj counts microjoules and wraps after max_energy_range_uj. Since
 * CVE-2020-8694 (Platypus) energy_uj is readable by root only.
 */
#include <dirent.h>
#include <limits.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rapl.h"
#include "sources/sources.h"
#include "util/sysfs.h"

#define POWERCAP_DIR "/sys/class/powercap"
/* The stated maximum is a limit the firmware enforces on average (PL1/PL2):
 * short bursts exceed it. */
#define MAX_POWER_MARGIN 1.5

#define PERM_FIX                                                                                   \
    "run as root, or give one dedicated group read access to the energy_uj files only "            \
    "(a udev rule, or setfacl -m g:GROUP:r on each energy_uj); do not make the powercap tree "     \
    "world-readable, which reopens the side channel"

struct zone {
    char entry[64]; /* intel-rapl:0:1 */
    int mmio;
    int pkg; /* N */
    int sub; /* M, or -1 for a top-level zone */
    char name[64];
};

/* Copy src into dst, cut to fit (names here are short; cutting is harmless). */
static void copy_name(char *dst, size_t dstsz, const char *src)
{
    size_t n = strnlen(src, dstsz - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static int parse_entry(const char *entry, struct zone *z)
{
    const char *p;
    if (strncmp(entry, "intel-rapl-mmio:", 16) == 0) {
        z->mmio = 1;
        p = entry + 16;
    } else if (strncmp(entry, "intel-rapl:", 11) == 0) {
        z->mmio = 0;
        p = entry + 11;
    } else {
        return -1;
    }
    int a, b, n = 0;
    if (sscanf(p, "%d:%d%n", &a, &b, &n) == 2 && p[n] == '\0' && a >= 0 && b >= 0) {
        z->pkg = a;
        z->sub = b;
    } else if (sscanf(p, "%d%n", &a, &n) == 1 && p[n] == '\0' && a >= 0) {
        z->pkg = a;
        z->sub = -1;
    } else {
        return -1;
    }
    copy_name(z->entry, sizeof z->entry, entry);
    return 0;
}

static int zone_cmp(const void *a, const void *b)
{
    const struct zone *x = a, *y = b;
    if (x->mmio != y->mmio)
        return x->mmio - y->mmio;
    if (x->pkg != y->pkg)
        return x->pkg - y->pkg;
    return x->sub - y->sub;
}

static const struct zone *find_parent(const struct zone *zs, size_t n, const struct zone *z)
{
    for (size_t i = 0; i < n; i++)
        if (zs[i].mmio == z->mmio && zs[i].pkg == z->pkg && zs[i].sub < 0)
            return &zs[i];
    return NULL;
}

/* The domain of a zone (NULL when it is not one we use) and its device: a
 * package zone is its own device; a subzone is its package's (by name, or
 * by number when the parent is not a package: "dram-N" for DRAM); psys is
 * the platform's. */
static const struct em_rapl_domain *classify(const struct zone *zs, size_t n, const struct zone *z,
                                             char *device, size_t devsz)
{
    const struct em_rapl_domain *d = em_rapl_powercap_domain(z->name, z->sub < 0);
    if (!d)
        return NULL;
    const struct zone *parent = z->sub >= 0 ? find_parent(zs, n, z) : z;
    const char *pkgname = parent && strncmp(parent->name, "package-", 8) == 0 ? parent->name : NULL;
    if (d->platform)
        em_rapl_device(d, z->pkg, device, devsz);
    else if (pkgname)
        copy_name(device, devsz, pkgname);
    else if (strcmp(d->component, "dram") == 0)
        snprintf(device, devsz, "dram-%d", z->pkg);
    else
        em_rapl_device(d, z->pkg, device, devsz);
    return d;
}

static double zone_max_power(const char *dir)
{
    double best = 0;
    for (int i = 0; i < 8; i++) {
        char path[PATH_MAX + 32];
        uint64_t uw;
        if (snprintf(path, sizeof path, "%s/constraint_%d_max_power_uw", dir, i) >=
            (int)sizeof path)
            break;
        if (em_read_u64(path, &uw) == 0 && uw > 0 && (double)uw / 1e6 > best)
            best = (double)uw / 1e6;
    }
    return best > 0 ? best * MAX_POWER_MARGIN : EM_RAPL_DEFAULT_MAX_POWER_W;
}

/* Why a zone's file cannot be used, as a malloc'd message; NULL when it can. */
static char *read_problem(const char *path, int err, const char **fix)
{
    *fix = NULL;
    switch (err) {
    case 0:
        return NULL;
    case EM_ERR_PERM:
        *fix = PERM_FIX;
        return em_asprintf("permission denied reading %s: RAPL energy counters are readable by "
                           "root only since CVE-2020-8694 (Platypus)",
                           path);
    case EM_ERR_NOT_FOUND:
        return em_asprintf("%s is missing", path);
    case EM_ERR_FORMAT:
        return em_asprintf("%s does not hold a plain unsigned number", path);
    default:
        return em_asprintf("cannot read %s: %s", path, em_strerror(err));
    }
}

static int is_duplicate_mmio(const struct zone *zs, size_t n, const struct zone *z)
{
    if (!z->mmio)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!zs[i].mmio && zs[i].sub == z->sub && strcmp(zs[i].name, z->name) == 0)
            return 1;
    return 0;
}

/* Add one zone: a channel when usable, and its line in the probe either way. */
static int add_zone(struct em_source *s, struct em_probe *probe, const struct zone *zs, size_t n,
                    const struct zone *z, const char *classdir)
{
    char dir[PATH_MAX], epath[PATH_MAX + 32], rpath[PATH_MAX + 32], device[EM_NAME_MAX];
    const char *component = NULL, *fix = NULL;
    char *problem = NULL;
    int usable = 0, err = 0;

    if (snprintf(dir, sizeof dir, "%s/%s", classdir, z->entry) >= (int)sizeof dir)
        return em_probe_add_zone(probe, z->entry, NULL, NULL, NULL, "path too long", NULL);
    /* dir is shorter than PATH_MAX, so these fit. */
    if (snprintf(epath, sizeof epath, "%s/energy_uj", dir) < 0 ||
        snprintf(rpath, sizeof rpath, "%s/max_energy_range_uj", dir) < 0)
        return EM_ERR_INVALID;

    const struct em_rapl_domain *dom = classify(zs, n, z, device, sizeof device);
    if (!dom) {
        problem = em_asprintf("zone '%s' is not a domain energymeter knows", z->name);
        goto record;
    }
    component = dom->component;
    if (is_duplicate_mmio(zs, n, z)) {
        problem = em_asprintf("duplicate of the MSR zone of the same name; not counted twice");
        goto record;
    }
    uint64_t raw, range;
    err = em_read_u64(epath, &raw);
    if (err) {
        problem = read_problem(epath, err, &fix);
        goto record;
    }
    err = em_read_u64(rpath, &range);
    if (err || range == 0) {
        problem = err ? read_problem(rpath, err, &fix)
                      : em_asprintf("%s is 0: no usable counter range", rpath);
        goto record;
    }
    if (range == UINT64_MAX) {
        problem = em_asprintf("%s is out of range", rpath);
        goto record;
    }
    struct em_channel *ch = em_source_add_channel(s, component, device, epath, dom->in_total);
    if (!ch)
        return EM_ERR_NOMEM;
    /* energy_uj runs from 0 to max_energy_range_uj inclusive, then wraps. */
    em_counter_init(&ch->ctr, 1e-6, range + 1, zone_max_power(dir));
    ch->frozen_s = EM_RAPL_FROZEN_AFTER_S;
    usable = 1;

record:
    if (!usable && !problem)
        return EM_ERR_NOMEM;
    err = em_probe_add_zone(probe, z->entry, component, component ? device : z->name, epath,
                            problem, fix);
    free(problem);
    return err;
}

static int powercap_probe(struct em_source *s, struct em_probe *probe)
{
    char classdir[PATH_MAX];
    struct zone *zs = NULL;
    size_t n = 0;
    int err = 0;
    DIR *d = NULL;

    if (em_sysfs_path(s->cfg->sysfs_root, classdir, sizeof classdir, POWERCAP_DIR))
        return em_probe_set_reason(probe, "ENERGYMETER_SYSFS_ROOT is too long", NULL);
    d = opendir(classdir);
    if (!d) {
        char *why = errno == EACCES
                        ? em_asprintf("permission denied listing %s", classdir)
                        : em_asprintf("no RAPL: %s does not exist (no powercap RAPL driver "
                                      "loaded; virtual machines usually have no RAPL)",
                                      classdir);
        err = why ? em_probe_set_reason(probe, why,
                                        "on an Intel or AMD Zen machine: modprobe intel_rapl_msr")
                  : EM_ERR_NOMEM;
        free(why);
        return err;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        struct zone z = {0};
        if (parse_entry(de->d_name, &z))
            continue;
        struct zone *nz = realloc(zs, (n + 1) * sizeof *zs);
        if (!nz) {
            err = EM_ERR_NOMEM;
            goto cleanup;
        }
        zs = nz;
        char npath[PATH_MAX + 128];
        snprintf(npath, sizeof npath, "%s/%s/name", classdir, z.entry);
        if (em_read_text(npath, z.name, sizeof z.name))
            snprintf(z.name, sizeof z.name, "?");
        zs[n++] = z;
    }
    if (n == 0) {
        char *why = em_asprintf("no RAPL zones in %s (the intel_rapl driver is not loaded, or "
                                "the CPU has no RAPL)",
                                classdir);
        err = why ? em_probe_set_reason(probe, why,
                                        "on an Intel or AMD Zen machine: modprobe intel_rapl_msr")
                  : EM_ERR_NOMEM;
        free(why);
        goto cleanup;
    }
    qsort(zs, n, sizeof *zs, zone_cmp);
    for (size_t i = 0; i < n && err == 0; i++)
        err = add_zone(s, probe, zs, n, &zs[i], classdir);
    if (err == 0 && !probe->available)
        err = em_probe_set_reason(probe, "no usable RAPL zone (see each zone)", NULL);

cleanup:
    closedir(d);
    free(zs);
    return err;
}

static int powercap_read(struct em_source *s, size_t i, uint64_t *raw)
{
    return em_read_u64(s->ch[i].path, raw);
}

static void powercap_close(struct em_source *s)
{
    (void)s;
}

const struct em_source_ops em_src_rapl_powercap = {
    .name = "rapl-powercap",
    .serves = "cpu,dram,cpu-core,cpu-uncore,psys",
    .probe = powercap_probe,
    .read = powercap_read,
    .close = powercap_close,
};
