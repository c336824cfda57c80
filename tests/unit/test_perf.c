/*
 * The perf power PMU source (src/rapl_perf.c): sysfs parsing on fake trees
 * (type, cpumask, events, scales, package topology), and the real
 * perf_event_open() path where this machine has the PMU.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fakefs.h"
#include "sources/sources.h"
#include "util/sysfs.h"

#define PMU "sys/bus/event_source/devices/power"

struct opened {
    struct em_config cfg;
    struct em_source src;
    struct em_probe probe;
    int err;
};

static void open_perf(struct opened *o)
{
    fakefs_config(&o->cfg);
    o->src = (struct em_source){.ops = &em_src_rapl_perf, .cfg = &o->cfg};
    o->probe =
        (struct em_probe){.source = em_src_rapl_perf.name, .serves = em_src_rapl_perf.serves};
    o->err = o->src.ops->probe(&o->src, &o->probe);
}

static void close_perf(struct opened *o)
{
    o->src.ops->close(&o->src);
    em_config_free(&o->cfg);
    free(o->src.ch);
    em_probe_clear(&o->probe);
}

static const struct em_zone_info *zone(const struct em_probe *p, const char *name)
{
    for (size_t i = 0; i < p->nzones; i++)
        if (strcmp(p->zones[i].name, name) == 0)
            return &p->zones[i];
    return NULL;
}

/* A 2-socket PMU: CPUs 0 and 28 read the packages (ids 0 and 1). */
static void build_pmu(struct fakefs *f, const char *cpumask)
{
    fakefs_mkdir_p(f, PMU "/events");
    fakefs_write(f, PMU "/type", "23\n");
    fakefs_write(f, PMU "/cpumask", cpumask);
    fakefs_write(f, PMU "/events/energy-pkg", "event=0x02\n");
    fakefs_write(f, PMU "/events/energy-pkg.scale", "2.3283064365386962890625e-10\n");
    fakefs_write(f, PMU "/events/energy-pkg.unit", "Joules\n");
    fakefs_write(f, PMU "/events/energy-ram", "event=0x03\n");
    fakefs_write(f, PMU "/events/energy-ram.scale", "1.52587890625e-05\n");
    fakefs_write(f, PMU "/events/energy-psys", "event=0x05\n");
    fakefs_mkdir_p(f, "sys/devices/system/cpu/cpu0/topology");
    fakefs_mkdir_p(f, "sys/devices/system/cpu/cpu28/topology");
    fakefs_write(f, "sys/devices/system/cpu/cpu0/topology/physical_package_id", "0\n");
    fakefs_write(f, "sys/devices/system/cpu/cpu28/topology/physical_package_id", "1\n");
}

static void test_fake_pmu_parsed_not_opened(void **state)
{
    (void)state;
    struct fakefs f;
    fakefs_init(&f);
    build_pmu(&f, "0,28\n");
    struct opened o;
    open_perf(&o);
    assert_int_equal(o.err, 0);
    /* perf_event_open() cannot be faked: nothing is opened, all is listed. */
    assert_int_equal(o.src.nch, 0);
    assert_false(o.probe.available);
    assert_int_equal(o.probe.nzones, 6); /* 3 events x 2 CPUs */
    const struct em_zone_info *z = zone(&o.probe, "energy-pkg/cpu28");
    assert_non_null(z);
    assert_string_equal(z->component, "cpu");
    assert_string_equal(z->device, "package-1");
    assert_false(z->usable);
    assert_non_null(strstr(z->reason, "ENERGYMETER_SYSFS_ROOT"));
    z = zone(&o.probe, "energy-ram/cpu0");
    assert_non_null(z);
    assert_string_equal(z->component, "dram");
    assert_string_equal(z->device, "package-0");
    z = zone(&o.probe, "energy-psys/cpu0");
    assert_non_null(z);
    assert_string_equal(z->component, "psys");
    assert_null(zone(&o.probe, "energy-cores/cpu0")); /* not in this PMU */
    close_perf(&o);
    fakefs_cleanup(&f);
}

static void test_cpumask_ranges_and_malformed(void **state)
{
    (void)state;
    struct fakefs f;
    fakefs_init(&f);
    build_pmu(&f, "0-1\n");
    fakefs_write(&f, PMU "/events/energy-ram", "garbage\n");
    struct opened o;
    open_perf(&o);
    assert_int_equal(o.err, 0);
    assert_non_null(zone(&o.probe, "energy-pkg/cpu0"));
    assert_non_null(zone(&o.probe, "energy-pkg/cpu1"));
    /* No topology for cpu1: one package per listed CPU. */
    assert_string_equal(zone(&o.probe, "energy-pkg/cpu1")->device, "package-1");
    const struct em_zone_info *z = zone(&o.probe, "energy-ram/cpu0");
    assert_non_null(z);
    assert_non_null(strstr(z->reason, "malformed"));
    close_perf(&o);
    fakefs_cleanup(&f);
}

/* A PMU without energy-pkg (a VM's, with only energy-psys): cpu's reason says so. */
static void test_missing_package_event(void **state)
{
    (void)state;
    struct fakefs f;
    fakefs_init(&f);
    build_pmu(&f, "0\n");
    fakefs_unlink(&f, PMU "/events/energy-pkg");
    struct opened o;
    open_perf(&o);
    assert_int_equal(o.err, 0);
    const struct em_zone_info *z = zone(&o.probe, "energy-pkg");
    assert_non_null(z);
    assert_false(z->usable);
    assert_string_equal(z->component, "cpu");
    char *why = em_probe_component_reason(&o.probe, 1, "cpu");
    assert_non_null(strstr(why, "no energy-pkg event"));
    free(why);
    /* Extras that are missing are not worth a line. */
    assert_null(zone(&o.probe, "energy-cores"));
    close_perf(&o);
    fakefs_cleanup(&f);
}

static void test_no_pmu(void **state)
{
    (void)state;
    struct fakefs f;
    fakefs_init(&f);
    struct opened o;
    open_perf(&o);
    assert_int_equal(o.err, 0);
    assert_int_equal(o.src.nch, 0);
    assert_non_null(o.probe.reason);
    assert_non_null(strstr(o.probe.reason, "no perf power PMU"));
    close_perf(&o);
    fakefs_cleanup(&f);
}

/* The real PMU, where this machine has one: every opened counter reads. */
static void test_real_pmu(void **state)
{
    (void)state;
    unsetenv("ENERGYMETER_SYSFS_ROOT");
    if (access("/sys/bus/event_source/devices/power/type", R_OK) != 0) {
        print_message("skipped: this machine has no perf power PMU "
                      "(/sys/bus/event_source/devices/power)\n");
        skip();
    }
    struct opened o;
    open_perf(&o);
    assert_int_equal(o.err, 0);
    assert_true(o.probe.nzones > 0);
    if (o.src.nch == 0) {
        print_message("skipped: the power PMU exists but no event opens: %s\n",
                      o.probe.zones[0].reason);
        close_perf(&o);
        skip();
    }
    for (size_t i = 0; i < o.src.nch; i++) {
        uint64_t a, b;
        assert_int_equal(o.src.ops->read(&o.src, i, &a), 0);
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
        assert_int_equal(o.src.ops->read(&o.src, i, &b), 0);
        assert_true(b >= a); /* 64-bit count: never backwards */
        assert_true(o.src.ch[i].ctr.scale > 0 && o.src.ch[i].ctr.scale < 1e-3);
        assert_int_equal(o.src.ch[i].ctr.modulus, 0);
    }
    close_perf(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fake_pmu_parsed_not_opened),
        cmocka_unit_test(test_cpumask_ranges_and_malformed),
        cmocka_unit_test(test_missing_package_event),
        cmocka_unit_test(test_no_pmu),
        cmocka_unit_test(test_real_pmu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
