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
 * Output: one "key value" line per figure.
 */
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

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "latency") == 0)
        return latency(atol(argv[2]) > 0 ? atol(argv[2]) : 20,
                       argc >= 4 ? (unsigned)atoi(argv[3]) : 0);
    if (argc >= 3 && strcmp(argv[1], "sampler") == 0)
        return sampler(atof(argv[2]) > 0 ? atof(argv[2]) : 5);
    fprintf(stderr, "usage: bench_gpu latency N [SETTLE_MS] | bench_gpu sampler SECONDS\n");
    return 2;
}
