/*
 * How the NVML source learns its energy counter's steps (src/sources/nvml/steps.c):
 * pure arithmetic on synthetic sightings, as the watches would report them.
 * Step k comes at PHASE + k x T + offset(k); a watch sees a run of
 * consecutive steps, each known to +- ERR, at a sighting that is off the
 * true time by less than ERR.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>

#include "sources/nvml/nvml.h"

#define T 0.1
#define PHASE 1234.5678
#define ERR 0.0005

/* A deterministic number in [-1, 1) for step k and a salt. */
static double unit(double k, double salt)
{
    double u = sin(k * 12.9898 + salt * 78.233) * 43758.5453;
    return 2 * (u - floor(u)) - 1;
}

/* Offsets of +-jitter, none before step `from`. */
struct truth {
    double jitter;
    double from;
};

static double step_time(const struct truth *tr, double k)
{
    return PHASE + k * T + (k >= tr->from ? tr->jitter * unit(k, 1) : 0);
}

/* A watch that saw steps k0 .. k0 + n - 1. */
static void watch(struct em_nvml_steps *s, const struct truth *tr, double k0, int n)
{
    double t[EM_NVML_MAX_STEPS], e[EM_NVML_MAX_STEPS];
    for (int i = 0; i < n && i < EM_NVML_MAX_STEPS; i++) {
        t[i] = step_time(tr, k0 + i) + 0.9 * ERR * unit(k0 + i, 2);
        e[i] = ERR;
    }
    em_nvml_steps_learn(s, t, e, n);
}

/* The bound the window arithmetic relies on: every spacing of two adjacent
 * steps is within spacing_err of the period. */
static void check_spacings(const struct em_nvml_steps *s, const struct truth *tr, double k0,
                           double k1, const char *what)
{
    double bound = em_nvml_steps_spacing_err(s), worst = 0;
    for (double k = k0; k < k1; k++)
        worst = fmax(worst, fabs(step_time(tr, k + 1) - step_time(tr, k) - s->period));
    if (worst > bound + 1e-9)
        fail_msg("%s: a spacing is %.2f ms off a period of %.3f ms, bound %.2f ms", what,
                 worst * 1e3, s->period * 1e3, bound * 1e3);
}

static void check_period(const struct em_nvml_steps *s, const char *what)
{
    if (!(fabs(s->period - T) <= s->period_err))
        fail_msg("%s: period %.4f ms +- %.4f ms, truth %.4f ms", what, s->period * 1e3,
                 s->period_err * 1e3, T * 1e3);
}

static void test_prior(void **state)
{
    (void)state;
    struct em_nvml_steps s;
    em_nvml_steps_init(&s);
    assert_true(s.period == EM_NVML_PERIOD_PRIOR_S && s.period_err == EM_NVML_PERIOD_ERR_PRIOR_S);
    /* One step tells nothing about the period; a sighting without a valid
     * error is ignored. */
    double t = 10, bad = NAN;
    em_nvml_steps_learn(&s, &t, &bad, 1);
    assert_int_equal(s.seen, 0);
    em_nvml_steps_learn(&s, &t, (double[]){ERR}, 1);
    assert_int_equal(s.seen, 1);
    assert_true(s.period == EM_NVML_PERIOD_PRIOR_S && s.jitter == 0);
}

static void test_regular(void **state)
{
    (void)state;
    /* Steps on the grid: calibration, then windows 5-20 steps apart. The
     * period comes out exact to the timing errors, and no jitter. */
    struct truth tr = {0, 0};
    struct em_nvml_steps s;
    em_nvml_steps_init(&s);
    double k = 0;
    watch(&s, &tr, k, 4);
    check_period(&s, "calibration");
    assert_true(s.period_err < 2 * ERR);
    for (int w = 0; w < 12; w++) {
        k += 4 + 5 + (w * 7) % 16;
        watch(&s, &tr, k, 3);
        check_period(&s, "regular");
    }
    /* Offsets below the timing errors cannot be told from them: at most
     * that little is claimed. */
    assert_true(s.jitter <= ERR);
    /* Linked across the windows: a span of ~150 steps pins the period. */
    assert_true(s.period_err < 2e-5);
    assert_int_equal(s.seen, 4 + 12 * 3);
    check_spacings(&s, &tr, 0, k, "regular");
}

static void test_jittery(void **state)
{
    (void)state;
    /* Offsets of up to 15 ms (15 % of the period). From the second watch
     * on (two steps alone cannot show jitter), the period's error covers
     * the truth, and the spacing bound covers every spacing. */
    struct truth tr = {0.015, 0};
    struct em_nvml_steps s;
    em_nvml_steps_init(&s);
    double k = 0;
    watch(&s, &tr, k, 4);
    for (int w = 0; w < 30; w++) {
        k += 4 + 3 + (w * 5) % 9;
        watch(&s, &tr, k, 3);
        char what[48];
        snprintf(what, sizeof what, "jittery, watch %d", w);
        check_period(&s, what);
        check_spacings(&s, &tr, 0, k + 3, what);
    }
    /* It learnt the jitter: close to the truth, not a wild over-estimate. */
    assert_true(s.jitter > 0.8 * tr.jitter && s.jitter < 2 * tr.jitter);
    assert_true(fabs(s.period - T) < 0.002);
    assert_true(s.period_err < 0.01);
}

static void test_wild_jitter(void **state)
{
    (void)state;
    /* Offsets of up to 30 ms: two steps' offsets may add up to more than
     * half a period, so a step seen a few periods after another cannot be
     * numbered from the period alone. Chains must then stay apart, or one
     * mis-numbered step skews the period beyond its stated error. */
    struct truth tr = {0.03, 0};
    struct em_nvml_steps s;
    em_nvml_steps_init(&s);
    double k = 0;
    watch(&s, &tr, k, 4);
    for (int w = 0; w < 40; w++) {
        k += 4 + 1 + w % 4;
        watch(&s, &tr, k, 3);
        if (w >= 1)
            check_period(&s, "wild jitter");
    }
    check_spacings(&s, &tr, 0, k + 3, "wild jitter");
}

static void test_jitter_found_late(void **state)
{
    (void)state;
    /* The period is learnt on steps that keep the grid; then they start to
     * jitter. A period accepted before must not keep the small error it
     * had: once the jitter is seen, the error grows to say so. */
    struct truth tr = {0.015, 40};
    struct em_nvml_steps s;
    em_nvml_steps_init(&s);
    double k = 0;
    watch(&s, &tr, k, 4);
    while (k < 30) {
        k += 8;
        watch(&s, &tr, k, 3);
    }
    double calm_err = s.period_err;
    assert_true(s.jitter <= ERR && calm_err < 1e-4);
    for (int w = 0; w < 20; w++) {
        k += 7 + w % 3;
        watch(&s, &tr, k, 3);
    }
    assert_true(s.jitter > 0.5 * tr.jitter);
    assert_true(s.period_err > calm_err);
    check_period(&s, "jitter found late");
    check_spacings(&s, &tr, 40, k + 3, "jitter found late");
}

static void test_unlinked_chains(void **state)
{
    (void)state;
    /* Windows minutes apart: no step number can be carried from one to the
     * next, yet every watch still adds to what is known of the period. */
    struct truth tr = {0.005, 0};
    struct em_nvml_steps s;
    em_nvml_steps_init(&s);
    double k = 0;
    watch(&s, &tr, k, 4);
    double first_err = NAN;
    for (int w = 0; w < 20; w++) {
        k += 1000 + w * 37;
        watch(&s, &tr, k, 3);
        if (w == 1)
            first_err = s.period_err;
        if (w >= 1)
            check_period(&s, "unlinked");
    }
    assert_true(s.n == 3); /* the last watch's chain only */
    assert_true(s.period_err < first_err);
}

static void test_ambiguous_sighting(void **state)
{
    (void)state;
    /* A watch that slept through a step (on a loaded machine): its next
     * sighting brackets 120 ms, which may hold two steps. It must not be
     * numbered as the next step, or the period would come out doubled. */
    struct em_nvml_steps s;
    em_nvml_steps_init(&s);
    double t[3] = {PHASE, PHASE + 2 * T, PHASE + 3 * T}, e[3] = {ERR, 0.06, ERR};
    em_nvml_steps_learn(&s, t, e, 3);
    assert_int_equal(s.seen, 3);
    assert_true(fabs(s.period - T) < 2 * ERR);
    check_period(&s, "after an ambiguous sighting");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prior),
        cmocka_unit_test(test_regular),
        cmocka_unit_test(test_jittery),
        cmocka_unit_test(test_wild_jitter),
        cmocka_unit_test(test_jitter_found_late),
        cmocka_unit_test(test_unlinked_chains),
        cmocka_unit_test(test_ambiguous_sighting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
