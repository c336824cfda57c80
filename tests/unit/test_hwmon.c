/*
 * The hwmon source (src/hwmon.c) on fake /sys/class/hwmon trees: which
 * drivers map to which component, energy counters and power-only sensors
 * (integrated by the meter), and source precedence: a component measured by
 * a preferred source (powercap) is never counted again by hwmon.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>
#include <time.h>

#include "fakefs.h"
#include "sources/sources.h"

/* hwmonN with a name and sensor files: pairs of (file, content), NULL-ended.
 * Real layout: the class entry links to a device directory. */
static void hwmon(const struct fakefs *f, int n, const char *name, const char *const *files)
{
    char dev[128], rel[256], link[128];
    snprintf(dev, sizeof dev, "sys/devices/platform/dev%d/hwmon/hwmon%d", n, n);
    fakefs_mkdir_p(f, dev);
    fakefs_mkdir_p(f, "sys/class/hwmon");
    snprintf(rel, sizeof rel, "%s/name", dev);
    char text[64];
    snprintf(text, sizeof text, "%s\n", name);
    fakefs_write(f, rel, text);
    for (size_t i = 0; files && files[i]; i += 2) {
        snprintf(rel, sizeof rel, "%s/%s", dev, files[i]);
        fakefs_write(f, rel, files[i + 1]);
    }
    snprintf(rel, sizeof rel, "sys/class/hwmon/hwmon%d", n);
    snprintf(link, sizeof link, "../../devices/platform/dev%d/hwmon/hwmon%d", n, n);
    fakefs_symlink(f, link, rel);
}

struct opened {
    struct em_config cfg;
    struct em_source src;
    struct em_probe probe;
};

static void open_hwmon(struct opened *o)
{
    fakefs_config(&o->cfg);
    o->src = (struct em_source){.ops = &em_src_hwmon, .cfg = &o->cfg};
    o->probe = (struct em_probe){.source = em_src_hwmon.name, .serves = em_src_hwmon.serves};
    assert_int_equal(o->src.ops->probe(&o->src, &o->probe), 0);
}

static void close_hwmon(struct opened *o)
{
    o->src.ops->close(&o->src);
    em_config_free(&o->cfg);
    free(o->src.ch);
    em_probe_clear(&o->probe);
}

static const struct em_channel *channel(const struct opened *o, const char *component,
                                        const char *device)
{
    for (size_t i = 0; i < o->src.nch; i++)
        if (!strcmp(o->src.ch[i].component, component) && !strcmp(o->src.ch[i].device, device))
            return &o->src.ch[i];
    fail_msg("no channel %s/%s", component, device);
    return NULL;
}

static void build_mixed(const struct fakefs *f)
{
    const char *amd[] = {"energy1_input",
                         "123456\n",
                         "energy1_label",
                         "Ecore000\n",
                         "energy2_input",
                         "654321\n",
                         "energy2_label",
                         "Esocket0\n",
                         "energy3_input",
                         "1\n",
                         "energy3_label",
                         "Emystery\n",
                         NULL};
    const char *gpu[] = {"power1_average", "150000000\n", "power1_cap", "300000000\n", NULL};
    const char *xe[] = {"energy1_input", "10\n",          "energy1_label", "pkg\n", "energy2_input",
                        "20\n",          "energy2_label", "card\n",        NULL};
    const char *temp[] = {"temp1_input", "45000\n", NULL};
    hwmon(f, 0, "coretemp", temp);
    hwmon(f, 1, "amd_energy", amd);
    hwmon(f, 2, "amdgpu", gpu);
    hwmon(f, 3, "xe", xe);
}

static void test_mapping(void **state)
{
    (void)state;
    struct fakefs f;
    fakefs_init(&f);
    build_mixed(&f);
    struct opened o;
    open_hwmon(&o);
    assert_true(o.probe.available);
    assert_int_equal(o.src.nch, 4);
    const struct em_channel *c = channel(&o, "cpu", "package-0");
    assert_int_equal(c->in_total, 1);
    assert_int_equal(c->kind, EM_CH_ENERGY);
    assert_non_null(strstr(c->path, "energy2_input"));
    assert_int_equal(channel(&o, "cpu-core", "core-0")->in_total, 0);
    const struct em_channel *g = channel(&o, "gpu", "amdgpu-hwmon2");
    assert_int_equal(g->kind, EM_CH_POWER);
    assert_true(g->poll_s > 0 && g->poll_s <= 0.05);
    /* xe: the "card" sensor, not "pkg". */
    assert_non_null(strstr(channel(&o, "gpu", "xe-hwmon3")->path, "energy2_input"));
    int coretemp = 0, mystery = 0;
    for (size_t i = 0; i < o.probe.nzones; i++) {
        const struct em_zone_info *z = &o.probe.zones[i];
        if (strstr(z->name, "coretemp")) {
            coretemp = 1;
            assert_false(z->usable);
            assert_non_null(strstr(z->reason, "coretemp"));
        }
        if (strstr(z->name, "energy3_input")) {
            mystery = 1;
            assert_false(z->usable);
        }
    }
    assert_true(coretemp && mystery);
    close_hwmon(&o);
    fakefs_cleanup(&f);
}

static void test_no_hwmon(void **state)
{
    (void)state;
    struct fakefs f;
    fakefs_init(&f);
    struct opened o;
    open_hwmon(&o);
    assert_int_equal(o.src.nch, 0);
    assert_non_null(strstr(o.probe.reason, "no hwmon"));
    close_hwmon(&o);
    fakefs_cleanup(&f);
}

/* A power-only GPU at a constant 150 W: the meter integrates it. */
static void test_power_integrated(void **state)
{
    (void)state;
    struct fakefs f;
    fakefs_init(&f);
    build_mixed(&f);
    em_meter *m = NULL;
    assert_int_equal(em_meter_new(NULL, &m), 0);
    assert_int_equal(em_begin(m), 0);
    struct timespec ts = {0, 300000000};
    nanosleep(&ts, NULL);
    assert_int_equal(em_end(m), 0);
    em_report *r = em_meter_report(m);
    int gpu = em_report_find(r, "gpu");
    assert_int_equal(em_component_status(r, gpu), EM_STATUS_MEASURED);
    assert_string_equal(em_component_source(r, gpu), "hwmon");
    double want = 150.0 * em_report_duration_s(r);
    assert_true(fabs(em_component_joules(r, gpu) - want) < 1e-6 * want);
    /* The amd_energy counters did not move in 0.3 s: not yet frozen (1 s). */
    int cpu = em_report_find(r, "cpu");
    assert_int_equal(em_component_status(r, cpu), EM_STATUS_MEASURED);
    assert_true(em_component_joules(r, cpu) == 0.0);
    em_meter_free(m);
    fakefs_cleanup(&f);
}

/* powercap measures cpu: hwmon's Esocket0 is listed, not used, and says why. */
static void test_precedence(void **state)
{
    (void)state;
    struct fakefs f;
    fakefs_init(&f);
    build_mixed(&f);
    fakefs_zone(&f, "intel-rapl:0", "package-0", 262143328850ULL, 100000000ULL, 5000000);
    char *text = NULL;
    assert_int_equal(em_list_sources(EM_FORMAT_JSON, &text), 0);
    assert_non_null(strstr(text, "cpu is measured by rapl-powercap, preferred over hwmon"));
    em_free(text);
    em_meter *m = NULL;
    assert_int_equal(em_meter_new(NULL, &m), 0);
    assert_int_equal(em_begin(m), 0);
    assert_int_equal(em_end(m), 0);
    em_report *r = em_meter_report(m);
    int cpu = em_report_find(r, "cpu");
    assert_string_equal(em_component_source(r, cpu), "rapl-powercap");
    assert_int_equal(em_component_device_count(r, cpu), 1); /* not twice */
    /* cpu-core only hwmon has: it is still measured, by hwmon. */
    int core = em_report_find(r, "cpu-core");
    assert_true(core >= 0);
    assert_string_equal(em_component_source(r, core), "hwmon");
    em_meter_free(m);
    fakefs_cleanup(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mapping),
        cmocka_unit_test(test_no_hwmon),
        cmocka_unit_test(test_power_integrated),
        cmocka_unit_test(test_precedence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
