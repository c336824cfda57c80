/*
 * The NVML source's shared pieces: the few NVML types and entry points we
 * use (declared here from NVML's documentation; no NVIDIA header is needed
 * to build), one record per GPU, and what the folder's files offer each
 * other: loading NVML (library.c), the worker threads (worker.c), the
 * window arithmetic that makes short windows exact (window.c) and the
 * counter's step period (steps.c); nvml.c is the source.
 *
 * NVML's energy counter (mJ) is exact but steps only every ~100 ms and costs
 * ~4 ms a call. A plain difference of two readings misses the part of the
 * step in progress at each end of the window. So, per GPU, a worker thread
 * reads the counter at em_begin()/em_end() (all GPUs in parallel) and then
 * watches for its next step: knowing when the counter stepped and by how
 * much, the partial steps at the edges are interpolated instead of guessed.
 */
#ifndef EM_NVML_H
#define EM_NVML_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "util/util.h"

/* ----------------------------------------------------------- NVML types */

typedef int nvmlReturn_t; /* an enum in NVML: int-sized in the C ABI */
typedef struct em_nvml_device_st *nvmlDevice_t;

#define NVML_SUCCESS 0
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_ERROR_FUNCTION_NOT_FOUND 13
#define NVML_ERROR_GPU_IS_LOST 15
/* NVML_DEVICE_NAME_V2_BUFFER_SIZE and NVML_DEVICE_UUID_V2_BUFFER_SIZE */
#define EM_NVML_NAME_LEN 96
#define EM_NVML_UUID_LEN 96

/* nvmlProcessInfo_v1_t (nvmlDeviceGetComputeRunningProcesses) and
 * nvmlProcessInfo_t (its _v2 and _v3). */
struct em_nvml_proc_v1 {
    unsigned int pid;
    unsigned long long used_gpu_memory;
};
struct em_nvml_proc_v2 {
    unsigned int pid;
    unsigned long long used_gpu_memory;
    unsigned int gpu_instance_id;
    unsigned int compute_instance_id;
};

struct em_nvml_api {
    void *dl;
    /* required */
    nvmlReturn_t (*init)(void);
    nvmlReturn_t (*shutdown)(void);
    const char *(*error_string)(nvmlReturn_t);
    nvmlReturn_t (*count)(unsigned int *);
    nvmlReturn_t (*handle)(unsigned int, nvmlDevice_t *);
    nvmlReturn_t (*name)(nvmlDevice_t, char *, unsigned int);
    /* at least one of these two */
    nvmlReturn_t (*energy)(nvmlDevice_t, unsigned long long *); /* mJ */
    nvmlReturn_t (*power)(nvmlDevice_t, unsigned int *);        /* mW */
    /* optional */
    nvmlReturn_t (*uuid)(nvmlDevice_t, char *, unsigned int);
    nvmlReturn_t (*enforced_limit)(nvmlDevice_t, unsigned int *); /* mW */
    nvmlReturn_t (*limit)(nvmlDevice_t, unsigned int *);          /* mW */
    nvmlReturn_t (*procs_v2)(nvmlDevice_t, unsigned int *, struct em_nvml_proc_v2 *);
    nvmlReturn_t (*procs_v1)(nvmlDevice_t, unsigned int *, struct em_nvml_proc_v1 *);
};

/* Load the library (path NULL: libnvidia-ml.so.1), start it and count the
 * GPUs (library.c). 0; or a malloc'd reason in *why with a safe fix (NULL:
 * none) and a negative code, EM_ERR_NOMEM alone without a reason. */
EM_INTERNAL int em_nvml_library_open(struct em_nvml_api *api, const char *path, unsigned *count,
                                     char **why, const char **fix);
/* Shut NVML down and unload it, if loaded. */
EM_INTERNAL void em_nvml_library_close(struct em_nvml_api *api);
/* NVML's text for r, never NULL. */
EM_INTERNAL const char *em_nvml_error_string(const struct em_nvml_api *api, nvmlReturn_t r);

/* ----------------------------------------------------------- edges */

/* The counter's step period before any step was seen ("steps every ~100
 * ms"), and its uncertainty; the watches refine both. */
#define EM_NVML_PERIOD_PRIOR_S 0.1
#define EM_NVML_PERIOD_ERR_PRIOR_S 0.01

/* Steps one watch records at most (the calibration's). */
#define EM_NVML_MAX_STEPS 4

/* One reading of the energy counter at a window edge, and what the watch
 * that followed it saw. Times are CLOCK_MONOTONIC seconds. */
struct em_nvml_edge {
    int done;                       /* the reading finished */
    nvmlReturn_t err;               /* of the reading */
    uint64_t v;                     /* counter, mJ */
    double t, h;                    /* midpoint and half-length of the call */
    double power_w;                 /* nvmlDeviceGetPowerUsage just after (NAN: unknown) */
    int watching;                   /* the watch for the next steps is running */
    int ticks;                      /* steps the watch saw */
    uint64_t tv[EM_NVML_MAX_STEPS]; /* the counter after each step */
    double tt[EM_NVML_MAX_STEPS];   /* when it stepped (estimate) */
    double te[EM_NVML_MAX_STEPS];   /* +- this much */
    double last_same;               /* midpoint of the last call that still read v */
    nvmlReturn_t werr;
};

/* What the edge arithmetic needs about a window. */
struct em_nvml_window {
    struct em_nvml_edge b, e; /* begin and end */
    double period;            /* step period of the counter (s) */
    double period_err;        /* how far one step's spacing may be from it (s) */
    double jitter;            /* of which two offsets from the grid, which do not add
                                 up over steps as the period's own error does (s) */
    double max_power_w;
    double tb, te; /* the meter's window edges (NAN: the readings' midpoints) */
};

struct em_nvml_estimate {
    int ok;        /* 0: no edge information; keep the plain difference */
    double joules; /* energy from b.t to e.t */
    double uncertainty_j;
    int tail_guessed; /* the end's partial step was extrapolated (no settle) */
    int within_step;  /* the whole window fell inside one step */
};

/*
 * The energy of the window between the midpoints of the begin and end
 * readings, from the edges and the steps the watches saw (window.c). Pure
 * arithmetic (unit-tested): see docs/gpu.md for the method and its assumptions.
 */
EM_INTERNAL void em_nvml_estimate_window(const struct em_nvml_window *w,
                                         struct em_nvml_estimate *out);

/* ------------------------------------------------------------ steps */

/* Sightings kept in the chain that the period is fitted to. */
#define EM_NVML_CHAIN_MAX 32

/*
 * How the energy counter steps, learnt from the steps the watches see
 * (steps.c): step k comes at phase + k x period + j_k, where the
 * offset j_k is the counter's jitter, |j_k| <= jitter.
 */
struct em_nvml_steps {
    double period;     /* s */
    double period_err; /* its uncertainty (s) */
    double jitter;     /* how far a step may fall from the period's grid (s) */
    int seen;          /* steps seen in all */
    /* The chain: recent sightings whose step numbers relative to each
     * other are certain (k), with when they stepped (t +- err). */
    int n;
    double k[EM_NVML_CHAIN_MAX], t[EM_NVML_CHAIN_MAX], err[EM_NVML_CHAIN_MAX];
    /* The chains gone, summed: (k - mean k)^2, (k - mean k)(t - mean t),
     * |k - mean k| (means of their own chain), the largest timing error, and
     * their points less one phase each. */
    double past_sxx, past_sxy, past_sabs, past_emax;
    int dof_past;
    double off_max; /* the largest offset from the grid beyond the timing errors */
};

/* The prior: a period of EM_NVML_PERIOD_PRIOR_S +- EM_NVML_PERIOD_ERR_PRIOR_S. */
EM_INTERNAL void em_nvml_steps_init(struct em_nvml_steps *s);

/* The steps one watch saw, in order: t[i] +- err[i] (CLOCK_MONOTONIC s),
 * each the only step between the watch's previous call and its next. */
EM_INTERNAL void em_nvml_steps_learn(struct em_nvml_steps *s, const double *t, const double *err,
                                     int count);

/* How far apart two adjacent steps may be from one period: the period's
 * error and two offsets (what the window arithmetic is told). */
EM_INTERNAL double em_nvml_steps_spacing_err(const struct em_nvml_steps *s);

/* ------------------------------------------------------------- GPUs */

enum em_nvml_job { EM_NVML_JOB_NONE = 0, EM_NVML_JOB_CAL, EM_NVML_JOB_BEGIN, EM_NVML_JOB_END };

struct em_nvml;

struct em_nvml_gpu {
    struct em_nvml *n;
    unsigned index;
    nvmlDevice_t dev;
    char name[EM_NVML_NAME_LEN];
    char uuid[EM_NVML_UUID_LEN];
    int energy_mode; /* 1: energy counter; 0: power readings */
    double max_power_w;

    /* how the counter steps, learnt from the steps watches see */
    struct em_nvml_steps steps;

    /* worker thread (energy mode) */
    pthread_t thread;
    int thread_ok;
    int job;           /* enum em_nvml_job, under n->mu */
    atomic_int cancel; /* stop the running watch */
    struct em_nvml_edge b, e;
    /* the worker's own: a watch call that was in flight when a job came,
     * whose sample the job takes as its reading (worker.c) */
    struct em_nvml_edge handoff;
    int has_handoff;
    int in_window;
    double next_proc;

    /* per window, under n->mu */
    int used;        /* a compute process of the measured tree was seen */
    int procs_known; /* the process list could be read at least once */
    nvmlReturn_t last_err;
    double last_err_t;
    double pmin_w, pmax_w; /* power mode: range of the readings */
    struct em_nvml_estimate est;
};

struct em_nvml {
    struct em_nvml_api api;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int sync_ok;
    int quit;
    double settle_s;
    const char *root; /* the meter's ENERGYMETER_SYSFS_ROOT, for /proc */
    int next_is_begin;
    double begin_t;        /* the meter's em_begin(), near enough */
    struct em_nvml_gpu *g; /* g[i] serves channel i */
    size_t ng;
};

/* Worker threads (worker.c). start: 0 or an errno. */
EM_INTERNAL int em_nvml_worker_start(struct em_nvml_gpu *g);
EM_INTERNAL void em_nvml_workers_stop(struct em_nvml *n);
/* Give every worker job (cancelling running watches) and wait until each
 * has taken its reading (n->mu held). */
EM_INTERNAL void em_nvml_edges_read(struct em_nvml *n, int job);
/* Wait, at most until the monotonic time deadline, for the watches that
 * follow the end readings (n->mu held). */
EM_INTERNAL void em_nvml_edges_settle(struct em_nvml *n, double deadline);
/* Is pid this process or one of its descendants? (/proc, under root) */
EM_INTERNAL int em_nvml_pid_in_tree(const char *root, unsigned pid);

#endif
