/*
 * The report as a self-contained SVG image (`stat --plot FILE.svg`,
 * EM_FORMAT_SVG): a bar chart of joules per component and the total, and,
 * when the report has a time series, a second panel with the power of each
 * component over time. No scripts, no external fonts or styles: any browser
 * or image viewer draws it the same way.
 *
 * Text (label, command, sources, reasons) is free text: it is escaped for
 * XML, control characters are dropped and invalid UTF-8 is replaced, so that
 * no label can break the document.
 */
#include "outputs.h"

#include <math.h>
#include <string.h>

#define WIDTH 900.0
#define PLOT_X0 80.0  /* left edge of both plot areas (y axis) */
#define PLOT_X1 580.0 /* right edge; the legend is on its right */
#define LEGEND_X 600.0
#define BAR_TOP 70.0
#define BAR_BOTTOM 310.0
#define POWER_TOP 400.0
#define POWER_BOTTOM 640.0
#define HEIGHT_BARS 370.0
#define HEIGHT_BOTH 700.0

/* Colors of the fixed components, then a palette for extras (psys...). */
static const struct {
    const char *name;
    const char *color;
} fixed_colors[] = {
    {"cpu", "#1f77b4"},
    {"dram", "#ff7f0e"},
    {"gpu", "#2ca02c"},
    {"disk", "#9467bd"},
};
static const char *const extra_colors[] = {"#d62728", "#8c564b", "#e377c2", "#17becf", "#bcbd22"};
#define TOTAL_COLOR "#555555"

static const char *color_of(const struct em_report *r, size_t c)
{
    const char *name = r->win.comps[c].name;
    size_t nfixed = sizeof fixed_colors / sizeof fixed_colors[0];
    size_t nextra = sizeof extra_colors / sizeof extra_colors[0];
    size_t extra = 0;
    for (size_t i = 0; i < nfixed; i++)
        if (name && strcmp(name, fixed_colors[i].name) == 0)
            return fixed_colors[i].color;
    /* Extras get palette colors in report order. */
    for (size_t k = 0; k < c; k++) {
        int fixed = 0;
        for (size_t i = 0; i < nfixed; i++)
            fixed |=
                r->win.comps[k].name && strcmp(r->win.comps[k].name, fixed_colors[i].name) == 0;
        extra += !fixed;
    }
    return extra_colors[extra % nextra];
}

/* Length of the UTF-8 sequence at p that XML may hold (1-4), or 0: valid
 * UTF-8 (em_utf8_len) without the non-characters U+FFFE and U+FFFF. */
static size_t utf8_len(const unsigned char *p)
{
    size_t n = em_utf8_len(p);
    if (n == 3 && p[0] == 0xef && p[1] == 0xbf && (p[2] == 0xbe || p[2] == 0xbf))
        return 0;
    return n;
}

/* Append s as XML character data (also safe inside a quoted attribute). */
static void put_text(struct em_buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        size_t n = utf8_len(p);
        if (n == 0) {
            em_buf_puts(b, "\xef\xbf\xbd"); /* U+FFFD for a byte that is not UTF-8 */
            p++;
            continue;
        }
        switch (*p) {
        case '&':
            em_buf_puts(b, "&amp;");
            break;
        case '<':
            em_buf_puts(b, "&lt;");
            break;
        case '>':
            em_buf_puts(b, "&gt;");
            break;
        case '"':
            em_buf_puts(b, "&quot;");
            break;
        case '\'':
            em_buf_puts(b, "&apos;");
            break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                em_buf_puts(b, " "); /* XML 1.0 allows no control characters */
            else
                em_buf_append(b, (const char *)p, n);
        }
        p += n;
    }
}

/* A <text> element; anchor is "start", "middle" or "end". */
static void put_label(struct em_buf *b, double x, double y, const char *anchor, const char *attrs,
                      const char *s)
{
    em_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"%s%s>", x, y, anchor,
                  attrs ? " " : "", attrs ? attrs : "");
    put_text(b, s);
    em_buf_puts(b, "</text>\n");
}

/* Joules or watts with three significant digits, in a unit that suits. */
static void fmt_value(char *out, size_t n, double v, const char *unit)
{
    static const struct {
        double scale;
        const char *prefix;
    } steps[] = {{1e12, "T"}, {1e9, "G"},  {1e6, "M"}, {1e3, "k"},
                 {1, ""},     {1e-3, "m"}, {1e-6, "u"}};
    double a = fabs(v);
    if (!isfinite(v)) {
        snprintf(out, n, "n/a");
        return;
    }
    if (a == 0) {
        snprintf(out, n, "0 %s", unit);
        return;
    }
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        if (a >= steps[i].scale || i + 1 == sizeof steps / sizeof steps[0]) {
            snprintf(out, n, "%.3g %s%s", v / steps[i].scale, steps[i].prefix, unit);
            return;
        }
    }
}

/* A "nice" axis: ticks at 1, 2 or 5 times a power of ten, 4 to 10 of them,
 * the top tick at or above max. */
static double nice_step(double max)
{
    if (!(max > 0) || !isfinite(max))
        return 0.2;
    double raw = max / 5;
    double mag = pow(10, floor(log10(raw)));
    double norm = raw / mag;
    double step = norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10;
    return step * mag;
}

/* Y axis with grid lines, tick labels and a rotated title; returns the top value. */
static double put_y_axis(struct em_buf *b, double top, double bottom, double max, const char *title)
{
    double step = nice_step(max);
    double ymax = (max > 0 && isfinite(max)) ? ceil(max / step - 1e-9) * step : 1.0;
    if (ymax <= 0)
        ymax = 1.0;
    em_buf_puts(b, "<g class=\"axis y-axis\">\n");
    for (int k = 0; k <= 20; k++) {
        double v = k * step;
        if (v > ymax * (1 + 1e-9))
            break;
        double y = bottom - (bottom - top) * v / ymax;
        char lab[64];
        snprintf(lab, sizeof lab, "%g", v);
        em_buf_printf(b,
                      "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>"
                      "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000\"/>\n",
                      PLOT_X0, y, PLOT_X1, y, PLOT_X0 - 5, y, PLOT_X0, y);
        put_label(b, PLOT_X0 - 8, y + 4, "end", "class=\"tick\"", lab);
    }
    em_buf_printf(b,
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000\"/>\n"
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000\"/>\n",
                  PLOT_X0, top, PLOT_X0, bottom, PLOT_X0, bottom, PLOT_X1, bottom);
    char attrs[128];
    double mid = (top + bottom) / 2;
    snprintf(attrs, sizeof attrs, "class=\"axis-title\" transform=\"rotate(-90 %.1f %.1f)\"", 22.0,
             mid);
    put_label(b, 22, mid, "middle", attrs, title);
    em_buf_puts(b, "</g>\n");
    return ymax;
}

static void put_swatch(struct em_buf *b, double y, const char *color, int line, const char *text)
{
    if (line)
        em_buf_printf(b,
                      "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                      "stroke-width=\"3\"/>\n",
                      LEGEND_X, y - 4, LEGEND_X + 16, y - 4, color);
    else
        em_buf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" fill=\"%s\"/>\n",
                      LEGEND_X + 2, y - 10, color);
    put_label(b, LEGEND_X + 22, y, "start", "class=\"legend-entry\"", text);
}

/* Legend text of a component: "cpu: 12.5 J, measured (rapl-powercap)". */
static void legend_text(char *out, size_t n, const struct em_reading *c)
{
    char val[48];
    if (c->status == EM_STATUS_UNAVAILABLE) {
        snprintf(out, n, "%s: unavailable", c->name);
        return;
    }
    fmt_value(val, sizeof val, c->joules, "J");
    snprintf(out, n, "%s: %s, %s%s", c->name, val, em_status_name(c->status),
             c->in_total ? "" : " (not in total)");
}

static void put_bars(struct em_buf *b, const struct em_report *r)
{
    size_t nbars = r->win.ncomps + 1;
    double max = r->total_joules;
    for (size_t c = 0; c < r->win.ncomps; c++)
        if (r->win.comps[c].status != EM_STATUS_UNAVAILABLE && r->win.comps[c].joules > max)
            max = r->win.comps[c].joules;

    em_buf_puts(b, "<g id=\"energy\">\n");
    put_label(b, (PLOT_X0 + PLOT_X1) / 2, BAR_TOP - 14, "middle", "class=\"panel-title\"",
              "Energy per component");
    double ymax = put_y_axis(b, BAR_TOP, BAR_BOTTOM, max, "Energy (J)");
    double slot = (PLOT_X1 - PLOT_X0) / (double)nbars;
    em_buf_puts(b, "<g class=\"bars\">\n");
    for (size_t k = 0; k < nbars; k++) {
        int total = k == r->win.ncomps;
        const struct em_reading *c = total ? NULL : &r->win.comps[k];
        const char *name = total ? "total" : c->name;
        int unavailable = c && c->status == EM_STATUS_UNAVAILABLE;
        double j = total ? r->total_joules : c->joules;
        double x = PLOT_X0 + slot * (double)k + slot * 0.2;
        double w = slot * 0.6;
        char val[48];
        if (unavailable || !isfinite(j) || j < 0) {
            em_buf_printf(b,
                          "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"2\" fill=\"#bbb\">",
                          x, BAR_BOTTOM - 2, w);
            em_buf_puts(b, "<title>");
            put_text(b, name);
            em_buf_puts(b, ": unavailable: ");
            put_text(b, c ? c->reason : "");
            em_buf_puts(b, "</title></rect>\n");
            put_label(b, x + w / 2, BAR_BOTTOM - 8, "middle", "class=\"value\" fill=\"#777\"",
                      "n/a");
        } else {
            double h = (BAR_BOTTOM - BAR_TOP) * j / ymax;
            const char *color = total ? TOTAL_COLOR : color_of(r, k);
            /* Estimates are drawn lighter than measurements. */
            const char *opacity = c && c->status == EM_STATUS_ESTIMATED ? "0.55" : "1";
            em_buf_printf(
                b,
                "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                "fill=\"%s\" fill-opacity=\"%s\"><title>",
                x, BAR_BOTTOM - h, w, h, color, opacity);
            fmt_value(val, sizeof val, j, "J");
            put_text(b, name);
            em_buf_puts(b, ": ");
            put_text(b, val);
            em_buf_puts(b, "</title></rect>\n");
            put_label(b, x + w / 2, BAR_BOTTOM - h - 5, "middle", "class=\"value\"", val);
        }
        put_label(b, x + w / 2, BAR_BOTTOM + 18, "middle", "class=\"category\"", name);
    }
    em_buf_puts(b, "</g>\n");
    put_label(b, (PLOT_X0 + PLOT_X1) / 2, BAR_BOTTOM + 40, "middle", "class=\"axis-title\"",
              "Component");

    em_buf_puts(b, "<g class=\"legend\">\n");
    put_label(b, LEGEND_X, BAR_TOP, "start", "font-weight=\"bold\"", "Legend");
    double y = BAR_TOP + 22;
    char text[256];
    for (size_t c = 0; c < r->win.ncomps; c++, y += 20) {
        legend_text(text, sizeof text, &r->win.comps[c]);
        put_swatch(b, y, r->win.comps[c].status == EM_STATUS_UNAVAILABLE ? "#bbb" : color_of(r, c),
                   0, text);
    }
    fmt_value(text, sizeof text, r->total_joules, "J");
    char tl[300];
    snprintf(tl, sizeof tl, "total: %s", text);
    put_swatch(b, y, TOTAL_COLOR, 0, tl);
    em_buf_puts(b, "</g>\n</g>\n");
}

/* One component's power as a step line; NaN intervals break the line. */
static void put_series_path(struct em_buf *b, const struct em_report *r, size_t c, double tmax,
                            double ymax, const char *color)
{
    size_t n = em_report_sample_count(r);
    double sx = (PLOT_X1 - PLOT_X0) / tmax;
    double sy = (POWER_BOTTOM - POWER_TOP) / ymax;
    int pen = 0;
    em_buf_printf(b, "<path class=\"series\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" d=\"",
                  color);
    for (size_t i = 0; i < n; i++) {
        double t0 = i ? em_report_sample_time(r, i - 1) : 0.0;
        double t1 = em_report_sample_time(r, i);
        double w = em_report_sample_power(r, i, c);
        if (!isfinite(w) || !isfinite(t0) || !isfinite(t1)) {
            pen = 0;
            continue;
        }
        double y = POWER_BOTTOM - sy * (w < 0 ? 0 : w);
        if (!pen)
            em_buf_printf(b, "M%.2f %.2f", PLOT_X0 + sx * t0, y);
        else
            em_buf_printf(b, "V%.2f", y);
        em_buf_printf(b, "H%.2f", PLOT_X0 + sx * t1);
        pen = 1;
    }
    em_buf_puts(b, "\"/>\n");
}

static int has_series(const struct em_report *r, size_t c)
{
    size_t n = em_report_sample_count(r);
    for (size_t i = 0; i < n; i++)
        if (isfinite(em_report_sample_power(r, i, c)))
            return 1;
    return 0;
}

static void put_power(struct em_buf *b, const struct em_report *r)
{
    size_t n = em_report_sample_count(r);
    double tmax = em_report_sample_time(r, n - 1);
    if (!(tmax > 0) || !isfinite(tmax))
        tmax = 1.0;
    double max = 0;
    for (size_t c = 0; c < r->win.ncomps; c++)
        for (size_t i = 0; i < n; i++) {
            double w = em_report_sample_power(r, i, c);
            if (isfinite(w) && w > max)
                max = w;
        }

    em_buf_puts(b, "<g id=\"power\">\n");
    char title[128];
    snprintf(title, sizeof title, "Power over time (mean per %g s interval)",
             r->win.series_interval_s > 0 ? r->win.series_interval_s : tmax / (double)n);
    put_label(b, (PLOT_X0 + PLOT_X1) / 2, POWER_TOP - 14, "middle", "class=\"panel-title\"", title);
    double ymax = put_y_axis(b, POWER_TOP, POWER_BOTTOM, max, "Power (W)");

    /* X axis: seconds since the start of the window. */
    double step = nice_step(tmax);
    em_buf_puts(b, "<g class=\"axis x-axis\">\n");
    for (int k = 0; k <= 20 && k * step <= tmax * (1 + 1e-9); k++) {
        double x = PLOT_X0 + (PLOT_X1 - PLOT_X0) * (k * step) / tmax;
        char lab[64];
        snprintf(lab, sizeof lab, "%g", k * step);
        em_buf_printf(b,
                      "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000\"/>\n",
                      x, POWER_BOTTOM, x, POWER_BOTTOM + 5);
        put_label(b, x, POWER_BOTTOM + 18, "middle", "class=\"tick\"", lab);
    }
    put_label(b, (PLOT_X0 + PLOT_X1) / 2, POWER_BOTTOM + 40, "middle", "class=\"axis-title\"",
              "Time since start (s)");
    em_buf_puts(b, "</g>\n");

    em_buf_puts(b, "<g class=\"series-lines\">\n");
    for (size_t c = 0; c < r->win.ncomps; c++)
        if (has_series(r, c))
            put_series_path(b, r, c, tmax, ymax, color_of(r, c));
    em_buf_puts(b, "</g>\n<g class=\"legend\">\n");
    put_label(b, LEGEND_X, POWER_TOP, "start", "font-weight=\"bold\"", "Legend");
    double y = POWER_TOP + 22;
    for (size_t c = 0; c < r->win.ncomps; c++) {
        if (!has_series(r, c))
            continue;
        double avg = r->win.duration_s > 0 ? r->win.comps[c].joules / r->win.duration_s : NAN;
        char val[48], text[192];
        fmt_value(val, sizeof val, avg, "W");
        snprintf(text, sizeof text, "%s (mean %s)", r->win.comps[c].name, val);
        put_swatch(b, y, color_of(r, c), 1, text);
        y += 20;
    }
    em_buf_puts(b, "</g>\n</g>\n");
}

void em_write_svg(const struct em_report *r, struct em_buf *b)
{
    int series = em_report_sample_count(r) > 0;
    double height = series ? HEIGHT_BOTH : HEIGHT_BARS;
    em_buf_printf(b,
                  "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                  "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" "
                  "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" "
                  "font-size=\"12\">\n",
                  WIDTH, height, WIDTH, height);
    em_buf_puts(b, "<title>");
    put_text(b, r->win.label ? r->win.label : "energymeter report");
    em_buf_puts(b, "</title>\n<desc>energymeter report (schema energymeter/1) as a plot</desc>\n");
    em_buf_printf(b, "<rect width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n", WIDTH, height);

    /* Heading: the label (or the command) and the window's length. */
    struct em_buf head;
    em_buf_init(&head);
    if (r->win.label) {
        em_buf_puts(&head, r->win.label);
    } else if (r->argv && r->argc > 0) {
        for (int i = 0; i < r->argc; i++) {
            em_buf_puts(&head, i ? " " : "");
            em_buf_puts(&head, r->argv[i]);
        }
    } else {
        em_buf_puts(&head, "energymeter");
    }
    /* A very long label or command is cut (put_text() replaces a cut UTF-8
     * sequence) so that it stays on the image. */
    if (!head.oom && head.data && head.len > 120) {
        head.data[117] = '.';
        head.data[118] = '.';
        head.data[119] = '.';
        head.data[120] = '\0';
        head.len = 120;
    }
    const char *h = head.oom || !head.data ? "energymeter" : head.data;
    char sub[160], dur[48], tot[48];
    if (isfinite(r->win.duration_s))
        snprintf(dur, sizeof dur, "%.3f s", r->win.duration_s);
    else
        snprintf(dur, sizeof dur, "duration unknown");
    fmt_value(tot, sizeof tot, r->total_joules, "J");
    snprintf(sub, sizeof sub, "%s, total %s", dur, tot);
    put_label(b, 12, 22, "start", "class=\"heading\" font-size=\"16\" font-weight=\"bold\"", h);
    put_label(b, WIDTH - 12, 22, "end", "class=\"subheading\" fill=\"#555\"", sub);
    em_buf_free(&head);

    put_bars(b, r);
    if (series)
        put_power(b, r);
    em_buf_puts(b, "</svg>\n");
}
