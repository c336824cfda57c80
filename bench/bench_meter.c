/*
 * Micro-benchmarks of the meter, run by bench/run_bench.py on a fake tree
 * (ENERGYMETER_SYSFS_ROOT):
 *   bench_meter latency N   em_begin()+em_end() pairs: median, p99 (us)
 *   bench_meter sampler S   CPU time of the process over an S-second window
 *                           while the main thread sleeps (% of one core)
 *   bench_meter rss CMD...   peak RSS of CMD (KiB), started with posix_spawn so
 *                           that no copy of this process is counted
 * Output: one "key value" line per figure, for the driver to parse.
 */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#include "energymeter/energymeter.h"

static double now(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int latency(long n)
{
    em_meter *m = NULL;
    double t0 = now(CLOCK_MONOTONIC);
    if (em_meter_new(NULL, &m)) {
        fprintf(stderr, "em_meter_new: %s\n", em_meter_errmsg(NULL));
        return 1;
    }
    double create = now(CLOCK_MONOTONIC) - t0;
    double *us = malloc(n * sizeof *us);
    if (!us)
        return 1;
    for (long i = 0; i < n; i++) {
        double a = now(CLOCK_MONOTONIC);
        if (em_begin(m) || em_end(m)) {
            fprintf(stderr, "begin/end: %s\n", em_meter_errmsg(m));
            return 1;
        }
        us[i] = (now(CLOCK_MONOTONIC) - a) * 1e6;
    }
    const em_report *r = em_meter_report(m);
    size_t measured = 0;
    for (size_t c = 0; c < em_report_component_count(r); c++)
        measured += em_component_status(r, c) != EM_STATUS_UNAVAILABLE;
    qsort(us, n, sizeof *us, cmp_double);
    printf("create_ms %.3f\n", create * 1e3);
    printf("components_measured %zu\n", measured);
    printf("pairs %ld\n", n);
    printf("median_us %.2f\n", us[n / 2]);
    printf("p99_us %.2f\n", us[(long)(n * 0.99)]);
    printf("max_us %.2f\n", us[n - 1]);
    free(us);
    em_meter_free(m);
    return 0;
}

static int sampler(double seconds)
{
    em_meter *m = NULL;
    if (em_meter_new(NULL, &m)) {
        fprintf(stderr, "em_meter_new: %s\n", em_meter_errmsg(NULL));
        return 1;
    }
    double c0 = now(CLOCK_PROCESS_CPUTIME_ID), w0 = now(CLOCK_MONOTONIC);
    em_begin(m);
    struct timespec ts = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
    while (nanosleep(&ts, &ts) != 0)
        ;
    em_end(m);
    double cpu = now(CLOCK_PROCESS_CPUTIME_ID) - c0, wall = now(CLOCK_MONOTONIC) - w0;
    printf("wall_s %.3f\n", wall);
    printf("cpu_s %.6f\n", cpu);
    printf("cpu_percent %.5f\n", cpu / wall * 100);
    em_meter_free(m);
    return 0;
}

extern char **environ;

static int rss(char **cmd)
{
    pid_t pid;
    int status;
    struct rusage ru;
    if (posix_spawnp(&pid, cmd[0], NULL, NULL, cmd, environ) != 0) {
        perror("posix_spawnp");
        return 1;
    }
    if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "%s failed\n", cmd[0]);
        return 1;
    }
    printf("maxrss_kib %ld\n", ru.ru_maxrss);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "rss") == 0)
        return rss(argv + 2);
    if (argc == 3 && strcmp(argv[1], "latency") == 0)
        return latency(atol(argv[2]) > 0 ? atol(argv[2]) : 10000);
    if (argc == 3 && strcmp(argv[1], "sampler") == 0)
        return sampler(atof(argv[2]) > 0 ? atof(argv[2]) : 10);
    fprintf(stderr, "usage: bench_meter latency N | sampler SECONDS | rss CMD...\n");
    return 2;
}
