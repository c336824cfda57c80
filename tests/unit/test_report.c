/* Unit tests: em_buf and escaping, report building and totals, accessors, and
 * the JSON, CSV and text outputs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reports.h"
#include "util/util.h"

/* ------------------------------------------------- a strict JSON validator */

/* Enough of RFC 8259 to prove that the output parses: every value kind,
 * string escapes, no control characters in strings, no trailing commas, no
 * NaN. Returns the position after the value, or NULL on a syntax error. */
static const char *json_value(const char *p, int depth);

static const char *json_ws(const char *p)
{
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
        p++;
    return p;
}

static const char *json_string(const char *p)
{
    if (*p++ != '"')
        return NULL;
    for (;;) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c < 0x20)
            return NULL;
        if (c == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
                        return NULL;
                p += 5;
                continue;
            }
            if (!*p || !strchr("\"\\/bfnrt", *p))
                return NULL;
        }
        p++;
    }
}

static const char *json_number(const char *p)
{
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return NULL;
    if (*p == '.') {
        p++;
        if (!(*p >= '0' && *p <= '9'))
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return p;
}

static const char *json_value(const char *p, int depth)
{
    if (depth > 32)
        return NULL;
    p = json_ws(p);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        int object = *p == '{';
        p = json_ws(p + 1);
        if (*p == close)
            return p + 1;
        for (;;) {
            if (object) {
                p = json_string(json_ws(p));
                if (!p)
                    return NULL;
                p = json_ws(p);
                if (*p++ != ':')
                    return NULL;
            }
            p = json_value(p, depth + 1);
            if (!p)
                return NULL;
            p = json_ws(p);
            if (*p == close)
                return p + 1;
            if (*p++ != ',')
                return NULL;
        }
    }
    if (*p == '"')
        return json_string(p);
    if (strncmp(p, "true", 4) == 0)
        return p + 4;
    if (strncmp(p, "false", 5) == 0)
        return p + 5;
    if (strncmp(p, "null", 4) == 0)
        return p + 4;
    return json_number(p);
}

static int json_valid(const char *s)
{
    const char *end = json_value(s, 0);
    return end && *json_ws(end) == '\0';
}

/* cmocka 1.1 compares floats only as float: too coarse for microjoules. */
#define assert_near(a, b, eps) assert_near_at((a), (b), (eps), __FILE__, __LINE__)

static void assert_near_at(double a, double b, double eps, const char *file, int line)
{
    if (!(fabs(a - b) <= eps)) {
        print_error("%.12g != %.12g (within %g)\n", a, b, eps);
        _fail(file, line);
    }
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* ----------------------------------------------------------------- em_buf */

static void test_buf_growth(void **state)
{
    (void)state;
    struct em_buf b;
    em_buf_init(&b);
    for (int i = 0; i < 10000; i++)
        em_buf_append(&b, (i % 2) ? "b" : "a", 1);
    em_buf_printf(&b, "%s-%d", "end", 42);
    /* Longer than the printf fast path's stack buffer. */
    char big[1000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    em_buf_printf(&b, "%s", big);
    assert_false(b.oom);
    assert_int_equal(b.len, 10000 + 6 + 999);
    assert_int_equal(strlen(b.data), b.len);
    assert_memory_equal(b.data, "abab", 4);
    assert_memory_equal(b.data + 10000, "end-42x", 7);
    assert_int_equal(b.data[b.len - 1], 'x');

    char *s = em_buf_steal(&b);
    assert_non_null(s);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(strlen(s), 10000 + 6 + 999);
    free(s);

    /* Stealing an empty buffer still gives a real, empty string. */
    em_buf_init(&b);
    s = em_buf_steal(&b);
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);

    /* A sticky failure: once oom, nothing more is appended and steal fails. */
    em_buf_init(&b);
    em_buf_puts(&b, "abc");
    b.oom = 1;
    em_buf_puts(&b, "def");
    assert_int_equal(b.len, 3);
    assert_null(em_buf_steal(&b));
    assert_null(b.data);
}

static char *json_of(const char *s)
{
    struct em_buf b;
    em_buf_init(&b);
    em_buf_json_str(&b, s);
    return em_buf_steal(&b);
}

static void test_buf_json_escaping(void **state)
{
    (void)state;
    char *s = json_of("plain");
    assert_string_equal(s, "\"plain\"");
    free(s);

    s = json_of("a\"b\\c\nd\re\tf\bg\fh/i");
    assert_string_equal(s, "\"a\\\"b\\\\c\\nd\\re\\tf\\bg\\fh/i\"");
    assert_true(json_valid(s));
    free(s);

    s = json_of("\x01x\x1f\x7f");
    assert_string_equal(s, "\"\\u0001x\\u001f\x7f\"");
    assert_true(json_valid(s));
    free(s);

    /* Valid UTF-8 passes through unchanged (é, €, an emoji). */
    s = json_of("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    assert_string_equal(s, "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    free(s);

    /* Invalid UTF-8 (stray continuation, truncated, overlong, surrogate)
     * becomes U+FFFD escapes, one per bad byte. */
    s = json_of("a\x80z\xc3\xe2\x82\xc0\xaf\xed\xa0\x80");
    assert_string_equal(s, "\"a\\ufffdz\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\"");
    assert_true(json_valid(s));
    free(s);

    s = json_of("");
    assert_string_equal(s, "\"\"");
    free(s);
    s = json_of(NULL);
    assert_string_equal(s, "null");
    free(s);
}

static void test_buf_csv_quoting(void **state)
{
    (void)state;
    struct em_buf b;
    em_buf_init(&b);
    em_buf_csv_field(&b, "plain");
    em_buf_puts(&b, "|");
    em_buf_csv_field(&b, "a,b");
    em_buf_puts(&b, "|");
    em_buf_csv_field(&b, "say \"hi\"");
    em_buf_puts(&b, "|");
    em_buf_csv_field(&b, "two\nlines");
    em_buf_puts(&b, "|");
    em_buf_csv_field(&b, "cr\r");
    em_buf_puts(&b, "|");
    em_buf_csv_field(&b, NULL);
    em_buf_puts(&b, "|");
    em_buf_csv_field(&b, "");
    assert_false(b.oom);
    assert_string_equal(b.data, "plain|\"a,b\"|\"say \"\"hi\"\"\"|\"two\nlines\"|\"cr\r\"||");
    em_buf_free(&b);
}

static void test_strings_and_clocks(void **state)
{
    (void)state;
    assert_null(em_strdup(NULL));
    char *s = em_strdup("abc");
    assert_string_equal(s, "abc");
    free(s);
    s = em_asprintf("%s=%d", "x", 7);
    assert_string_equal(s, "x=7");
    free(s);

    double a = em_now_mono();
    double b = em_now_mono();
    assert_true(a > 0.0);
    assert_true(b >= a);
    /* Well after 2020-01-01 in nanoseconds: catches a seconds/ns mix-up. */
    assert_true(em_now_real_ns() > INT64_C(1577836800) * 1000000000);
}

/* ---------------------------------------------------------------- logging */

struct log_capture {
    int calls;
    em_log_level last_level;
    char last[2048];
};

static void capture_log(em_log_level level, const char *message, void *userdata)
{
    struct log_capture *cap = userdata;
    cap->calls++;
    cap->last_level = level;
    snprintf(cap->last, sizeof(cap->last), "%s", message);
}

static void test_logger(void **state)
{
    (void)state;
    struct log_capture cap = {0};
    em_options opts;
    memset(&opts, 0, sizeof(opts));
    opts.size = sizeof(opts);
    opts.log_fn = capture_log;
    opts.log_userdata = &cap;
    opts.log_level = EM_LOG_INFO;

    struct em_logger lg;
    em_logger_init(&lg, &opts, NULL);
    em_log(&lg, EM_LOG_DEBUG, "hidden %d", 1);
    assert_int_equal(cap.calls, 0);
    em_log(&lg, EM_LOG_WARN, "shown %d", 2);
    assert_int_equal(cap.calls, 1);
    assert_int_equal(cap.last_level, EM_LOG_WARN);
    assert_string_equal(cap.last, "shown 2");

    /* Messages longer than the stack buffer are cut, not lost. */
    char big[3000];
    memset(big, 'y', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    em_log(&lg, EM_LOG_ERROR, "%s", big);
    assert_int_equal(cap.calls, 2);
    assert_int_equal(strlen(cap.last), 1023);

    /* A struct whose size does not reach log_fn must not be read there. */
    opts.size = offsetof(em_options, log_fn);
    em_logger_init(&lg, &opts, NULL);
    assert_null(lg.fn);
    em_log(&lg, EM_LOG_ERROR, "nowhere");
    assert_int_equal(cap.calls, 2);

    /* No options and no environment: silent. */
    em_logger_init(&lg, NULL, NULL);
    assert_null(lg.fn);
    assert_int_equal(lg.level, EM_LOG_OFF);

    /* The environment (ENERGYMETER_LOG, as the meter's configuration read
     * it) turns on stderr logging at the level it names. */
    em_logger_init(&lg, NULL, "info");
    assert_non_null(lg.fn);
    assert_int_equal(lg.level, EM_LOG_INFO);
    em_logger_init(&lg, NULL, "bogus");
    assert_null(lg.fn);
}

/* ----------------------------------------------------------------- report */

/* cpu with two sockets, dram measured, gpu unavailable, disk estimated, and
 * psys which must not count towards the total. */
static struct em_report *sample_report(void)
{
    /* As the meter makes it: the window's readings, then the report built
     * from them in one pass. */
    struct em_readings w;
    assert_int_equal(em_readings_init(&w, "Test \"Meter\"", 0), EM_OK);
    w.start_ns = INT64_C(1795600800) * 1000000000 + 123456789; /* 2026-11-25T10:00:00Z */
    w.end_ns = w.start_ns + INT64_C(2000000000);
    w.duration_s = 2.0;

    struct em_reading *c = em_readings_add(&w, "cpu");
    assert_non_null(c);
    c->source = em_strdup("rapl-powercap");
    assert_int_equal(em_reading_add_device(c, "package-0", 10.0, 0.0001), EM_OK);
    assert_int_equal(em_reading_add_device(c, "package-1", 2.5, 0.0002), EM_OK);

    c = em_readings_add(&w, "dram");
    assert_non_null(c);
    c->source = em_strdup("rapl-powercap");
    c->joules = 1.25;
    c->uncertainty_j = 0.001;

    c = em_readings_add(&w, "gpu");
    assert_non_null(c);
    c->joules = 99.0; /* must be discarded */
    assert_int_equal(em_reading_add_device(c, "gpu0", 99.0, 0.0), EM_OK);
    assert_int_equal(
        em_reading_set_unavailable(c, "no NVIDIA driver (libnvidia-ml.so.1 not found)"), EM_OK);

    c = em_readings_add(&w, "disk");
    assert_non_null(c);
    c->status = EM_STATUS_ESTIMATED;
    c->source = em_strdup("ebpf-block");
    c->joules = 0.75;
    c->uncertainty_j = 0.5;
    c->degraded = 1;

    c = em_readings_add(&w, "psys");
    assert_non_null(c);
    c->source = em_strdup("rapl-perf");
    c->joules = 50.0;
    c->in_total = 0;

    assert_int_equal(em_readings_warn(&w, "counter %s wrapped %d times", "package-0", 2), EM_OK);
    assert_int_equal(em_readings_warn(&w, "line\nbreak \"quoted\""), EM_OK);
    struct em_report *r = NULL;
    assert_int_equal(em_report_build(&w, NULL, &r), EM_OK);
    assert_non_null(r);
    assert_int_equal(w.ncomps, 0); /* taken over */
    return r;
}

/* em_report_summarize(): in one call, what the single accessors give. */
static void test_report_summarize(void **state)
{
    (void)state;
    struct em_report *r = sample_report();
    em_report_summary rs;
    em_component_summary cs[8];
    assert_int_equal(em_report_summarize(r, &rs, cs, sizeof cs[0], 8), EM_OK);
    assert_int_equal(rs.component_count, em_report_component_count(r));
    assert_int_equal(rs.component_count, 5);
    assert_int_equal(rs.warning_count, 2);
    assert_true(rs.start_ns == em_report_start_ns(r) && rs.end_ns == em_report_end_ns(r));
    assert_near(rs.duration_s, 2.0, 1e-12);
    assert_near(rs.total_joules, em_report_total_joules(r), 0);
    for (size_t c = 0; c < rs.component_count; c++) {
        assert_string_equal(cs[c].name, em_component_name(r, c));
        assert_int_equal(cs[c].status, em_component_status(r, c));
        assert_int_equal(cs[c].degraded, em_component_degraded(r, c));
        assert_int_equal(cs[c].in_total, em_component_in_total(r, c));
        assert_int_equal(cs[c].device_count, em_component_device_count(r, c));
        assert_ptr_equal(cs[c].source, em_component_source(r, c));
        assert_ptr_equal(cs[c].reason, em_component_reason(r, c));
        double j = em_component_joules(r, c), u = em_component_uncertainty(r, c);
        assert_true(isnan(j) ? isnan(cs[c].joules) : cs[c].joules == j);
        assert_true(isnan(u) ? isnan(cs[c].uncertainty_j) : cs[c].uncertainty_j == u);
    }
    assert_near(cs[0].joules, 12.5, 1e-12);
    assert_int_equal(cs[2].status, EM_STATUS_UNAVAILABLE);
    assert_non_null(strstr(cs[2].reason, "NVIDIA"));
    assert_int_equal(cs[3].degraded, 1);
    assert_int_equal(cs[4].in_total, 0);

    /* Fewer slots than components: the count still says how many there are. */
    em_component_summary two[2];
    assert_int_equal(em_report_summarize(r, &rs, two, sizeof two[0], 2), EM_OK);
    assert_int_equal(rs.component_count, 5);
    assert_string_equal(two[1].name, "dram");
    /* A caller's larger element (a later header): zero beyond what is known. */
    struct {
        em_component_summary s;
        double later;
    } big[5];
    memset(big, 0xff, sizeof big);
    assert_int_equal(em_report_summarize(r, &rs, &big[0].s, sizeof big[0], 5), EM_OK);
    assert_string_equal(big[4].s.name, "psys");
    assert_true(big[4].later == 0.0);
    /* No room at all is fine; bad arguments are not. */
    assert_int_equal(em_report_summarize(r, &rs, NULL, 0, 0), EM_OK);
    assert_int_equal(em_report_summarize(r, &rs, cs, sizeof cs[0] - 1, 8), EM_ERR_INVALID);
    assert_int_equal(em_report_summarize(r, NULL, cs, sizeof cs[0], 8), EM_ERR_INVALID);
    assert_int_equal(em_report_summarize(NULL, &rs, cs, sizeof cs[0], 8), EM_ERR_INVALID);
    em_report_free(r);
}

/* em_meter_take_report(): the caller owns the report; the meter has none. */
static void test_meter_take_report(void **state)
{
    (void)state;
    char dir[] = "/tmp/em-take-XXXXXX";
    assert_non_null(mkdtemp(dir));
    setenv("ENERGYMETER_SYSFS_ROOT", dir, 1);
    setenv("ENERGYMETER_NVML_LIB", "/nonexistent/libnvidia-ml.so.1", 1);
    em_meter *m = NULL;
    assert_int_equal(em_meter_new(NULL, &m), 0);
    assert_null(em_meter_take_report(m));
    assert_int_equal(em_begin(m), 0);
    assert_int_equal(em_end(m), 0);
    em_report *r = em_meter_take_report(m);
    assert_non_null(r);
    assert_null(em_meter_report(m));
    assert_null(em_meter_take_report(m));
    assert_int_equal(em_begin(m), 0);
    assert_int_equal(em_end(m), 0);
    assert_non_null(em_meter_report(m));
    /* The taken report outlives the meter. */
    em_meter_free(m);
    assert_int_equal(em_report_component_count(r), 4);
    assert_int_equal(em_component_status(r, 0), EM_STATUS_UNAVAILABLE);
    em_report_free(r);
    em_report_free(NULL);
    assert_null(em_meter_take_report(NULL));
    unsetenv("ENERGYMETER_SYSFS_ROOT");
    rmdir(dir);
}

static void test_report_finish_totals(void **state)
{
    (void)state;
    struct em_report *r = sample_report();

    /* cpu = sum of its devices, uncertainty = sum of theirs. */
    assert_near(r->win.comps[0].joules, 12.5, 1e-12);
    assert_near(r->win.comps[0].uncertainty_j, 0.0003, 1e-12);
    /* dram has no devices: its own value stands. */
    assert_near(r->win.comps[1].joules, 1.25, 1e-12);
    /* gpu: unavailable, NaN, no devices, no source. */
    assert_true(isnan(r->win.comps[2].joules));
    assert_true(isnan(r->win.comps[2].uncertainty_j));
    assert_int_equal(r->win.comps[2].ndevices, 0);
    assert_null(r->win.comps[2].source);
    /* total = cpu + dram + disk; gpu (unavailable) and psys (not in total) left out. */
    assert_near(r->total_joules, 12.5 + 1.25 + 0.75, 1e-12);
    assert_near(em_report_total_joules(r), 14.5, 1e-12);

    /* Finishing twice gives the same result. */
    em_report_finish(r);
    assert_near(r->total_joules, 14.5, 1e-12);

    /* A status set by hand to unavailable still drops out of the total. */
    r->win.comps[1].status = EM_STATUS_UNAVAILABLE;
    em_report_finish(r);
    assert_near(r->total_joules, 13.25, 1e-12);
    assert_true(isnan(em_component_joules(r, 1)));
    em_report_free(r);

    /* An empty report totals zero. */
    r = test_report_new(NULL, 1);
    assert_non_null(r);
    em_report_finish(r);
    assert_near(r->total_joules, 0.0, 0.0);
    assert_null(em_report_label(r));
    em_report_free(r);
}

static void test_report_accessors(void **state)
{
    (void)state;
    struct em_report *r = sample_report();

    assert_string_equal(em_report_label(r), "Test \"Meter\"");
    assert_near(em_report_duration_s(r), 2.0, 0.0);
    assert_true(em_report_end_ns(r) - em_report_start_ns(r) == INT64_C(2000000000));
    assert_int_equal(em_report_component_count(r), 5);
    assert_int_equal(em_report_find(r, "cpu"), 0);
    assert_int_equal(em_report_find(r, "psys"), 4);
    assert_int_equal(em_report_find(r, "nope"), -1);
    assert_int_equal(em_report_find(r, NULL), -1);

    assert_string_equal(em_component_name(r, 0), "cpu");
    assert_int_equal(em_component_status(r, 0), EM_STATUS_MEASURED);
    assert_near(em_component_joules(r, 0), 12.5, 1e-12);
    assert_near(em_component_uncertainty(r, 0), 0.0003, 1e-12);
    assert_string_equal(em_component_source(r, 0), "rapl-powercap");
    assert_null(em_component_reason(r, 0));
    assert_int_equal(em_component_in_total(r, 0), 1);
    assert_int_equal(em_component_degraded(r, 0), 0);
    assert_int_equal(em_component_device_count(r, 0), 2);
    assert_string_equal(em_device_name(r, 0, 1), "package-1");
    assert_near(em_device_joules(r, 0, 1), 2.5, 1e-12);

    size_t gpu = (size_t)em_report_find(r, "gpu");
    assert_int_equal(em_component_status(r, gpu), EM_STATUS_UNAVAILABLE);
    assert_true(isnan(em_component_joules(r, gpu)));
    assert_true(isnan(em_component_uncertainty(r, gpu)));
    assert_null(em_component_source(r, gpu));
    assert_string_equal(em_component_reason(r, gpu),
                        "no NVIDIA driver (libnvidia-ml.so.1 not found)");
    assert_int_equal(em_component_device_count(r, gpu), 0);

    assert_int_equal(em_component_status(r, 3), EM_STATUS_ESTIMATED);
    assert_int_equal(em_component_degraded(r, 3), 1);
    assert_int_equal(em_component_in_total(r, 4), 0);

    /* Out of range: safe answers, never a crash. */
    assert_null(em_component_name(r, 5));
    assert_true(isnan(em_component_joules(r, 5)));
    assert_true(isnan(em_component_uncertainty(r, 99)));
    assert_int_equal(em_component_status(r, 5), EM_STATUS_UNAVAILABLE);
    assert_null(em_component_source(r, 5));
    assert_null(em_component_reason(r, 5));
    assert_int_equal(em_component_in_total(r, 5), 0);
    assert_int_equal(em_component_degraded(r, 5), 0);
    assert_int_equal(em_component_device_count(r, 5), 0);
    assert_null(em_device_name(r, 0, 2));
    assert_null(em_device_name(r, 9, 0));
    assert_true(isnan(em_device_joules(r, 0, 2)));
    assert_int_equal(em_report_warning_count(r), 2);
    assert_string_equal(em_report_warning(r, 0), "counter package-0 wrapped 2 times");
    assert_null(em_report_warning(r, 2));

    /* NULL report: same. */
    assert_int_equal(em_report_component_count(NULL), 0);
    assert_null(em_report_label(NULL));
    assert_true(isnan(em_report_total_joules(NULL)));
    assert_null(em_component_name(NULL, 0));
    assert_int_equal(em_report_warning_count(NULL), 0);

    assert_string_equal(em_status_name(EM_STATUS_MEASURED), "measured");
    assert_string_equal(em_status_name(EM_STATUS_ESTIMATED), "estimated");
    assert_string_equal(em_status_name(EM_STATUS_UNAVAILABLE), "unavailable");

    /* Command: copied, replaceable, validated. */
    char arg0[] = "sleep";
    const char *argv[] = {arg0, "2", NULL};
    assert_int_equal(em_report_set_command(r, 2, argv), EM_OK);
    arg0[0] = 'X'; /* the report holds its own copy */
    assert_string_equal(r->argv[0], "sleep");
    assert_int_equal(r->argc, 2);
    const char *argv2[] = {"true"};
    assert_int_equal(em_report_set_command(r, 1, argv2), EM_OK);
    assert_int_equal(r->argc, 1);
    assert_string_equal(r->argv[0], "true");
    const char *bad[] = {"a", NULL};
    assert_int_equal(em_report_set_command(r, 2, bad), EM_ERR_INVALID);
    assert_int_equal(em_report_set_command(r, -1, argv), EM_ERR_INVALID);
    assert_int_equal(em_report_set_command(r, 1, NULL), EM_ERR_INVALID);
    assert_string_equal(r->argv[0], "true"); /* unchanged by the failures */
    em_report_set_exit_status(r, 3);
    assert_int_equal(r->has_exit_status, 1);
    assert_int_equal(r->exit_status, 3);

    /* Builders reject nonsense instead of crashing. */
    assert_null(em_readings_add(&r->win, NULL));
    assert_int_equal(em_reading_add_device(NULL, "x", 1.0, 0.0), EM_ERR_INVALID);
    assert_int_equal(em_reading_set_unavailable(NULL, "x"), EM_ERR_INVALID);
    /* set_unavailable may be given the component's own reason. */
    assert_int_equal(em_reading_set_unavailable(&r->win.comps[gpu], r->win.comps[gpu].reason),
                     EM_OK);
    assert_string_equal(em_component_reason(r, gpu),
                        "no NVIDIA driver (libnvidia-ml.so.1 not found)");
    em_report_free(r);
    em_report_free(NULL);
}

/* ---------------------------------------------------------------- outputs */

/* Through an out-parameter of the caller's, so that the string's owner
 * stays in scope wherever it is searched. */
static void format(const struct em_report *r, em_format f, char **out)
{
    *out = NULL;
    assert_int_equal(em_report_to_string(r, f, out), EM_OK);
    assert_non_null(*out);
}

static void test_json_output(void **state)
{
    (void)state;
    struct em_report *r = sample_report();
    const char *argv[] = {"sh", "-c", "echo \"hi\"\n\x01"};
    assert_int_equal(em_report_set_command(r, 3, argv), EM_OK);
    em_report_set_exit_status(r, 0);

    char *s = NULL;
    format(r, EM_FORMAT_JSON, &s);
    assert_true(json_valid(s));
    assert_null(strstr(s, "nan"));
    assert_null(strstr(s, "inf"));
    assert_int_equal(s[strlen(s) - 1], '\n');
    assert_non_null(strstr(s, "\"schema\": \"energymeter/1\""));
    assert_non_null(strstr(s, "\"label\": \"Test \\\"Meter\\\"\""));
    assert_non_null(strstr(s, "\"start_time\": \"2026-11-25T10:00:00.123456Z\""));
    assert_non_null(strstr(s, "\"end_time\": \"2026-11-25T10:00:02.123456Z\""));
    assert_non_null(strstr(s, "\"duration_s\": 2.000000"));
    assert_non_null(strstr(s, "\"command\": [\"sh\", \"-c\", \"echo \\\"hi\\\"\\n\\u0001\"]"));
    assert_non_null(strstr(s, "\"exit_status\": 0"));
    assert_non_null(strstr(s, "\"include_idle\": false"));
    assert_non_null(strstr(s, "\"cpu\": {\n      \"joules\": 12.500000,\n      \"status\": "
                              "\"measured\",\n      \"source\": \"rapl-powercap\",\n      "
                              "\"uncertainty_j\": 0.000300"));
    assert_non_null(strstr(s, "{\"name\": \"package-1\", \"joules\": 2.500000}"));
    assert_non_null(strstr(s, "\"gpu\": {\n      \"joules\": null,\n      \"status\": "
                              "\"unavailable\",\n      \"reason\": \"no NVIDIA driver"));
    assert_non_null(strstr(s, "\"degraded\": true"));
    assert_non_null(strstr(s, "\"in_total\": false"));
    assert_non_null(strstr(s, "\"total_joules\": 14.500000"));
    assert_non_null(strstr(s, "\"line\\nbreak \\\"quoted\\\"\""));
    /* Components in report order. */
    assert_true(strstr(s, "\"cpu\"") < strstr(s, "\"dram\""));
    assert_true(strstr(s, "\"disk\"") < strstr(s, "\"psys\""));
    /* The unavailable gpu has neither source nor devices. */
    const char *gpu = strstr(s, "\"gpu\"");
    const char *disk = strstr(s, "\"disk\"");
    const char *src = strstr(gpu, "\"source\"");
    assert_true(src > disk);
    free(s);
    em_report_free(r);

    /* Minimal report: nulls where nothing is known; NaN never leaks. */
    r = test_report_new(NULL, 1);
    assert_non_null(r);
    struct em_reading *c = em_readings_add(&r->win, "cpu");
    assert_non_null(c);
    c->joules = NAN; /* a caller bug must still give valid JSON */
    em_report_finish(r);
    format(r, EM_FORMAT_JSON, &s);
    assert_true(json_valid(s));
    assert_null(strstr(s, "nan"));
    assert_non_null(strstr(s, "\"label\": null"));
    assert_non_null(strstr(s, "\"command\": null"));
    assert_non_null(strstr(s, "\"exit_status\": null"));
    assert_non_null(strstr(s, "\"include_idle\": true"));
    assert_non_null(strstr(s, "\"start_time\": \"1970-01-01T00:00:00.000000Z\""));
    assert_non_null(strstr(s, "\"joules\": null"));
    assert_non_null(strstr(s, "\"total_joules\": null"));
    assert_non_null(strstr(s, "\"warnings\": []"));
    free(s);
    em_report_free(r);

    /* No components at all is still valid. */
    r = test_report_new("x", 0);
    assert_non_null(r);
    em_report_finish(r);
    format(r, EM_FORMAT_JSON, &s);
    assert_true(json_valid(s));
    assert_non_null(strstr(s, "\"components\": {}"));
    free(s);
    em_report_free(r);
}

static void test_csv_output(void **state)
{
    (void)state;
    struct em_report *r = sample_report();
    char *s = NULL;
    format(r, EM_FORMAT_CSV, &s);

    const char *header = "component,device,joules,avg_watts,uncertainty_j,status,source,reason,"
                         "duration_s,label\n";
    assert_memory_equal(s, header, strlen(header));
    /* header + 5 components + 2 cpu devices + total (gpu's device was dropped). */
    assert_int_equal(count_lines(s), 1 + 5 + 2 + 1);
    assert_non_null(strstr(s, "\ncpu,,12.500000,6.250000,0.000300,measured,rapl-powercap,,"
                              "2.000000,\"Test \"\"Meter\"\"\"\n"));
    assert_non_null(strstr(s, "\ncpu,package-0,10.000000,5.000000,0.000100,measured,"
                              "rapl-powercap,,2.000000,"));
    /* No comma in the reason, so no quotes around it. */
    assert_non_null(strstr(s, "\ngpu,,,,,unavailable,,no NVIDIA driver (libnvidia-ml.so.1 "
                              "not found),2.000000,"));
    assert_non_null(strstr(s, "\ntotal,,14.500000,7.250000,,,,,2.000000,"));
    assert_null(strstr(s, "nan"));
    free(s);

    /* A zero duration has no average power. */
    r->win.duration_s = 0.0;
    format(r, EM_FORMAT_CSV, &s);
    assert_non_null(strstr(s, "\ntotal,,14.500000,,,,,,0.000000,"));
    free(s);
    em_report_free(r);
}

static void test_text_output(void **state)
{
    (void)state;
    struct em_report *r = sample_report();
    const char *argv[] = {"sleep", "2"};
    assert_int_equal(em_report_set_command(r, 2, argv), EM_OK);
    char *s = NULL;
    format(r, EM_FORMAT_TEXT, &s);

    assert_non_null(strstr(s, " Energy of 'sleep 2' (label: Test \"Meter\"):"));
    assert_non_null(strstr(s, "cpu"));
    assert_non_null(strstr(s, "package-0"));
    assert_non_null(strstr(s, "dram"));
    assert_non_null(strstr(s, "disk"));
    assert_non_null(strstr(s, "no NVIDIA driver (libnvidia-ml.so.1 not found)"));
    assert_non_null(strstr(s, "    12.500000 J    6.25 W  cpu "));
    assert_non_null(strstr(s, "    14.500000 J    7.25 W  total\n"));
    assert_non_null(strstr(s, "(not in total)"));
    assert_non_null(strstr(s, "degraded"));
    assert_non_null(strstr(s, "2.000000 seconds time elapsed"));
    assert_non_null(strstr(s, " warning: counter package-0 wrapped 2 times\n"));
    /* A newline inside a warning cannot break the layout or reach the terminal raw. */
    assert_non_null(strstr(s, " warning: line?break"));
    assert_null(strstr(s, "nan"));
    free(s);
    em_report_free(r);
}

static void test_write_and_errors(void **state)
{
    (void)state;
    struct em_report *r = sample_report();
    char *s = NULL;
    assert_int_equal(em_report_to_string(NULL, EM_FORMAT_JSON, &s), EM_ERR_INVALID);
    assert_null(s);
    assert_int_equal(em_report_to_string(r, (em_format)42, &s), EM_ERR_INVALID);
    assert_int_equal(em_report_to_string(r, EM_FORMAT_JSON, NULL), EM_ERR_INVALID);

    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(em_report_write(r, EM_FORMAT_JSON, f), EM_OK);
    long size = ftell(f);
    format(r, EM_FORMAT_JSON, &s);
    assert_int_equal(size, (long)strlen(s));
    em_free(s);
    fclose(f);

    f = fopen("/dev/full", "w");
    if (f) {
        assert_int_equal(em_report_write(r, EM_FORMAT_TEXT, f), EM_ERR_IO);
        fclose(f);
    }
    assert_int_equal(em_report_write(r, EM_FORMAT_TEXT, NULL), EM_ERR_INVALID);
    em_report_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_growth),       cmocka_unit_test(test_buf_json_escaping),
        cmocka_unit_test(test_buf_csv_quoting),  cmocka_unit_test(test_strings_and_clocks),
        cmocka_unit_test(test_logger),           cmocka_unit_test(test_report_finish_totals),
        cmocka_unit_test(test_report_summarize), cmocka_unit_test(test_meter_take_report),
        cmocka_unit_test(test_report_accessors), cmocka_unit_test(test_json_output),
        cmocka_unit_test(test_csv_output),       cmocka_unit_test(test_text_output),
        cmocka_unit_test(test_write_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
