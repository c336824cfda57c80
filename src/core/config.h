/*
 * A meter's configuration: what it was asked for (em_options, checked and
 * copied) and what the environment said when it was created. It is read
 * once, by api/config.c, and every stage below sees it read-only: no other
 * file reads the environment, so two meters of one process can differ and a
 * source behaves the same for its whole life.
 */
#ifndef EM_CORE_CONFIG_H
#define EM_CORE_CONFIG_H

#include "util/util.h"

struct em_config {
    /* em_options (see include/energymeter/energymeter.h) */
    char *label;
    int include_idle;
    double disk_avg_speed;    /* bytes/s; 0: not given */
    double disk_active_power; /* W; negative: default */
    double disk_idle_power;   /* W; negative: default */
    unsigned interval_ms;
    char *gpu_list;
    unsigned gpu_settle_ms;
    int disk_scope;
    int disk_time;
    char *disk_power;
    int ignore_disk;
    int no_bpf;
    int no_estimates;
    double cpu_tdp_w;
    double cpu_idle_w;

    /* The environment (each variable is described in the README) */
    char *sysfs_root;      /* ENERGYMETER_SYSFS_ROOT without trailing '/': "" for the real root */
    char *nvml_lib;        /* ENERGYMETER_NVML_LIB; NULL: libnvidia-ml.so.1 */
    int no_bpf_env;        /* ENERGYMETER_NO_BPF is set to something other than "0" */
    char *bpf_skip;        /* ENERGYMETER_BPF_SKIP; NULL: attach every tracepoint there is */
    char *bpf_rq_slots;    /* ENERGYMETER_BPF_RQ_SLOTS; NULL: the whole request table */
    char *log_env;         /* ENERGYMETER_LOG; NULL: unset */
    char *baseline_path;   /* the default baseline file (ENERGYMETER_BASELINE, else by user) */
    int baseline_path_err; /* why there is none (baseline_path NULL): an EM_ERR_* */

    /* Probing for `energymeter list` rather than for a meter: sources show
     * every method they have, whatever a meter's options would pick. */
    int listing;
};

#endif
