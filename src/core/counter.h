/*
 * A counter turns raw readings of one energy register into monotonic joules:
 * unit scaling, wraparound using the range the hardware states, and
 * detection of changes that no wrap can explain (a reset, a jump) or of
 * readings too far apart to know how many wraps happened.
 *
 * Pure arithmetic: no I/O, no locking, no allocation (unit-testable).
 */
#ifndef EM_COUNTER_H
#define EM_COUNTER_H

#include <stdint.h>

#include "util/util.h"

struct em_counter {
    /* configuration */
    double scale;       /* joules per raw unit */
    uint64_t modulus;   /* raw values lie in [0, modulus) and wrap to 0; 0: never wraps */
    double max_power_w; /* the most the zone can draw: sampling period and plausibility */
    double step_s;      /* the register updates only every step_s (0: continuously), so a
                           reading may hold up to one step more than the time between two
                           readings explains (set after em_counter_init()) */

    /* state */
    int started;
    uint64_t last_raw;
    double last_t;    /* monotonic seconds of last_raw */
    double start_t;   /* monotonic seconds of the first reading */
    double joules;    /* energy of the covered intervals */
    double covered_s; /* time covered by good readings */
    double gap_s;     /* time lost to faults, filled by estimation at report time */
    double uncertainty_j;
    unsigned wraps;
    unsigned faults;     /* implausible changes (resets, jumps) */
    unsigned late;       /* intervals too long to know the number of wraps */
    double last_power_w; /* power channels: the last reading */
    unsigned changes;    /* readings that differed from the one before */
    int restart;         /* after em_counter_fail(): the next reading starts afresh */
};

enum em_counter_event {
    EM_CTR_OK = 0,
    EM_CTR_WRAPPED = 1,     /* one wrap, accounted for */
    EM_CTR_IMPLAUSIBLE = 2, /* no wrap explains the change: interval counted as a gap */
    EM_CTR_LATE = 3,        /* readings too far apart: wraps may have been missed */
};

/* modulus 0 means the counter does not wrap (64-bit). max_power_w > 0. */
EM_INTERNAL void em_counter_init(struct em_counter *c, double scale, uint64_t modulus,
                                 double max_power_w);
/* First reading of a window: clears the accumulated state. */
EM_INTERNAL void em_counter_start(struct em_counter *c, uint64_t raw, double t);
/* A later reading at monotonic time t >= last_t. Returns an em_counter_event. */
EM_INTERNAL int em_counter_update(struct em_counter *c, uint64_t raw, double t);
/*
 * Power channels: raw x scale is watts. Energy is the trapezoid integral of
 * the readings; the uncertainty grows by half the change between readings
 * times the interval (the area the trapezoid can miss when power moves
 * monotonically between them).
 */
EM_INTERNAL void em_counter_start_power(struct em_counter *c, uint64_t raw, double t);
EM_INTERNAL int em_counter_update_power(struct em_counter *c, uint64_t raw, double t);
/* No reading possible at time t (file vanished, read error): the time since
 * the last good reading becomes a gap. The next good reading restarts. */
EM_INTERNAL void em_counter_fail(struct em_counter *c, double t);
/* Seconds a counter can run at max power before it wraps (INFINITY if never). */
EM_INTERNAL double em_counter_wrap_period(const struct em_counter *c);
/*
 * Final figures: joules with gaps filled at the mean power of the covered
 * time, and the uncertainty (resolution, gaps at up to max power, late
 * intervals at up to one wrap each).
 */
EM_INTERNAL double em_counter_joules(const struct em_counter *c);
/*
 * The counter of the time between two states of one counter (then: an
 * earlier copy of now): what it accumulated since, with the resolution of
 * its two ends, and for a counter that steps (step_s) up to one step's
 * energy at each end. How a named window is measured from counters that
 * keep running (core/named.c).
 */
EM_INTERNAL void em_counter_since(const struct em_counter *now, const struct em_counter *then,
                                  struct em_counter *out);
EM_INTERNAL double em_counter_uncertainty(const struct em_counter *c);

#endif
