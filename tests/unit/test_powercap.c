/* Zone enumeration of the RAPL powercap source on fake trees (src/rapl_powercap.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <strings.h>

#include "fakefs.h"
#include "sources/sources.h"

#define RANGE_UJ 262143328850ULL /* what Intel packages state */
#define PKG_MAX_UW 100000000ULL  /* 100 W */

struct opened {
    struct em_config cfg;
    struct fakefs fs;
    struct em_source src;
    struct em_probe probe;
    int err;
};

/* Open the source on the tree built so far. */
static void open_source(struct opened *o)
{
    fakefs_config(&o->cfg);
    o->src = (struct em_source){.ops = &em_src_rapl_powercap, .cfg = &o->cfg};
    o->probe = (struct em_probe){.source = em_src_rapl_powercap.name,
                                 .serves = em_src_rapl_powercap.serves};
    o->err = o->src.ops->probe(&o->src, &o->probe);
}

static void close_source(struct opened *o)
{
    if (o->src.ops && o->src.ops->close)
        o->src.ops->close(&o->src);
    if (o->src.ops)
        em_config_free(&o->cfg);
    free(o->src.ch);
    o->src.ch = NULL;
    o->src.nch = 0;
    em_probe_clear(&o->probe);
    fakefs_cleanup(&o->fs);
}

static struct em_channel *find_channel(struct opened *o, const char *component, const char *device)
{
    for (size_t i = 0; i < o->src.nch; i++)
        if (strcmp(o->src.ch[i].component, component) == 0 &&
            (!device || strcmp(o->src.ch[i].device, device) == 0))
            return &o->src.ch[i];
    return NULL;
}

/* The channel, or the test fails (and the compiler knows it is not NULL). */
static struct em_channel *get_channel(struct opened *o, const char *component, const char *device)
{
    struct em_channel *ch = find_channel(o, component, device);
    if (!ch) {
        fail_msg("no channel %s/%s among %zu", component, device ? device : "*", o->src.nch);
        abort(); /* not reached: fail_msg does not return */
    }
    return ch;
}

static size_t count_channels(struct opened *o, const char *component)
{
    size_t n = 0;
    for (size_t i = 0; i < o->src.nch; i++)
        n += strcmp(o->src.ch[i].component, component) == 0;
    return n;
}

static const struct em_zone_info *find_zone(struct opened *o, const char *name)
{
    for (size_t i = 0; i < o->probe.nzones; i++)
        if (o->probe.zones[i].name && strcmp(o->probe.zones[i].name, name) == 0)
            return &o->probe.zones[i];
    return NULL;
}

static void assert_contains_ci(const char *hay, const char *needle)
{
    if (!hay || !strcasestr(hay, needle))
        fail_msg("\"%s\" does not mention \"%s\"", hay ? hay : "(null)", needle);
}

static void expect_channel(struct opened *o, const char *component, const char *device,
                           int in_total)
{
    struct em_channel *ch = get_channel(o, component, device);
    assert_int_equal(ch->in_total, in_total);
    assert_true(strstr(ch->path, "energy_uj") != NULL);
    assert_true(strncmp(ch->path, o->fs.root, strlen(o->fs.root)) == 0); /* rooted */
    assert_true(ch->ctr.scale == 1e-6);
}

/* ------------------------------------------------------------------ layouts */

static void build_intel1(struct fakefs *f)
{
    fakefs_zone(f, "intel-rapl:0", "package-0", RANGE_UJ, PKG_MAX_UW, 1000);
    fakefs_zone(f, "intel-rapl:0:0", "core", RANGE_UJ, 0, 2000);
    fakefs_zone(f, "intel-rapl:0:1", "uncore", RANGE_UJ, 0, 3000);
    fakefs_zone(f, "intel-rapl:0:2", "dram", 65712999613ULL, 0, 4000);
    fakefs_zone(f, "intel-rapl:1", "psys", RANGE_UJ, 0, 5000);
}

static void test_intel_one_socket(void **state)
{
    (void)state;
    struct opened o;
    fakefs_init(&o.fs);
    build_intel1(&o.fs);
    open_source(&o);
    assert_int_equal(o.err, 0);
    assert_true(o.probe.available);
    assert_null(o.probe.reason);

    assert_int_equal(o.src.nch, 5);
    expect_channel(&o, "cpu", "package-0", 1);
    expect_channel(&o, "dram", "package-0", 1);
    expect_channel(&o, "cpu-core", "package-0", 0);
    expect_channel(&o, "cpu-uncore", "package-0", 0);
    struct em_channel *psys = get_channel(&o, "psys", NULL);
    assert_int_equal(psys->in_total, 0);
    assert_int_equal(count_channels(&o, "cpu"), 1);
    assert_int_equal(count_channels(&o, "dram"), 1);

    /* Each channel reads its own zone's file. */
    struct em_channel *dram = get_channel(&o, "dram", "package-0");
    assert_true(strstr(dram->path, "intel-rapl:0:2/energy_uj") != NULL);
    assert_int_equal(dram->ctr.modulus, 65712999613ULL + 1);
    for (size_t i = 0; i < o.src.nch; i++) {
        uint64_t raw = 0;
        assert_int_equal(o.src.ops->read(&o.src, i, &raw), 0);
        if (strcmp(o.src.ch[i].component, "cpu") == 0)
            assert_int_equal(raw, 1000);
        else if (strcmp(o.src.ch[i].component, "cpu-core") == 0)
            assert_int_equal(raw, 2000);
        else if (strcmp(o.src.ch[i].component, "cpu-uncore") == 0)
            assert_int_equal(raw, 3000);
        else if (strcmp(o.src.ch[i].component, "dram") == 0)
            assert_int_equal(raw, 4000);
        else
            assert_int_equal(raw, 5000);
    }

    /* Every zone is in the probe, usable; the "intel-rapl" control type
     * directory entry is not a zone. */
    assert_int_equal(o.probe.nzones, 5);
    assert_null(find_zone(&o, "intel-rapl"));
    for (size_t i = 0; i < o.probe.nzones; i++) {
        assert_true(o.probe.zones[i].usable);
        assert_null(o.probe.zones[i].reason);
    }
    close_source(&o);
}

static void test_intel_two_sockets(void **state)
{
    (void)state;
    struct opened o;
    fakefs_init(&o.fs);
    /* Created in reverse order: enumeration must not depend on readdir order. */
    fakefs_zone(&o.fs, "intel-rapl:1", "package-1", RANGE_UJ, PKG_MAX_UW, 11);
    fakefs_zone(&o.fs, "intel-rapl:1:0", "dram", RANGE_UJ, 0, 12);
    fakefs_zone(&o.fs, "intel-rapl:0", "package-0", RANGE_UJ, PKG_MAX_UW, 1);
    fakefs_zone(&o.fs, "intel-rapl:0:0", "dram", RANGE_UJ, 0, 2);
    open_source(&o);
    assert_int_equal(o.err, 0);
    assert_int_equal(o.src.nch, 4);
    assert_int_equal(count_channels(&o, "cpu"), 2);
    assert_int_equal(count_channels(&o, "dram"), 2);

    /* cpu and dram channels each in socket order, package-0 first. */
    const char *cpu_dev[2] = {NULL, NULL}, *dram_dev[2] = {NULL, NULL};
    uint64_t dram_raw[2] = {0, 0};
    size_t nc = 0, nd = 0;
    for (size_t i = 0; i < o.src.nch; i++) {
        struct em_channel *ch = &o.src.ch[i];
        assert_int_equal(ch->in_total, 1);
        if (strcmp(ch->component, "cpu") == 0) {
            cpu_dev[nc++] = ch->device;
        } else {
            assert_string_equal(ch->component, "dram");
            assert_int_equal(o.src.ops->read(&o.src, i, &dram_raw[nd]), 0);
            dram_dev[nd++] = ch->device;
        }
    }
    assert_string_equal(cpu_dev[0], "package-0");
    assert_string_equal(cpu_dev[1], "package-1");
    assert_string_equal(dram_dev[0], "package-0");
    assert_string_equal(dram_dev[1], "package-1");
    /* dram package-1 is intel-rapl:1:0, not socket 0's dram. */
    assert_int_equal(dram_raw[0], 2);
    assert_int_equal(dram_raw[1], 12);
    close_source(&o);
}

static void test_amd(void **state)
{
    (void)state;
    struct opened o;
    fakefs_init(&o.fs);
    fakefs_zone(&o.fs, "intel-rapl:0", "package-0", 4294967295ULL, 0, 100);
    fakefs_zone(&o.fs, "intel-rapl:0:0", "core", 4294967295ULL, 0, 50);
    open_source(&o);
    assert_int_equal(o.err, 0);
    assert_true(o.probe.available);
    assert_int_equal(o.src.nch, 2);
    expect_channel(&o, "cpu", "package-0", 1);
    expect_channel(&o, "cpu-core", "package-0", 0); /* never counted twice */
    assert_int_equal(count_channels(&o, "dram"), 0);

    char *why = em_probe_component_reason(&o.probe, 1, "dram");
    assert_non_null(why);
    assert_contains_ci(why, "DRAM");
    free(why);
    close_source(&o);
}

/* intel-rapl-mmio:0 repeats package-0 through MMIO: listed, not used. */
static void test_mmio_duplicate(void **state)
{
    (void)state;
    struct opened o;
    fakefs_init(&o.fs);
    fakefs_zone(&o.fs, "intel-rapl:0", "package-0", RANGE_UJ, PKG_MAX_UW, 1);
    fakefs_zone(&o.fs, "intel-rapl-mmio:0", "package-0", RANGE_UJ, PKG_MAX_UW, 2);
    open_source(&o);
    assert_int_equal(o.err, 0);
    assert_int_equal(o.src.nch, 1);
    assert_int_equal(count_channels(&o, "cpu"), 1);
    uint64_t raw = 0;
    assert_int_equal(o.src.ops->read(&o.src, 0, &raw), 0);
    assert_int_equal(raw, 1); /* the MSR zone, not the MMIO one */

    const struct em_zone_info *z = find_zone(&o, "intel-rapl-mmio:0");
    assert_non_null(z);
    assert_false(z->usable);
    assert_non_null(z->reason);
    assert_contains_ci(z->reason, "duplicate");
    assert_null(find_zone(&o, "intel-rapl-mmio"));
    z = find_zone(&o, "intel-rapl:0");
    assert_non_null(z);
    assert_true(z->usable);
    close_source(&o);

    /* Without the MSR zone, the MMIO one is the package. */
    fakefs_init(&o.fs);
    fakefs_zone(&o.fs, "intel-rapl-mmio:0", "package-0", RANGE_UJ, PKG_MAX_UW, 2);
    open_source(&o);
    assert_int_equal(o.err, 0);
    assert_true(o.probe.available);
    assert_int_equal(o.src.nch, 1);
    expect_channel(&o, "cpu", "package-0", 1);
    assert_int_equal(o.src.ops->read(&o.src, 0, &raw), 0);
    assert_int_equal(raw, 2);
    close_source(&o);
}

/* energy_uj readable by root only (CVE-2020-8694): unusable, with a reason
 * that says so and a safe fix, never chmod -R a+r. Needs a non-root user. */
static void test_permission_denied(void **state)
{
    (void)state;
    if (geteuid() == 0)
        skip(); /* root reads anything; the CLI tests cover this with setpriv */
    struct opened o;
    fakefs_init(&o.fs);
    fakefs_zone(&o.fs, "intel-rapl:0", "package-0", RANGE_UJ, PKG_MAX_UW, 1);
    char p[FAKEFS_PATH_MAX];
    fakefs_zone_abs(&o.fs, "intel-rapl:0", "energy_uj", p, sizeof p);
    assert_int_equal(chmod(p, 0000), 0);
    open_source(&o);
    assert_int_equal(o.err, 0);
    assert_false(o.probe.available);
    assert_int_equal(o.src.nch, 0);
    const struct em_zone_info *z = find_zone(&o, "intel-rapl:0");
    assert_non_null(z);
    assert_false(z->usable);
    assert_contains_ci(z->reason, "permission");
    assert_non_null(z->fix);
    assert_null(strstr(z->fix, "chmod -R"));
    assert_int_equal(chmod(p, 0644), 0);
    close_source(&o);
}

/* No /sys/class/powercap at all (this VM): unavailable, with the reason. */
static void test_no_powercap(void **state)
{
    (void)state;
    struct opened o;
    fakefs_init(&o.fs);
    fakefs_mkdir_p(&o.fs, "sys/class");
    open_source(&o);
    assert_int_equal(o.err, 0);
    assert_false(o.probe.available);
    assert_int_equal(o.src.nch, 0);
    assert_non_null(o.probe.reason);
    assert_contains_ci(o.probe.reason, "powercap");
    char *why = em_probe_component_reason(&o.probe, 1, "cpu");
    assert_non_null(why);
    assert_contains_ci(why, "powercap");
    free(why);
    close_source(&o);

    /* The class directory but no zone in it. */
    fakefs_init(&o.fs);
    fakefs_powercap_class(&o.fs);
    open_source(&o);
    assert_int_equal(o.err, 0);
    assert_false(o.probe.available);
    assert_int_equal(o.src.nch, 0);
    assert_non_null(o.probe.reason);
    assert_contains_ci(o.probe.reason, "powercap");
    close_source(&o);
}

/* A malformed max_energy_range_uj makes its zone unusable, with a reason
 * naming the file; the other zones still work. */
static void check_bad_range(const char *range_text)
{
    struct opened o;
    fakefs_init(&o.fs);
    fakefs_zone(&o.fs, "intel-rapl:0", "package-0", RANGE_UJ, PKG_MAX_UW, 1);
    fakefs_zone_raw(&o.fs, "intel-rapl:0:0", "dram", range_text, 0, 2);
    open_source(&o);
    assert_int_equal(o.err, 0);
    assert_true(o.probe.available);
    if (o.src.nch != 1 || count_channels(&o, "dram") != 0)
        fail_msg("max_energy_range_uj \"%.20s\": %zu channels, %zu dram", range_text, o.src.nch,
                 count_channels(&o, "dram"));
    const struct em_zone_info *z = find_zone(&o, "intel-rapl:0:0");
    assert_non_null(z);
    assert_false(z->usable);
    assert_non_null(z->reason);
    assert_contains_ci(z->reason, "max_energy_range_uj");
    /* dram has no channel: the report's reason comes from this zone. */
    char *why = em_probe_component_reason(&o.probe, 1, "dram");
    assert_non_null(why);
    assert_contains_ci(why, "max_energy_range_uj");
    free(why);
    close_source(&o);
}

static void test_malformed_range(void **state)
{
    (void)state;
    check_bad_range("");
    check_bad_range("\n");
    check_bad_range("abc\n");
    check_bad_range("-5\n");
    check_bad_range("12abc\n");
    check_bad_range("0\n");
    check_bad_range("18446744073709551616\n");
    check_bad_range("18446744073709551615\n"); /* no modulus fits */
    char big[102];
    memset(big, '7', 100);
    big[100] = '\n';
    big[101] = '\0';
    check_bad_range(big);
}

/* A malformed or missing energy_uj: the zone is listed, not used. */
static void test_malformed_energy(void **state)
{
    (void)state;
    struct opened o;
    fakefs_init(&o.fs);
    fakefs_zone(&o.fs, "intel-rapl:0", "package-0", RANGE_UJ, PKG_MAX_UW, 1);
    fakefs_zone_write(&o.fs, "intel-rapl:0", "energy_uj", "garbage\n");
    fakefs_zone(&o.fs, "intel-rapl:1", "package-1", RANGE_UJ, PKG_MAX_UW, 1);
    char rel[FAKEFS_PATH_MAX];
    fakefs_zone_file("intel-rapl:1", "energy_uj", rel, sizeof rel);
    fakefs_unlink(&o.fs, rel);
    open_source(&o);
    assert_int_equal(o.err, 0);
    assert_false(o.probe.available);
    assert_int_equal(o.src.nch, 0);
    const struct em_zone_info *z = find_zone(&o, "intel-rapl:0");
    assert_non_null(z);
    assert_false(z->usable);
    assert_contains_ci(z->reason, "energy_uj");
    z = find_zone(&o, "intel-rapl:1");
    assert_non_null(z);
    assert_false(z->usable);
    assert_contains_ci(z->reason, "energy_uj");
    char *why = em_probe_component_reason(&o.probe, 1, "cpu");
    assert_non_null(why);
    assert_contains_ci(why, "energy_uj");
    free(why);
    close_source(&o);
}

/* constraint_0_max_power_uw sets the maximum power, with a 1.5x margin for
 * bursts; without it, a conservative 1000 W. The counter's modulus is the
 * stated range + 1. */
static void test_max_power(void **state)
{
    (void)state;
    struct opened o;
    fakefs_init(&o.fs);
    fakefs_zone(&o.fs, "intel-rapl:0", "package-0", 5000000, PKG_MAX_UW, 1);
    fakefs_zone(&o.fs, "intel-rapl:0:0", "dram", 7000000, 0, 1);
    open_source(&o);
    assert_int_equal(o.err, 0);
    struct em_channel *cpu = get_channel(&o, "cpu", "package-0");
    struct em_channel *dram = get_channel(&o, "dram", "package-0");
    assert_true(fabs(cpu->ctr.max_power_w - 150.0) < 1e-9);
    assert_true(fabs(dram->ctr.max_power_w - 1000.0) < 1e-9);
    assert_int_equal(cpu->ctr.modulus, 5000001);
    assert_int_equal(dram->ctr.modulus, 7000001);
    assert_true(fabs(em_counter_wrap_period(&cpu->ctr) - 5.000001 / 150.0) < 1e-12);
    close_source(&o);

    /* The highest of several constraints counts; a malformed one is ignored. */
    fakefs_init(&o.fs);
    fakefs_zone(&o.fs, "intel-rapl:0", "package-0", 5000000, 50000000, 1);
    fakefs_zone_write(&o.fs, "intel-rapl:0", "constraint_1_max_power_uw", "120000000\n");
    fakefs_zone_write(&o.fs, "intel-rapl:0", "constraint_2_max_power_uw", "lots\n");
    open_source(&o);
    assert_int_equal(o.err, 0);
    cpu = get_channel(&o, "cpu", "package-0");
    assert_true(fabs(cpu->ctr.max_power_w - 180.0) < 1e-9);
    close_source(&o);
}

/* read() returns the file's current value and reports a vanished file. */
static void test_read(void **state)
{
    (void)state;
    struct opened o;
    fakefs_init(&o.fs);
    fakefs_zone(&o.fs, "intel-rapl:0", "package-0", RANGE_UJ, PKG_MAX_UW, 123456789);
    open_source(&o);
    assert_int_equal(o.err, 0);
    assert_int_equal(o.src.nch, 1);
    uint64_t raw = 0;
    assert_int_equal(o.src.ops->read(&o.src, 0, &raw), 0);
    assert_int_equal(raw, 123456789);
    fakefs_zone_write(&o.fs, "intel-rapl:0", "energy_uj", "262143328850\n");
    assert_int_equal(o.src.ops->read(&o.src, 0, &raw), 0);
    assert_int_equal(raw, 262143328850ULL);
    fakefs_zone_write(&o.fs, "intel-rapl:0", "energy_uj", "oops\n");
    assert_int_equal(o.src.ops->read(&o.src, 0, &raw), EM_ERR_FORMAT);
    char rel[FAKEFS_PATH_MAX];
    fakefs_zone_file("intel-rapl:0", "energy_uj", rel, sizeof rel);
    fakefs_unlink(&o.fs, rel);
    assert_int_equal(o.src.ops->read(&o.src, 0, &raw), EM_ERR_NOT_FOUND);
    close_source(&o);
}

/* Entries that are not zones are ignored: the control types, and names that
 * only look like zones. */
static void test_ignores_non_zones(void **state)
{
    (void)state;
    struct opened o;
    fakefs_init(&o.fs);
    fakefs_zone(&o.fs, "intel-rapl:0", "package-0", RANGE_UJ, PKG_MAX_UW, 1);
    /* The control type link exists, as on real machines. */
    char p[FAKEFS_PATH_MAX];
    struct stat st;
    fakefs_path(&o.fs, p, sizeof p, FAKEFS_CLASS "/intel-rapl");
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(stat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    /* Give the control type an energy_uj too: still not a zone. */
    fakefs_write(&o.fs, FAKEFS_DEVICES "/intel-rapl/energy_uj", "5\n");
    fakefs_write(&o.fs, FAKEFS_DEVICES "/intel-rapl/max_energy_range_uj", "100\n");
    fakefs_write(&o.fs, FAKEFS_DEVICES "/intel-rapl/name", "package-9\n");
    fakefs_mkdir_p(&o.fs, FAKEFS_CLASS "/intel-rapl:x");
    fakefs_mkdir_p(&o.fs, FAKEFS_CLASS "/intel-rapl:0:");
    fakefs_mkdir_p(&o.fs, FAKEFS_CLASS "/intel-rapl:-1");
    fakefs_mkdir_p(&o.fs, FAKEFS_CLASS "/dtpm");
    open_source(&o);
    assert_int_equal(o.err, 0);
    assert_int_equal(o.src.nch, 1);
    assert_int_equal(o.probe.nzones, 1);
    assert_string_equal(o.probe.zones[0].name, "intel-rapl:0");
    close_source(&o);
}

/* The class links point where they should (the fake tree's own check). */
static void test_fake_layout(void **state)
{
    (void)state;
    struct fakefs f;
    fakefs_init(&f);
    build_intel1(&f);
    char p[FAKEFS_PATH_MAX], target[FAKEFS_PATH_MAX];
    fakefs_path(&f, p, sizeof p, FAKEFS_CLASS "/intel-rapl:0:2");
    ssize_t n = readlink(p, target, sizeof target - 1);
    assert_true(n > 0);
    target[n] = '\0';
    assert_string_equal(target,
                        "../../devices/virtual/powercap/intel-rapl/intel-rapl:0/intel-rapl:0:2");
    fakefs_path(&f, p, sizeof p, FAKEFS_CLASS "/intel-rapl:1");
    n = readlink(p, target, sizeof target - 1);
    assert_true(n > 0);
    target[n] = '\0';
    assert_string_equal(target, "../../devices/virtual/powercap/intel-rapl/intel-rapl:1");
    fakefs_path(&f, p, sizeof p, FAKEFS_CLASS "/intel-rapl:0:2/name");
    char buf[64];
    FILE *fp = fopen(p, "r");
    assert_non_null(fp);
    assert_non_null(fgets(buf, sizeof buf, fp));
    fclose(fp);
    assert_string_equal(buf, "dram\n");
    fakefs_cleanup(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fake_layout),
        cmocka_unit_test(test_intel_one_socket),
        cmocka_unit_test(test_intel_two_sockets),
        cmocka_unit_test(test_amd),
        cmocka_unit_test(test_mmio_duplicate),
        cmocka_unit_test(test_permission_denied),
        cmocka_unit_test(test_no_powercap),
        cmocka_unit_test(test_malformed_range),
        cmocka_unit_test(test_malformed_energy),
        cmocka_unit_test(test_max_power),
        cmocka_unit_test(test_read),
        cmocka_unit_test(test_ignores_non_zones),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
