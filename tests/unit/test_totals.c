/* Unit tests: running totals over windows (src/totals.c) and their
 * Prometheus text (src/output_prom.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reports.h"
#include "report/totals.h"
#include "util/util.h"

/* One window of `dur` seconds: cpu (two packages), gpu (measured with
 * gpu_j, or unavailable when gpu_j < 0), disk with bytes per device, psys. */
static struct em_report *window(double dur, double pkg0, double pkg1, double gpu_j, int nwarn)
{
    struct em_report *r = test_report_new("w", 0);
    assert_non_null(r);
    r->win.start_ns = INT64_C(1796000000) * 1000000000;
    r->win.end_ns = r->win.start_ns + (int64_t)(dur * 1e9);
    r->win.duration_s = dur;

    struct em_reading *c = em_readings_add(&r->win, "cpu");
    assert_non_null(c);
    c->source = em_strdup("rapl-powercap");
    assert_int_equal(em_reading_add_device(c, "package-0", pkg0, 0.001), EM_OK);
    assert_int_equal(em_reading_add_device(c, "package-1", pkg1, 0.001), EM_OK);

    c = em_readings_add(&r->win, "gpu");
    assert_non_null(c);
    if (gpu_j >= 0) {
        c->source = em_strdup("nvml");
        assert_int_equal(em_reading_add_device(c, "gpu0", gpu_j, 0.5), EM_OK);
        c->degraded = 1;
    } else {
        assert_int_equal(em_reading_set_unavailable(c, "no \"driver\"\\here\nreally"), EM_OK);
    }

    c = em_readings_add(&r->win, "disk");
    assert_non_null(c);
    c->status = EM_STATUS_ESTIMATED;
    c->source = em_strdup("ebpf-block");
    assert_int_equal(em_reading_add_device(c, "loop0", 0.5, 0.25), EM_OK);
    c = &r->win.comps[r->win.ncomps - 1];
    struct em_reading_device *d = &c->devices[0];
    assert_int_equal(em_extras_set_integer(&d->extras, "read_bytes", 4096), EM_OK);
    assert_int_equal(em_extras_set_integer(&d->extras, "write_bytes", 1048576), EM_OK);
    assert_int_equal(em_extras_set_number(&d->extras, "busy_s", 0.125), EM_OK);

    c = em_readings_add(&r->win, "psys");
    assert_non_null(c);
    c->source = em_strdup("rapl-powercap");
    c->joules = 100.0;
    c->uncertainty_j = 0.0;
    c->in_total = 0;

    for (int i = 0; i < nwarn; i++)
        assert_int_equal(em_readings_warn(&r->win, "warning %d", i), EM_OK);
    em_report_finish(r);
    return r;
}

static char *prom(const em_totals *t)
{
    char *s = NULL;
    assert_int_equal(em_totals_to_string(t, EM_FORMAT_PROMETHEUS, &s), EM_OK);
    assert_non_null(s);
    return s;
}

/* The whole line that starts with prefix (name and labels), or fail. */
static void expect_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return;
    fail_msg("no line '%s' in:\n%s", line, text);
}

static void expect_no(const char *text, const char *part)
{
    if (strstr(text, part))
        fail_msg("'%s' should not be in:\n%s", part, text);
}

/* Every line is a comment, or `name{labels} value` of the family whose TYPE
 * came last; each family is typed once. */
static void check_syntax(const char *text)
{
    char family[128] = "";
    char seen[64][128];
    size_t nseen = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl); /* every line ends with a newline */
        size_t len = (size_t)(nl - p);
        char line[4096];
        assert_true(len < sizeof line);
        memcpy(line, p, len);
        line[len] = '\0';
        if (strncmp(line, "# TYPE ", 7) == 0) {
            char kind[32];
            assert_int_equal(sscanf(line + 7, "%127s %31s", family, kind), 2);
            assert_true(strcmp(kind, "counter") == 0 || strcmp(kind, "gauge") == 0);
            for (size_t i = 0; i < nseen; i++)
                assert_string_not_equal(seen[i], family);
            assert_true(nseen < 64);
            strcpy(seen[nseen++], family);
        } else if (strncmp(line, "# HELP ", 7) != 0) {
            size_t fl = strlen(family);
            assert_true(fl > 0);
            if (strncmp(line, family, fl) != 0 || (line[fl] != ' ' && line[fl] != '{'))
                fail_msg("sample outside its family %s: %s", family, line);
            const char *v = strrchr(line, ' ');
            assert_non_null(v);
            char *end;
            strtod(v + 1, &end);
            assert_true(*end == '\0' && end > v + 1);
        }
        p = nl + 1;
    }
}

static void test_sums_over_windows(void **state)
{
    (void)state;
    em_totals *t = NULL;
    assert_int_equal(em_totals_new(&t), EM_OK);

    /* Before any window: the counters of the exporter itself, nothing else. */
    char *s = prom(t);
    check_syntax(s);
    expect_line(s, "energymeter_windows_total 0");
    expect_no(s, "energymeter_energy_joules_total{");
    expect_no(s, "energymeter_last_window");
    em_free(s);

    struct em_report *a = window(2.0, 10.0, 2.5, -1, 1);
    struct em_report *b = window(0.5, 5.0, 0.25, 3.0, 2);
    /* b starts 1 ms after a ends: time no window measured. */
    b->win.start_ns = a->win.end_ns + 1000000;
    b->win.end_ns = b->win.start_ns + 500000000;
    assert_int_equal(em_totals_add(t, a), EM_OK);

    /* After the first: gpu unavailable has no energy and says why. */
    s = prom(t);
    check_syntax(s);
    expect_line(s, "energymeter_windows_total 1");
    expect_line(s, "energymeter_unmeasured_seconds_total 0");
    expect_line(s, "energymeter_energy_joules_total{component=\"cpu\",in_total=\"true\"} 12.5");
    expect_no(s, "energymeter_energy_joules_total{component=\"gpu\"");
    expect_no(s, "energymeter_power_watts{component=\"gpu\"}");
    expect_line(s, "energymeter_component_info{component=\"gpu\",status=\"unavailable\","
                   "source=\"\",reason=\"no \\\"driver\\\"\\\\here\\nreally\"} 1");
    em_free(s);

    assert_int_equal(em_totals_add(t, b), EM_OK);
    s = prom(t);
    check_syntax(s);
    expect_line(s, "energymeter_windows_total 2");
    expect_line(s, "energymeter_measured_seconds_total 2.5");
    expect_line(s, "energymeter_warnings_total 3");
    expect_line(s, "energymeter_last_window_duration_seconds 0.5");
    expect_line(s, "energymeter_unmeasured_seconds_total 0.001");
    expect_line(s, "energymeter_last_window_end_timestamp_seconds 1796000002.501");
    /* cpu: 12.5 + 5.25 J; its devices likewise; power of the last window. */
    expect_line(s, "energymeter_energy_joules_total{component=\"cpu\",in_total=\"true\"} 17.75");
    expect_line(s, "energymeter_device_energy_joules_total{component=\"cpu\",device=\"package-0\"}"
                   " 15");
    expect_line(s, "energymeter_device_energy_joules_total{component=\"cpu\",device=\"package-1\"}"
                   " 2.75");
    expect_line(s, "energymeter_power_watts{component=\"cpu\"} 10.5");
    expect_line(s, "energymeter_device_power_watts{component=\"cpu\",device=\"package-0\"} 10");
    expect_line(s, "energymeter_energy_uncertainty_joules_total{component=\"cpu\"} 0.004");
    /* gpu measured in the second window only, degraded there. */
    expect_line(s, "energymeter_energy_joules_total{component=\"gpu\",in_total=\"true\"} 3");
    expect_line(s, "energymeter_degraded_windows_total{component=\"gpu\"} 1");
    expect_line(s, "energymeter_degraded_windows_total{component=\"cpu\"} 0");
    expect_line(s, "energymeter_component_info{component=\"gpu\",status=\"measured\","
                   "source=\"nvml\",reason=\"\"} 1");
    /* psys: reported, never in the total. */
    expect_line(s, "energymeter_energy_joules_total{component=\"psys\",in_total=\"false\"} 200");
    /* disk: the model's joules and the I/O per device. */
    expect_line(s, "energymeter_energy_joules_total{component=\"disk\",in_total=\"true\"} 1");
    expect_line(s, "energymeter_disk_read_bytes_total{device=\"loop0\"} 8192");
    expect_line(s, "energymeter_disk_written_bytes_total{device=\"loop0\"} 2097152");
    expect_line(s, "energymeter_disk_busy_seconds_total{device=\"loop0\"} 0.25");
    expect_line(s, "energymeter_component_info{component=\"disk\",status=\"estimated\","
                   "source=\"ebpf-block\",reason=\"\"} 1");
    em_free(s);

    /* The gpu gone again: its counter stays, its power and status follow. */
    struct em_report *c = window(1.0, 1.0, 1.0, -1, 0);
    assert_int_equal(em_totals_add(t, c), EM_OK);
    s = prom(t);
    check_syntax(s);
    expect_line(s, "energymeter_energy_joules_total{component=\"gpu\",in_total=\"true\"} 3");
    expect_no(s, "energymeter_power_watts{component=\"gpu\"}");
    expect_no(s, "energymeter_device_power_watts{component=\"gpu\"");
    expect_line(s, "energymeter_device_energy_joules_total{component=\"gpu\",device=\"gpu0\"} 3");
    em_free(s);

    em_report_free(a);
    em_report_free(b);
    em_report_free(c);
    em_totals_free(t);
}

/* A device name that is not UTF-8 (from sysfs) and values that need all 17
 * digits; and em_report_to_string's one-window form. */
static void test_escaping_and_one_window(void **state)
{
    (void)state;
    struct em_report *r = test_report_new(NULL, 0);
    assert_non_null(r);
    r->win.duration_s = 3.0;
    struct em_reading *c = em_readings_add(&r->win, "cpu");
    assert_non_null(c);
    c->source = em_strdup("hwmon");
    assert_int_equal(em_reading_add_device(c, "bad\xff\"name", 0.1 + 0.2, 0), EM_OK);
    em_report_finish(r);

    char *s = NULL;
    assert_int_equal(em_report_to_string(r, EM_FORMAT_PROMETHEUS, &s), EM_OK);
    check_syntax(s);
    expect_line(s, "energymeter_windows_total 1");
    expect_line(s,
                "energymeter_device_energy_joules_total{component=\"cpu\",device=\"bad?\\\"name\"}"
                " 0.30000000000000004");
    em_free(s);
    em_report_free(r);
}

static void test_errors(void **state)
{
    (void)state;
    em_totals *t = NULL;
    char *s = (char *)"x";
    assert_int_equal(em_totals_new(NULL), EM_ERR_INVALID);
    assert_int_equal(em_totals_new(&t), EM_OK);
    assert_int_equal(em_totals_add(t, NULL), EM_ERR_INVALID);
    assert_int_equal(em_totals_add(NULL, NULL), EM_ERR_INVALID);
    assert_int_equal(em_totals_to_string(t, EM_FORMAT_JSON, &s), EM_ERR_INVALID);
    assert_null(s);
    assert_int_equal(em_totals_to_string(NULL, EM_FORMAT_PROMETHEUS, &s), EM_ERR_INVALID);
    assert_int_equal(em_totals_to_string(t, EM_FORMAT_PROMETHEUS, NULL), EM_ERR_INVALID);
    em_totals_free(t);
    em_totals_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sums_over_windows),
        cmocka_unit_test(test_escaping_and_one_window),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
