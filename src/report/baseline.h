/* The idle baseline: stored idle power per component and device (baseline.c). */
#ifndef EM_BASELINE_H
#define EM_BASELINE_H

#include "report.h"
#include "core/reading.h"

struct em_baseline_entry {
    char component[EM_NAME_MAX];
    char device[EM_NAME_MAX];
    double watts;
};

struct em_baseline {
    struct em_baseline_entry *e;
    size_t n;
    double duration_s;  /* how long the idle measurement took */
    int64_t created_ns; /* when, wall clock */
};

/* Idle power of every measured component and device of an idle window. */
EM_INTERNAL int em_baseline_from_report(const struct em_report *r, struct em_baseline **out);
/* Add idle_joules and dynamic_joules to the components (and devices) the
 * baseline covers. EM_ERR_NOMEM. */
EM_INTERNAL int em_baseline_apply(const struct em_baseline *b, struct em_report *r);
EM_INTERNAL int em_baseline_save(const struct em_baseline *b, const char *path, char *msg,
                                 size_t msgsz);
EM_INTERNAL int em_baseline_load(const char *path, struct em_baseline **out, char *msg,
                                 size_t msgsz);
EM_INTERNAL void em_baseline_free(struct em_baseline *b);

#endif
