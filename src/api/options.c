/*
 * A meter's configuration: em_options checked and copied, and the
 * environment read once, when the meter is created. This is the only file
 * of the library that calls getenv(): the stages below see the result
 * (core/config.h), so that two meters of one process can differ and nothing
 * changes under a running meter.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "options.h"

void em_options_init(em_options *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->size = sizeof *opts;
    opts->disk_active_power = -1;
    opts->disk_idle_power = -1;
    opts->log_level = EM_LOG_WARN;
}

/* An environment variable that is set and not empty, or NULL. */
static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

int em_baseline_default_path(char *buf, size_t size)
{
    const char *path = env("ENERGYMETER_BASELINE");
    int n;
    if (path) {
        n = snprintf(buf, size, "%s", path);
    } else if (geteuid() == 0) {
        n = snprintf(buf, size, "/var/lib/energymeter/baseline.json");
    } else {
        const char *state = env("XDG_STATE_HOME"), *home = env("HOME");
        if (state)
            n = snprintf(buf, size, "%s/energymeter/baseline.json", state);
        else if (home)
            n = snprintf(buf, size, "%s/.local/state/energymeter/baseline.json", home);
        else
            return EM_ERR_NOT_FOUND;
    }
    return n < 0 || (size_t)n >= size ? EM_ERR_INVALID : 0;
}

/* The option values that make no sense, with the message that says why. */
static int check_options(const em_options *o, char *msg, size_t msgsz)
{
    const char *why = NULL;
    if (!(o->disk_avg_speed >= 0) || isinf(o->disk_avg_speed))
        why = "disk_avg_speed must be a finite number of bytes/s >= 0 (0: not given)";
    else if (isnan(o->disk_active_power) || isnan(o->disk_idle_power) ||
             isinf(o->disk_active_power) || isinf(o->disk_idle_power))
        why = "disk powers must be finite watts (negative: the default)";
    else if (!(o->cpu_tdp_w >= 0) || !(o->cpu_idle_w >= 0) || isinf(o->cpu_tdp_w) ||
             isinf(o->cpu_idle_w) || (o->cpu_tdp_w > 0 && o->cpu_idle_w > o->cpu_tdp_w))
        why = "cpu_tdp_w and cpu_idle_w must be finite watts >= 0, idle <= tdp";
    else if (o->disk_scope != EM_DISK_SCOPE_TREE && o->disk_scope != EM_DISK_SCOPE_SYSTEM)
        why = "disk_scope must be EM_DISK_SCOPE_TREE or EM_DISK_SCOPE_SYSTEM";
    else if (o->disk_time != EM_DISK_TIME_BUSY && o->disk_time != EM_DISK_TIME_BYTES)
        why = "disk_time must be EM_DISK_TIME_BUSY or EM_DISK_TIME_BYTES";
    else if (o->disk_time == EM_DISK_TIME_BYTES && !(o->disk_avg_speed > 0))
        why = "the bytes/speed disk model needs disk_avg_speed > 0 (bytes per second)";
    if (!why)
        return 0;
    snprintf(msg, msgsz, "%s", why);
    return EM_ERR_INVALID;
}

/* ENERGYMETER_SYSFS_ROOT without its trailing slashes ("" when unset). */
static char *sysfs_root(void)
{
    const char *root = getenv("ENERGYMETER_SYSFS_ROOT");
    size_t n = root ? strlen(root) : 0;
    while (n > 0 && root[n - 1] == '/')
        n--;
    char *copy = malloc(n + 1);
    if (copy) {
        memcpy(copy, root ? root : "", n);
        copy[n] = '\0';
    }
    return copy;
}

static int read_environment(struct em_config *cfg)
{
    const char *no_bpf = env("ENERGYMETER_NO_BPF");
    cfg->no_bpf_env = no_bpf && strcmp(no_bpf, "0") != 0;
    cfg->sysfs_root = sysfs_root();
    cfg->nvml_lib = em_strdup(env("ENERGYMETER_NVML_LIB"));
    cfg->bpf_skip = em_strdup(env("ENERGYMETER_BPF_SKIP"));
    cfg->bpf_rq_slots = em_strdup(env("ENERGYMETER_BPF_RQ_SLOTS"));
    cfg->log_env = em_strdup(env("ENERGYMETER_LOG"));
    char path[4096];
    cfg->baseline_path_err = em_baseline_default_path(path, sizeof path);
    if (!cfg->baseline_path_err)
        cfg->baseline_path = em_strdup(path);
    if (!cfg->sysfs_root || (env("ENERGYMETER_NVML_LIB") && !cfg->nvml_lib) ||
        (env("ENERGYMETER_BPF_SKIP") && !cfg->bpf_skip) ||
        (env("ENERGYMETER_BPF_RQ_SLOTS") && !cfg->bpf_rq_slots) ||
        (env("ENERGYMETER_LOG") && !cfg->log_env) ||
        (!cfg->baseline_path_err && !cfg->baseline_path))
        return EM_ERR_NOMEM;
    return 0;
}

int em_config_init(struct em_config *cfg, const em_options *opts, char *msg, size_t msgsz)
{
    memset(cfg, 0, sizeof *cfg);
    em_options o;
    em_options_init(&o);
    if (opts) {
        if (opts->size < offsetof(em_options, interval_ms) || opts->size > sizeof o) {
            snprintf(msg, msgsz,
                     "em_options.size is %zu: initialise options with em_options_init()",
                     opts->size);
            return EM_ERR_INVALID;
        }
        memcpy(&o, opts, opts->size);
    }
    int err = check_options(&o, msg, msgsz);
    if (err)
        return err;
    *cfg = (struct em_config){
        .label = em_strdup(o.label),
        .include_idle = !!o.include_idle,
        .disk_avg_speed = o.disk_avg_speed,
        .disk_active_power = o.disk_active_power,
        .disk_idle_power = o.disk_idle_power,
        .interval_ms = o.interval_ms,
        .gpu_list = em_strdup(o.gpu_list),
        .gpu_settle_ms = o.gpu_settle_ms,
        .disk_scope = o.disk_scope,
        .disk_time = o.disk_time,
        .disk_power = em_strdup(o.disk_power),
        .ignore_disk = !!o.ignore_disk,
        .no_bpf = !!o.no_bpf,
        .no_estimates = !!o.no_estimates,
        .cpu_tdp_w = o.cpu_tdp_w,
        .cpu_idle_w = o.cpu_idle_w,
    };
    if ((o.label && !cfg->label) || (o.gpu_list && !cfg->gpu_list) ||
        (o.disk_power && !cfg->disk_power) || read_environment(cfg)) {
        snprintf(msg, msgsz, "out of memory");
        return EM_ERR_NOMEM;
    }
    return 0;
}

void em_config_free(struct em_config *cfg)
{
    free(cfg->label);
    free(cfg->gpu_list);
    free(cfg->disk_power);
    free(cfg->sysfs_root);
    free(cfg->nvml_lib);
    free(cfg->bpf_skip);
    free(cfg->bpf_rq_slots);
    free(cfg->log_env);
    free(cfg->baseline_path);
    memset(cfg, 0, sizeof *cfg);
}
