/*
 * Adding a source, done as docs/ARCHITECTURE.md ("Adding a source") says:
 * a tiny source of its own, registered through a table, measured by a real
 * meter. It reads a power supply's energy counter from a file (under
 * ENERGYMETER_SYSFS_ROOT, like every real source), and knows nothing of
 * the meter, the report or the outputs. If the recipe stops working, this
 * test does.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/meter.h"
#include "core/source.h"
#include "fakefs.h"
#include "util/sysfs.h"

/* ------------------------------------------------------- the tiny source */

#define PSU_FILE "/sys/class/fake_psu/psu0/energy_uj"

/* probe(): what the machine has. One zone in the probe, usable or not (and
 * why, and a safe fix); one channel for the usable counter. */
static int psu_probe(struct em_source *s, struct em_probe *probe)
{
    char path[PATH_MAX];
    uint64_t raw;
    if (em_sysfs_path(s->cfg->sysfs_root, path, sizeof path, PSU_FILE))
        return em_probe_set_reason(probe, "ENERGYMETER_SYSFS_ROOT is too long", NULL);
    int err = em_read_u64(path, &raw);
    if (err)
        return em_probe_add_zone(probe, "psu0", "psu", "psu0", path, "no power supply counter",
                                 "load the fake_psu driver");
    struct em_channel *ch = em_source_add_channel(s, "psu", "psu0", path, 0);
    if (!ch)
        return EM_ERR_NOMEM;
    /* Microjoules, 64 bits (never wraps), at most 2 kW. */
    em_counter_init(&ch->ctr, 1e-6, 0, 2000.0);
    return em_probe_add_zone(probe, "psu0", "psu", "psu0", path, NULL, NULL);
}

/* read(): the raw value of one channel; the meter does the arithmetic. */
static int psu_read(struct em_source *s, size_t i, uint64_t *raw)
{
    return em_read_u64(s->ch[i].path, raw);
}

static void psu_close(struct em_source *s)
{
    (void)s; /* nothing of its own (the meter frees the channels) */
}

static const struct em_source_ops src_fake_psu = {
    .name = "fake-psu",
    .serves = "psu",
    .probe = psu_probe,
    .read = psu_read,
    .close = psu_close,
};

/* A second source for the same component, later in the table: the first
 * one measures it, and the listing says why this one does not. */
static const struct em_source_ops src_fake_psu_backup = {
    .name = "fake-psu-backup",
    .serves = "psu",
    .probe = psu_probe,
    .read = psu_read,
    .close = psu_close,
};

/* The table: one line per source, in order of preference. */
static const struct em_source_ops *const table[] = {&src_fake_psu, &src_fake_psu_backup, NULL};

/* ------------------------------------------------------------------ tests */

static void write_counter(const struct fakefs *f, unsigned long long uj)
{
    char text[32];
    snprintf(text, sizeof text, "%llu\n", uj);
    fakefs_write(f, "sys/class/fake_psu/psu0/energy_uj", text);
}

static void test_registered_source(void **state)
{
    (void)state;
    struct fakefs f;
    fakefs_init(&f);
    fakefs_mkdir_p(&f, "sys/class/fake_psu/psu0");
    write_counter(&f, 5000000);

    em_meter *m = NULL;
    assert_int_equal(em_meter_new_with(NULL, table, &m), EM_OK);
    assert_int_equal(em_begin(m), EM_OK);
    /* 12.5 J in 0.1 s or more: 125 W at most, which the counter's 2 kW
     * maximum makes plausible (a faster jump would be taken for a reset). */
    struct timespec ts = {0, 100000000};
    nanosleep(&ts, NULL);
    write_counter(&f, 5000000 + 12500000);
    assert_int_equal(em_end(m), EM_OK);

    const em_report *r = em_meter_report(m);
    int psu = em_report_find(r, "psu");
    assert_true(psu >= 0);
    assert_int_equal(em_component_status(r, (size_t)psu), EM_STATUS_MEASURED);
    assert_string_equal(em_component_source(r, (size_t)psu), "fake-psu");
    assert_true(fabs(em_component_joules(r, (size_t)psu) - 12.5) < 1e-9);
    assert_int_equal(em_component_device_count(r, (size_t)psu), 1);
    assert_string_equal(em_device_name(r, (size_t)psu, 0), "psu0");
    /* Registered as not in the total (in_total 0): reported, never added. */
    assert_int_equal(em_component_in_total(r, (size_t)psu), 0);
    /* The fixed components are there, unavailable, with the reason. */
    size_t cpu = (size_t)em_report_find(r, "cpu");
    assert_int_equal(em_component_status(r, cpu), EM_STATUS_UNAVAILABLE);
    assert_non_null(em_component_reason(r, cpu));
    assert_true(em_report_total_joules(r) == 0.0);

    char *json = NULL;
    assert_int_equal(em_report_to_string(r, EM_FORMAT_JSON, &json), EM_OK);
    assert_non_null(strstr(json, "\"psu\": {"));
    assert_non_null(strstr(json, "\"source\": \"fake-psu\""));
    em_free(json);
    em_meter_free(m);
    fakefs_cleanup(&f);
}

/* The first source of the table with a channel for a component owns it;
 * the later one's zone says which is preferred. */
static void test_preference(void **state)
{
    (void)state;
    struct fakefs f;
    fakefs_init(&f);
    fakefs_mkdir_p(&f, "sys/class/fake_psu/psu0");
    write_counter(&f, 1);
    struct em_config cfg;
    fakefs_config(&cfg);
    cfg.listing = 1;
    struct em_source *src = NULL;
    struct em_probe *probes = NULL;
    size_t n = 0;
    char msg[256];
    assert_int_equal(em_sources_open(table, &cfg, &src, &probes, &n, msg, sizeof msg), EM_OK);
    assert_int_equal(n, 2);
    assert_true(probes[0].available);
    assert_false(src[0].ch[0].unused);
    assert_false(probes[1].available);
    assert_true(src[1].ch[0].unused);
    assert_string_equal(probes[1].zones[0].reason,
                        "psu is measured by fake-psu, preferred over fake-psu-backup");
    em_sources_close(src, probes, n);
    em_config_free(&cfg);
    fakefs_cleanup(&f);
}

static void test_missing_counter(void **state)
{
    (void)state;
    struct fakefs f;
    fakefs_init(&f);
    em_meter *m = NULL;
    assert_int_equal(em_meter_new_with(NULL, table, &m), EM_OK);
    assert_int_equal(em_begin(m), EM_OK);
    assert_int_equal(em_end(m), EM_OK);
    /* Not there at all: no channel, so no component beyond the fixed four
     * (an extra appears only where a channel names it). */
    const em_report *r = em_meter_report(m);
    assert_int_equal(em_report_find(r, "psu"), -1);
    assert_int_equal(em_report_component_count(r), 4);
    em_meter_free(m);
    fakefs_cleanup(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registered_source),
        cmocka_unit_test(test_preference),
        cmocka_unit_test(test_missing_counter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
