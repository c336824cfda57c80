/*
 * A fake libnvidia-ml.so for energymeter's tests: the few NVML entry points
 * the nvml source uses, driven by a small key=value file so that tests know
 * the ground truth.
 *
 * FAKE_NVML_CONFIG=PATH names the file (read by nvmlInit_v2; without it, one
 * 100 W GPU). Keys (a ".N" suffix sets a key for GPU N only):
 *   count=N                 GPUs (default 1)
 *   init_error=CODE         nvmlInit_v2 fails with this nvmlReturn_t
 *   power_w=W               constant power (default 100)
 *   burst_w=W burst_from=T burst_to=T
 *                           power during [from, to) in CLOCK_MONOTONIC seconds
 *   tick_ms=MS tick_phase_ms=MS
 *                           the energy counter steps every MS (default 100), at
 *                           CLOCK_MONOTONIC times phase + k * MS
 *   tick_jitter_ms=J        step k comes J x u_k early or late instead, u_k a
 *                           fixed pseudo-random number in [-1, 1] (J < MS / 2)
 *   energy=0                nvmlDeviceGetTotalEnergyConsumption: NOT_SUPPORTED
 *   energy_latency_ms=MS    each energy call takes this long (real H100: 3.9)
 *   power_latency_ms=MS     each power call takes this long
 *   avg_s=S update_ms=MS    power readings: the mean power over the last S
 *                           seconds (default 1), updated every MS (default 50)
 *   limit_w=W               power management limit (default 700; 0: NOT_SUPPORTED)
 *   lost_after_s=S          every call on the GPU returns GPU_IS_LOST once S
 *                           seconds have passed since nvmlInit_v2
 *   processes=LIST          compute processes: "self" (the caller), "parent",
 *                           or pids separated by commas (default none)
 *   processes_file=PATH     pids, one a line, re-read at every call
 *   name=TEXT               product name (default "Fake GPU")
 *
 * The energy counter in mJ is offset + 1000 x E(tick), E(t) the energy drawn
 * since CLOCK_MONOTONIC 0 and tick the last step time before the call's
 * midpoint: a test computes the truth of any window as the integral of the
 * configured power over it.
 *
 * Build variants: -DFAKE_MINIMAL leaves out every optional symbol (UUID,
 * processes, power limits); -DFAKE_BROKEN also lacks nvmlDeviceGetName, a
 * required one.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

typedef int nvmlReturn_t;
enum {
    OK = 0,
    ERR_UNINITIALIZED = 1,
    ERR_INVALID_ARGUMENT = 2,
    ERR_NOT_SUPPORTED = 3,
    ERR_INSUFFICIENT_SIZE = 7,
    ERR_DRIVER_NOT_LOADED = 9,
    ERR_GPU_IS_LOST = 15,
    ERR_UNKNOWN = 999,
};

#define MAX_GPUS 16
#define MAX_PIDS 32

struct fake_gpu {
    int index;
    double power_w, burst_w, burst_from, burst_to;
    double tick_s, phase_s, jitter_s;
    int energy;
    double energy_latency_s, power_latency_s;
    double avg_s, update_s;
    double limit_w;
    double lost_after_s;
    char name[64];
};

struct nvml_process_v2 {
    unsigned int pid;
    unsigned long long used_memory;
    unsigned int gpu_instance_id;
    unsigned int compute_instance_id;
};

static struct fake_gpu gpus[MAX_GPUS];
static int ngpus;
static int initialised;
static double init_t;
static char processes[256];
static char processes_file[512];

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - floor(s)) * 1e9)};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Set key (optionally ".N"-suffixed) to value on the GPUs it names. */
static void set_key(const char *key, const char *value, int *count, int *init_error)
{
    char base[64];
    int only = -1;
    const char *dot = strchr(key, '.');
    size_t n = dot ? (size_t)(dot - key) : strlen(key);
    if (n >= sizeof base)
        return;
    memcpy(base, key, n);
    base[n] = '\0';
    if (dot)
        only = atoi(dot + 1);
    double v = atof(value);
    if (strcmp(base, "count") == 0) {
        *count = atoi(value);
        return;
    }
    if (strcmp(base, "init_error") == 0) {
        *init_error = atoi(value);
        return;
    }
    if (strcmp(base, "processes") == 0) {
        snprintf(processes, sizeof processes, "%s", value);
        return;
    }
    if (strcmp(base, "processes_file") == 0) {
        snprintf(processes_file, sizeof processes_file, "%s", value);
        return;
    }
    for (int i = 0; i < MAX_GPUS; i++) {
        struct fake_gpu *g = &gpus[i];
        if (only >= 0 && only != i)
            continue;
        if (strcmp(base, "power_w") == 0)
            g->power_w = v;
        else if (strcmp(base, "burst_w") == 0)
            g->burst_w = v;
        else if (strcmp(base, "burst_from") == 0)
            g->burst_from = v;
        else if (strcmp(base, "burst_to") == 0)
            g->burst_to = v;
        else if (strcmp(base, "tick_ms") == 0)
            g->tick_s = v / 1000;
        else if (strcmp(base, "tick_phase_ms") == 0)
            g->phase_s = v / 1000;
        else if (strcmp(base, "tick_jitter_ms") == 0)
            g->jitter_s = v / 1000;
        else if (strcmp(base, "energy") == 0)
            g->energy = v != 0;
        else if (strcmp(base, "energy_latency_ms") == 0)
            g->energy_latency_s = v / 1000;
        else if (strcmp(base, "power_latency_ms") == 0)
            g->power_latency_s = v / 1000;
        else if (strcmp(base, "avg_s") == 0)
            g->avg_s = v;
        else if (strcmp(base, "update_ms") == 0)
            g->update_s = v / 1000;
        else if (strcmp(base, "limit_w") == 0)
            g->limit_w = v;
        else if (strcmp(base, "lost_after_s") == 0)
            g->lost_after_s = v;
        else if (strcmp(base, "name") == 0)
            snprintf(g->name, sizeof g->name, "%s", value);
    }
}

static int load_config(int *init_error)
{
    int count = 1;
    *init_error = 0;
    processes[0] = processes_file[0] = '\0';
    for (int i = 0; i < MAX_GPUS; i++)
        gpus[i] = (struct fake_gpu){
            .index = i,
            .power_w = 100,
            .tick_s = 0.1,
            .energy = 1,
            .avg_s = 1.0,
            .update_s = 0.05,
            .limit_w = 700,
            .lost_after_s = -1,
            .name = "Fake GPU",
        };
    const char *path = getenv("FAKE_NVML_CONFIG");
    FILE *f = path && *path ? fopen(path, "r") : NULL;
    if (f) {
        char line[1024];
        while (fgets(line, sizeof line, f)) {
            line[strcspn(line, "\r\n")] = '\0';
            char *eq = strchr(line, '=');
            if (line[0] == '#' || !eq)
                continue;
            *eq = '\0';
            set_key(line, eq + 1, &count, init_error);
        }
        fclose(f);
    }
    if (count < 0)
        count = 0;
    if (count > MAX_GPUS)
        count = MAX_GPUS;
    return count;
}

/* Joules drawn since CLOCK_MONOTONIC 0 by g. */
static double energy_at(const struct fake_gpu *g, double t)
{
    double e = g->power_w * t;
    if (g->burst_to > g->burst_from) {
        double a = g->burst_from, b = g->burst_to < t ? g->burst_to : t;
        if (b > a)
            e += (g->burst_w - g->power_w) * (b - a);
    }
    return e;
}

static struct fake_gpu *gpu_of(void *dev)
{
    struct fake_gpu *g = dev;
    if (!initialised || g < gpus || g >= gpus + ngpus)
        return NULL;
    return g;
}

static int is_lost(const struct fake_gpu *g)
{
    return g->lost_after_s >= 0 && now() - init_t >= g->lost_after_s;
}

EXPORT nvmlReturn_t nvmlInit_v2(void)
{
    int init_error;
    ngpus = load_config(&init_error);
    if (init_error)
        return init_error;
    init_t = now();
    initialised = 1;
    return OK;
}

EXPORT nvmlReturn_t nvmlShutdown(void)
{
    if (!initialised)
        return ERR_UNINITIALIZED;
    initialised = 0;
    return OK;
}

EXPORT const char *nvmlErrorString(nvmlReturn_t r)
{
    switch (r) {
    case OK:
        return "Success";
    case ERR_UNINITIALIZED:
        return "Uninitialized";
    case ERR_INVALID_ARGUMENT:
        return "Invalid Argument";
    case ERR_NOT_SUPPORTED:
        return "Not Supported";
    case ERR_INSUFFICIENT_SIZE:
        return "Insufficient Size";
    case ERR_DRIVER_NOT_LOADED:
        return "Driver Not Loaded";
    case ERR_GPU_IS_LOST:
        return "GPU is lost";
    default:
        return "Unknown Error";
    }
}

EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count)
{
    if (!initialised)
        return ERR_UNINITIALIZED;
    if (!count)
        return ERR_INVALID_ARGUMENT;
    *count = (unsigned)ngpus;
    return OK;
}

EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, void **dev)
{
    if (!initialised)
        return ERR_UNINITIALIZED;
    if (!dev || index >= (unsigned)ngpus)
        return ERR_INVALID_ARGUMENT;
    *dev = &gpus[index];
    return OK;
}

#ifndef FAKE_BROKEN
EXPORT nvmlReturn_t nvmlDeviceGetName(void *dev, char *name, unsigned int length)
{
    struct fake_gpu *g = gpu_of(dev);
    if (!g || !name)
        return ERR_INVALID_ARGUMENT;
    if (is_lost(g))
        return ERR_GPU_IS_LOST;
    if (strlen(g->name) + 1 > length)
        return ERR_INSUFFICIENT_SIZE;
    strcpy(name, g->name);
    return OK;
}
#endif

/* The time of step k: on the grid, or off it by the jitter (the same for a
 * given k in every process, so that tests and the library agree). */
static double step_time(const struct fake_gpu *g, double k)
{
    double t = g->phase_s + k * g->tick_s;
    if (g->jitter_s > 0) {
        double u = sin(k * 12.9898) * 43758.5453;
        t += g->jitter_s * (2 * (u - floor(u)) - 1);
    }
    return t;
}

/* The last step at or before t. */
static double last_step(const struct fake_gpu *g, double t)
{
    double k = floor((t - g->phase_s) / g->tick_s) + 1;
    while (step_time(g, k) > t)
        k--;
    return step_time(g, k);
}

EXPORT nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(void *dev, unsigned long long *mj)
{
    struct fake_gpu *g = gpu_of(dev);
    if (!g || !mj)
        return ERR_INVALID_ARGUMENT;
    if (!g->energy)
        return ERR_NOT_SUPPORTED;
    /* The value is the one of the call's midpoint, like a sensor sampled
     * somewhere inside a slow driver round trip. */
    sleep_s(g->energy_latency_s / 2);
    double t = now();
    sleep_s(g->energy_latency_s / 2);
    if (is_lost(g))
        return ERR_GPU_IS_LOST;
    double tick = last_step(g, t);
    *mj = 1000000ULL + (unsigned long long)llround(energy_at(g, tick) * 1000.0);
    return OK;
}

EXPORT nvmlReturn_t nvmlDeviceGetPowerUsage(void *dev, unsigned int *mw)
{
    struct fake_gpu *g = gpu_of(dev);
    if (!g || !mw)
        return ERR_INVALID_ARGUMENT;
    sleep_s(g->power_latency_s);
    if (is_lost(g))
        return ERR_GPU_IS_LOST;
    double t = floor(now() / g->update_s) * g->update_s;
    double w = (energy_at(g, t) - energy_at(g, t - g->avg_s)) / g->avg_s;
    *mw = (unsigned)llround(w * 1000.0);
    return OK;
}

#ifndef FAKE_MINIMAL
EXPORT nvmlReturn_t nvmlDeviceGetUUID(void *dev, char *uuid, unsigned int length)
{
    struct fake_gpu *g = gpu_of(dev);
    if (!g || !uuid)
        return ERR_INVALID_ARGUMENT;
    if (is_lost(g))
        return ERR_GPU_IS_LOST;
    int n = snprintf(uuid, length, "GPU-fa4e0000-0000-4000-8000-%012d", g->index);
    return n < 0 || (unsigned)n >= length ? ERR_INSUFFICIENT_SIZE : OK;
}

static nvmlReturn_t limit(void *dev, unsigned int *mw)
{
    struct fake_gpu *g = gpu_of(dev);
    if (!g || !mw)
        return ERR_INVALID_ARGUMENT;
    if (g->limit_w <= 0)
        return ERR_NOT_SUPPORTED;
    *mw = (unsigned)llround(g->limit_w * 1000.0);
    return OK;
}

EXPORT nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(void *dev, unsigned int *mw)
{
    return limit(dev, mw);
}

EXPORT nvmlReturn_t nvmlDeviceGetPowerManagementLimit(void *dev, unsigned int *mw)
{
    return limit(dev, mw);
}

/* The pids the configuration names right now. */
static int current_pids(unsigned int *pids, int max)
{
    int n = 0;
    char buf[512];
    const char *list = processes;
    if (processes_file[0]) {
        FILE *f = fopen(processes_file, "r");
        size_t len = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f)
            fclose(f);
        buf[len] = '\0';
        for (char *p = buf; *p; p++)
            if (*p == '\n')
                *p = ',';
        list = buf;
    }
    for (const char *p = list; *p && n < max;) {
        if (strncmp(p, "self", 4) == 0)
            pids[n++] = (unsigned)getpid();
        else if (strncmp(p, "parent", 6) == 0)
            pids[n++] = (unsigned)getppid();
        else if (atoi(p) > 0)
            pids[n++] = (unsigned)atoi(p);
        const char *comma = strchr(p, ',');
        if (!comma)
            break;
        p = comma + 1;
    }
    return n;
}

EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(void *dev, unsigned int *count,
                                                            struct nvml_process_v2 *infos)
{
    struct fake_gpu *g = gpu_of(dev);
    if (!g || !count)
        return ERR_INVALID_ARGUMENT;
    if (is_lost(g))
        return ERR_GPU_IS_LOST;
    unsigned int pids[MAX_PIDS];
    int n = current_pids(pids, MAX_PIDS);
    if ((unsigned)n > *count || (n > 0 && !infos)) {
        *count = (unsigned)n;
        return ERR_INSUFFICIENT_SIZE;
    }
    for (int i = 0; i < n; i++)
        infos[i] = (struct nvml_process_v2){.pid = pids[i], .used_memory = 1 << 20};
    *count = (unsigned)n;
    return OK;
}
#endif
