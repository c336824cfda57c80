/*
 * A source reads one kind of sensor and knows nothing of the others. It is a
 * table of functions plus a name. open() enumerates what the machine has,
 * records every zone it found (usable or not, with the reason and a safe fix)
 * in the probe, and creates one channel per usable energy counter. read()
 * returns the raw value of one channel; the meter turns raw values into joules
 * with a struct em_counter, so sources do no arithmetic on energy.
 */
#ifndef EM_SOURCE_H
#define EM_SOURCE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "counter.h"
#include "reading.h"
#include "util/util.h"

/* One zone or device a source found: one line of `energymeter list`. */
struct em_zone_info {
    char *name;      /* "intel-rapl:0" */
    char *component; /* "cpu", "dram", "psys", "cpu-core", ... (NULL: none) */
    char *device;    /* "package-0" */
    char *path;      /* the file that is read */
    int usable;
    char *reason; /* why not usable (NULL when usable) */
    char *fix;    /* a safe way to make it usable (NULL: none) */
};

struct em_probe {
    const char *source; /* static name of the source */
    const char *serves; /* the source's components ("cpu,dram,psys"), static */
    int available;      /* at least one usable channel */
    char *reason;       /* why the source as a whole is unavailable */
    char *fix;
    struct em_zone_info *zones;
    size_t nzones;
};

/* Append a zone to a probe (strings copied; NULLs allowed). EM_ERR_NOMEM. */
EM_INTERNAL int em_probe_add_zone(struct em_probe *p, const char *name, const char *component,
                                  const char *device, const char *path, const char *reason,
                                  const char *fix);
/* Set the source-wide reason and fix (copied). EM_ERR_NOMEM. */
EM_INTERNAL int em_probe_set_reason(struct em_probe *p, const char *reason, const char *fix);
EM_INTERNAL void em_probe_clear(struct em_probe *p);
/* Why no source serves component, from the probes of every source (with the
 * fix when one is known); malloc'd, NULL when out of memory. */
EM_INTERNAL char *em_probe_component_reason(const struct em_probe *probes, size_t n,
                                            const char *component);

/* What a channel's raw values are. */
enum em_channel_kind {
    EM_CH_ENERGY = 0, /* a counter of energy (raw x scale = joules), may wrap */
    EM_CH_POWER = 1,  /* a power reading (raw x scale = watts), integrated over time */
};

/* One energy counter or power sensor of a source. */
struct em_channel {
    char component[EM_NAME_MAX]; /* report component: "cpu", "dram", "psys", ... */
    char device[EM_NAME_MAX];    /* device within it: "package-0" */
    char path[PATH_MAX + 32];    /* what is read (rooted) */
    int in_total;                /* 0 for extras already contained in others (psys, core) */
    int kind;                    /* enum em_channel_kind */
    double poll_s;               /* > 0: read at least this often (power channels) */
    double frozen_s;             /* > 0: a window this long without any change means the
                                    counter is frozen (it updates far more often) */
    struct em_counter ctr;

    /* per-window state, owned by the meter */
    int started;     /* a reading was taken at begin */
    int failing;     /* the last read failed */
    int warned_fail; /* a warning was recorded for this window */
    int warned_fault;
    double max_gap_s; /* longest time between readings in the window */
    double period_s;  /* the sampler reads it this often (set by the meter) */
    double next_due;  /* monotonic time of its next sampler reading */
    size_t index;     /* position among all the meter's channels */
    int unused;       /* another source, preferred, measures this component */
};

struct em_source;

struct em_source_ops {
    const char *name;   /* "rapl-powercap" */
    const char *serves; /* components it can measure, comma-separated: "cpu,dram,psys" */
    /* Find what the machine has: every zone in the probe (usable or not,
     * why not, and a safe fix), and a channel in s->ch for each usable
     * counter. Returns 0 even when nothing is usable (the probe says why); a
     * negative code only for EM_ERR_NOMEM. close() undoes it. */
    int (*probe)(struct em_source *s, struct em_probe *probe);
    /* Raw value of channel i. 0, or EM_ERR_NOT_FOUND (vanished), EM_ERR_PERM,
     * EM_ERR_IO, EM_ERR_FORMAT. Must be safe to call from the sampler thread. */
    int (*read)(struct em_source *s, size_t i, uint64_t *raw);
    /* Free s->priv (the channels are freed by the caller). */
    void (*close)(struct em_source *s);

    /* Optional: get ready to measure (start threads...), right after
     * probe(), for a meter only (never when listing). 0, or a negative code:
     * the meter fails to be created. */
    int (*open)(struct em_source *s);
    /* Optional. Read every channel at once (e.g. in parallel when one read is
     * slow): raw[i] and errs[i] for each channel. Used at em_begin()/em_end(). */
    void (*read_all)(struct em_source *s, uint64_t *raw, int *errs);
    /* Optional, for sources that are not counters (storage): called at
     * em_begin() and em_end() with the meter's lock held. */
    int (*begin)(struct em_source *s);
    int (*end)(struct em_source *s);
    /* Optional: fill component c (already named, status measured) of the
     * finished window w (its duration; em_readings_warn() for warnings). 1
     * when filled, 0 when the source does not serve it, negative on error.
     * Used for components no channel serves. */
    int (*fill)(struct em_source *s, struct em_reading *c, struct em_readings *w);
    /* Optional: called once for each component that this source's channels
     * served in the finished window, after its devices were added (device
     * extras such as a GPU's UUID, the source name, warnings). 0 or negative. */
    int (*annotate)(struct em_source *s, struct em_reading *c, struct em_readings *w);
    /* Optional, for fill() sources in windows that overlap others (named
     * windows): snap() reads now what begin()/end() would (a new snapshot,
     * NULL when out of memory; a failed read is kept in it), snap_free()
     * frees one, and fill_between() is fill() for the window between two
     * snapshots. Without them such a window has no figure from the source. */
    void *(*snap)(struct em_source *s);
    void (*snap_free)(struct em_source *s, void *snap);
    int (*fill_between)(struct em_source *s, const void *begin, const void *end,
                        struct em_reading *c, struct em_readings *w);
};

struct em_source {
    const struct em_source_ops *ops;
    const struct em_config *cfg; /* set before probe(); never NULL */
    struct em_channel *ch;
    size_t nch;
    void *priv;
};

/*
 * One component is never counted by two sources: the first source in table
 * order with a channel for a component owns it; the same component's
 * channels of later sources are marked unused, and their zones in the
 * probes say which source is preferred. EM_ERR_NOMEM.
 */
EM_INTERNAL int em_sources_resolve(struct em_source *src, struct em_probe *probes, size_t n);

/*
 * Probe every source of table (NULL-terminated, in order of preference) and,
 * unless cfg->listing, open it; then resolve which one serves each
 * component. *src, *probes and *n are set even on failure, for
 * em_sources_close() (which takes them as they are, NULL src and n 0
 * included). On failure msg names the source.
 */
EM_INTERNAL int em_sources_open(const struct em_source_ops *const *table,
                                const struct em_config *cfg, struct em_source **src,
                                struct em_probe **probes, size_t *n, char *msg, size_t msgsz);
EM_INTERNAL void em_sources_close(struct em_source *src, struct em_probe *probes, size_t n);

/* Add a channel to s (grows s->ch). NULL when out of memory. */
EM_INTERNAL struct em_channel *em_source_add_channel(struct em_source *s, const char *component,
                                                     const char *device, const char *path,
                                                     int in_total);

#endif
