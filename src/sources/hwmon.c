/*
 * hwmon energy and power sensors (/sys/class/hwmon/hwmonN).
 *
 * Energy counters (energyN_input, microjoules, 64 bits: the drivers
 * accumulate) are read like any counter. Where a device has only power
 * (powerN_average or powerN_input, microwatts: AMD GPUs), the sampler reads
 * it every POWER_POLL_S and integrates. Each driver is mapped to a
 * component by its name:
 *   amd_energy, zenergy, zenpower   Esocket* -> cpu, Ecore* -> cpu-core
 *   amdgpu                          power -> gpu
 *   i915, xe                        energy ("card" when labelled) -> gpu
 * Other drivers are listed with the reason they are not used.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sources/sources.h"
#include "util/sysfs.h"

#define HWMON_DIR "/sys/class/hwmon"
#define MAX_SENSORS 512
#define POWER_POLL_S 0.02
#define DEFAULT_MAX_POWER_W 1000.0
/* Driver energy counters update at least every few hundred milliseconds. */
#define FROZEN_AFTER_S 1.0

enum kind { K_NONE, K_CPU_ENERGY, K_GPU_ENERGY, K_GPU_POWER };

static enum kind driver_kind(const char *name)
{
    if (!strcmp(name, "amd_energy") || !strcmp(name, "zenergy") || !strcmp(name, "zenpower"))
        return K_CPU_ENERGY;
    if (!strcmp(name, "i915") || !strcmp(name, "xe"))
        return K_GPU_ENERGY;
    if (!strcmp(name, "amdgpu"))
        return K_GPU_POWER;
    return K_NONE;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted file names of dir matching prefix+N+suffix ("energy", "_input"). */
static size_t sensor_files(const char *dir, const char *prefix, const char *suffix, char **out,
                           size_t max)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0, pl = strlen(prefix), sl = strlen(suffix);
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < max) {
        size_t len = strlen(de->d_name);
        if (len <= pl + sl || strncmp(de->d_name, prefix, pl) != 0 ||
            strcmp(de->d_name + len - sl, suffix) != 0)
            continue;
        const char *num = de->d_name + pl;
        size_t nl = len - pl - sl;
        if (strspn(num, "0123456789") != nl)
            continue;
        if ((out[n] = em_strdup(de->d_name)) != NULL)
            n++;
    }
    closedir(d);
    qsort(out, n, sizeof *out, cmp_str);
    return n;
}

static void free_names(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
}

/* The label of sensor file "energy3_input" ("Esocket0"), or "" without one. */
static void sensor_label(const char *dir, const char *file, char *out, size_t outsz)
{
    char path[PATH_MAX * 2];
    const char *us = strchr(file, '_');
    int stem = us ? (int)(us - file) : (int)strlen(file);
    snprintf(path, sizeof path, "%s/%.*s_label", dir, stem, file);
    if (em_read_text(path, out, outsz))
        out[0] = '\0';
}

static int add_channel(struct em_source *s, struct em_probe *probe, const char *zone,
                       const char *component, const char *device, const char *path, int in_total,
                       int power)
{
    uint64_t v;
    int err = em_read_u64(path, &v);
    if (err) {
        char *why = em_asprintf("cannot read %s: %s", path, em_strerror(err));
        if (!why)
            return EM_ERR_NOMEM;
        err = em_probe_add_zone(probe, zone, component, device, path, why,
                                err == EM_ERR_PERM ? "run as root" : NULL);
        free(why);
        return err;
    }
    struct em_channel *ch = em_source_add_channel(s, component, device, path, in_total);
    if (!ch)
        return EM_ERR_NOMEM;
    em_counter_init(&ch->ctr, 1e-6, 0, DEFAULT_MAX_POWER_W);
    if (power) {
        ch->kind = EM_CH_POWER;
        ch->poll_s = POWER_POLL_S;
    } else {
        ch->frozen_s = FROZEN_AFTER_S;
    }
    return em_probe_add_zone(probe, zone, component, device, path, NULL, NULL);
}

static int add_cpu_energy(struct em_source *s, struct em_probe *probe, const char *dir,
                          const char *hw)
{
    char *files[MAX_SENSORS];
    size_t n = sensor_files(dir, "energy", "_input", files, MAX_SENSORS);
    int err = 0;
    for (size_t i = 0; i < n && !err; i++) {
        char label[64], device[EM_NAME_MAX], zone[600], path[PATH_MAX * 2];
        int idx;
        sensor_label(dir, files[i], label, sizeof label);
        snprintf(zone, sizeof zone, "%s/%s", hw, files[i]);
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        if (sscanf(label, "Esocket%d", &idx) == 1) {
            snprintf(device, sizeof device, "package-%d", idx);
            err = add_channel(s, probe, zone, "cpu", device, path, 1, 0);
        } else if (sscanf(label, "Ecore%d", &idx) == 1) {
            snprintf(device, sizeof device, "core-%d", idx);
            err = add_channel(s, probe, zone, "cpu-core", device, path, 0, 0);
        } else {
            err = em_probe_add_zone(probe, zone, NULL, NULL, path,
                                    "label is neither Esocket<N> nor Ecore<N>", NULL);
        }
    }
    free_names(files, n);
    return err;
}

static int add_gpu(struct em_source *s, struct em_probe *probe, const char *dir, const char *hw,
                   const char *driver, int power)
{
    char *files[MAX_SENSORS];
    size_t n = power ? sensor_files(dir, "power", "_average", files, MAX_SENSORS)
                     : sensor_files(dir, "energy", "_input", files, MAX_SENSORS);
    if (power && n == 0)
        n = sensor_files(dir, "power", "_input", files, MAX_SENSORS);
    int err = 0;
    /* One sensor per card: the one labelled "card" (xe also has "pkg"), else the first. */
    size_t pick = 0;
    for (size_t i = 0; i < n; i++) {
        char label[64];
        sensor_label(dir, files[i], label, sizeof label);
        if (!strcmp(label, "card")) {
            pick = i;
            break;
        }
    }
    if (n == 0) {
        char zone[300];
        snprintf(zone, sizeof zone, "%s", hw);
        err = em_probe_add_zone(
            probe, zone, "gpu", NULL, dir,
            power ? "no powerN_average or powerN_input file" : "no energyN_input file", NULL);
    } else {
        char zone[600], device[EM_NAME_MAX + 300], path[PATH_MAX * 2];
        snprintf(zone, sizeof zone, "%s/%s", hw, files[pick]);
        snprintf(device, sizeof device, "%s-%s", driver, hw);
        snprintf(path, sizeof path, "%s/%s", dir, files[pick]);
        err = add_channel(s, probe, zone, "gpu", device, path, 1, power);
    }
    free_names(files, n);
    return err;
}

static int hwmon_probe(struct em_source *s, struct em_probe *probe)
{
    char classdir[PATH_MAX];
    char *entries[MAX_SENSORS];
    size_t n = 0;
    int err = 0;
    if (em_sysfs_path(s->cfg->sysfs_root, classdir, sizeof classdir, HWMON_DIR))
        return em_probe_set_reason(probe, "ENERGYMETER_SYSFS_ROOT is too long", NULL);
    n = sensor_files(classdir, "hwmon", "", entries, MAX_SENSORS);
    for (size_t i = 0; i < n && !err; i++) {
        char dir[PATH_MAX + 300], namep[PATH_MAX + 320], name[64];
        snprintf(dir, sizeof dir, "%s/%s", classdir, entries[i]);
        snprintf(namep, sizeof namep, "%s/name", dir);
        if (em_read_text(namep, name, sizeof name))
            snprintf(name, sizeof name, "?");
        switch (driver_kind(name)) {
        case K_CPU_ENERGY:
            err = add_cpu_energy(s, probe, dir, entries[i]);
            break;
        case K_GPU_ENERGY:
            err = add_gpu(s, probe, dir, entries[i], name, 0);
            break;
        case K_GPU_POWER:
            err = add_gpu(s, probe, dir, entries[i], name, 1);
            break;
        default: {
            char zone[400];
            char *why =
                em_asprintf("driver '%s' has no energy or power sensor energymeter maps", name);
            snprintf(zone, sizeof zone, "%s (%s)", entries[i], name);
            err = why ? em_probe_add_zone(probe, zone, NULL, NULL, dir, why, NULL) : EM_ERR_NOMEM;
            free(why);
        }
        }
    }
    free_names(entries, n);
    if (err)
        return err;
    if (n == 0) {
        char *why = em_asprintf("no hwmon devices in %s", classdir);
        err = why ? em_probe_set_reason(probe, why, NULL) : EM_ERR_NOMEM;
        free(why);
    } else if (!probe->available) {
        err = em_probe_set_reason(probe, "no hwmon energy or power sensor is mapped (see each)",
                                  NULL);
    }
    return err;
}

static int hwmon_read(struct em_source *s, size_t i, uint64_t *raw)
{
    return em_read_u64(s->ch[i].path, raw);
}

static void hwmon_close(struct em_source *s)
{
    (void)s;
}

const struct em_source_ops em_src_hwmon = {
    .name = "hwmon",
    .serves = "cpu,cpu-core,gpu",
    .probe = hwmon_probe,
    .read = hwmon_read,
    .close = hwmon_close,
};
