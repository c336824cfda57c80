/*
 * The meter end to end on fake powercap trees (src/meter.c): a writer thread
 * moves energy_uj at a known power, so the ground truth of a window is
 * power x duration whatever happens to the counter (wraps, resets).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>

#include "fakefs.h"
#include "testclock.h"
#include "energymeter/energymeter.h"

/* ------------------------------------------------------------ the writer */

/*
 * A thread rewrites every zone's energy_uj in place every WRITER_PERIOD_S.
 * Each zone keeps its ground truth, e_uj: the energy it drew since the
 * writer started; the file holds (offset_uj + e_uj) mod (range_uj + 1).
 * e_uj grows at watts x elapsed time, but by at most watts x MAX_STEP_S per
 * pass: a writer starved by the scheduler (valgrind, a loaded machine) makes
 * the zone draw less for a while instead of jumping by more than any real
 * counter could between two readings. The test compares the meter with
 * e_uj, exactly, and with watts x duration, within NOMINAL_REL.
 *
 * em_begin() and em_end() are called with the writer's mutex held, just
 * after a pass (sync_begin/sync_end): the counters the meter reads at the
 * edges of the window are exactly the snapshots the test takes.
 */
#define WRITER_PERIOD_S 0.002
#define MAX_STEP_S 0.012
#define MAX_WZONES 4
/* Every value is written at this width (padded with blanks, which readers
 * accept), so an in-place rewrite never leaves a shorter value followed by
 * the tail of a longer one. */
#define VALUE_WIDTH 24

struct wzone {
    char path[FAKEFS_PATH_MAX];
    int fd;
    double watts;
    uint64_t range_uj;  /* max_energy_range_uj: values run 0..range_uj */
    uint64_t offset_uj; /* raw = (offset_uj + e_uj) mod (range_uj + 1) */
    uint64_t e_uj;      /* ground truth since the writer started */
    double frac_uj;     /* the fraction of a microjoule carried to the next pass */
    double last_t;
    double reset_at;  /* > 0: the counter restarts from 0 at the first pass after */
    double vanish_at; /* > 0: energy_uj is deleted at the first pass after */
    int reset_done, vanished;
};

struct writer {
    pthread_t thread;
    pthread_mutex_t mu;
    atomic_int stop;
    struct wzone z[MAX_WZONES];
    size_t n;
};

/* One pass (mutex held): advance every zone to now and rewrite its file. */
static void writer_pass(struct writer *w)
{
    double t = now_mono();
    for (size_t i = 0; i < w->n; i++) {
        struct wzone *z = &w->z[i];
        double inc = z->watts * (t - z->last_t) * 1e6;
        if (inc > z->watts * MAX_STEP_S * 1e6)
            inc = z->watts * MAX_STEP_S * 1e6;
        inc = inc > 0 ? inc + z->frac_uj : z->frac_uj;
        uint64_t add = (uint64_t)inc;
        z->frac_uj = inc - (double)add;
        z->e_uj += add;
        z->last_t = t;
        if (z->vanished)
            continue; /* the zone still draws power; nobody can read it */
        if (z->vanish_at > 0 && t >= z->vanish_at) {
            unlink(z->path);
            close(z->fd);
            z->fd = -1;
            z->vanished = 1;
            continue;
        }
        uint64_t m = z->range_uj + 1;
        if (z->reset_at > 0 && t >= z->reset_at && !z->reset_done) {
            z->offset_uj = (m - z->e_uj % m) % m; /* raw is 0 now */
            z->reset_done = 1;
        }
        char buf[VALUE_WIDTH + 1];
        snprintf(buf, sizeof buf, "%-*llu\n", VALUE_WIDTH - 1,
                 (unsigned long long)((z->offset_uj + z->e_uj) % m));
        if (pwrite(z->fd, buf, VALUE_WIDTH, 0) != VALUE_WIDTH)
            abort(); /* the fake tree broke under us */
    }
}

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    while (!atomic_load(&w->stop)) {
        pthread_mutex_lock(&w->mu);
        writer_pass(w);
        pthread_mutex_unlock(&w->mu);
        sleep_s(WRITER_PERIOD_S);
    }
    return NULL;
}

/* A zone moved by the writer at watts, wrapping after range_uj, whose
 * counter starts at offset_uj. */
static struct wzone *writer_add(struct writer *w, const struct fakefs *f, const char *id,
                                double watts, uint64_t range_uj, uint64_t offset_uj)
{
    assert_true(w->n < MAX_WZONES);
    struct wzone *z = &w->z[w->n++];
    memset(z, 0, sizeof *z);
    fakefs_zone_abs(f, id, "energy_uj", z->path, sizeof z->path);
    z->fd = open(z->path, O_WRONLY | O_CLOEXEC);
    assert_true(z->fd >= 0);
    z->watts = watts;
    z->range_uj = range_uj;
    z->offset_uj = offset_uj;
    return z;
}

/* Start moving the counters (first values written before anyone reads). */
static void writer_start(struct writer *w)
{
    double t = now_mono();
    for (size_t i = 0; i < w->n; i++)
        w->z[i].last_t = t;
    assert_int_equal(pthread_mutex_init(&w->mu, NULL), 0);
    atomic_store(&w->stop, 0);
    writer_pass(w);
    assert_int_equal(pthread_create(&w->thread, NULL, writer_main, w), 0);
}

static void writer_stop(struct writer *w)
{
    atomic_store(&w->stop, 1);
    assert_int_equal(pthread_join(w->thread, NULL), 0);
    pthread_mutex_destroy(&w->mu);
    for (size_t i = 0; i < w->n; i++)
        if (!w->z[i].vanished)
            close(w->z[i].fd);
    w->n = 0;
}

/* Ground truth of every zone at the edges of a window. */
struct snap {
    uint64_t e_uj[MAX_WZONES];
};

/* em_begin() right after a pass, the writer held: snap is what it reads. */
static void sync_begin(struct writer *w, em_meter *m, struct snap *s)
{
    pthread_mutex_lock(&w->mu);
    writer_pass(w);
    for (size_t i = 0; i < w->n; i++)
        s->e_uj[i] = w->z[i].e_uj;
    int rc = em_begin(m);
    pthread_mutex_unlock(&w->mu);
    assert_int_equal(rc, 0);
}

/* em_end() likewise; s becomes the energy of each zone in the window. */
static void sync_end(struct writer *w, em_meter *m, struct snap *s)
{
    pthread_mutex_lock(&w->mu);
    writer_pass(w);
    for (size_t i = 0; i < w->n; i++)
        s->e_uj[i] = w->z[i].e_uj - s->e_uj[i];
    int rc = em_end(m);
    pthread_mutex_unlock(&w->mu);
    assert_int_equal(rc, 0);
}

/* ------------------------------------------------------------- the tests */

#define CPU_W 50.0
#define DRAM_W 10.0

struct fixture {
    struct fakefs fs;
    struct writer w;
};

/* package-0 at 50 W wrapping every 25 J (3.4 wraps in 1.7 s; max power
 * 100 W), dram at 10 W wrapping every 5 J (max power 20 W). At maximum
 * power the counters wrap every 0.17 s (with the meter's margin), so the
 * sampler reads them every ~40 ms and a test VM that stops the process for
 * up to ~0.12 s (tens of ms are seen on busy 2-CPU VMs) leaves no wrap in
 * doubt: a shorter range made such a hiccup an honest "degraded" that the
 * tests took for a failure. */
#define PKG_RANGE_UJ 25000000
#define DRAM_RANGE_UJ 5000000
static struct fixture *fixture_wrapping(void)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fakefs_init(&fx->fs);
    fakefs_zone(&fx->fs, "intel-rapl:0", "package-0", PKG_RANGE_UJ, 100000000, 24000000);
    fakefs_zone(&fx->fs, "intel-rapl:0:0", "dram", DRAM_RANGE_UJ, 20000000, 4300000);
    writer_add(&fx->w, &fx->fs, "intel-rapl:0", CPU_W, PKG_RANGE_UJ, 24000000);
    writer_add(&fx->w, &fx->fs, "intel-rapl:0:0", DRAM_W, DRAM_RANGE_UJ, 4300000);
    writer_start(&fx->w);
    return fx;
}

static void fixture_free(struct fixture *fx)
{
    if (fx->w.n)
        writer_stop(&fx->w);
    fakefs_cleanup(&fx->fs);
    free(fx);
}

static int comp(const em_report *r, const char *name)
{
    int c = em_report_find(r, name);
    if (c < 0)
        fail_msg("no component %s in the report", name);
    return c;
}

/* How close a zone's truth is to watts x duration: the writer draws less
 * while the scheduler starves it (MAX_STEP_S), by ~3 % after a 40 ms stop,
 * so this only checks that the writer did its job; the meter is checked
 * against the truth, exactly. */
#define NOMINAL_REL 0.1

/*
 * A measured component: its joules equal the ground truth of the writer
 * (truth_uj, what the counters really moved by) to the counter's resolution,
 * and lie within rel of watts x the window's duration.
 */
static void expect_joules(const em_report *r, const char *name, double watts, uint64_t truth_uj,
                          double rel)
{
    int c = comp(r, name);
    double truth = (double)truth_uj * 1e-6;
    double nominal = watts * em_report_duration_s(r);
    double got = em_component_joules(r, (size_t)c);
    if (getenv("EMTEST_DEBUG"))
        print_message("%s: %.6f J, truth %.6f J, %+.3f%% of %.0f W x %.4f s\n", name, got, truth,
                      (got - nominal) / nominal * 100, watts, em_report_duration_s(r));
    if (!(fabs(got - truth) <= 1e-4))
        fail_msg("%s: %.6f J, but the counter moved by %.6f J", name, got, truth);
    if (!(fabs(got - nominal) <= rel * nominal))
        fail_msg("%s: %.4f J, want %.4f J (%.0f W x %.4f s) within %.1f%% (the writer's own "
                 "count: %.4f J)",
                 name, got, nominal, watts, em_report_duration_s(r), rel * 100, truth);
}

static void dump_warnings(const em_report *r)
{
    for (size_t i = 0; i < em_report_warning_count(r); i++)
        print_message("warning: %s\n", em_report_warning(r, i));
}

static void expect_clean_measured(const em_report *r, const char *name)
{
    int c = comp(r, name);
    assert_int_equal(em_component_status(r, (size_t)c), EM_STATUS_MEASURED);
    assert_false(em_component_degraded(r, (size_t)c));
    assert_non_null(em_component_source(r, (size_t)c));
    assert_string_equal(em_component_source(r, (size_t)c), "rapl-powercap");
    assert_null(em_component_reason(r, (size_t)c));
    assert_int_equal(em_component_in_total(r, (size_t)c), 1);
    assert_int_equal(em_component_device_count(r, (size_t)c), 1);
    assert_string_equal(em_device_name(r, (size_t)c, 0), "package-0");
    assert_true(fabs(em_device_joules(r, (size_t)c, 0) - em_component_joules(r, (size_t)c)) < 1e-9);
    double u = em_component_uncertainty(r, (size_t)c);
    assert_true(u >= 0 && u < 1e-3);
}

/* Counters wrapping several times in the window: exact joules. */
static void test_measure_with_wraps(void **state)
{
    (void)state;
    struct fixture *fx = fixture_wrapping();
    em_meter *m = NULL;
    assert_int_equal(em_meter_new(NULL, &m), 0);
    assert_non_null(m);
    assert_null(em_meter_report(m));

    struct snap e;
    sync_begin(&fx->w, m, &e);
    sleep_s(1.7);
    sync_end(&fx->w, m, &e);
    em_report *r = em_meter_report(m);
    assert_non_null(r);
    dump_warnings(r);

    double d = em_report_duration_s(r);
    assert_true(d >= 1.7 && d < 2.6);
    /* Both counters really wrapped at least 3 times. */
    assert_true((double)e.e_uj[0] / (PKG_RANGE_UJ + 1) >= 3.0);
    assert_true((double)e.e_uj[1] / (DRAM_RANGE_UJ + 1) >= 3.0);
    expect_joules(r, "cpu", CPU_W, e.e_uj[0], NOMINAL_REL);
    expect_joules(r, "dram", DRAM_W, e.e_uj[1], NOMINAL_REL);
    expect_clean_measured(r, "cpu");
    expect_clean_measured(r, "dram");
    assert_int_equal(em_report_warning_count(r), 0);

    /* gpu and disk: unavailable, NaN, with a reason; not in the total. */
    int g = comp(r, "gpu"), k = comp(r, "disk");
    assert_int_equal(em_component_status(r, (size_t)g), EM_STATUS_UNAVAILABLE);
    assert_int_equal(em_component_status(r, (size_t)k), EM_STATUS_UNAVAILABLE);
    assert_true(isnan(em_component_joules(r, (size_t)g)));
    double total = em_component_joules(r, (size_t)comp(r, "cpu")) +
                   em_component_joules(r, (size_t)comp(r, "dram"));
    assert_true(fabs(em_report_total_joules(r) - total) < 1e-9);
    expect_joules(r, "cpu", CPU_W, e.e_uj[0], NOMINAL_REL); /* the report is stable once built */

    em_meter_free(m);
    fixture_free(fx);
}

/* One meter, three windows: each window counts only itself. */
static void test_reuse(void **state)
{
    (void)state;
    struct fixture *fx = fixture_wrapping();
    em_meter *m = NULL;
    assert_int_equal(em_meter_new(NULL, &m), 0);
    for (int i = 0; i < 3; i++) {
        struct snap e;
        sync_begin(&fx->w, m, &e);
        sleep_s(0.2);
        sync_end(&fx->w, m, &e);
        em_report *r = em_meter_report(m);
        assert_non_null(r);
        dump_warnings(r);
        assert_true(em_report_duration_s(r) >= 0.2 && em_report_duration_s(r) < 1.0);
        expect_joules(r, "cpu", CPU_W, e.e_uj[0], NOMINAL_REL);
        expect_joules(r, "dram", DRAM_W, e.e_uj[1], NOMINAL_REL);
        expect_clean_measured(r, "cpu");
        assert_int_equal(em_report_warning_count(r), 0);
        sleep_s(0.03); /* energy between windows must not leak into the next */
    }
    em_meter_free(m);
    fixture_free(fx);
}

/* Two meters in one process, overlapping windows of different lengths. */
static void test_two_meters(void **state)
{
    (void)state;
    struct fixture *fx = fixture_wrapping();
    em_meter *a = NULL, *b = NULL;
    em_options o;
    em_options_init(&o);
    o.label = "meter a";
    assert_int_equal(em_meter_new(&o, &a), 0);
    o.label = "meter b";
    assert_int_equal(em_meter_new(&o, &b), 0);
    assert_true(a != b);

    struct snap ea, eb;
    sync_begin(&fx->w, a, &ea);
    sleep_s(0.05);
    sync_begin(&fx->w, b, &eb);
    sleep_s(0.25);
    sync_end(&fx->w, b, &eb);
    sleep_s(0.05);
    sync_end(&fx->w, a, &ea);

    em_report *ra = em_meter_report(a), *rb = em_meter_report(b);
    assert_non_null(ra);
    assert_non_null(rb);
    assert_true(ra != rb);
    assert_string_equal(em_report_label(ra), "meter a");
    assert_string_equal(em_report_label(rb), "meter b");
    assert_true(em_report_duration_s(ra) >= 0.35);
    assert_true(em_report_duration_s(rb) >= 0.25 && em_report_duration_s(rb) < 0.35);
    expect_joules(ra, "cpu", CPU_W, ea.e_uj[0], NOMINAL_REL);
    expect_joules(rb, "cpu", CPU_W, eb.e_uj[0], NOMINAL_REL);
    expect_joules(ra, "dram", DRAM_W, ea.e_uj[1], NOMINAL_REL);
    expect_joules(rb, "dram", DRAM_W, eb.e_uj[1], NOMINAL_REL);
    assert_true(em_report_start_ns(rb) > em_report_start_ns(ra));
    assert_true(em_report_end_ns(rb) < em_report_end_ns(ra));

    em_meter_free(b);
    em_meter_free(a);
    fixture_free(fx);
}

/* Calls out of order are errors with a message, and change nothing. */
static void test_state_errors(void **state)
{
    (void)state;
    struct fakefs fs;
    fakefs_init(&fs);
    fakefs_zone(&fs, "intel-rapl:0", "package-0", 262143328850ULL, 100000000, 1000);
    em_meter *m = NULL;
    assert_int_equal(em_meter_new(NULL, &m), 0);
    assert_string_equal(em_meter_errmsg(m), "");

    assert_int_equal(em_end(m), EM_ERR_STATE);
    assert_true(strlen(em_meter_errmsg(m)) > 0);
    assert_null(em_meter_report(m));

    assert_int_equal(em_begin(m), 0);
    assert_int_equal(em_begin(m), EM_ERR_STATE);
    assert_true(strlen(em_meter_errmsg(m)) > 0);
    fakefs_zone_write(&fs, "intel-rapl:0", "energy_uj", "51000\n"); /* +0.05 J */
    assert_int_equal(em_end(m), 0);
    em_report *r = em_meter_report(m);
    assert_non_null(r);
    /* The second em_begin() did not restart the window. */
    int c = comp(r, "cpu");
    assert_true(fabs(em_component_joules(r, (size_t)c) - 0.05) < 1e-9);
    assert_int_equal(em_end(m), EM_ERR_STATE);
    assert_true(em_meter_report(m) == r); /* the last report is kept */

    assert_int_equal(em_begin(NULL), EM_ERR_INVALID);
    assert_int_equal(em_end(NULL), EM_ERR_INVALID);
    assert_int_equal(em_meter_new(NULL, NULL), EM_ERR_INVALID);
    em_meter_free(NULL);
    em_meter_free(m);
    fakefs_cleanup(&fs);
}

/* No powercap at all (this VM): cpu and dram unavailable with the reason,
 * gpu and disk unavailable, total 0, and begin/end still work. */
static void test_no_powercap(void **state)
{
    (void)state;
    struct fakefs fs;
    fakefs_init(&fs);
    fakefs_mkdir_p(&fs, "sys/class");
    em_meter *m = NULL;
    assert_int_equal(em_meter_new(NULL, &m), 0);
    assert_int_equal(em_begin(m), 0);
    assert_int_equal(em_end(m), 0);
    em_report *r = em_meter_report(m);
    assert_non_null(r);
    assert_true(em_report_component_count(r) >= 4);
    const char *fixed[] = {"cpu", "dram", "gpu", "disk"};
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(em_component_name(r, i), fixed[i]);
        assert_int_equal(em_component_status(r, i), EM_STATUS_UNAVAILABLE);
        assert_true(isnan(em_component_joules(r, i)));
        assert_null(em_component_source(r, i));
        const char *why = em_component_reason(r, i);
        assert_non_null(why);
        assert_true(strlen(why) > 10);
    }
    assert_non_null(strcasestr(em_component_reason(r, 0), "powercap"));
    assert_true(em_report_total_joules(r) == 0.0);
    em_meter_free(m);
    fakefs_cleanup(&fs);
}

static int has_warning(const em_report *r, const char *needle)
{
    for (size_t i = 0; i < em_report_warning_count(r); i++)
        if (strcasestr(em_report_warning(r, i), needle))
            return 1;
    return 0;
}

/* A component whose count was partly estimated: degraded, estimated, close
 * to the truth (constant power) and the truth inside the uncertainty. */
static void expect_estimated(const em_report *r, const char *name, uint64_t truth_uj)
{
    int c = comp(r, name);
    double want = (double)truth_uj * 1e-6;
    double got = em_component_joules(r, (size_t)c);
    double u = em_component_uncertainty(r, (size_t)c);
    if (getenv("EMTEST_DEBUG"))
        print_message("%s: %.4f J, truth %.4f J (%+.3f%%), u=%.3f J\n", name, got, want,
                      (got - want) / want * 100, u);
    assert_true(em_component_degraded(r, (size_t)c));
    assert_int_equal(em_component_status(r, (size_t)c), EM_STATUS_ESTIMATED);
    if (!(fabs(got - want) <= 0.05 * want))
        fail_msg("%s: %.4f J, truth %.4f J: not within 5%%", name, got, want);
    if (!(fabs(got - want) <= u))
        fail_msg("%s: %.4f J, truth %.4f J outside the uncertainty %.4f J", name, got, want, u);
    assert_true(u > 0.01); /* the gap is not hidden */
}

/* The counter restarts from 0 in the middle of the window (a reset no wrap
 * explains): a warning, degraded and estimated, never a wrong number. */
static void test_counter_reset(void **state)
{
    (void)state;
    struct fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fakefs_init(&fx->fs);
    /* 100 J range at 50 W: no wrap in the window; the reset drops the counter
     * from ~12 J to 0, which as a wrap would be ~85 J in one sampler period. */
    fakefs_zone(&fx->fs, "intel-rapl:0", "package-0", 100000000, 100000000, 0);
    fakefs_zone(&fx->fs, "intel-rapl:0:0", "dram", 100000000, 20000000, 0);
    struct wzone *z = writer_add(&fx->w, &fx->fs, "intel-rapl:0", CPU_W, 100000000, 0);
    writer_add(&fx->w, &fx->fs, "intel-rapl:0:0", DRAM_W, 100000000, 0);
    z->reset_at = now_mono() + 0.25;
    writer_start(&fx->w);

    em_meter *m = NULL;
    assert_int_equal(em_meter_new(NULL, &m), 0);
    struct snap e;
    sync_begin(&fx->w, m, &e);
    sleep_s(0.45);
    sync_end(&fx->w, m, &e);
    assert_true(z->reset_done);
    em_report *r = em_meter_report(m);
    assert_non_null(r);
    dump_warnings(r);
    assert_true(em_report_warning_count(r) >= 1);
    assert_true(has_warning(r, "cpu"));
    expect_estimated(r, "cpu", e.e_uj[0]);
    /* dram, untouched, is still exact. */
    expect_joules(r, "dram", DRAM_W, e.e_uj[1], NOMINAL_REL);
    expect_clean_measured(r, "dram");

    em_meter_free(m);
    fixture_free(fx);
}

/* energy_uj is deleted in the middle of the window: a warning, degraded,
 * estimated from the part that was measured. */
static void test_file_vanishes(void **state)
{
    (void)state;
    struct fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fakefs_init(&fx->fs);
    fakefs_zone(&fx->fs, "intel-rapl:0", "package-0", PKG_RANGE_UJ, 100000000, 0);
    fakefs_zone(&fx->fs, "intel-rapl:0:0", "dram", DRAM_RANGE_UJ, 20000000, 0);
    struct wzone *z = writer_add(&fx->w, &fx->fs, "intel-rapl:0", CPU_W, PKG_RANGE_UJ, 0);
    writer_add(&fx->w, &fx->fs, "intel-rapl:0:0", DRAM_W, DRAM_RANGE_UJ, 0);
    z->vanish_at = now_mono() + 0.25;
    writer_start(&fx->w);

    em_meter *m = NULL;
    assert_int_equal(em_meter_new(NULL, &m), 0);
    struct snap e;
    sync_begin(&fx->w, m, &e);
    sleep_s(0.45);
    sync_end(&fx->w, m, &e);
    writer_stop(&fx->w);
    assert_true(z->vanished);
    em_report *r = em_meter_report(m);
    assert_non_null(r);
    dump_warnings(r);
    assert_true(em_report_warning_count(r) >= 1);
    assert_true(has_warning(r, "energy_uj"));
    expect_estimated(r, "cpu", e.e_uj[0]);
    expect_joules(r, "dram", DRAM_W, e.e_uj[1], NOMINAL_REL);
    expect_clean_measured(r, "dram");

    em_meter_free(m);
    fixture_free(fx);
}

/* Bad options: EM_ERR_INVALID, no meter, and a message. */
static void test_bad_options(void **state)
{
    (void)state;
    struct fakefs fs;
    fakefs_init(&fs);
    em_meter *m = (em_meter *)&fs; /* must be overwritten with NULL */
    em_options o;

    em_options_init(&o);
    assert_int_equal(o.size, sizeof o);
    o.size = 3;
    assert_int_equal(em_meter_new(&o, &m), EM_ERR_INVALID);
    assert_null(m);
    assert_true(strlen(em_meter_errmsg(NULL)) > 0);

    em_options_init(&o);
    o.size = sizeof o + 64;
    m = (em_meter *)&fs;
    assert_int_equal(em_meter_new(&o, &m), EM_ERR_INVALID);
    assert_null(m);

    em_options_init(&o);
    o.disk_avg_speed = -1;
    assert_int_equal(em_meter_new(&o, &m), EM_ERR_INVALID);
    assert_null(m);
    assert_non_null(strstr(em_meter_errmsg(NULL), "disk_avg_speed"));

    em_options_init(&o);
    o.disk_avg_speed = NAN;
    assert_int_equal(em_meter_new(&o, &m), EM_ERR_INVALID);
    assert_null(m);
    o.disk_avg_speed = INFINITY;
    assert_int_equal(em_meter_new(&o, &m), EM_ERR_INVALID);
    assert_null(m);

    /* Good options clear the message. */
    em_options_init(&o);
    o.disk_avg_speed = 1600e6;
    assert_int_equal(em_meter_new(&o, &m), 0);
    assert_non_null(m);
    assert_string_equal(em_meter_errmsg(NULL), "");
    em_meter_free(m);
    fakefs_cleanup(&fs);
}

static void test_strerror(void **state)
{
    (void)state;
    const int codes[] = {EM_OK,         EM_ERR_INVALID, EM_ERR_NOMEM,     EM_ERR_STATE,
                         EM_ERR_IO,     EM_ERR_PERM,    EM_ERR_NOT_FOUND, EM_ERR_UNSUPPORTED,
                         EM_ERR_THREAD, EM_ERR_FORMAT};
    const size_t n = sizeof codes / sizeof codes[0];
    const char *unknown = em_strerror(-12345);
    assert_non_null(unknown);
    assert_string_equal(unknown, "unknown error");
    for (size_t i = 0; i < n; i++) {
        const char *s = em_strerror(codes[i]);
        assert_non_null(s);
        assert_true(strlen(s) > 0);
        assert_string_not_equal(s, "unknown error");
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(s, em_strerror(codes[j]));
    }
    assert_string_equal(em_status_name(EM_STATUS_MEASURED), "measured");
    assert_string_equal(em_status_name(EM_STATUS_ESTIMATED), "estimated");
    assert_string_equal(em_status_name(EM_STATUS_UNAVAILABLE), "unavailable");
    assert_string_equal(em_version(), EM_VERSION_STRING);
}

/* ------------------------------------------------------- named windows */

/* The writer's truth now, the writer held across the call: what a window
 * edge taken in the call reads. */
#define AT_TRUTH(fx, t, call)                                                                      \
    do {                                                                                           \
        pthread_mutex_lock(&(fx)->w.mu);                                                           \
        writer_pass(&(fx)->w);                                                                     \
        for (size_t i_ = 0; i_ < (fx)->w.n; i_++)                                                  \
            (t)[i_] = (fx)->w.z[i_].e_uj;                                                          \
        int rc_ = (call);                                                                          \
        pthread_mutex_unlock(&(fx)->w.mu);                                                         \
        assert_int_equal(rc_, 0);                                                                  \
    } while (0)

/* A window's report against the truth between two edges. */
static void expect_window(const em_report *r, const char *name, const uint64_t *t0,
                          const uint64_t *t1)
{
    if (name)
        assert_string_equal(em_report_window(r), name);
    else
        assert_null(em_report_window(r));
    expect_joules(r, "cpu", CPU_W, t1[0] - t0[0], NOMINAL_REL);
    expect_joules(r, "dram", DRAM_W, t1[1] - t0[1], NOMINAL_REL);
    expect_clean_measured(r, "cpu");
    expect_clean_measured(r, "dram");
}

static int threads_now(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    assert_non_null(f);
    char line[256];
    int n = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(f);
    return n;
}

/* Three named windows and a begin()/end() window overlapping on one meter,
 * ended out of order, one split: each exact against the writer's truth,
 * through several wraps. */
static void test_named_windows_overlap(void **state)
{
    (void)state;
    struct fixture *fx = fixture_wrapping();
    em_meter *m = NULL;
    assert_int_equal(em_meter_new(NULL, &m), 0);
    uint64_t a0[MAX_WZONES], p0[MAX_WZONES], b0[MAX_WZONES], a1[MAX_WZONES], p1[MAX_WZONES],
        b1[MAX_WZONES], b2[MAX_WZONES];
    em_report *ra = NULL, *rb1 = NULL, *rb2 = NULL;
    AT_TRUTH(fx, a0, em_window_begin(m, "a"));
    sleep_s(0.3);
    AT_TRUTH(fx, p0, em_begin(m));
    sleep_s(0.3);
    AT_TRUTH(fx, b0, em_window_begin(m, "b"));
    assert_int_equal(em_window_count(m), 2);
    sleep_s(0.3);
    AT_TRUTH(fx, a1, em_window_end(m, "a", &ra));
    sleep_s(0.3);
    AT_TRUTH(fx, p1, em_end(m));
    sleep_s(0.2);
    AT_TRUTH(fx, b1, em_window_split(m, "b", &rb1));
    assert_int_equal(em_window_count(m), 1);
    sleep_s(0.3);
    AT_TRUTH(fx, b2, em_window_end(m, "b", &rb2));
    assert_int_equal(em_window_count(m), 0);

    expect_window(ra, "a", a0, a1);
    expect_window(em_meter_report(m), NULL, p0, p1);
    expect_window(rb1, "b", b0, b1);
    expect_window(rb2, "b", b1, b2);
    /* The split loses no time: the second part starts where the first ended. */
    assert_int_equal(em_report_start_ns(rb2), em_report_end_ns(rb1));
    assert_true(em_report_duration_s(ra) >= 0.9 && em_report_duration_s(rb1) >= 0.8);
    /* No storage source in this tree: the named window says why, as the
     * begin()/end() window does (its figures: test_diskstats.c). */
    int k = comp(ra, "disk");
    assert_int_equal(em_component_status(ra, (size_t)k), EM_STATUS_UNAVAILABLE);
    assert_string_equal(
        em_component_reason(ra, (size_t)k),
        em_component_reason(em_meter_report(m), (size_t)comp(em_meter_report(m), "disk")));
    char *json = NULL;
    assert_int_equal(em_report_to_string(ra, EM_FORMAT_JSON, &json), 0);
    assert_non_null(strstr(json, "\"window\": \"a\""));
    em_free(json);
    em_report_free(ra);
    em_report_free(rb1);
    em_report_free(rb2);
    em_meter_free(m);
    fixture_free(fx);
}

/* A named window inside a begin()/end() window that runs the sources'
 * hooks: both exact, and the named window outlives it. */
static void test_named_window_inside_plain(void **state)
{
    (void)state;
    struct fixture *fx = fixture_wrapping();
    em_meter *m = NULL;
    assert_int_equal(em_meter_new(NULL, &m), 0);
    uint64_t p0[MAX_WZONES], x0[MAX_WZONES], p1[MAX_WZONES], x1[MAX_WZONES];
    em_report *rx = NULL;
    AT_TRUTH(fx, p0, em_begin(m));
    sleep_s(0.2);
    AT_TRUTH(fx, x0, em_window_begin(m, "x"));
    sleep_s(0.4);
    AT_TRUTH(fx, p1, em_end(m));
    sleep_s(0.4);
    AT_TRUTH(fx, x1, em_window_end(m, "x", &rx));
    expect_window(em_meter_report(m), NULL, p0, p1);
    expect_window(rx, "x", x0, x1);
    em_report_free(rx);
    /* The counters started again for a plain window after all ended. */
    AT_TRUTH(fx, p0, em_begin(m));
    sleep_s(0.3);
    AT_TRUTH(fx, p1, em_end(m));
    expect_window(em_meter_report(m), NULL, p0, p1);
    em_meter_free(m);
    fixture_free(fx);
}

/* 100 windows open at once: no thread more than one window; each exact. */
static void test_many_windows_one_sampler(void **state)
{
    (void)state;
    struct fixture *fx = fixture_wrapping();
    em_meter *m = NULL;
    assert_int_equal(em_meter_new(NULL, &m), 0);
    enum { N = 100 };
    static uint64_t t0[N][MAX_WZONES];
    uint64_t t1[MAX_WZONES];
    char name[N][16];
    int before = threads_now();
    for (int i = 0; i < N; i++) {
        snprintf(name[i], sizeof name[i], "w%d", i);
        AT_TRUTH(fx, t0[i], em_window_begin(m, name[i]));
    }
    assert_int_equal(em_window_count(m), N);
    assert_int_equal(threads_now(), before);
    sleep_s(0.3);
    for (int i = N - 1; i >= 0; i--) {
        em_report *r = NULL;
        AT_TRUTH(fx, t1, em_window_end(m, name[i], &r));
        assert_string_equal(em_report_window(r), name[i]);
        assert_true(fabs(em_component_joules(r, (size_t)comp(r, "cpu")) -
                         (double)(t1[0] - t0[i][0]) * 1e-6) <= 1e-4);
        em_report_free(r);
    }
    assert_int_equal(threads_now(), before);
    em_meter_free(m);
    fixture_free(fx);
}

/* A meter used in a forked child refuses, clearly, rather than measure with
 * a sampler thread that stayed in the parent; the parent's goes on. */
static void test_forked_child_refuses(void **state)
{
    (void)state;
    struct fixture *fx = fixture_wrapping();
    em_meter *m = NULL;
    assert_int_equal(em_meter_new(NULL, &m), 0);
    assert_int_equal(em_window_begin(m, "open"), 0);
    fflush(NULL);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        int bad = em_begin(m) != EM_ERR_STATE || !strstr(em_meter_errmsg(m), "a fork of it") ||
                  em_window_begin(m, "x") != EM_ERR_STATE || em_window_count(m) != 0;
        em_report *r = NULL;
        bad |= em_window_end(m, "open", &r) != EM_ERR_STATE || r != NULL;
        em_meter_free(m); /* returns: no thread of the parent is joined */
        /* exec rather than exit: the child keeps the parent's memory image
         * on purpose, which valgrind would count as the child's leak. */
        execl(bad ? "/bin/false" : "/bin/true", bad ? "false" : "true", (char *)NULL);
        _exit(2);
    }
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    uint64_t t0[MAX_WZONES], t1[MAX_WZONES];
    AT_TRUTH(fx, t0, em_begin(m));
    sleep_s(0.3);
    AT_TRUTH(fx, t1, em_end(m));
    expect_window(em_meter_report(m), NULL, t0, t1);
    assert_int_equal(em_window_cancel(m, "open"), 0);
    em_meter_free(m);
    fixture_free(fx);
}

/* Meters of one process with the same options share one engine (one
 * sampler thread, one set of sources); each keeps its own label and
 * windows, exact against the truth; the engine goes with the last meter. */
static void test_meters_share_sources(void **state)
{
    (void)state;
    struct fixture *fx = fixture_wrapping();
    int before = threads_now();
    em_options o;
    em_options_init(&o);
    o.label = "one";
    em_meter *m1 = NULL, *m2 = NULL, *m3 = NULL;
    assert_int_equal(em_meter_new(&o, &m1), 0);
    int one = threads_now();
    assert_int_equal(one, before + 1); /* its sampler */
    o.label = "two";
    assert_int_equal(em_meter_new(&o, &m2), 0);
    assert_int_equal(threads_now(), one);
    uint64_t a0[MAX_WZONES], b0[MAX_WZONES], w0[MAX_WZONES], a1[MAX_WZONES], b1[MAX_WZONES],
        w1[MAX_WZONES];
    em_report *rw = NULL;
    AT_TRUTH(fx, a0, em_begin(m1));
    sleep_s(0.2);
    AT_TRUTH(fx, b0, em_begin(m2));
    AT_TRUTH(fx, w0, em_window_begin(m2, "w"));
    assert_int_equal(em_window_count(m1), 0); /* the windows are each meter's own */
    assert_int_equal(em_window_count(m2), 1);
    assert_int_equal(em_window_end(m1, "w", &rw), EM_ERR_NOT_FOUND);
    sleep_s(0.3);
    AT_TRUTH(fx, a1, em_end(m1));
    sleep_s(0.2);
    AT_TRUTH(fx, b1, em_end(m2));
    AT_TRUTH(fx, w1, em_window_end(m2, "w", &rw));
    expect_window(em_meter_report(m1), NULL, a0, a1);
    expect_window(em_meter_report(m2), NULL, b0, b1);
    expect_window(rw, "w", w0, w1);
    assert_string_equal(em_report_label(em_meter_report(m1)), "one");
    assert_string_equal(em_report_label(em_meter_report(m2)), "two");
    assert_string_equal(em_report_label(rw), "two");
    em_report_free(rw);
    /* The first meter goes with a window open; the second goes on. */
    assert_int_equal(em_begin(m1), 0);
    em_meter_free(m1);
    assert_int_equal(threads_now(), one);
    AT_TRUTH(fx, b0, em_begin(m2));
    sleep_s(0.2);
    AT_TRUTH(fx, b1, em_end(m2));
    expect_window(em_meter_report(m2), NULL, b0, b1);
    /* Other source options: an engine of its own. */
    o.include_idle = 1;
    assert_int_equal(em_meter_new(&o, &m3), 0);
    assert_int_equal(threads_now(), one + 1);
    em_meter_free(m3);
    em_meter_free(m2);
    assert_int_equal(threads_now(), before);
    fixture_free(fx);
}

/* Misuse: clear errors, nothing changed. */
static void test_named_window_errors(void **state)
{
    (void)state;
    struct fakefs fs;
    fakefs_init(&fs);
    fakefs_zone(&fs, "intel-rapl:0", "package-0", PKG_RANGE_UJ, 100000000, 24000000);
    em_meter *m = NULL;
    assert_int_equal(em_meter_new(NULL, &m), 0);
    em_report *r = (em_report *)1;
    assert_int_equal(em_window_end(m, "none", &r), EM_ERR_NOT_FOUND);
    assert_null(r);
    assert_non_null(strstr(em_meter_errmsg(m), "no window named 'none'"));
    assert_int_equal(em_window_begin(m, ""), EM_ERR_INVALID);
    assert_int_equal(em_window_begin(m, NULL), EM_ERR_INVALID);
    assert_int_equal(em_window_begin(m, "a"), 0);
    assert_int_equal(em_window_begin(m, "a"), EM_ERR_STATE);
    assert_non_null(strstr(em_meter_errmsg(m), "already open"));
    assert_int_equal(em_window_cancel(m, "a"), 0);
    assert_int_equal(em_window_cancel(m, "a"), EM_ERR_NOT_FOUND);
    assert_int_equal(em_window_count(m), 0);
    assert_int_equal(em_window_begin(m, "a"), 0); /* the name is free again */
    assert_int_equal(em_window_end(NULL, "a", &r), EM_ERR_INVALID);
    assert_int_equal(em_window_count(NULL), 0);
    em_meter_free(m); /* with a window open: freed */
    fakefs_cleanup(&fs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_state_errors),
        cmocka_unit_test(test_no_powercap),
        cmocka_unit_test(test_measure_with_wraps),
        cmocka_unit_test(test_reuse),
        cmocka_unit_test(test_two_meters),
        cmocka_unit_test(test_counter_reset),
        cmocka_unit_test(test_file_vanishes),
        cmocka_unit_test(test_named_windows_overlap),
        cmocka_unit_test(test_named_window_inside_plain),
        cmocka_unit_test(test_many_windows_one_sampler),
        cmocka_unit_test(test_named_window_errors),
        cmocka_unit_test(test_forked_child_refuses),
        cmocka_unit_test(test_meters_share_sources),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
