/*
 * The report as CSV: one row per component, then one per device of it, then
 * a "total" row. Unknown values are empty fields, never 0 or "nan", so that
 * spreadsheets and pandas see them as missing.
 */
#include "outputs.h"

#include <math.h>

/* One row's values; NULL strings and non-finite numbers become empty fields. */
struct csv_row {
    const char *component;
    const char *device;
    double joules;
    double uncertainty_j;
    const char *status;
    const char *source;
    const char *reason;
};

static void put_sep(struct em_buf *b)
{
    em_buf_append(b, ",", 1);
}

static void put_num(struct em_buf *b, double v)
{
    if (isfinite(v))
        em_buf_printf(b, "%.6f", v);
}

static void put_row(struct em_buf *b, const struct em_report *r, const struct csv_row *row)
{
    double dur = r->win.duration_s;

    em_buf_csv_field(b, row->component);
    put_sep(b);
    em_buf_csv_field(b, row->device);
    put_sep(b);
    put_num(b, row->joules);
    put_sep(b);
    /* Average power needs a window: a zero or unknown duration has none. */
    if (isfinite(row->joules) && isfinite(dur) && dur > 0.0)
        put_num(b, row->joules / dur);
    put_sep(b);
    put_num(b, row->uncertainty_j);
    put_sep(b);
    em_buf_csv_field(b, row->status);
    put_sep(b);
    em_buf_csv_field(b, row->source);
    put_sep(b);
    em_buf_csv_field(b, row->reason);
    put_sep(b);
    put_num(b, dur);
    put_sep(b);
    em_buf_csv_field(b, r->win.label);
    em_buf_append(b, "\n", 1);
}

/* The time series as a second table after a blank line: one row per sample,
 * component and device (device empty for the component's sum). */
static void put_series(struct em_buf *b, const struct em_report *r)
{
    em_buf_puts(b, "\nt_s,component,device,watts\n");
    for (size_t i = 0; i < r->win.nsamples; i++)
        for (size_t k = 0; k < r->win.ncomps; k++) {
            const struct em_reading *c = &r->win.comps[k];
            if (c->status == EM_STATUS_UNAVAILABLE || c->ndevices == 0 || !c->devices[0].series_j)
                continue;
            double sum = 0;
            for (size_t d = 0; d < c->ndevices; d++)
                sum += em_report_device_power_at(r, &c->devices[d], i);
            em_buf_printf(b, "%.6f,", r->win.sample_t[i + 1]);
            em_buf_csv_field(b, c->name);
            em_buf_printf(b, ",,%.6f\n", sum);
            for (size_t d = 0; d < c->ndevices; d++) {
                em_buf_printf(b, "%.6f,", r->win.sample_t[i + 1]);
                em_buf_csv_field(b, c->name);
                em_buf_puts(b, ",");
                em_buf_csv_field(b, c->devices[d].name);
                em_buf_printf(b, ",%.6f\n", em_report_device_power_at(r, &c->devices[d], i));
            }
        }
}

void em_write_csv(const struct em_report *r, struct em_buf *b)
{
    em_buf_puts(b, "component,device,joules,avg_watts,uncertainty_j,status,source,reason,"
                   "duration_s,label\n");

    for (size_t i = 0; i < r->win.ncomps; i++) {
        const struct em_reading *c = &r->win.comps[i];
        int unavailable = c->status == EM_STATUS_UNAVAILABLE;
        struct csv_row row = {
            .component = c->name,
            .device = NULL,
            .joules = unavailable ? NAN : c->joules,
            .uncertainty_j = unavailable ? NAN : c->uncertainty_j,
            .status = em_status_name(c->status),
            .source = unavailable ? NULL : c->source,
            .reason = unavailable ? c->reason : NULL,
        };
        put_row(b, r, &row);
        if (unavailable)
            continue; /* device values would contradict the empty component value */
        for (size_t d = 0; d < c->ndevices; d++) {
            row.device = c->devices[d].name;
            row.joules = c->devices[d].joules;
            row.uncertainty_j = c->devices[d].uncertainty_j;
            put_row(b, r, &row);
        }
    }

    struct csv_row total = {
        .component = "total",
        .joules = r->total_joules,
        .uncertainty_j = NAN,
    };
    put_row(b, r, &total);
    if (r->win.nsamples > 0)
        put_series(b, r);
}
