/*
 * GPU micro-benchmarks of the meter: em_begin()/em_end() latency and the
 * CPU the sampler and the NVML workers take, against whatever NVML
 * ENERGYMETER_NVML_LIB names (bench/gpu_fake.sh runs them on the fake
 * library with an H100's 3.9 ms energy call; on a GPU machine leave it
 * unset to use the driver's).
 *
 *   bench_gpu latency N [SETTLE_MS]  N windows of 0.25 s: em_begin() and
 *                                    em_end() median, p99, max (ms)
 *   bench_gpu sampler S              process CPU over an S-second window
 *                                    while the main thread sleeps (% of
 *                                    one core), minus the same without
 *                                    a window
 *   bench_gpu honesty N SETTLE_MS W [fresh]
 *                                    N windows of 0.12-0.8 s on a GPU
 *                                    known to draw a steady W watts (the
 *                                    fake): per length, how many were
 *                                    within their uncertainty, and the
 *                                    error and uncertainty relative to
 *                                    the truth, next to the plain
 *                                    difference of two counter readings;
 *                                    one meter for all, or a fresh one
 *                                    per window
 * Output: one "key value" line per figure.
 */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "energymeter/energymeter.h"

static double now(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static em_meter *new_meter(unsigned settle_ms)
{
    em_options o;
    em_options_init(&o);
    o.gpu_settle_ms = settle_ms;
    o.ignore_disk = 1;
    em_meter *m = NULL;
    if (em_meter_new(&o, &m)) {
        fprintf(stderr, "em_meter_new: %s\n", em_meter_errmsg(NULL));
        return NULL;
    }
    const em_report *r = NULL;
    (void)r;
    return m;
}

static int gpus_measured(em_meter *m)
{
    const em_report *r = em_meter_report(m);
    int g = em_report_find(r, "gpu");
    if (g < 0 || em_component_status(r, (size_t)g) == EM_STATUS_UNAVAILABLE) {
        fprintf(stderr, "gpu unavailable: %s\n", g >= 0 ? em_component_reason(r, (size_t)g) : "?");
        return -1;
    }
    return (int)em_component_device_count(r, (size_t)g);
}

static void stats(const char *name, double *ms, long n)
{
    qsort(ms, n, sizeof *ms, cmp_double);
    printf("%s_median_ms %.3f\n", name, ms[n / 2]);
    printf("%s_p99_ms %.3f\n", name, ms[(long)(n * 0.99)]);
    printf("%s_max_ms %.3f\n", name, ms[n - 1]);
}

static int latency(long n, unsigned settle_ms)
{
    em_meter *m = new_meter(settle_ms);
    if (!m)
        return 1;
    /* A meter is made before the work: let it learn the counter's step. */
    sleep_s(0.4);
    double *b = malloc(n * sizeof *b), *e = malloc(n * sizeof *e);
    if (!b || !e)
        return 1;
    for (long i = 0; i < n; i++) {
        double t0 = now(CLOCK_MONOTONIC);
        if (em_begin(m))
            return 1;
        double t1 = now(CLOCK_MONOTONIC);
        sleep_s(0.25);
        double t2 = now(CLOCK_MONOTONIC);
        if (em_end(m))
            return 1;
        double t3 = now(CLOCK_MONOTONIC);
        b[i] = (t1 - t0) * 1e3;
        e[i] = (t3 - t2) * 1e3;
    }
    int ngpu = gpus_measured(m);
    if (ngpu < 0)
        return 1;
    printf("gpus %d\nsettle_ms %u\nwindows %ld\n", ngpu, settle_ms, n);
    stats("begin", b, n);
    stats("end", e, n);
    free(b);
    free(e);
    em_meter_free(m);
    return 0;
}

static int sampler(double seconds)
{
    em_meter *m = new_meter(0);
    if (!m)
        return 1;
    sleep_s(0.4);
    /* Idle meter first (threads asleep), then a window of the same length. */
    double c0 = now(CLOCK_PROCESS_CPUTIME_ID);
    sleep_s(seconds);
    double idle = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
    c0 = now(CLOCK_PROCESS_CPUTIME_ID);
    double w0 = now(CLOCK_MONOTONIC);
    if (em_begin(m))
        return 1;
    sleep_s(seconds);
    if (em_end(m))
        return 1;
    double cpu = now(CLOCK_PROCESS_CPUTIME_ID) - c0, wall = now(CLOCK_MONOTONIC) - w0;
    int ngpu = gpus_measured(m);
    if (ngpu < 0)
        return 1;
    printf("gpus %d\nwindow_s %.3f\n", ngpu, wall);
    printf("cpu_ms %.3f\nidle_cpu_ms %.3f\n", cpu * 1e3, idle * 1e3);
    printf("sampler_cpu_percent %.4f\n", 100 * (cpu - idle) / wall);
    em_meter_free(m);
    return 0;
}

/* The baseline: the plain difference of two readings of the energy
 * counter at the window's ends, what a tool without edge arithmetic
 * reports (through the same NVML library, read just inside the window). */
typedef int (*nvml_fn0)(void);
typedef int (*nvml_handle_fn)(unsigned, void **);
typedef int (*nvml_energy_fn)(void *, unsigned long long *);
static void *plain_dev;
static nvml_energy_fn plain_energy;

static void plain_open(void)
{
    const char *lib = getenv("ENERGYMETER_NVML_LIB");
    void *h = dlopen(lib ? lib : "libnvidia-ml.so.1", RTLD_NOW);
    if (!h)
        return;
    nvml_fn0 init = (nvml_fn0)dlsym(h, "nvmlInit_v2");
    nvml_handle_fn handle = (nvml_handle_fn)dlsym(h, "nvmlDeviceGetHandleByIndex_v2");
    plain_energy = (nvml_energy_fn)dlsym(h, "nvmlDeviceGetTotalEnergyConsumption");
    if (!init || !handle || !plain_energy || init() != 0 || handle(0, &plain_dev) != 0)
        plain_energy = NULL;
}

static double plain_read(void)
{
    unsigned long long mj = 0;
    return plain_energy && plain_energy(plain_dev, &mj) == 0 ? mj / 1000.0 : NAN;
}

/* Windows of these lengths in turn: shorter than two steps up to eight. */
static const double HONESTY_LENS[] = {0.12, 0.2, 0.35, 0.8};
#define NLENS (sizeof HONESTY_LENS / sizeof HONESTY_LENS[0])

static int honesty(long n, unsigned settle_ms, double watts, int fresh)
{
    double *err[NLENS], *unc[NLENS], *base[NLENS];
    long cnt[NLENS] = {0}, within[NLENS] = {0};
    for (size_t l = 0; l < NLENS; l++) {
        err[l] = calloc((size_t)n, sizeof(double));
        unc[l] = calloc((size_t)n, sizeof(double));
        base[l] = calloc((size_t)n, sizeof(double));
        if (!err[l] || !unc[l] || !base[l])
            return 1;
    }
    plain_open();
    em_meter *m = NULL;
    double jitter = 0, step = 0;
    for (long i = 0; i < n; i++) {
        size_t l = (size_t)i % NLENS;
        if (!m) {
            if (!(m = new_meter(settle_ms)))
                return 1;
            sleep_s(0.5); /* made before the work, as a caller would */
        }
        if (em_begin(m))
            return 1;
        double p0 = plain_read();
        sleep_s(HONESTY_LENS[l]);
        double p1 = plain_read();
        if (em_end(m))
            return 1;
        const em_report *r = em_meter_report(m);
        int g = em_report_find(r, "gpu");
        if (g < 0 || em_component_status(r, (size_t)g) == EM_STATUS_UNAVAILABLE) {
            fprintf(stderr, "gpu unavailable\n");
            return 1;
        }
        double truth = watts * em_report_duration_s(r);
        double e = fabs(em_component_joules(r, (size_t)g) - truth);
        double u = em_component_uncertainty(r, (size_t)g);
        base[l][cnt[l]] = fabs(p1 - p0 - truth) / truth;
        err[l][cnt[l]] = e / truth;
        unc[l][cnt[l]] = u / truth;
        cnt[l]++;
        within[l] += e <= u + 1e-3 * truth;
        if (getenv("BENCH_GPU_VERBOSE") && e > u + 1e-3 * truth) {
            char *js = NULL;
            if (em_report_to_string(r, EM_FORMAT_JSON, &js) == EM_OK) {
                const char *d = strstr(js, "\"gpu\": {");
                fprintf(stderr, "outside: len %.2f err %.3f J unc %.3f J: %.600s\n",
                        HONESTY_LENS[l], em_component_joules(r, (size_t)g) - truth, u, d ? d : js);
                em_free(js);
            }
        }
        char *js = NULL;
        if (em_report_to_string(r, EM_FORMAT_JSON, &js) == EM_OK) {
            const char *j = strstr(js, "\"counter_step_jitter_s\": ");
            const char *p = strstr(js, "\"counter_step_s\": ");
            jitter = j ? atof(j + strlen("\"counter_step_jitter_s\": ")) : 0;
            step = p ? atof(p + strlen("\"counter_step_s\": ")) : 0;
            em_free(js);
        }
        if (fresh) {
            em_meter_free(m);
            m = NULL;
        }
    }
    printf("windows %ld\nsettle_ms %u\nmeter %s\n", n, settle_ms, fresh ? "fresh" : "reused");
    long all = 0, all_in = 0;
    for (size_t l = 0; l < NLENS; l++) {
        if (!cnt[l])
            continue;
        qsort(err[l], (size_t)cnt[l], sizeof(double), cmp_double);
        qsort(unc[l], (size_t)cnt[l], sizeof(double), cmp_double);
        qsort(base[l], (size_t)cnt[l], sizeof(double), cmp_double);
        printf("len_%.2f_s within %ld/%ld err_median %.1f%% err_max %.1f%% unc_median %.1f%% "
               "plain_difference_err_median %.1f%%\n",
               HONESTY_LENS[l], within[l], cnt[l], 100 * err[l][cnt[l] / 2],
               100 * err[l][cnt[l] - 1], 100 * unc[l][cnt[l] / 2], 100 * base[l][cnt[l] / 2]);
        all += cnt[l];
        all_in += within[l];
        free(err[l]);
        free(unc[l]);
        free(base[l]);
    }
    printf("within_uncertainty %ld/%ld\n", all_in, all);
    printf("last_counter_step_ms %.2f\nlast_counter_step_jitter_ms %.2f\n", step * 1e3,
           jitter * 1e3);
    em_meter_free(m);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "latency") == 0)
        return latency(atol(argv[2]) > 0 ? atol(argv[2]) : 20,
                       argc >= 4 ? (unsigned)atoi(argv[3]) : 0);
    if (argc >= 3 && strcmp(argv[1], "sampler") == 0)
        return sampler(atof(argv[2]) > 0 ? atof(argv[2]) : 5);
    if (argc >= 5 && strcmp(argv[1], "honesty") == 0)
        return honesty(atol(argv[2]) > 0 ? atol(argv[2]) : 40, (unsigned)atoi(argv[3]),
                       atof(argv[4]), argc >= 6 && strcmp(argv[5], "fresh") == 0);
    fprintf(stderr, "usage: bench_gpu latency N [SETTLE_MS] | bench_gpu sampler SECONDS | "
                    "bench_gpu honesty N SETTLE_MS WATTS [fresh]\n");
    return 2;
}
