/*
 * The report as a human table in the manner of `perf stat`, meant for a
 * terminal (stderr). Every column lines up for names up to 18 characters;
 * longer ones and long reasons simply run on.
 */
#include "outputs.h"

#include <math.h>
#include <string.h>

#define NAME_WIDTH 20   /* component column, indent and separating space included */
#define STATUS_WIDTH 13 /* "unavailable" plus two spaces */

/* Append s with control characters replaced: argv, labels and reasons are
 * free text, and an escape sequence in them must not drive the terminal. */
static size_t put_clean(struct em_buf *b, const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++, n++) {
        char c = (*p < 0x20 || *p == 0x7f) ? '?' : (char)*p;
        em_buf_append(b, &c, 1);
    }
    return n;
}

static void put_padded(struct em_buf *b, const char *s, size_t width)
{
    size_t n = put_clean(b, s);
    /* Always at least one space, so that a long name never runs into the
     * next column's text. */
    do {
        em_buf_append(b, " ", 1);
        n++;
    } while (n < width);
}

/* The joules and average power cells: 13 + 2 and 8 + 2 characters wide; a
 * dash, under the last digit, marks a value that is not known. */
static void put_value_cells(struct em_buf *b, double joules, double duration_s)
{
    if (isfinite(joules))
        em_buf_printf(b, "%13.6f J", joules);
    else
        em_buf_printf(b, "%13s  ", "-");
    if (isfinite(joules) && isfinite(duration_s) && duration_s > 0.0)
        em_buf_printf(b, "%8.2f W", joules / duration_s);
    else
        em_buf_printf(b, "%8s  ", "-");
    em_buf_puts(b, "  ");
}

static void put_title(struct em_buf *b, const struct em_report *r)
{
    em_buf_puts(b, "\n Energy");
    if (r->argv && r->argc > 0) {
        em_buf_puts(b, " of '");
        for (int i = 0; i < r->argc; i++) {
            if (i)
                em_buf_puts(b, " ");
            put_clean(b, r->argv[i]);
        }
        em_buf_puts(b, "'");
    }
    if (r->win.label) {
        em_buf_puts(b, " (label: ");
        put_clean(b, r->win.label);
        em_buf_puts(b, ")");
    }
    em_buf_puts(b, ":\n\n");
}

static void put_component(struct em_buf *b, const struct em_report *r, const struct em_reading *c)
{
    int unavailable = c->status == EM_STATUS_UNAVAILABLE;

    put_value_cells(b, unavailable ? NAN : c->joules, r->win.duration_s);
    put_padded(b, c->name, NAME_WIDTH);
    put_padded(b, em_status_name(c->status), STATUS_WIDTH);
    if (unavailable) {
        put_clean(b, c->reason ? c->reason : "no reason given");
    } else {
        put_clean(b, c->source ? c->source : "-");
        if (isfinite(c->uncertainty_j) && c->uncertainty_j > 0.0)
            em_buf_printf(b,
                          " (\xc2\xb1"
                          "%.4g J)",
                          c->uncertainty_j); /* U+00B1 in UTF-8 */
        if (c->degraded)
            em_buf_puts(b, " degraded");
        if (!c->in_total)
            em_buf_puts(b, " (not in total)");
    }
    em_buf_puts(b, "\n");

    if (unavailable)
        return;
    for (size_t d = 0; d < c->ndevices; d++) {
        put_value_cells(b, c->devices[d].joules, r->win.duration_s);
        em_buf_puts(b, "  ");
        put_clean(b, c->devices[d].name);
        em_buf_puts(b, "\n");
    }
}

void em_write_text(const struct em_report *r, struct em_buf *b)
{
    put_title(b, r);
    em_buf_printf(b, "%13s  %8s    %-*s%-*s%s\n", "joules", "avg W", NAME_WIDTH, "component",
                  STATUS_WIDTH, "status", "source / reason");
    for (size_t i = 0; i < r->win.ncomps; i++)
        put_component(b, r, &r->win.comps[i]);
    size_t counted = 0;
    for (size_t i = 0; i < r->win.ncomps; i++)
        counted += r->win.comps[i].in_total && r->win.comps[i].status != EM_STATUS_UNAVAILABLE;
    put_value_cells(b, r->total_joules, r->win.duration_s);
    /* A total of nothing is not 0 J of energy: say so, never a silent zero. */
    em_buf_puts(b, counted ? "total\n\n" : "total (no component could be measured)\n\n");

    if (isfinite(r->win.duration_s))
        em_buf_printf(b, "%15.6f seconds time elapsed\n\n", r->win.duration_s);

    for (size_t i = 0; i < r->win.nwarnings; i++) {
        em_buf_puts(b, " warning: ");
        put_clean(b, r->win.warnings[i]);
        em_buf_puts(b, "\n");
    }
    if (r->win.nwarnings)
        em_buf_puts(b, "\n");
}
