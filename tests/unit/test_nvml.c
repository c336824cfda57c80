/*
 * The NVML source (src/sources/nvml/: nvml.c, library.c, worker.c,
 * window.c): the edge arithmetic on synthetic steps, then whole windows
 * through the fake NVML library (tests/fake_nvml/fake_nvml.c, built into
 * $ENERGYMETER_BUILD/tests), whose energy counter steps every 100 ms at a
 * configured power: the truth of a window is power x duration.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "energymeter/energymeter.h"
#include "sources/nvml/nvml.h"
#include "testclock.h"

/* ------------------------------------------------------------ helpers */

static char tmpdir[256];
static char cfg_path[300];

static void use_lib(const char *variant)
{
    const char *build = getenv("ENERGYMETER_BUILD");
    char path[512];
    snprintf(path, sizeof path, "%s/tests/libnvidia-ml-fake%s.so", build ? build : "build",
             variant);
    setenv("ENERGYMETER_NVML_LIB", path, 1);
}

static void config(const char *text)
{
    FILE *f = fopen(cfg_path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/em-nvml-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    snprintf(cfg_path, sizeof cfg_path, "%s/fake.conf", tmpdir);
    /* An empty root: no CPU sources, and /proc is absent unless a test
     * points the root elsewhere. */
    setenv("ENERGYMETER_SYSFS_ROOT", tmpdir, 1);
    setenv("FAKE_NVML_CONFIG", cfg_path, 1);
    use_lib("");
    config("count=1\npower_w=100\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

struct window {
    em_meter *m;
    const em_report *r;
    int gpu;
    double dur, end_latency;
};

/* A new meter in w->m with options (gpu_list, settle). */
static void new_meter(struct window *w, const char *gpu_list, unsigned settle_ms)
{
    em_options o;
    em_options_init(&o);
    o.gpu_list = gpu_list;
    o.gpu_settle_ms = settle_ms;
    o.ignore_disk = 1;
    assert_int_equal(em_meter_new(&o, &w->m), EM_OK);
    /* Let the source learn the counter's step period first (four steps),
     * like a caller that creates its meter before the work. */
    sleep_s(0.5);
}

/* A window of `seconds` with w->m. */
static void measure_again(struct window *w, double seconds)
{
    assert_int_equal(em_begin(w->m), EM_OK);
    sleep_s(seconds);
    double t = now_mono();
    assert_int_equal(em_end(w->m), EM_OK);
    w->end_latency = now_mono() - t;
    w->r = em_meter_report(w->m);
    w->gpu = em_report_find(w->r, "gpu");
    assert_true(w->gpu >= 0);
    w->dur = em_report_duration_s(w->r);
}

/* Measure a window of `seconds` with a new meter (gpu_list, settle). */
static void measure(struct window *w, const char *gpu_list, unsigned settle_ms, double seconds)
{
    new_meter(w, gpu_list, settle_ms);
    measure_again(w, seconds);
}

static int has_warning(const em_report *r, const char *needle)
{
    for (size_t i = 0; i < em_report_warning_count(r); i++)
        if (strstr(em_report_warning(r, i), needle))
            return 1;
    return 0;
}

static char *json_of(const em_report *r)
{
    char *s = NULL;
    assert_int_equal(em_report_to_string(r, EM_FORMAT_JSON, &s), EM_OK);
    return s;
}

/* The first number after "KEY": in the report's JSON (NAN: no such key). */
static double json_number(const em_report *r, const char *key)
{
    char *js = NULL, pat[128];
    assert_int_equal(em_report_to_string(r, EM_FORMAT_JSON, &js), EM_OK);
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *at = strstr(js, pat);
    double v = at ? strtod(at + strlen(pat), NULL) : NAN;
    em_free(js);
    return v;
}

/* |got - truth| within the reported uncertainty (plus a hair for the
 * timestamps the test and the meter take at slightly different moments),
 * and within rel of the truth. Under valgrind (20-50x slower) the watches
 * wake tens of ms late and miss the steps that pin a window down; the meter
 * then says so with a wide uncertainty (13 % off within 28 % seen for two
 * GPUs), so only honesty is checked there; the plain and ASan runs check
 * accuracy. */
static void check_joules(double got, double u, double truth, double rel, const char *what)
{
    if (under_valgrind())
        rel = fmax(rel, 1.0);
    double err = fabs(got - truth);
    if (!(err <= u + 0.002 * truth + 0.01) || !(err <= rel * truth + 0.01)) {
        fail_msg("%s: %.4f J, truth %.4f J, uncertainty %.4f J, allowed %.1f%%", what, got, truth,
                 u, rel * 100);
    }
}

/* --------------------------------------------------------- arithmetic */

/* A step counter at power p(t) = before until t0, then after: what the
 * watches would see around a window [tb, te]. */
static double energy(double t, double t0, double before, double after)
{
    return t < t0 ? before * t : before * t0 + after * (t - t0);
}

static struct em_nvml_window synth(double tb, double te, double t0, double before, double after,
                                   int settle)
{
    struct em_nvml_window w = {.period = 0.1, .period_err = 0.0005, .max_power_w = 1000};
    w.tb = w.te = NAN;
    double T = 0.1;
    double tau0 = floor(tb / T) * T, tau1 = tau0 + T, tauc = floor(te / T) * T;
    w.b = (struct em_nvml_edge){.done = 1, .t = tb, .h = 0.001, .power_w = before, .ticks = 1};
    w.b.v = (uint64_t)llround(energy(tau0, t0, before, after) * 1000);
    w.b.tv[0] = (uint64_t)llround(energy(tau1, t0, before, after) * 1000);
    w.b.tt[0] = tau1;
    w.b.te[0] = 0.001;
    w.e = (struct em_nvml_edge){.done = 1, .t = te, .h = 0.001, .power_w = NAN};
    w.e.v = (uint64_t)llround(energy(tauc, t0, before, after) * 1000);
    if (settle) {
        w.e.ticks = 1;
        w.e.tv[0] = (uint64_t)llround(energy(tauc + T, t0, before, after) * 1000);
        w.e.tt[0] = tauc + T;
        w.e.te[0] = 0.001;
    }
    return w;
}

static void test_edges_steady(void **state)
{
    (void)state;
    /* 300 W all along, windows of 0.12 to 0.9 s at various phases. */
    for (int settle = 0; settle <= 1; settle++)
        for (double tb = 10.013; tb < 10.1; tb += 0.029)
            for (double len = 0.12; len < 1; len += 0.17) {
                struct em_nvml_window w = synth(tb, tb + len, 0, 300, 300, settle);
                struct em_nvml_estimate est;
                em_nvml_estimate_window(&w, &est);
                assert_true(est.ok);
                double truth = 300 * len;
                char what[64];
                snprintf(what, sizeof what, "steady tb=%.3f len=%.2f settle=%d", tb, len, settle);
                check_joules(est.joules, est.uncertainty_j, truth, settle ? 0.02 : 0.06, what);
                if (settle)
                    assert_true(est.uncertainty_j < 0.05 * truth);
            }
}

static void test_edges_burst(void **state)
{
    (void)state;
    /* Idle at 80 W, then a 600 W burst that starts with the window: the
     * step in progress at tb is mostly idle, and interpolating it as
     * steady power would under-count the burst's start. */
    for (double tb = 20.005; tb < 20.1; tb += 0.011) {
        double len = 0.1;
        struct em_nvml_window w = synth(tb, tb + len, tb, 80, 600, 1);
        struct em_nvml_estimate est;
        em_nvml_estimate_window(&w, &est);
        assert_true(est.ok);
        double truth = 600 * len;
        char what[64];
        snprintf(what, sizeof what, "burst tb=%.3f", tb);
        /* The truth lies within the uncertainty; the settled end assumes
         * the burst goes on after te, which it does here. */
        check_joules(est.joules, est.uncertainty_j, truth, 0.10, what);
    }
}

/* Steps off their grid by up to 15 ms: step k at k * 0.1 + jit(k). The
 * begin watch saw the first three steps after tb (those before te), the
 * settle the first after te; the window is told the jitter (as the meter
 * would have learnt it) through period_err. */
static double jit(double k)
{
    double u = sin(k * 7.31) * 1000;
    return 0.015 * (2 * (u - floor(u)) - 1);
}

static double step_at(double k)
{
    return k * 0.1 + jit(k);
}

static void test_edges_jittery(void **state)
{
    (void)state;
    const double P = 250; /* steady power */
    for (int settle = 0; settle <= 1; settle++)
        for (double tb = 30.003; tb < 30.2; tb += 0.017)
            for (double len = 0.12; len < 0.45; len += 0.1) {
                double te = tb + len;
                struct em_nvml_window w = {
                    .period = 0.1, .period_err = 0.0005 + 0.03, .max_power_w = 1000};
                w.tb = w.te = NAN;
                /* The last step at or before t. */
                double k0 = floor(tb / 0.1) + 1, kc = floor(te / 0.1) + 1;
                while (step_at(k0) > tb)
                    k0--;
                while (step_at(kc) > te)
                    kc--;
                w.b = (struct em_nvml_edge){.done = 1, .t = tb, .h = 0.001, .power_w = P};
                w.b.v = (uint64_t)llround(P * step_at(k0) * 1000);
                for (double k = k0 + 1; k <= kc && w.b.ticks < 3; k++) {
                    w.b.tv[w.b.ticks] = (uint64_t)llround(P * step_at(k) * 1000);
                    w.b.tt[w.b.ticks] = step_at(k);
                    w.b.te[w.b.ticks] = 0.001;
                    w.b.ticks++;
                }
                w.e = (struct em_nvml_edge){.done = 1, .t = te, .h = 0.001, .power_w = P};
                w.e.v = (uint64_t)llround(P * step_at(kc) * 1000);
                w.e.last_same = te;
                if (settle) {
                    w.e.ticks = 1;
                    w.e.tv[0] = (uint64_t)llround(P * step_at(kc + 1) * 1000);
                    w.e.tt[0] = step_at(kc + 1);
                    w.e.te[0] = 0.001;
                }
                if (w.b.ticks == 0)
                    continue; /* no step inside: covered by the other tests */
                struct em_nvml_estimate est;
                em_nvml_estimate_window(&w, &est);
                assert_true(est.ok);
                char what[80];
                snprintf(what, sizeof what, "jittery tb=%.3f len=%.2f settle=%d", tb, len, settle);
                check_joules(est.joules, est.uncertainty_j, P * len, 0.3, what);
            }
}

static void test_edges_early_readings(void **state)
{
    (void)state;
    /* A job that arrives while a watch call is in flight takes that call's
     * sample (worker.c), so a reading may lie before the meter's edge: the
     * begin's 3 ms before tb are not the window's, the end's 4 ms before te
     * are. At a steady 300 W the window gains 300 x (4 - 3) ms. */
    for (int settle = 0; settle <= 1; settle++) {
        struct em_nvml_window w = synth(40.013, 40.413, 0, 300, 300, settle);
        struct em_nvml_estimate plain, early;
        em_nvml_estimate_window(&w, &plain);
        w.tb = w.b.t + 0.003;
        w.te = w.e.t + 0.004;
        em_nvml_estimate_window(&w, &early);
        assert_true(plain.ok && early.ok);
        if (fabs(early.joules - plain.joules - 300 * 0.001) > 1e-6)
            fail_msg("settle=%d: %.6f J, then %.6f J with early readings", settle, plain.joules,
                     early.joules);
        check_joules(early.joules, early.uncertainty_j, 300 * (w.te - w.tb), 0.06,
                     "early readings");
    }
}

static void test_edges_no_information(void **state)
{
    (void)state;
    /* A failed end reading, or steps nobody watched: not ok, so the meter
     * keeps the plain difference. */
    struct em_nvml_window w = synth(5.01, 5.5, 0, 100, 100, 0);
    struct em_nvml_estimate est;
    w.e.err = 15;
    em_nvml_estimate_window(&w, &est);
    assert_false(est.ok);
    w = synth(5.01, 5.5, 0, 100, 100, 0);
    w.b.ticks = 0;
    w.b.last_same = 5.02;
    em_nvml_estimate_window(&w, &est);
    assert_false(est.ok);
    /* A window inside one step, settled: exact at steady power. */
    w = synth(7.02, 7.07, 0, 200, 200, 1);
    w.b.ticks = 0;
    w.e.v = w.b.v;
    w.e.tv[0] = w.b.tv[0];
    w.e.tt[0] = w.b.tt[0];
    em_nvml_estimate_window(&w, &est);
    assert_true(est.ok && est.within_step);
    check_joules(est.joules, est.uncertainty_j, 200 * 0.05, 0.05, "within one step");
}

/* ------------------------------------------------- through the fake */

static void test_two_gpus(void **state)
{
    (void)state;
    config("count=2\npower_w=200\npower_w.1=50\nprocesses=self\n");
    struct window w;
    measure(&w, NULL, 0, 0.6);
    assert_int_equal(em_component_status(w.r, w.gpu), EM_STATUS_MEASURED);
    assert_string_equal(em_component_source(w.r, w.gpu), "nvml");
    assert_int_equal(em_component_device_count(w.r, w.gpu), 2);
    assert_string_equal(em_device_name(w.r, w.gpu, 0), "gpu0");
    assert_string_equal(em_device_name(w.r, w.gpu, 1), "gpu1");
    double u = em_component_uncertainty(w.r, w.gpu);
    check_joules(em_device_joules(w.r, w.gpu, 0), u, 200 * w.dur, 0.02, "gpu0");
    check_joules(em_device_joules(w.r, w.gpu, 1), u, 50 * w.dur, 0.02, "gpu1");
    check_joules(em_component_joules(w.r, w.gpu), u, 250 * w.dur, 0.02, "gpu");
    assert_true(em_component_in_total(w.r, w.gpu));
    char *js = json_of(w.r);
    assert_non_null(strstr(js, "\"uuid\": \"GPU-fa4e0000-0000-4000-8000-000000000001\""));
    assert_non_null(strstr(js, "\"model\": \"Fake GPU\""));
    assert_non_null(strstr(js, "\"used_by_tree\": true"));
    assert_non_null(strstr(js, "\"index\": 1"));
    em_free(js);
    em_meter_free(w.m);
}

static void test_short_windows(void **state)
{
    (void)state;
    config("count=1\npower_w=300\n");
    const double lens[] = {0.1, 0.13, 0.2, 0.3};
    for (int settle = 0; settle <= 1; settle++)
        for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
            struct window w;
            measure(&w, NULL, settle ? 200 : 0, lens[i]);
            double j = em_component_joules(w.r, w.gpu), u = em_component_uncertainty(w.r, w.gpu);
            char what[64];
            snprintf(what, sizeof what, "%.2f s window, settle %d", lens[i], settle);
            /* Without settle the end's partial step is extrapolated (the
             * uncertainty says by how much); with it, exact. */
            check_joules(j, u, 300 * w.dur, settle ? 0.03 : 0.2, what);
            /* Far below a plain difference's two steps; not tighter, since
             * a fresh meter takes its sightings' timing errors for jitter
             * while it has seen few steps, and a loaded VM disturbs them
             * (9 % seen on a 0.3 s window by the CLI test). */
            if (settle && !under_valgrind())
                assert_true(u < 0.15 * 300 * w.dur);
            /* Settle waits after the window: it must not lengthen it. */
            assert_true(w.dur < lens[i] + 0.05);
            em_meter_free(w.m);
        }
}

/* Steps up to 15 ms off the 100 ms grid. A meter learns the jitter from
 * the steps it sees (its calibration, and four after each window's start,
 * src/sources/nvml/steps.c), so one that has seen a few windows keeps even the
 * shortest ones within the uncertainty it reports, which grows to say so.
 * How close the estimate can be is set by the jitter itself: the step in
 * progress at the start began where nobody watched, and two offsets of up
 * to 15 ms put it anywhere within 30 ms of a period before the first step
 * seen: 30 ms x 300 W = 9 J, a quarter of a 0.12 s window. */
static void test_short_windows_jittery_steps(void **state)
{
    (void)state;
    config("count=1\npower_w=300\ntick_jitter_ms=15\n");
    const double lens[] = {0.12, 0.2, 0.35, 0.12, 0.2, 0.35};
    for (int settle = 0; settle <= 1; settle++) {
        struct window w;
        new_meter(&w, NULL, settle ? 200 : 0);
        measure_again(&w, 0.6); /* another four steps seen */
        for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
            measure_again(&w, lens[i]);
            double j = em_component_joules(w.r, w.gpu), u = em_component_uncertainty(w.r, w.gpu);
            char what[64];
            snprintf(what, sizeof what, "%.2f s window, settle %d, jittery", lens[i], settle);
            /* Honest first: within the uncertainty. Then close: with
             * settle, the start's 9 J at most and the timing errors (0.3);
             * without, the end of a short window may also lose its phase
             * (the last step's time is then anywhere in a period), hence
             * the loose bound. Under valgrind the watches wake tens of ms
             * late and may miss the steps that pin a 0.12 s window down:
             * honesty only there. */
            double rel = under_valgrind() ? 1.0 : settle ? 0.3 : 0.6;
            check_joules(j, u, 300 * w.dur, rel, what);
            /* It saw the jitter: at least a few ms of it. */
            assert_true(json_number(w.r, "counter_step_jitter_s") > 0.003);
        }
        em_meter_free(w.m);
    }
}

static void test_power_fallback(void **state)
{
    (void)state;
    config("count=1\nenergy=0\npower_w=120\n");
    struct window w;
    measure(&w, NULL, 0, 0.8);
    assert_int_equal(em_component_status(w.r, w.gpu), EM_STATUS_MEASURED);
    assert_string_equal(em_component_source(w.r, w.gpu), "nvml-power");
    check_joules(em_component_joules(w.r, w.gpu), em_component_uncertainty(w.r, w.gpu), 120 * w.dur,
                 0.02, "power fallback");
    assert_true(has_warning(w.r, "no energy counter"));
    char *js = json_of(w.r);
    assert_non_null(strstr(js, "\"method\": \"power-readings\""));
    em_free(js);
    em_meter_free(w.m);
}

static void test_minimal_library(void **state)
{
    (void)state;
    use_lib("-min");
    config("count=1\npower_w=100\nprocesses=self\n");
    struct window w;
    measure(&w, NULL, 0, 0.4);
    assert_int_equal(em_component_status(w.r, w.gpu), EM_STATUS_MEASURED);
    check_joules(em_component_joules(w.r, w.gpu), em_component_uncertainty(w.r, w.gpu), 100 * w.dur,
                 0.05, "minimal NVML");
    char *js = json_of(w.r);
    /* No UUID, no process list: the keys are absent, not made up. */
    assert_null(strstr(js, "\"uuid\""));
    assert_null(strstr(js, "used_by_tree"));
    em_free(js);
    em_meter_free(w.m);
    use_lib("");
}

static void unavailable(const char *needle)
{
    struct window w;
    measure(&w, NULL, 0, 0.05);
    assert_int_equal(em_component_status(w.r, w.gpu), EM_STATUS_UNAVAILABLE);
    assert_true(isnan(em_component_joules(w.r, w.gpu)));
    const char *why = em_component_reason(w.r, w.gpu);
    assert_non_null(why);
    if (!strstr(why, needle))
        fail_msg("reason '%s' lacks '%s'", why, needle);
    em_meter_free(w.m);
}

static void test_unavailable(void **state)
{
    (void)state;
    use_lib("-broken");
    unavailable("lacks nvmlDeviceGetName");
    use_lib("");
    config("init_error=9\n");
    unavailable("Driver Not Loaded");
    config("count=0\n");
    unavailable("NVML sees no GPU");
    config("count=1\n");
    setenv("ENERGYMETER_NVML_LIB", "/nonexistent/libnvidia-ml.so.1", 1);
    unavailable("cannot load NVML from ENERGYMETER_NVML_LIB=/nonexistent/libnvidia-ml.so.1");
    unsetenv("ENERGYMETER_NVML_LIB");
    /* The default name, where no driver is installed (this test machine's
     * case; skip the check where a real driver answers). */
    em_meter *m;
    assert_int_equal(em_meter_new(NULL, &m), EM_OK);
    em_meter_free(m);
    use_lib("");
}

static void test_gpu_lost(void **state)
{
    (void)state;
    /* Lost 1.6 s after nvmlInit: the meter starts 0.35 s in, the sampler
     * reads the counter 1 s into the window, and the GPU is gone by the
     * 2 s reading and the end. */
    config("count=2\npower_w=150\nlost_after_s=1.6\nlost_after_s.1=-1\n");
    struct window w;
    measure(&w, NULL, 0, 2.2);
    assert_int_equal(em_component_status(w.r, w.gpu), EM_STATUS_ESTIMATED);
    assert_true(em_component_degraded(w.r, w.gpu));
    assert_true(has_warning(w.r, "GPU is lost"));
    /* gpu0 measured until its last good reading, the rest estimated at its
     * mean power: the truth lies within the widened uncertainty. */
    double u = em_component_uncertainty(w.r, w.gpu);
    check_joules(em_device_joules(w.r, w.gpu, 0), u, 150 * w.dur, 0.05, "lost gpu0");
    check_joules(em_device_joules(w.r, w.gpu, 1), u, 150 * w.dur, 0.02, "healthy gpu1");
    em_meter_free(w.m);
    /* The next window cannot read it at all: gpu1 alone, and a warning. */
    config("count=2\npower_w=150\nlost_after_s.0=0\n");
    measure(&w, NULL, 0, 0.3);
    assert_int_equal(em_component_status(w.r, w.gpu), EM_STATUS_MEASURED);
    assert_int_equal(em_component_device_count(w.r, w.gpu), 1);
    assert_string_equal(em_device_name(w.r, w.gpu, 0), "gpu1");
    em_meter_free(w.m);
}

static void test_selection(void **state)
{
    (void)state;
    config("count=3\npower_w=100\npower_w.2=40\n");
    struct window w;
    measure(&w, "2", 0, 0.3);
    assert_int_equal(em_component_device_count(w.r, w.gpu), 1);
    assert_string_equal(em_device_name(w.r, w.gpu, 0), "gpu2");
    check_joules(em_component_joules(w.r, w.gpu), em_component_uncertainty(w.r, w.gpu), 40 * w.dur,
                 0.1, "gpu2 alone");
    em_meter_free(w.m);
    measure(&w, "0,2", 0, 0.2);
    assert_int_equal(em_component_device_count(w.r, w.gpu), 2);
    em_meter_free(w.m);
    measure(&w, "5", 0, 0.05);
    assert_int_equal(em_component_status(w.r, w.gpu), EM_STATUS_UNAVAILABLE);
    assert_non_null(strstr(em_component_reason(w.r, w.gpu), "no GPU 5"));
    em_meter_free(w.m);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void test_parallel_reads(void **state)
{
    (void)state;
    /* Four GPUs whose energy call costs 3.9 ms, like an H100's: em_end()
     * reads them at once, so it costs about one call, not four (15.6 ms).
     * An end that arrives while a watch call is in flight takes that call's
     * sample instead of waiting for it and calling again (two calls: up to
     * 7.8 ms, which made 2 of 6 CI runs miss the bound). The median of five
     * windows: on this 2-vCPU VM a thread's wake-up is now and then late by
     * 3 to 8 ms (seen with every read already done), which says nothing
     * about how the reads are made; serial reads would miss it every time. */
    config("count=4\npower_w=100\nenergy_latency_ms=3.9\n");
    enum { N = 5 };
    double lat[N];
    for (int i = 0; i < N; i++) {
        struct window w;
        measure(&w, NULL, 0, 0.4);
        lat[i] = w.end_latency;
        /* Slow calls blur when the counter steps, and without settle the
         * end is extrapolated: the value must lie within its (wider)
         * uncertainty, which must stay informative. Under a sanitizer on a
         * loaded machine the thread timing is too loose for a fixed
         * relative bound (accuracy is checked with settle elsewhere). */
        double u = em_component_uncertainty(w.r, w.gpu);
        check_joules(em_component_joules(w.r, w.gpu), u, 400 * w.dur, 1.0, "4 slow GPUs");
        if (u > 0.75 * 400 * w.dur)
            fail_msg("4 slow GPUs: uncertainty %.1f J of %.1f J", u, 400 * w.dur);
        em_meter_free(w.m);
    }
    qsort(lat, N, sizeof lat[0], cmp_double);
    if (lat[N / 2] > 0.010)
        fail_msg("em_end() took %.1f ms (median of %d; %.1f to %.1f) with 4 GPUs at 3.9 ms a call",
                 lat[N / 2] * 1e3, N, lat[0] * 1e3, lat[N - 1] * 1e3);
}

static void test_named_windows(void **state)
{
    (void)state;
    /* Two GPUs at 100 W and 60 W: a named window inside a begin()/end()
     * window gets the counters' difference, up to one ~100 ms step at each
     * end in its uncertainty; the begin()/end() window keeps its edge
     * estimate (tight), though the named window's readings came between. */
    config("count=2\npower_w=100\npower_w.1=60\n");
    struct window w;
    new_meter(&w, NULL, 0);
    assert_int_equal(em_begin(w.m), EM_OK);
    sleep_s(0.15);
    assert_int_equal(em_window_begin(w.m, "inner"), EM_OK);
    sleep_s(0.6);
    em_report *r = NULL;
    assert_int_equal(em_window_end(w.m, "inner", &r), EM_OK);
    sleep_s(0.15);
    assert_int_equal(em_end(w.m), EM_OK);
    int g = em_report_find(r, "gpu");
    assert_true(g >= 0);
    assert_int_equal(em_component_status(r, (size_t)g), EM_STATUS_MEASURED);
    assert_int_equal(em_component_device_count(r, (size_t)g), 2);
    double dur = em_report_duration_s(r), u = em_component_uncertainty(r, (size_t)g);
    check_joules(em_component_joules(r, (size_t)g), u, 160 * dur, 0.5, "named window");
    /* 2 x mean power x period per GPU: about 32 J, never the power limit's. */
    if (!(u > 10 && u < 60))
        fail_msg("named window: uncertainty %.1f J of %.1f J", u, 160 * dur);
    em_report_free(r);
    const em_report *p = em_meter_report(w.m);
    int pg = em_report_find(p, "gpu");
    double pd = em_report_duration_s(p);
    check_joules(em_component_joules(p, (size_t)pg), em_component_uncertainty(p, (size_t)pg),
                 160 * pd, 0.2, "begin()/end() around it");
    em_meter_free(w.m);
}

static void test_used_by_tree(void **state)
{
    (void)state;
    /* A child of this process on the GPU: used; pid 1 only: not used. The
     * ancestry is read from the real /proc. */
    setenv("ENERGYMETER_SYSFS_ROOT", "/", 1);
    char pids[300];
    snprintf(pids, sizeof pids, "%s/pids", tmpdir);
    char text[600];
    snprintf(text, sizeof text, "count=2\nprocesses_file=%s\n", pids);
    config(text);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        pause();
        _exit(0);
    }
    FILE *f = fopen(pids, "w");
    assert_non_null(f);
    fprintf(f, "1\n%d\n", (int)child);
    fclose(f);
    struct window w;
    measure(&w, NULL, 0, 0.3);
    char *js = json_of(w.r);
    assert_non_null(strstr(js, "\"gpus_used_by_tree\": \"0,1\""));
    em_free(js);
    em_meter_free(w.m);
    f = fopen(pids, "w");
    assert_non_null(f);
    fprintf(f, "1\n");
    fclose(f);
    measure(&w, NULL, 0, 0.3);
    js = json_of(w.r);
    assert_non_null(strstr(js, "\"gpus_used_by_tree\": \"\""));
    assert_non_null(strstr(js, "\"used_by_tree\": false"));
    em_free(js);
    em_meter_free(w.m);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    assert_true(em_nvml_pid_in_tree("", (unsigned)getpid()));
    assert_false(em_nvml_pid_in_tree("", 1));
    setenv("ENERGYMETER_SYSFS_ROOT", tmpdir, 1);
}

static void test_list(void **state)
{
    (void)state;
    config("count=2\nenergy.1=0\n");
    char *s = NULL;
    assert_int_equal(em_list_sources(EM_FORMAT_TEXT, &s), EM_OK);
    assert_non_null(strstr(s, "NVML GPU 0 (Fake GPU), energy counter"));
    assert_non_null(strstr(s, "NVML GPU 1 (Fake GPU), power readings"));
    em_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edges_steady),
        cmocka_unit_test(test_edges_burst),
        cmocka_unit_test(test_edges_jittery),
        cmocka_unit_test(test_edges_early_readings),
        cmocka_unit_test(test_edges_no_information),
        cmocka_unit_test_setup_teardown(test_two_gpus, setup, teardown),
        cmocka_unit_test_setup_teardown(test_short_windows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_short_windows_jittery_steps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_minimal_library, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unavailable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gpu_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_selection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parallel_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_named_windows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_used_by_tree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
