/* Rooted file access and number parsing (src/sysfs.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/options.h"
#include "fakefs.h"
#include "util/sysfs.h"

/* ------------------------------------------------------------ em_parse_u64 */

static void expect_u64(const char *s, uint64_t want)
{
    uint64_t v = 0xdeadbeef;
    int err = em_parse_u64(s, &v);
    if (err != 0)
        fail_msg("em_parse_u64(\"%s\") = %d, want 0", s, err);
    if (v != want)
        fail_msg("em_parse_u64(\"%s\") gave %llu, want %llu", s, (unsigned long long)v,
                 (unsigned long long)want);
}

static void expect_format(const char *s)
{
    uint64_t v = 0;
    int err = em_parse_u64(s, &v);
    if (err != EM_ERR_FORMAT)
        fail_msg("em_parse_u64(\"%s\") = %d (value %llu), want EM_ERR_FORMAT", s, err,
                 (unsigned long long)v);
}

static void test_parse_plain(void **state)
{
    (void)state;
    expect_u64("0", 0);
    expect_u64("7", 7);
    expect_u64("123456789", 123456789);
    expect_u64("262143328850", 262143328850ULL);
    expect_u64("000042", 42);
}

static void test_parse_whitespace(void **state)
{
    (void)state;
    expect_u64("42\n", 42);
    expect_u64("  42", 42);
    expect_u64("\t42\t\n", 42);
    expect_u64(" 1000000 \n", 1000000);
    expect_format("4 2");
    expect_format("42\n7");
}

static void test_parse_bad(void **state)
{
    (void)state;
    expect_format("");
    expect_format("   ");
    expect_format("\n");
    expect_format("abc");
    expect_format("-1");
    expect_format("-0");
    expect_format("+5");
    expect_format("12abc");
    expect_format("0x10");
    expect_format("1.5");
    expect_format("1e6");
}

static void test_parse_limits(void **state)
{
    (void)state;
    expect_u64("18446744073709551615", UINT64_MAX);
    expect_u64("18446744073709551615\n", UINT64_MAX);
    expect_u64("18446744073709551614", UINT64_MAX - 1);
    expect_format("18446744073709551616"); /* UINT64_MAX + 1 */
    expect_format("18446744073709551620");
    expect_format("99999999999999999999");
    expect_format("184467440737095516150"); /* 10 x UINT64_MAX */
    char big[101];
    memset(big, '9', 100);
    big[100] = '\0';
    expect_format(big);
    /* 100 digits with leading zeros that still fit are a number. */
    memset(big, '0', 100);
    big[99] = '5';
    expect_u64(big, 5);
}

/* ------------------------------------------------- em_read_text / em_read_u64 */

static void test_read_files(void **state)
{
    (void)state;
    struct fakefs f;
    fakefs_init(&f);
    char p[FAKEFS_PATH_MAX], buf[64];
    uint64_t v = 0;

    fakefs_write(&f, "num", "262143328850\n");
    fakefs_path(&f, p, sizeof p, "num");
    assert_int_equal(em_read_text(p, buf, sizeof buf), 0);
    assert_string_equal(buf, "262143328850"); /* trailing newline removed */
    assert_int_equal(em_read_u64(p, &v), 0);
    assert_int_equal(v, 262143328850ULL);

    fakefs_write(&f, "name", "package-0  \n\n");
    fakefs_path(&f, p, sizeof p, "name");
    assert_int_equal(em_read_text(p, buf, sizeof buf), 0);
    assert_string_equal(buf, "package-0");

    /* Missing: not found, for both. */
    fakefs_path(&f, p, sizeof p, "missing");
    assert_int_equal(em_read_text(p, buf, sizeof buf), EM_ERR_NOT_FOUND);
    assert_int_equal(em_read_u64(p, &v), EM_ERR_NOT_FOUND);
    fakefs_path(&f, p, sizeof p, "missing/below");
    assert_int_equal(em_read_text(p, buf, sizeof buf), EM_ERR_NOT_FOUND);

    /* Empty or blank: a format error, never 0. */
    fakefs_write(&f, "empty", "");
    fakefs_path(&f, p, sizeof p, "empty");
    assert_int_equal(em_read_text(p, buf, sizeof buf), EM_ERR_FORMAT);
    v = 77;
    assert_int_equal(em_read_u64(p, &v), EM_ERR_FORMAT);
    fakefs_write(&f, "blank", " \n");
    fakefs_path(&f, p, sizeof p, "blank");
    assert_int_equal(em_read_text(p, buf, sizeof buf), EM_ERR_FORMAT);
    assert_int_equal(em_read_u64(p, &v), EM_ERR_FORMAT);

    /* Not a number. */
    fakefs_write(&f, "abc", "abc\n");
    fakefs_path(&f, p, sizeof p, "abc");
    assert_int_equal(em_read_u64(p, &v), EM_ERR_FORMAT);
    fakefs_write(&f, "neg", "-5\n");
    fakefs_path(&f, p, sizeof p, "neg");
    assert_int_equal(em_read_u64(p, &v), EM_ERR_FORMAT);

    /* A directory is not a file. */
    fakefs_mkdir_p(&f, "adir");
    fakefs_path(&f, p, sizeof p, "adir");
    int err = em_read_text(p, buf, sizeof buf);
    assert_true(err < 0);

    /* A buffer too small to hold anything. */
    fakefs_path(&f, p, sizeof p, "num");
    assert_int_equal(em_read_text(p, buf, 1), EM_ERR_INVALID);

    fakefs_cleanup(&f);
}

static void test_read_huge(void **state)
{
    (void)state;
    struct fakefs f;
    fakefs_init(&f);
    char p[FAKEFS_PATH_MAX], buf[64];
    uint64_t v = 0;

    /* 1 MiB of digits: bounded read, and never taken for a number. */
    fakefs_write_fill(&f, "digits", '9', 1 << 20);
    fakefs_path(&f, p, sizeof p, "digits");
    memset(buf, 'z', sizeof buf);
    int err = em_read_text(p, buf, sizeof buf);
    assert_true(err == 0 || err == EM_ERR_FORMAT);
    if (err == 0)
        assert_true(memchr(buf, '\0', sizeof buf) != NULL); /* terminated inside buf */
    assert_int_equal(em_read_u64(p, &v), EM_ERR_FORMAT);

    /* 1 MiB of letters. */
    fakefs_write_fill(&f, "letters", 'x', 1 << 20);
    fakefs_path(&f, p, sizeof p, "letters");
    assert_int_equal(em_read_u64(p, &v), EM_ERR_FORMAT);

    /* Long files whose first bytes look like a number must not be cut to
     * it: 70 zeros then 5, and 12 followed by 70 blanks and junk. */
    char longnum[80];
    memset(longnum, '0', 70);
    strcpy(longnum + 70, "5\n");
    fakefs_write(&f, "zeros", longnum);
    fakefs_path(&f, p, sizeof p, "zeros");
    assert_int_equal(em_read_u64(p, &v), EM_ERR_FORMAT);
    char padded[90] = "12";
    memset(padded + 2, ' ', 70);
    strcpy(padded + 72, "junk\n");
    fakefs_write(&f, "padded", padded);
    fakefs_path(&f, p, sizeof p, "padded");
    assert_int_equal(em_read_u64(p, &v), EM_ERR_FORMAT);

    /* A 100-digit number in a file. */
    fakefs_write_fill(&f, "hundred", '1', 100);
    fakefs_path(&f, p, sizeof p, "hundred");
    assert_int_equal(em_read_u64(p, &v), EM_ERR_FORMAT);

    fakefs_cleanup(&f);
}

/* ------------------------------------------------------------ em_sysfs_path */

/* ENERGYMETER_SYSFS_ROOT as a meter reads it (once, into its configuration),
 * then abs_path under it. */
static int rooted(char *out, size_t outsz, const char *abs_path)
{
    struct em_config cfg;
    char msg[256];
    assert_int_equal(em_config_init(&cfg, NULL, msg, sizeof msg), 0);
    int err = em_sysfs_path(cfg.sysfs_root, out, outsz, abs_path);
    em_config_free(&cfg);
    return err;
}

static void test_sysfs_path(void **state)
{
    (void)state;
    char out[256];
    struct em_config cfg;
    char msg[256];

    unsetenv("ENERGYMETER_SYSFS_ROOT");
    assert_int_equal(em_config_init(&cfg, NULL, msg, sizeof msg), 0);
    assert_string_equal(cfg.sysfs_root, "");
    em_config_free(&cfg);
    assert_int_equal(rooted(out, sizeof out, "/sys/class/powercap"), 0);
    assert_string_equal(out, "/sys/class/powercap");

    setenv("ENERGYMETER_SYSFS_ROOT", "/tmp/fake", 1);
    assert_int_equal(rooted(out, sizeof out, "/sys/class/powercap"), 0);
    assert_string_equal(out, "/tmp/fake/sys/class/powercap");

    /* A trailing slash (or several) does not double the separator. */
    setenv("ENERGYMETER_SYSFS_ROOT", "/tmp/fake/", 1);
    assert_int_equal(rooted(out, sizeof out, "/proc/diskstats"), 0);
    assert_string_equal(out, "/tmp/fake/proc/diskstats");
    setenv("ENERGYMETER_SYSFS_ROOT", "/tmp/fake///", 1);
    assert_int_equal(rooted(out, sizeof out, "/dev/cpu/0/msr"), 0);
    assert_string_equal(out, "/tmp/fake/dev/cpu/0/msr");

    /* Empty root: as if unset. */
    setenv("ENERGYMETER_SYSFS_ROOT", "", 1);
    assert_int_equal(rooted(out, sizeof out, "/sys"), 0);
    assert_string_equal(out, "/sys");

    /* Too long for the buffer: an error, not a truncated path. */
    setenv("ENERGYMETER_SYSFS_ROOT", "/tmp/fake", 1);
    assert_int_equal(rooted(out, 16, "/sys/class/powercap"), EM_ERR_INVALID);
    assert_int_equal(rooted(out, strlen("/tmp/fake/sys") + 1, "/sys"), 0);
    assert_string_equal(out, "/tmp/fake/sys");
    assert_int_equal(rooted(out, strlen("/tmp/fake/sys"), "/sys"), EM_ERR_INVALID);

    /* Read once: a meter's configuration keeps the root it was made with. */
    assert_int_equal(em_config_init(&cfg, NULL, msg, sizeof msg), 0);
    setenv("ENERGYMETER_SYSFS_ROOT", "/elsewhere", 1);
    assert_int_equal(em_sysfs_path(cfg.sysfs_root, out, sizeof out, "/sys"), 0);
    assert_string_equal(out, "/tmp/fake/sys");
    em_config_free(&cfg);

    unsetenv("ENERGYMETER_SYSFS_ROOT");
}

/* Reads through a rooted path land in the fake tree. */
static void test_rooted_read(void **state)
{
    (void)state;
    struct fakefs f;
    fakefs_init(&f);
    fakefs_zone(&f, "intel-rapl:0", "package-0", 262143328850ULL, 0, 4242);
    char p[FAKEFS_PATH_MAX];
    uint64_t v = 0;
    /* Through the class link, as the sources read it. */
    assert_int_equal(rooted(p, sizeof p, "/sys/class/powercap/intel-rapl:0/energy_uj"), 0);
    assert_int_equal(em_read_u64(p, &v), 0);
    assert_int_equal(v, 4242);
    fakefs_cleanup(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_plain), cmocka_unit_test(test_parse_whitespace),
        cmocka_unit_test(test_parse_bad),   cmocka_unit_test(test_parse_limits),
        cmocka_unit_test(test_read_files),  cmocka_unit_test(test_read_huge),
        cmocka_unit_test(test_sysfs_path),  cmocka_unit_test(test_rooted_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
