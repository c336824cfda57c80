/*
 * The MSR source (src/rapl_msr.c) on fake /dev/cpu/N/msr files: register
 * ADDR is the 8 bytes at offset ADDR x 8 of a sparse file. Intel and AMD
 * layouts, packages and SMT siblings found through topology, the units from
 * the unit register, and 32-bit counters followed across wraps by the meter
 * while a writer thread moves them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fakefs.h"
#include "sources/sources.h"

static void put_msr(const struct fakefs *f, int cpu, uint32_t addr, uint64_t v)
{
    char rel[64], path[FAKEFS_PATH_MAX];
    snprintf(rel, sizeof rel, "dev/cpu/%d/msr", cpu);
    fakefs_path(f, path, sizeof path, rel);
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, &v, sizeof v, (off_t)addr * 8), (ssize_t)sizeof v);
    close(fd);
}

/* CPUs 0..n-1 with msr nodes; pkg[i] and core[i] their topology. */
static void build_cpus(const struct fakefs *f, const char *vendor, int n, const int *pkg,
                       const int *core)
{
    char rel[128], text[128];
    fakefs_mkdir_p(f, "proc");
    snprintf(text, sizeof text, "processor\t: 0\nvendor_id\t: %s\n", vendor);
    fakefs_write(f, "proc/cpuinfo", text);
    for (int i = 0; i < n; i++) {
        snprintf(rel, sizeof rel, "dev/cpu/%d", i);
        fakefs_mkdir_p(f, rel);
        put_msr(f, i, 0, 0); /* the file exists */
        snprintf(rel, sizeof rel, "sys/devices/system/cpu/cpu%d/topology", i);
        fakefs_mkdir_p(f, rel);
        snprintf(rel, sizeof rel, "sys/devices/system/cpu/cpu%d/topology/physical_package_id", i);
        snprintf(text, sizeof text, "%d\n", pkg[i]);
        fakefs_write(f, rel, text);
        snprintf(rel, sizeof rel, "sys/devices/system/cpu/cpu%d/topology/core_id", i);
        snprintf(text, sizeof text, "%d\n", core[i]);
        fakefs_write(f, rel, text);
    }
}

struct opened {
    struct em_config cfg;
    struct em_source src;
    struct em_probe probe;
};

static void open_msr(struct opened *o)
{
    fakefs_config(&o->cfg);
    o->src = (struct em_source){.ops = &em_src_rapl_msr, .cfg = &o->cfg};
    o->probe = (struct em_probe){.source = em_src_rapl_msr.name, .serves = em_src_rapl_msr.serves};
    assert_int_equal(o->src.ops->probe(&o->src, &o->probe), 0);
}

static void close_msr(struct opened *o)
{
    o->src.ops->close(&o->src);
    em_config_free(&o->cfg);
    free(o->src.ch);
    em_probe_clear(&o->probe);
}

static struct em_channel *channel(struct opened *o, const char *component, const char *device)
{
    for (size_t i = 0; i < o->src.nch; i++)
        if (!strcmp(o->src.ch[i].component, component) && !strcmp(o->src.ch[i].device, device))
            return &o->src.ch[i];
    fail_msg("no channel %s/%s", component, device);
    return NULL;
}

static void test_intel_two_packages(void **state)
{
    (void)state;
    struct fakefs f;
    fakefs_init(&f);
    const int pkg[] = {0, 0, 1, 1}, core[] = {0, 1, 0, 1};
    build_cpus(&f, "GenuineIntel", 4, pkg, core);
    /* ESU 14 (61 uJ), power unit 1/8 W; TDP 125 W (1000 units). */
    put_msr(&f, 0, 0x606, 0xA0E03);
    put_msr(&f, 0, 0x614, 1000);
    for (int cpu = 0; cpu < 4; cpu += 2) {
        put_msr(&f, cpu, 0x611, 0xdead000000001234ULL); /* high bits are not energy */
        put_msr(&f, cpu, 0x619, 77);
    }
    put_msr(&f, 0, 0x64d, 5);
    struct opened o;
    open_msr(&o);
    assert_true(o.probe.available);
    assert_int_equal(o.src.nch, 5); /* 2 packages, 2 dram, 1 platform */
    struct em_channel *p1 = channel(&o, "cpu", "package-1");
    assert_true(strstr(p1->path, "/dev/cpu/2/msr") != NULL); /* first CPU of package 1 */
    assert_true(fabs(p1->ctr.scale - 1.0 / 16384) < 1e-12);
    assert_true(p1->ctr.modulus == ((uint64_t)1 << 32));
    assert_true(fabs(p1->ctr.max_power_w - 250.0) < 1e-9); /* twice the TDP */
    assert_int_equal(p1->in_total, 1);
    assert_int_equal(channel(&o, "dram", "package-0")->in_total, 1);
    assert_int_equal(channel(&o, "psys", "platform-0")->in_total, 0);
    uint64_t raw = 0;
    size_t idx = (size_t)(channel(&o, "cpu", "package-0") - o.src.ch);
    assert_int_equal(o.src.ops->read(&o.src, idx, &raw), 0);
    assert_true(raw == 0x1234); /* the low 32 bits */
    close_msr(&o);
    fakefs_cleanup(&f);
}

/* Without MSR_PKG_POWER_INFO the sampler assumes the 1000 W default. */
static void test_no_tdp(void **state)
{
    (void)state;
    struct fakefs f;
    fakefs_init(&f);
    const int pkg[] = {0}, core[] = {0};
    build_cpus(&f, "GenuineIntel", 1, pkg, core);
    put_msr(&f, 0, 0x606, 0xA0E03);
    put_msr(&f, 0, 0x611, 0x11);
    struct opened o;
    open_msr(&o);
    assert_int_equal(o.src.nch, 1);
    assert_true(fabs(channel(&o, "cpu", "package-0")->ctr.max_power_w - 1000.0) < 1e-9);
    close_msr(&o);
    fakefs_cleanup(&f);
}

static void test_amd_cores_deduplicated(void **state)
{
    (void)state;
    struct fakefs f;
    fakefs_init(&f);
    /* cpu0 and cpu1 are SMT siblings of core 0; cpu2 is core 1. */
    const int pkg[] = {0, 0, 0}, core[] = {0, 0, 1};
    build_cpus(&f, "AuthenticAMD", 3, pkg, core);
    put_msr(&f, 0, 0xc0010299, 0x10 << 8);
    for (int cpu = 0; cpu < 3; cpu++) {
        put_msr(&f, cpu, 0xc001029a, 100 + cpu);
        put_msr(&f, cpu, 0xc001029b, 1000);
    }
    struct opened o;
    open_msr(&o);
    assert_int_equal(o.src.nch, 3); /* package + 2 cores */
    channel(&o, "cpu", "package-0");
    channel(&o, "cpu-core", "package-0/core-0");
    channel(&o, "cpu-core", "package-0/core-1");
    for (size_t i = 0; i < o.src.nch; i++)
        assert_string_not_equal(o.src.ch[i].component, "dram"); /* AMD has none */
    assert_true(fabs(o.src.ch[0].ctr.scale - 1.0 / 65536) < 1e-12);
    close_msr(&o);
    fakefs_cleanup(&f);
}

static void test_no_msr_device(void **state)
{
    (void)state;
    struct fakefs f;
    fakefs_init(&f);
    struct opened o;
    open_msr(&o);
    assert_int_equal(o.src.nch, 0);
    assert_non_null(o.probe.fix);
    assert_non_null(strstr(o.probe.fix, "modprobe msr"));
    close_msr(&o);
    fakefs_cleanup(&f);
}

static void test_unknown_vendor(void **state)
{
    (void)state;
    struct fakefs f;
    fakefs_init(&f);
    const int pkg[] = {0}, core[] = {0};
    build_cpus(&f, "CentaurHauls", 1, pkg, core);
    struct opened o;
    open_msr(&o);
    assert_int_equal(o.src.nch, 0);
    assert_non_null(strstr(o.probe.reason, "vendor"));
    close_msr(&o);
    fakefs_cleanup(&f);
}

/* ----------------------------------------------- wraps through the meter */

/* Moves package 0's energy register at a constant power. The test pauses it
 * (holding mu, right after a fresh write) around em_begin() and em_end(), so
 * the truth is exact whatever the scheduler does (valgrind, a loaded VM). */
struct mover {
    pthread_t thread;
    pthread_mutex_t mu;
    int fd;
    double unit, watts, t0;
    uint64_t units; /* last written, not wrapped */
    volatile int stop;
};

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void mover_write(struct mover *mv)
{
    mv->units = (uint64_t)(mv->watts * (mono() - mv->t0) / mv->unit);
    uint64_t v = 0xabcd000000000000ULL | (mv->units & 0xffffffffu); /* high bits: noise */
    assert_int_equal(pwrite(mv->fd, &v, sizeof v, 0x611 * 8), (ssize_t)sizeof v);
}

static void *mover_main(void *arg)
{
    struct mover *mv = arg;
    while (!mv->stop) {
        pthread_mutex_lock(&mv->mu);
        mover_write(mv);
        pthread_mutex_unlock(&mv->mu);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static uint64_t paused_call(struct mover *mv, int (*fn)(em_meter *), em_meter *m)
{
    pthread_mutex_lock(&mv->mu);
    mover_write(mv);
    assert_int_equal(fn(m), 0);
    uint64_t u = mv->units;
    pthread_mutex_unlock(&mv->mu);
    return u;
}

static void test_meter_follows_32bit_wraps(void **state)
{
    (void)state;
    struct fakefs f;
    fakefs_init(&f);
    const int pkg[] = {0}, core[] = {0};
    build_cpus(&f, "GenuineIntel", 1, pkg, core);
    /* ESU 25: 2^32 units are 128 J; at 400 W the counter wraps every 0.32 s.
     * No TDP: the sampler assumes up to 1000 W and reads every 32 ms. */
    put_msr(&f, 0, 0x606, 25 << 8);
    char path[FAKEFS_PATH_MAX];
    fakefs_path(&f, path, sizeof path, "dev/cpu/0/msr");
    /* t0 in the past: the register is not 0 (which reads as an absent domain). */
    struct mover mv = {.unit = 1.0 / (1 << 25), .watts = 400.0, .t0 = mono() - 0.1};
    mv.fd = open(path, O_WRONLY);
    assert_true(mv.fd >= 0);
    pthread_mutex_init(&mv.mu, NULL);
    mover_write(&mv);
    assert_int_equal(pthread_create(&mv.thread, NULL, mover_main, &mv), 0);

    em_meter *m = NULL;
    assert_int_equal(em_meter_new(NULL, &m), 0);
    uint64_t u0 = paused_call(&mv, em_begin, m);
    struct timespec ts = {0, 700000000};
    nanosleep(&ts, NULL);
    uint64_t u1 = paused_call(&mv, em_end, m);
    mv.stop = 1;
    pthread_join(mv.thread, NULL);
    close(mv.fd);
    pthread_mutex_destroy(&mv.mu);

    em_report *r = em_meter_report(m);
    int cpu = em_report_find(r, "cpu");
    assert_int_equal(em_component_status(r, cpu), EM_STATUS_MEASURED);
    assert_string_equal(em_component_source(r, cpu), "rapl-msr");
    double want = (double)(u1 - u0) * mv.unit, got = em_component_joules(r, cpu);
    assert_true(want > 128.0 * 2); /* at least two wraps in the window */
    if (fabs(got - want) > 1e-6 * want)
        fail_msg("cpu %.6f J, the register moved %.6f J", got, want);
    em_meter_free(m);
    fakefs_cleanup(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intel_two_packages),
        cmocka_unit_test(test_no_tdp),
        cmocka_unit_test(test_amd_cores_deduplicated),
        cmocka_unit_test(test_no_msr_device),
        cmocka_unit_test(test_unknown_vendor),
        cmocka_unit_test(test_meter_follows_32bit_wraps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
