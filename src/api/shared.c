/*
 * Meters of one process with the same source configuration share one
 * engine: one set of sources (one eBPF program), one sampler thread. The
 * key is every option and environment value that the sources or the engine
 * read, the logger and the source table; a meter's label (and baseline) stay
 * its own. An engine is freed with the last meter that uses it. In a forked
 * child the registry starts empty: the parent's engines have no threads
 * there (meters inherited from the parent refuse to measure, meter.c).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "shared.h"

struct em_shared {
    struct em_shared *next;
    char *key;
    struct em_config cfg;
    struct em_logger log;
    struct em_engine *engine;
    unsigned refs;
};

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static struct em_shared *registry;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void child_after_fork(void)
{
    /* The entries and their engines belong to the parent: left as they are. */
    registry = NULL;
    pthread_mutex_init(&registry_mu, NULL);
}

static void install_atfork(void)
{
    pthread_atfork(NULL, NULL, child_after_fork);
}

static const char *str(const char *s)
{
    return s ? s : "\x01";
}

/* What makes two meters' sources the same (malloc'd; NULL: out of memory). */
static char *make_key(const struct em_config *c, const struct em_logger *lg,
                      const struct em_source_ops *const *table)
{
    return em_asprintf("%p|%p|%p|%d|%d|%.17g|%.17g|%.17g|%u|%zu:%s|%u|%d|%d|%zu:%s|%d|%d|%d|%.17g|"
                       "%.17g|%zu:%s|%zu:%s|%d|%zu:%s|%zu:%s|%zu:%s",
                       (const void *)table, (void *)(size_t)lg->fn, lg->userdata, (int)lg->level,
                       c->include_idle, c->disk_avg_speed, c->disk_active_power, c->disk_idle_power,
                       c->interval_ms, strlen(str(c->gpu_list)), str(c->gpu_list), c->gpu_settle_ms,
                       c->disk_scope, c->disk_time, strlen(str(c->disk_power)), str(c->disk_power),
                       c->ignore_disk, c->no_bpf, c->no_estimates, c->cpu_tdp_w, c->cpu_idle_w,
                       strlen(str(c->sysfs_root)), str(c->sysfs_root), strlen(str(c->nvml_lib)),
                       str(c->nvml_lib), c->no_bpf_env, strlen(str(c->bpf_skip)), str(c->bpf_skip),
                       strlen(str(c->bpf_rq_slots)), str(c->bpf_rq_slots), strlen(str(c->log_env)),
                       str(c->log_env));
}

static void entry_free(struct em_shared *sh)
{
    em_engine_free(sh->engine);
    em_config_free(&sh->cfg);
    free(sh->key);
    free(sh);
}

static int entry_new(const em_options *opts, const struct em_source_ops *const *table, char *key,
                     struct em_shared **out, char *msg, size_t msgsz)
{
    struct em_shared *sh = calloc(1, sizeof *sh);
    if (!sh) {
        free(key);
        snprintf(msg, msgsz, "out of memory");
        return EM_ERR_NOMEM;
    }
    sh->key = key;
    int err = em_config_init(&sh->cfg, opts, msg, msgsz);
    if (!err) {
        em_logger_init(&sh->log, opts, sh->cfg.log_env);
        err = em_engine_new(table, &sh->cfg, &sh->log, &sh->engine, msg, msgsz);
    }
    if (err) {
        entry_free(sh);
        return err;
    }
    sh->refs = 1;
    *out = sh;
    return 0;
}

int em_shared_get(const em_options *opts, const struct em_source_ops *const *table,
                  const struct em_config *cfg, const struct em_logger *log, struct em_shared **out,
                  char *msg, size_t msgsz)
{
    pthread_once(&atfork_once, install_atfork);
    *out = NULL;
    char *key = make_key(cfg, log, table);
    if (!key) {
        snprintf(msg, msgsz, "out of memory");
        return EM_ERR_NOMEM;
    }
    pthread_mutex_lock(&registry_mu);
    for (struct em_shared *sh = registry; sh; sh = sh->next)
        if (strcmp(sh->key, key) == 0) {
            sh->refs++;
            *out = sh;
            break;
        }
    int err = 0;
    if (*out) {
        free(key);
    } else if ((err = entry_new(opts, table, key, out, msg, msgsz)) == 0) {
        (*out)->next = registry;
        registry = *out;
    }
    pthread_mutex_unlock(&registry_mu);
    return err;
}

struct em_engine *em_shared_engine(const struct em_shared *sh)
{
    return sh->engine;
}

void em_shared_put(struct em_shared *sh, const struct em_config *owner)
{
    if (!sh)
        return;
    em_engine_forget(sh->engine, owner);
    pthread_mutex_lock(&registry_mu);
    int last = --sh->refs == 0;
    if (last)
        for (struct em_shared **p = &registry; *p; p = &(*p)->next)
            if (*p == sh) {
                *p = sh->next;
                break;
            }
    pthread_mutex_unlock(&registry_mu);
    if (last)
        entry_free(sh);
}
