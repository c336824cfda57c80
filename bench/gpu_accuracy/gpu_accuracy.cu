/*
 * Accuracy of energymeter's GPU energy on real hardware (bench/gpu_accuracy,
 * see README.md): GPU bursts of 0.1, 0.3, 1 and 3 s, each measured three ways.
 *
 *   truth        the NVML energy counter over a window padded with idle time
 *                before and after (each end taken right after a counter
 *                step, so its phase is known), minus the idle power measured
 *                beforehand times the padding
 *   energymeter  em_begin() before the burst, em_end() after it (without
 *                settle, and with --gpu-settle 150)
 *   original     the original tool's method: a thread polls power and
 *                utilisation without sleeping; mean power of the busy
 *                samples x duration
 *
 * Also: em_end() latency with one GPU, and the sampler's CPU over an idle
 * 10 s window. Output: one line per figure, "key value", for run.sh.
 *
 * Build: nvcc -O2 -o gpu_accuracy gpu_accuracy.cu -I../../include \
 *          -L../../build -lenergymeter -ldl -lpthread
 */
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cuda_runtime.h>

#include "energymeter/energymeter.h"

/* ------------------------------------------------------------- NVML */

typedef int nvmlReturn_t;
typedef struct nvml_dev *nvmlDevice_t;
struct nvml_util {
    unsigned gpu, memory;
};

static nvmlReturn_t (*nv_init)(void);
static nvmlReturn_t (*nv_handle)(unsigned, nvmlDevice_t *);
static nvmlReturn_t (*nv_energy)(nvmlDevice_t, unsigned long long *);
static nvmlReturn_t (*nv_power)(nvmlDevice_t, unsigned *);
static nvmlReturn_t (*nv_util)(nvmlDevice_t, struct nvml_util *);
static nvmlDevice_t dev;

static double now(clockid_t c = CLOCK_MONOTONIC)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static void die(const char *what)
{
    fprintf(stderr, "gpu_accuracy: %s\n", what);
    exit(1);
}

static void nvml_open(unsigned index)
{
    const char *lib = getenv("ENERGYMETER_NVML_LIB");
    void *dl = dlopen(lib && *lib ? lib : "libnvidia-ml.so.1", RTLD_NOW);
    if (!dl)
        die(dlerror());
    *(void **)&nv_init = dlsym(dl, "nvmlInit_v2");
    *(void **)&nv_handle = dlsym(dl, "nvmlDeviceGetHandleByIndex_v2");
    *(void **)&nv_energy = dlsym(dl, "nvmlDeviceGetTotalEnergyConsumption");
    *(void **)&nv_power = dlsym(dl, "nvmlDeviceGetPowerUsage");
    *(void **)&nv_util = dlsym(dl, "nvmlDeviceGetUtilizationRates");
    if (!nv_init || !nv_handle || !nv_energy || !nv_power || !nv_util)
        die("NVML lacks a symbol this benchmark needs");
    if (nv_init() || nv_handle(index, &dev))
        die("NVML init or handle failed");
}

static unsigned long long energy_mj(void)
{
    unsigned long long v;
    if (nv_energy(dev, &v))
        die("nvmlDeviceGetTotalEnergyConsumption failed");
    return v;
}

/* Wait for the counter's next step: its value and (midpoint) time. */
static void next_step(unsigned long long *v, double *t)
{
    unsigned long long a = energy_mj(), b;
    double prev = now();
    for (;;) {
        double t0 = now();
        b = energy_mj();
        double t1 = now();
        if (b != a) {
            *v = b;
            *t = (prev + (t0 + t1) / 2) / 2;
            return;
        }
        prev = (t0 + t1) / 2;
    }
}

/* ----------------------------------------------------------- burst */

__global__ void burn(float *x, unsigned long long ns)
{
    unsigned long long start, t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    float a = x[i], b = 1.0001f;
    do {
        for (int k = 0; k < 512; k++) {
            a = fmaf(a, b, 0.5f);
            b = fmaf(b, a, -0.25f);
        }
        asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    } while (t - start < ns);
    x[i] = a + b;
}

static float *buf;
static int blocks, threads = 256;

static void burst(double seconds)
{
    burn<<<blocks, threads>>>(buf, (unsigned long long)(seconds * 1e9));
    if (cudaDeviceSynchronize() != cudaSuccess)
        die("kernel failed");
}

/* ------------------------------------------- the original tool's method */

struct poller {
    pthread_t th;
    volatile int stop;
    double sum_w;
    long busy, samples;
};

static void *poll_main(void *arg)
{
    struct poller *p = (struct poller *)arg;
    while (!p->stop) {
        unsigned mw;
        struct nvml_util u;
        if (nv_power(dev, &mw) == 0 && nv_util(dev, &u) == 0) {
            p->samples++;
            if (u.gpu > 0) {
                p->sum_w += mw / 1000.0;
                p->busy++;
            }
        }
    }
    return NULL;
}

/* -------------------------------------------------------------- main */

static double gpu_joules(em_meter *m, unsigned index)
{
    const em_report *r = em_meter_report(m);
    int c = em_report_find(r, "gpu");
    char want[32];
    snprintf(want, sizeof want, "gpu%u", index);
    for (size_t d = 0; c >= 0 && d < em_component_device_count(r, c); d++)
        if (strcmp(em_device_name(r, c, d), want) == 0)
            return em_device_joules(r, c, d);
    return NAN;
}

int main(int argc, char **argv)
{
    unsigned index = argc > 1 ? (unsigned)atoi(argv[1]) : 0;
    int reps = argc > 2 ? atoi(argv[2]) : 3;
    const double pad = 1.0;
    const double lens[] = {0.1, 0.3, 1.0, 3.0};
    char gpu_list[16];
    snprintf(gpu_list, sizeof gpu_list, "%u", index);

    nvml_open(index);
    cudaSetDevice((int)index);
    cudaDeviceProp prop;
    cudaGetDeviceProperties(&prop, (int)index);
    blocks = prop.multiProcessorCount * 8;
    if (cudaMalloc(&buf, (size_t)blocks * threads * sizeof(float)) != cudaSuccess)
        die("cudaMalloc failed");
    cudaMemset(buf, 0, (size_t)blocks * threads * sizeof(float));
    printf("gpu %s\n", prop.name);
    burst(0.2); /* context and clocks up */
    sleep_s(3);

    /* Idle power, from step to step of the counter. */
    unsigned long long ia, ib;
    double ta, tb;
    next_step(&ia, &ta);
    sleep_s(5);
    next_step(&ib, &tb);
    double idle_w = (ib - ia) / 1e3 / (tb - ta);
    printf("idle_w %.2f\n", idle_w);

    em_meter *m[2];
    for (int s = 0; s < 2; s++) {
        em_options o;
        em_options_init(&o);
        o.gpu_list = gpu_list;
        o.gpu_settle_ms = s ? 150 : 0;
        o.ignore_disk = 1;
        if (em_meter_new(&o, &m[s]))
            die(em_meter_errmsg(NULL));
    }
    sleep_s(0.5);

    for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++)
        for (int r = 0; r < reps; r++)
            for (int s = 0; s < 2; s++) {
                unsigned long long e0, e1;
                double t0, t1;
                next_step(&e0, &t0);
                sleep_s(pad);
                struct poller p;
                memset(&p, 0, sizeof p);
                if (em_begin(m[s]))
                    die("em_begin");
                pthread_create(&p.th, NULL, poll_main, &p);
                burst(lens[l]);
                p.stop = 1;
                pthread_join(p.th, NULL);
                double a = now();
                if (em_end(m[s]))
                    die("em_end");
                double end_ms = (now() - a) * 1e3;
                const em_report *rep = em_meter_report(m[s]);
                double dur = em_report_duration_s(rep);
                sleep_s(pad);
                next_step(&e1, &t1);
                double truth = (e1 - e0) / 1e3 - idle_w * ((t1 - t0) - dur);
                double em = gpu_joules(m[s], index);
                double orig = p.busy ? p.sum_w / p.busy * dur : 0;
                int c = em_report_find(rep, "gpu");
                printf("burst %.1f rep %d settle %d duration_s %.4f truth_j %.2f em_j %.2f "
                       "em_u_j %.2f em_err_pct %.2f orig_j %.2f orig_err_pct %.2f "
                       "end_ms %.2f samples %ld\n",
                       lens[l], r, s ? 150 : 0, dur, truth, em, em_component_uncertainty(rep, c),
                       100 * (em - truth) / truth, orig, 100 * (orig - truth) / truth, end_ms,
                       p.samples);
                fflush(stdout);
            }

    /* Sampler CPU over an idle window, minus the process's idle CPU. */
    double c0 = now(CLOCK_PROCESS_CPUTIME_ID);
    sleep_s(10);
    double idle_cpu = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
    c0 = now(CLOCK_PROCESS_CPUTIME_ID);
    double w0 = now();
    em_begin(m[0]);
    sleep_s(10);
    em_end(m[0]);
    printf("sampler_cpu_percent %.4f\n",
           100 * ((now(CLOCK_PROCESS_CPUTIME_ID) - c0) - idle_cpu) / (now() - w0));
    em_meter_free(m[0]);
    em_meter_free(m[1]);
    return 0;
}
