/*
 * From an em_format to its writer: one table for reports, and the public
 * functions that hand the text over (a string, or a FILE).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outputs.h"

/* One window's report as Prometheus text: the totals of that window alone. */
static void write_prometheus_report(const struct em_report *r, struct em_buf *b)
{
    em_totals *t = NULL;
    if (em_totals_new(&t) || em_totals_add(t, r))
        b->oom = 1;
    else
        em_write_prometheus(t, b);
    em_totals_free(t);
}

static const struct {
    em_format format;
    void (*write)(const struct em_report *r, struct em_buf *b);
} report_writers[] = {
    {EM_FORMAT_TEXT, em_write_text},
    {EM_FORMAT_JSON, em_write_json},
    {EM_FORMAT_CSV, em_write_csv},
    {EM_FORMAT_SVG, em_write_svg},
    {EM_FORMAT_PROMETHEUS, write_prometheus_report},
};

/* The buffer's text handed to *out, or EM_ERR_NOMEM. */
static int hand_over(struct em_buf *b, char **out)
{
    char *s = em_buf_steal(b);
    if (!s)
        return EM_ERR_NOMEM;
    *out = s;
    return EM_OK;
}

int em_report_to_string(const em_report *r, em_format format, char **out)
{
    if (!out)
        return EM_ERR_INVALID;
    *out = NULL;
    if (!r)
        return EM_ERR_INVALID;
    for (size_t i = 0; i < sizeof report_writers / sizeof report_writers[0]; i++)
        if (report_writers[i].format == format) {
            struct em_buf b;
            em_buf_init(&b);
            report_writers[i].write(r, &b);
            return hand_over(&b, out);
        }
    return EM_ERR_INVALID;
}

int em_report_write(const em_report *r, em_format format, FILE *f)
{
    if (!f)
        return EM_ERR_INVALID;
    char *s = NULL;
    int rc = em_report_to_string(r, format, &s);
    if (rc != EM_OK)
        return rc;
    size_t n = strlen(s);
    /* Flush too: a full disk or closed pipe often shows only then, and a
     * report that silently went nowhere is what this tool exists to avoid. */
    if (fwrite(s, 1, n, f) != n || fflush(f) != 0)
        rc = EM_ERR_IO;
    free(s);
    return rc;
}

int em_totals_to_string(const em_totals *t, em_format format, char **out)
{
    if (!out)
        return EM_ERR_INVALID;
    *out = NULL;
    if (!t || format != EM_FORMAT_PROMETHEUS)
        return EM_ERR_INVALID;
    struct em_buf b;
    em_buf_init(&b);
    em_write_prometheus(t, &b);
    return hand_over(&b, out);
}

int em_listing_to_string(const struct em_listing *l, em_format format, char **out)
{
    *out = NULL;
    if (format != EM_FORMAT_TEXT && format != EM_FORMAT_JSON)
        return EM_ERR_INVALID;
    struct em_buf b;
    em_buf_init(&b);
    if (format == EM_FORMAT_JSON)
        em_write_listing_json(l, &b);
    else
        em_write_listing_text(l, &b);
    return hand_over(&b, out);
}

void em_free(void *p)
{
    free(p);
}
