/*
 * RAPL, the energy counters of Intel and AMD processors, has three access
 * paths, each a source of its own: the perf `power` PMU (perf.c, preferred),
 * the powercap sysfs tree (powercap.c) and the model-specific registers
 * (msr.c, the last resort). What they share is here: one table of the
 * domains (domains.c), turbostat-style, a row per domain with its report
 * component, whether it counts in the total, and its name or address on
 * every path; so a fact such as "psys is not in the total" is written once.
 */
#ifndef EM_SOURCES_RAPL_H
#define EM_SOURCES_RAPL_H

#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

/* Used when a domain states no maximum power: high, so that the sampler
 * reads often enough and plausibility checks never reject real energy. */
#define EM_RAPL_DEFAULT_MAX_POWER_W 1000.0
/* RAPL counters update about every millisecond and a powered package or
 * DRAM never draws 0 W: no change at all in this long means a frozen counter
 * (as seen on virtual machines), not zero energy. */
#define EM_RAPL_FROZEN_AFTER_S 0.25

struct em_rapl_domain {
    const char *component;  /* report component: "cpu", "dram", "cpu-core", ... */
    int in_total;           /* 0: contained in another (core and uncore in the package,
                               everything in psys), so never added to the total */
    int platform;           /* one for the whole platform (psys): device "platform-N" */
    const char *perf_event; /* event of the perf power PMU */
    const char *powercap;   /* powercap zone name; ending in '-' a prefix of top-level
                               zones' names ("package-" for package-0, package-1...) */
    uint32_t intel_msr;     /* Intel energy status register (0: none) */
    const char *intel_name; /* its name in Intel's documentation */
    uint32_t amd_msr;       /* AMD Zen energy register (0: none) */
    const char *amd_name;
    int amd_per_core; /* AMD's register is per core, not per package */
};

/* The domains, in the order the report lists their components. */
EM_INTERNAL extern const struct em_rapl_domain em_rapl_domains[];
EM_INTERNAL extern const size_t em_rapl_ndomains;

/* The domain of a powercap zone name, top: a top-level zone (intel-rapl:N).
 * NULL when it is not one energymeter knows. */
EM_INTERNAL const struct em_rapl_domain *em_rapl_powercap_domain(const char *name, int top);

/* The device name of domain d in package (or platform) pkg: "package-0",
 * "platform-0". */
EM_INTERNAL void em_rapl_device(const struct em_rapl_domain *d, int pkg, char *out, size_t outsz);

#endif
