/* Counter arithmetic: raw register values -> joules (src/counter.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "core/counter.h"

#define UJ 1e-6

static void assert_near(double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("got %.12g, want %.12g (tolerance %.3g)", got, want, tol);
}

/* Increasing readings: the differences, scaled, and nothing else. */
static void test_no_wrap(void **state)
{
    (void)state;
    struct em_counter c;
    em_counter_init(&c, UJ, 1000000000ULL + 1, 100.0); /* range 1 kJ */
    em_counter_start(&c, 1000, 0.0);
    assert_int_equal(em_counter_update(&c, 2001000, 0.1), EM_CTR_OK); /* 2 J: 20 W */
    assert_int_equal(em_counter_update(&c, 2001000, 0.2), EM_CTR_OK); /* idle */
    assert_int_equal(em_counter_update(&c, 5001000, 0.3), EM_CTR_OK); /* 3 J: 30 W */
    assert_near(em_counter_joules(&c), 5.0, 1e-9);
    assert_int_equal(c.wraps, 0);
    assert_int_equal(c.faults, 0);
    assert_int_equal(c.late, 0);
    assert_near(c.covered_s, 0.3, 1e-12);
    assert_near(c.gap_s, 0.0, 0);
    /* Resolution only: one unit at each end. */
    assert_near(em_counter_uncertainty(&c), 2 * UJ, 1e-12);

    /* start clears everything of the previous window. */
    em_counter_start(&c, 7, 10.0);
    assert_near(em_counter_joules(&c), 0.0, 0);
    assert_int_equal(em_counter_update(&c, 7 + 500000, 10.1), EM_CTR_OK);
    assert_near(em_counter_joules(&c), 0.5, 1e-12);
}

/* An update before any start starts the counter instead of counting. */
static void test_update_without_start(void **state)
{
    (void)state;
    struct em_counter c;
    em_counter_init(&c, UJ, 0, 100.0);
    assert_int_equal(em_counter_update(&c, 123456789, 5.0), EM_CTR_OK);
    assert_true(c.started);
    assert_near(em_counter_joules(&c), 0.0, 0);
    assert_int_equal(em_counter_update(&c, 123456789 + 1000000, 5.5), EM_CTR_OK);
    assert_near(em_counter_joules(&c), 1.0, 1e-12);
}

/* One wrap: the value decreases and the modulus is max_energy_range + 1
 * (energy_uj runs from 0 to max_energy_range_uj inclusive). */
static void test_one_wrap(void **state)
{
    (void)state;
    struct em_counter c;
    /* scale 1 J per unit so that the arithmetic is exact; range 1000. */
    em_counter_init(&c, 1.0, 1000 + 1, 10000.0);
    em_counter_start(&c, 990, 0.0);
    assert_int_equal(em_counter_update(&c, 10, 0.01), EM_CTR_WRAPPED);
    /* 990 -> 1000 is 10 units, 1000 -> 0 one more, 0 -> 10 ten more. */
    assert_near(em_counter_joules(&c), 21.0, 0);
    assert_int_equal(c.wraps, 1);
    assert_int_equal(c.faults, 0);
    assert_int_equal(em_counter_update(&c, 30, 0.02), EM_CTR_OK);
    assert_near(em_counter_joules(&c), 41.0, 0);
    /* A raw value beyond the range is reduced modulo the modulus. */
    em_counter_start(&c, 1001 + 5, 1.0);
    assert_int_equal(c.last_raw, 5);

    /* The same with microjoules: 900000 -> wrap at 1 J -> 100000. */
    em_counter_init(&c, UJ, 1000000, 100.0);
    em_counter_start(&c, 900000, 0.0);
    assert_int_equal(em_counter_update(&c, 100000, 0.002), EM_CTR_WRAPPED);
    assert_near(em_counter_joules(&c), 0.2, 1e-12);
    assert_int_equal(c.wraps, 1);
    /* Resolution at each end plus one unit per wrap. */
    assert_near(em_counter_uncertainty(&c), 3 * UJ, 1e-12);
}

/* Deterministic pseudo-random steps (xorshift). */
static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Thousands of updates at up to the maximum power, hundreds of wraps:
 * the total is exact, every wrap is counted. */
static void test_many_wraps(void **state)
{
    (void)state;
    const uint64_t modulus = 1000000;       /* 1 J: wraps every 10 ms at 100 W */
    const double maxw = 100.0, dt = 0.0025; /* a quarter of the wrap period */
    struct em_counter c;
    em_counter_init(&c, UJ, modulus, maxw);
    assert_near(em_counter_wrap_period(&c), 0.01, 1e-15);

    uint64_t seed = 0x9e3779b97f4a7c15ULL, abs_uj = 123456, total_uj = 0;
    unsigned wraps = 0, events_wrapped = 0;
    em_counter_start(&c, abs_uj % modulus, 0.0);
    for (int i = 1; i <= 4000; i++) {
        /* 0 .. 250000 uJ per 2.5 ms: 0 .. 100 W */
        uint64_t step = next_rand(&seed) % 250001;
        uint64_t before = abs_uj / modulus;
        abs_uj += step;
        total_uj += step;
        wraps += (unsigned)(abs_uj / modulus - before);
        int ev = em_counter_update(&c, abs_uj % modulus, i * dt);
        assert_true(ev == EM_CTR_OK || ev == EM_CTR_WRAPPED);
        events_wrapped += ev == EM_CTR_WRAPPED;
    }
    assert_true(wraps >= 400); /* ~500 J through a 1 J counter */
    assert_int_equal(c.wraps, wraps);
    assert_int_equal(events_wrapped, wraps);
    assert_int_equal(c.faults, 0);
    assert_int_equal(c.late, 0);
    assert_near(em_counter_joules(&c), (double)total_uj * UJ, 1e-6);
    assert_near(c.covered_s, 10.0, 1e-9);
    assert_near(em_counter_uncertainty(&c), (2.0 + wraps) * UJ, 1e-12);
}

/*
 * A counter reset: the value drops so far that the wrapped difference would
 * mean more energy than the zone can draw. The interval is a gap, filled at
 * the mean power of the rest of the window, and the uncertainty covers the
 * worst case (the gap at zero or at maximum power).
 */
static void test_reset(void **state)
{
    (void)state;
    struct em_counter c;
    em_counter_init(&c, UJ, 1000000000ULL + 1, 100.0); /* 1 kJ range, 100 W */
    em_counter_start(&c, 500000000, 0.0);
    assert_int_equal(em_counter_update(&c, 501000000, 0.1), EM_CTR_OK); /* 1 J: 10 W */
    /* Reset to ~0: a wrap would be ~499 J in 0.1 s, 4990 W. */
    assert_int_equal(em_counter_update(&c, 1000, 0.2), EM_CTR_IMPLAUSIBLE);
    assert_int_equal(c.faults, 1);
    assert_int_equal(c.wraps, 0);
    assert_near(c.gap_s, 0.1, 1e-12);
    /* Counting goes on from the new value. */
    assert_int_equal(em_counter_update(&c, 1001000, 0.3), EM_CTR_OK); /* 1 J */
    assert_near(c.joules, 2.0, 1e-12);
    assert_near(c.covered_s, 0.2, 1e-12);

    /* Gap filled at the mean power of the covered time: 10 W x 0.1 s. */
    double j = em_counter_joules(&c);
    assert_near(j, 3.0, 1e-9);
    /* The truth lies in [2 J, 2 J + 100 W x 0.1 s]: the uncertainty must
     * cover both ends from the estimate. */
    double u = em_counter_uncertainty(&c);
    double lo = 2.0, hi = 2.0 + 100.0 * 0.1;
    assert_true(j - u <= lo + 1e-9);
    assert_true(j + u >= hi - 1e-9);
    assert_true(u <= 100.0 * 0.1 + 1e-3); /* and not absurdly wider */

    /* A jump upwards beyond the maximum power is a fault too. */
    em_counter_init(&c, UJ, 1000000000ULL + 1, 100.0);
    em_counter_start(&c, 0, 0.0);
    assert_int_equal(em_counter_update(&c, 500000000, 0.1), EM_CTR_IMPLAUSIBLE); /* 500 J */
    assert_int_equal(c.faults, 1);
    assert_near(c.joules, 0.0, 0);
    assert_near(c.gap_s, 0.1, 1e-12);
    /* ...but the most the zone can draw (with the margin) is not. */
    em_counter_start(&c, 0, 0.0);
    assert_int_equal(em_counter_update(&c, 10000000, 0.1), EM_CTR_OK); /* 10 J: 100 W */
    assert_int_equal(c.faults, 0);
}

/* Readings further apart than the wrap period: wraps may have been missed;
 * the least consistent energy is counted and each missable wrap widens the
 * uncertainty by one full range. */
static void test_late(void **state)
{
    (void)state;
    struct em_counter c;
    em_counter_init(&c, UJ, 1000000, 100.0); /* 1 J, wraps every 10 ms at 100 W */
    em_counter_start(&c, 0, 0.0);
    assert_int_equal(em_counter_update(&c, 500000, 0.055), EM_CTR_LATE);
    assert_int_equal(c.late, 1);
    assert_int_equal(c.faults, 0);
    assert_near(em_counter_joules(&c), 0.5, 1e-12);
    /* True energy: 0.5 J + k J with k up to 5 (5.5 J at 100 W in 55 ms). */
    double u = em_counter_uncertainty(&c);
    assert_true(u >= 5.0);
    assert_true(u < 6.0);

    /* A wrap seen late is still counted as a wrap. */
    em_counter_start(&c, 900000, 0.0);
    assert_int_equal(em_counter_update(&c, 100000, 0.035), EM_CTR_LATE);
    assert_int_equal(c.wraps, 1);
    assert_near(em_counter_joules(&c), 0.2, 1e-12);
    /* 0.2 J + k J <= 3.5 J at 100 W: up to 3 wraps missed. */
    assert_true(em_counter_uncertainty(&c) >= 3.0);

    /* Just inside the wrap period is not late. */
    em_counter_start(&c, 0, 0.0);
    assert_int_equal(em_counter_update(&c, 900000, 0.0099), EM_CTR_OK);
    assert_int_equal(c.late, 0);
}

/* The file vanished at the end: the time since the last good reading is a
 * gap, estimated at the mean power, with the uncertainty of the gap. */
static void test_fail_at_end(void **state)
{
    (void)state;
    struct em_counter c;
    em_counter_init(&c, UJ, 1000000000ULL + 1, 100.0);
    em_counter_start(&c, 0, 0.0);
    assert_int_equal(em_counter_update(&c, 2000000, 0.2), EM_CTR_OK); /* 2 J: 10 W */
    em_counter_fail(&c, 0.3);
    assert_int_equal(c.faults, 1);
    assert_near(c.gap_s, 0.1, 1e-12);
    assert_near(em_counter_joules(&c), 3.0, 1e-9);
    double u = em_counter_uncertainty(&c);
    assert_true(3.0 - u <= 2.0 + 1e-9);
    assert_true(3.0 + u >= 2.0 + 100.0 * 0.1 - 1e-9);

    /* A failure at or before the last reading adds no gap. */
    em_counter_fail(&c, 0.25);
    assert_near(c.gap_s, 0.1, 1e-12);

    /* Failing from the very start: no covered time, nothing to estimate
     * from; the uncertainty still spans the gap at maximum power. */
    em_counter_start(&c, 0, 1.0);
    em_counter_fail(&c, 1.5);
    assert_near(c.gap_s, 0.5, 1e-12);
    assert_true(em_counter_uncertainty(&c) >= 100.0 * 0.5);

    /* A counter never started ignores failures. */
    em_counter_init(&c, UJ, 0, 100.0);
    em_counter_fail(&c, 3.0);
    assert_int_equal(c.faults, 0);
    assert_near(c.gap_s, 0.0, 0);
}

/* A 64-bit counter (modulus 0) never wraps: going backwards is a reset. */
/* A failed reading followed by a good one: the time since the last good
 * reading is a gap, estimated once, and the good reading restarts the count
 * (nothing counted twice). 10 W, readings every 0.1 s. */
static void test_fail_then_recover(void **state)
{
    (void)state;
    struct em_counter c;
    em_counter_init(&c, 1e-6, 0, 100.0);
    em_counter_start(&c, 0, 0.0);
    assert_int_equal(em_counter_update(&c, 1000000, 0.1), EM_CTR_OK);
    assert_int_equal(em_counter_update(&c, 2000000, 0.2), EM_CTR_OK);
    em_counter_fail(&c, 0.3);
    assert_int_equal(em_counter_update(&c, 4000000, 0.4), EM_CTR_OK);
    assert_int_equal(em_counter_update(&c, 5000000, 0.5), EM_CTR_OK);
    /* covered: 0-0.2 and 0.4-0.5 (3 J in 0.3 s); gap 0.2-0.4 at 10 W: 2 J. */
    assert_near(c.joules, 3.0, 1e-9);
    assert_near(c.gap_s, 0.2, 1e-9);
    assert_near(em_counter_joules(&c), 5.0, 1e-9);
    assert_true(em_counter_uncertainty(&c) >= 100.0 * 0.2);
}

static void test_nonwrapping_backwards(void **state)
{
    (void)state;
    struct em_counter c;
    em_counter_init(&c, UJ, 0, 100.0);
    assert_true(isinf(em_counter_wrap_period(&c)));
    em_counter_start(&c, UINT64_MAX - 5000000, 0.0);
    assert_int_equal(em_counter_update(&c, UINT64_MAX - 4000000, 0.1), EM_CTR_OK); /* 1 J */
    assert_near(em_counter_joules(&c), 1.0, 1e-9);
    /* Backwards by only 1 uJ: not a wrap, a reset. */
    assert_int_equal(em_counter_update(&c, UINT64_MAX - 4000001, 0.2), EM_CTR_IMPLAUSIBLE);
    assert_int_equal(c.faults, 1);
    assert_int_equal(c.wraps, 0);
    assert_near(c.gap_s, 0.1, 1e-12);
    /* Never late, however far apart the readings. */
    assert_int_equal(em_counter_update(&c, UINT64_MAX - 3000001, 1000.0), EM_CTR_OK);
    assert_int_equal(c.late, 0);
}

/* Scale other than microjoules: RAPL MSR units of 2^-14 J with a 32-bit
 * register (exact in binary floating point). */
static void test_scale_msr(void **state)
{
    (void)state;
    const double unit = 1.0 / 16384.0;
    struct em_counter c;
    em_counter_init(&c, unit, 1ULL << 32, 200.0);
    assert_near(em_counter_wrap_period(&c), 4294967296.0 / 16384.0 / 200.0, 1e-9);
    em_counter_start(&c, 4294967000ULL, 0.0);
    assert_int_equal(em_counter_update(&c, 1000, 0.01), EM_CTR_WRAPPED);
    assert_near(em_counter_joules(&c), 1296.0 * unit, 0);
    assert_int_equal(em_counter_update(&c, 1000 + 16384 * 100, 1.0), EM_CTR_OK); /* 100 J */
    assert_near(em_counter_joules(&c), 1296.0 * unit + 100.0, 0);
    assert_near(em_counter_uncertainty(&c), 3 * unit, 1e-15);
}

/* Wrap period = range x scale / max power, INFINITY without a modulus, and
 * a non-positive maximum power falls back to a conservative 1000 W. */
static void test_wrap_period(void **state)
{
    (void)state;
    struct em_counter c;
    /* What Intel packages state: 262143328850 uJ, at 150 W: ~29 min. */
    em_counter_init(&c, UJ, 262143328850ULL + 1, 150.0);
    assert_near(em_counter_wrap_period(&c), 262143.328851 / 150.0, 1e-6);
    em_counter_init(&c, UJ, 1000000, 0.0);
    assert_near(c.max_power_w, 1000.0, 0);
    assert_near(em_counter_wrap_period(&c), 0.001, 1e-15);
    em_counter_init(&c, UJ, 1000000, -5.0);
    assert_near(c.max_power_w, 1000.0, 0);
    em_counter_init(&c, 1.0, 0, 50.0);
    assert_true(isinf(em_counter_wrap_period(&c)) && em_counter_wrap_period(&c) > 0);
}

/* The counter between two of its states: what it gained since (a wrap and
 * a reset in between included), resolution of its own two ends; a stepping
 * counter adds up to one step's energy at each end. */
static void test_since(void **state)
{
    (void)state;
    struct em_counter c, then, d;
    em_counter_init(&c, UJ, 1000000, 10.0); /* wraps every 0.1 s at 10 W */
    em_counter_start(&c, 0, 0.0);
    assert_int_equal(em_counter_update(&c, 500000, 0.1), EM_CTR_OK); /* 0.5 J */
    then = c;
    assert_int_equal(em_counter_update(&c, 100000, 0.19), EM_CTR_WRAPPED);    /* +0.6 J */
    assert_int_equal(em_counter_update(&c, 900000, 0.2), EM_CTR_IMPLAUSIBLE); /* a jump: gap */
    assert_int_equal(em_counter_update(&c, 950000, 0.29), EM_CTR_OK);         /* +0.05 J */
    em_counter_since(&c, &then, &d);
    assert_near(d.joules, 0.65, 1e-12);
    assert_near(d.covered_s, 0.18, 1e-12);
    assert_near(d.gap_s, 0.01, 1e-12);
    assert_int_equal(d.wraps, 1);
    assert_int_equal(d.faults, 1);
    assert_near(d.start_t, 0.1, 0);
    /* The gap is filled at the mean power since, not since the start. */
    assert_near(em_counter_joules(&d), 0.65 + 0.65 / 0.18 * 0.01, 1e-12);
    assert_near(em_counter_uncertainty(&d), 3 * UJ + 10.0 * 0.01, 1e-12);
    /* A counter that steps every 0.1 s: 2 x mean power x step. */
    em_counter_init(&c, 1e-3, 0, 700.0);
    c.step_s = 0.1;
    em_counter_start(&c, 0, 0.0);
    assert_int_equal(em_counter_update(&c, 10000, 1.0), EM_CTR_OK);
    then = c;
    assert_int_equal(em_counter_update(&c, 40000, 2.0), EM_CTR_OK); /* 30 J in 1 s */
    em_counter_since(&c, &then, &d);
    assert_near(em_counter_uncertainty(&d), 2e-3 + 2 * 30.0 * 0.1, 1e-9);
    /* Shorter than a step: up to the maximum power for a step at each end. */
    then = c;
    assert_int_equal(em_counter_update(&c, 40000, 2.05), EM_CTR_OK);
    em_counter_since(&c, &then, &d);
    assert_near(em_counter_uncertainty(&d), 2e-3 + 2 * 700.0 * 0.1, 1e-9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_wrap),
        cmocka_unit_test(test_since),
        cmocka_unit_test(test_update_without_start),
        cmocka_unit_test(test_one_wrap),
        cmocka_unit_test(test_many_wraps),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_late),
        cmocka_unit_test(test_fail_at_end),
        cmocka_unit_test(test_nonwrapping_backwards),
        cmocka_unit_test(test_fail_then_recover),
        cmocka_unit_test(test_scale_msr),
        cmocka_unit_test(test_wrap_period),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
