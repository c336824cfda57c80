/* Unit tests: the SVG plot (output_svg.c): well-formed XML whatever the text
 * in the report, no NaN or Infinity in coordinates, both panels, bounded
 * headings, and the public routing through em_report_to_string(). */
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
#include "util/util.h"

/* ------------------------------------------ a small well-formedness check */

/* Enough of XML 1.0 for what the plot writes: the declaration, elements with
 * quoted attributes, balanced tags, character data where '<' and '&' appear
 * only as the five predefined entities, no control characters, valid UTF-8.
 * Returns NULL when well-formed, else a description of the first problem. */
static const char *xml_problem(const char *s)
{
    static char msg[128];
    char stack[64][32];
    int depth = 0, seen_root = 0;
    const char *p = s;
    if (strncmp(p, "<?xml ", 6) == 0) {
        p = strstr(p, "?>");
        if (!p)
            return "unterminated declaration";
        p += 2;
    }
    while (*p) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 && c != '\n' && c != '\t' && c != '\r')
            return "control character";
        if (c >= 0x80) {
            int n = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
            if (!n)
                return "invalid UTF-8 lead byte";
            for (int i = 1; i < n; i++)
                if (((unsigned char)p[i] & 0xc0) != 0x80)
                    return "invalid UTF-8 continuation";
            p += n;
            continue;
        }
        if (c == '&') {
            static const char *const ents[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
            size_t i;
            for (i = 0; i < 5; i++)
                if (strncmp(p, ents[i], strlen(ents[i])) == 0)
                    break;
            if (i == 5)
                return "bare '&'";
            p += strlen(ents[i]);
            continue;
        }
        if (c == '>')
            return "bare '>' in text";
        if (c != '<') {
            if (depth == 0 && c != ' ' && c != '\n')
                return "text outside the root element";
            p++;
            continue;
        }
        /* A tag. */
        int closing = p[1] == '/';
        const char *q = p + 1 + closing;
        size_t n = strspn(q, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-:");
        if (n == 0 || n >= sizeof stack[0])
            return "bad tag name";
        char name[32];
        memcpy(name, q, n);
        name[n] = '\0';
        q += n;
        /* Attributes: name="value" with no '<' inside values. */
        while (*q && *q != '>' && !(q[0] == '/' && q[1] == '>')) {
            if (*q == '"') {
                const char *end = strchr(q + 1, '"');
                if (!end)
                    return "unterminated attribute";
                for (const char *v = q + 1; v < end; v++)
                    if (*v == '<')
                        return "'<' in an attribute";
                q = end + 1;
            } else {
                q++;
            }
        }
        if (!*q)
            return "unterminated tag";
        if (closing) {
            if (depth == 0 || strcmp(stack[depth - 1], name) != 0) {
                snprintf(msg, sizeof msg, "</%s> does not close <%s>", name,
                         depth ? stack[depth - 1] : "");
                return msg;
            }
            depth--;
            p = q + 1;
        } else if (*q == '/') {
            if (depth == 0 && seen_root)
                return "second root element";
            seen_root = 1;
            p = q + 2;
        } else {
            if (depth == 0 && seen_root)
                return "second root element";
            if (depth >= 64)
                return "too deep";
            seen_root = 1;
            strcpy(stack[depth++], name);
            p = q + 1;
        }
    }
    if (depth)
        return "unclosed element";
    return seen_root ? NULL : "no root element";
}

static void assert_svg_ok(const char *svg)
{
    const char *problem = xml_problem(svg);
    if (problem)
        fail_msg("SVG is not well-formed: %s", problem);
    assert_non_null(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
    /* No NaN or Infinity in any number (coordinates, tick labels). */
    for (const char *p = svg; *p; p++) {
        if (strncmp(p, "nan", 3) == 0 || strncmp(p, "inf", 3) == 0 || strncmp(p, "NaN", 3) == 0 ||
            strncmp(p, "Inf", 3) == 0) {
            /* Allowed only inside words ("info", "confinement"): letters around. */
            int before =
                p > svg && ((p[-1] >= 'a' && p[-1] <= 'z') || (p[-1] >= 'A' && p[-1] <= 'Z'));
            int after = (p[3] >= 'a' && p[3] <= 'z');
            if (!before && !after)
                fail_msg("non-finite number in SVG near: %.40s", p > svg + 20 ? p - 20 : svg);
        }
    }
}

static char *svg_of(const struct em_report *r)
{
    char *s = NULL;
    assert_int_equal(em_report_to_string(r, EM_FORMAT_SVG, &s), EM_OK);
    assert_non_null(s);
    return s;
}

static size_t count(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* --------------------------------------------------------------- reports */

static struct em_report *sample_report(const char *label)
{
    struct em_report *r = test_report_new(label, 0);
    assert_non_null(r);
    r->win.duration_s = 2.0;
    struct em_reading *c = em_readings_add(&r->win, "cpu");
    assert_non_null(c);
    c->source = em_strdup("rapl-powercap");
    assert_int_equal(em_reading_add_device(c, "package-0", 10.0, 0.0001), EM_OK);
    assert_int_equal(em_reading_add_device(c, "package-1", 2.5, 0.0002), EM_OK);
    c = em_readings_add(&r->win, "dram");
    assert_non_null(c);
    c->source = em_strdup("rapl-powercap");
    c->status = EM_STATUS_ESTIMATED;
    c->joules = 1.25;
    c = em_readings_add(&r->win, "gpu");
    assert_non_null(c);
    assert_int_equal(em_reading_set_unavailable(c, "no <driver> & \"no\" luck\x01"), EM_OK);
    c = em_readings_add(&r->win, "disk");
    assert_non_null(c);
    assert_int_equal(em_reading_set_unavailable(c, "no storage source"), EM_OK);
    c = em_readings_add(&r->win, "psys");
    assert_non_null(c);
    c->source = em_strdup("rapl-perf");
    c->joules = 50.0;
    c->in_total = 0;
    em_report_finish(r);
    return r;
}

static void test_bars_only(void **state)
{
    (void)state;
    struct em_report *r = sample_report("Test \"Meter\" <&>");
    char *s = svg_of(r);
    assert_svg_ok(s);
    assert_non_null(strstr(s, "<title>Test &quot;Meter&quot; &lt;&amp;&gt;</title>"));
    assert_non_null(strstr(s, "Energy (J)"));
    assert_non_null(strstr(s, "<g id=\"energy\">"));
    assert_null(strstr(s, "<g id=\"power\">")); /* no series: one panel */
    assert_non_null(strstr(s, "class=\"legend\""));
    /* Bars for cpu, dram, psys and the total; gpu and disk are "n/a". */
    assert_int_equal(count(s, "class=\"bar\""), 4);
    assert_int_equal(count(s, ">n/a</text>"), 2);
    assert_non_null(strstr(s, "psys: 50 J, measured (not in total)"));
    assert_non_null(strstr(s, "dram: 1.25 J, estimated"));
    assert_non_null(strstr(s, "total: 13.8 J"));
    /* The reason is escaped (and its control character dropped). */
    assert_non_null(strstr(s, "no &lt;driver&gt; &amp; &quot;no&quot; luck"));
    em_free(s);
    em_report_free(r);
}

static void test_series_panel(void **state)
{
    (void)state;
    struct em_report *r = test_report_new(NULL, 0);
    assert_non_null(r);
    r->win.duration_s = 0.4;
    const double t[] = {0, 0.1, 0.2, 0.3, 0.4};
    /* Cumulative joules: 20 W, a gap (NaN: unknown), then 20 W again. */
    const double j0[] = {0, 2, NAN, 6, 8};
    const double j1[] = {0, 1, 2, 3, 4};
    assert_int_equal(em_readings_set_series(&r->win, t, 4, 0.1, 1), EM_OK);
    struct em_reading *c = em_readings_add(&r->win, "cpu");
    assert_non_null(c);
    c->source = em_strdup("rapl-powercap");
    assert_int_equal(em_reading_add_device(c, "package-0", 8, 0), EM_OK);
    assert_int_equal(em_reading_set_device_series(&r->win, c, j0, 1), EM_OK);
    c = em_readings_add(&r->win, "dram");
    assert_non_null(c);
    c->source = em_strdup("rapl-powercap");
    assert_int_equal(em_reading_add_device(c, "package-0", 4, 0), EM_OK);
    assert_int_equal(em_reading_set_device_series(&r->win, c, j1, 1), EM_OK);
    c = em_readings_add(&r->win, "gpu");
    assert_non_null(c);
    assert_int_equal(em_reading_set_unavailable(c, "none"), EM_OK);
    em_report_finish(r);
    assert_int_equal(em_report_set_command(r, 2, (const char *const[]){"sleep", "0.4"}), EM_OK);

    char *s = svg_of(r);
    assert_svg_ok(s);
    assert_non_null(strstr(s, "<g id=\"power\">"));
    assert_non_null(strstr(s, "Power (W)"));
    assert_non_null(strstr(s, "Time since start (s)"));
    assert_non_null(strstr(s, "sleep 0.4"));           /* no label: the command is the heading */
    assert_int_equal(count(s, "class=\"series\""), 2); /* gpu has no line */
    /* cpu's line breaks at the unknown intervals: two pieces (two moves). */
    const char *cpu = strstr(s, "class=\"series\"");
    assert_non_null(cpu);
    const char *d = strstr(cpu, " d=\"");
    const char *end = strchr(d + 4, '"');
    size_t moves = 0;
    for (const char *p = d; p < end; p++)
        moves += *p == 'M';
    assert_int_equal(moves, 2);
    assert_non_null(strstr(s, "cpu (mean 20 W)"));
    em_free(s);
    em_report_free(r);
}

static void test_degenerate_reports(void **state)
{
    (void)state;
    /* No components, no duration. */
    struct em_report *r = test_report_new(NULL, 0);
    assert_non_null(r);
    em_report_finish(r);
    char *s = svg_of(r);
    assert_svg_ok(s);
    assert_non_null(strstr(s, ">energymeter</text>"));
    em_free(s);
    r->win.duration_s = NAN;
    s = svg_of(r);
    assert_svg_ok(s);
    assert_non_null(strstr(s, "duration unknown"));
    em_free(s);
    em_report_free(r);

    /* Huge and tiny values, a measured component with NaN joules. */
    r = test_report_new("x", 0);
    assert_non_null(r);
    r->win.duration_s = 1e-9;
    struct em_reading *c = em_readings_add(&r->win, "cpu");
    assert_non_null(c);
    c->source = em_strdup("s");
    c->joules = 3e12;
    c = em_readings_add(&r->win, "dram");
    assert_non_null(c);
    c->source = em_strdup("s");
    c->joules = 1e-9;
    c = em_readings_add(&r->win, "gpu");
    assert_non_null(c);
    c->source = em_strdup("s");
    c->joules = NAN;
    em_report_finish(r);
    s = svg_of(r);
    assert_svg_ok(s);
    assert_non_null(strstr(s, "3 TJ"));
    em_free(s);
    em_report_free(r);
}

static void test_hostile_label(void **state)
{
    (void)state;
    /* Control characters, bytes that are not UTF-8, an overlong encoding, a
     * surrogate, a cut sequence, CDATA and entity look-alikes. */
    const char *label = "a\x01\x1b[31mb\xff\xfe\xc0\xaf\xed\xa0\x80\xe2\x82]]>&#0;&lt;";
    struct em_report *r = sample_report(label);
    char *s = svg_of(r);
    assert_svg_ok(s);
    assert_non_null(strstr(s, "&amp;#0;&amp;lt;"));
    em_free(s);
    em_report_free(r);

    /* A very long label is cut on the heading (the <title> keeps it all). */
    char *big = malloc(5001);
    assert_non_null(big);
    memset(big, 'x', 5000);
    big[5000] = '\0';
    big[119] = '\xe2'; /* a multibyte sequence cut at the limit */
    big[120] = '\x82';
    big[121] = '\xac';
    r = sample_report(big);
    s = svg_of(r);
    assert_svg_ok(s);
    assert_non_null(strstr(s, "xxx...</text>"));
    assert_true(strlen(s) < 20000);
    em_free(s);
    em_report_free(r);
    free(big);
}

static void test_routing(void **state)
{
    (void)state;
    struct em_report *r = sample_report("w");
    char *s = NULL;
    assert_int_equal(em_report_to_string(r, (em_format)99, &s), EM_ERR_INVALID);
    assert_null(s);
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(em_report_write(r, EM_FORMAT_SVG, f), EM_OK);
    long size = ftell(f);
    s = svg_of(r);
    assert_int_equal(size, (long)strlen(s));
    static const char head[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg ";
    assert_true(strncmp(s, head, sizeof head - 1) == 0);
    assert_string_equal(s + strlen(s) - 7, "</svg>\n");
    em_free(s);
    fclose(f);
    em_report_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bars_only),
        cmocka_unit_test(test_series_panel),
        cmocka_unit_test(test_degenerate_reports),
        cmocka_unit_test(test_hostile_label),
        cmocka_unit_test(test_routing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
