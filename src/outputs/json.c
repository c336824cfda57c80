/* The report as JSON, schema energymeter/1 (see DESIGN.md). */
#include "outputs.h"

#include <math.h>
#include <time.h>

/* A number, or null when it is not finite: JSON has no NaN or Infinity and
 * an unknown value must never read as a number. */
static void put_num(struct em_buf *b, double v)
{
    if (isfinite(v))
        em_buf_printf(b, "%.6f", v);
    else
        em_buf_puts(b, "null");
}

/* ISO-8601 UTC with microseconds, e.g. "2026-11-25T10:00:00.000000Z". */
static void put_time(struct em_buf *b, int64_t ns)
{
    /* Floor division, so that times before the epoch still get a
     * non-negative fraction. */
    int64_t sec = ns / 1000000000LL;
    int64_t rem = ns % 1000000000LL;
    if (rem < 0) {
        rem += 1000000000LL;
        sec -= 1;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    char date[64];
    if (!gmtime_r(&t, &tm) || strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        em_buf_puts(b, "null");
        return;
    }
    em_buf_printf(b, "\"%s.%06dZ\"", date, (int)(rem / 1000));
}

/* ", \"key\": value" for each extra, sep before each. */
static void put_extras(struct em_buf *b, const struct em_extras *x, const char *sep)
{
    for (size_t i = 0; i < x->n; i++) {
        const struct em_extra *e = &x->v[i];
        em_buf_puts(b, sep);
        em_buf_json_str(b, e->key);
        em_buf_puts(b, ": ");
        if (e->kind == EM_EXTRA_STRING)
            em_buf_json_str(b, e->str);
        else if (e->kind == EM_EXTRA_BOOL)
            em_buf_puts(b, e->num != 0 ? "true" : "false");
        else if (!isfinite(e->num))
            em_buf_puts(b, "null");
        else if (e->kind == EM_EXTRA_INTEGER)
            em_buf_printf(b, "%.0f", e->num);
        else
            em_buf_printf(b, "%.6f", e->num);
    }
}

static void put_component(struct em_buf *b, const struct em_reading *c)
{
    int unavailable = c->status == EM_STATUS_UNAVAILABLE;

    em_buf_puts(b, "    ");
    em_buf_json_str(b, c->name);
    em_buf_puts(b, ": {\n      \"joules\": ");
    if (unavailable)
        em_buf_puts(b, "null");
    else
        put_num(b, c->joules);
    em_buf_puts(b, ",\n      \"status\": ");
    em_buf_json_str(b, em_status_name(c->status));
    if (unavailable) {
        em_buf_puts(b, ",\n      \"reason\": ");
        em_buf_json_str(b, c->reason);
    } else {
        em_buf_puts(b, ",\n      \"source\": ");
        em_buf_json_str(b, c->source);
        em_buf_puts(b, ",\n      \"uncertainty_j\": ");
        put_num(b, c->uncertainty_j);
    }
    /* Optional keys appear only when they say something, so that the common
     * case reads like the schema's example. */
    if (!c->in_total)
        em_buf_puts(b, ",\n      \"in_total\": false");
    if (c->degraded && !unavailable)
        em_buf_puts(b, ",\n      \"degraded\": true");
    put_extras(b, &c->extras, ",\n      ");
    if (c->ndevices > 0 && !unavailable) {
        em_buf_puts(b, ",\n      \"devices\": [");
        for (size_t d = 0; d < c->ndevices; d++) {
            em_buf_puts(b, d ? ",\n        {\"name\": " : "\n        {\"name\": ");
            em_buf_json_str(b, c->devices[d].name);
            em_buf_puts(b, ", \"joules\": ");
            put_num(b, c->devices[d].joules);
            put_extras(b, &c->devices[d].extras, ", ");
            em_buf_puts(b, "}");
        }
        em_buf_puts(b, "\n      ]");
    }
    em_buf_puts(b, "\n    }");
}

static void put_array(struct em_buf *b, const struct em_report *r,
                      const struct em_reading_device *only, const struct em_reading *c)
{
    em_buf_puts(b, "[");
    for (size_t i = 0; i < r->win.nsamples; i++) {
        double w = 0;
        if (only) {
            w = em_report_device_power_at(r, only, i);
        } else {
            for (size_t d = 0; d < c->ndevices; d++)
                w += em_report_device_power_at(r, &c->devices[d], i);
        }
        em_buf_puts(b, i ? ", " : "");
        put_num(b, w);
    }
    em_buf_puts(b, "]");
}

/* "time_series": sample ends and mean power per component and device. */
static void put_series(struct em_buf *b, const struct em_report *r)
{
    em_buf_puts(b, "  \"time_series\": {\n    \"interval_s\": ");
    put_num(b, r->win.series_interval_s);
    em_buf_printf(b, ",\n    \"downsampled_by\": %u,\n    \"t_s\": [",
                  r->win.series_downsampled_by);
    for (size_t i = 0; i < r->win.nsamples; i++) {
        em_buf_puts(b, i ? ", " : "");
        put_num(b, r->win.sample_t[i + 1]);
    }
    em_buf_puts(b, "],\n    \"components\": {");
    int first = 1;
    for (size_t k = 0; k < r->win.ncomps; k++) {
        const struct em_reading *c = &r->win.comps[k];
        if (c->status == EM_STATUS_UNAVAILABLE || c->ndevices == 0 || !c->devices[0].series_j)
            continue;
        em_buf_puts(b, first ? "\n      " : ",\n      ");
        first = 0;
        em_buf_json_str(b, c->name);
        em_buf_puts(b, ": {\"watts\": ");
        put_array(b, r, NULL, c);
        em_buf_puts(b, ", \"devices\": {");
        for (size_t d = 0; d < c->ndevices; d++) {
            em_buf_puts(b, d ? ", " : "");
            em_buf_json_str(b, c->devices[d].name);
            em_buf_puts(b, ": ");
            put_array(b, r, &c->devices[d], c);
        }
        em_buf_puts(b, "}}");
    }
    em_buf_puts(b, first ? "}\n  },\n" : "\n    }\n  },\n");
}

void em_write_json(const struct em_report *r, struct em_buf *b)
{
    em_buf_puts(b, "{\n  \"schema\": \"energymeter/1\",\n  \"label\": ");
    em_buf_json_str(b, r->win.label); /* null when there is none */
    if (r->win.window) {
        em_buf_puts(b, ",\n  \"window\": ");
        em_buf_json_str(b, r->win.window);
    }
    em_buf_puts(b, ",\n  \"start_time\": ");
    put_time(b, r->win.start_ns);
    em_buf_puts(b, ",\n  \"end_time\": ");
    put_time(b, r->win.end_ns);
    em_buf_puts(b, ",\n  \"duration_s\": ");
    put_num(b, r->win.duration_s);

    em_buf_puts(b, ",\n  \"command\": ");
    if (r->argv) {
        em_buf_puts(b, "[");
        for (int i = 0; i < r->argc; i++) {
            if (i)
                em_buf_puts(b, ", ");
            em_buf_json_str(b, r->argv[i]);
        }
        em_buf_puts(b, "]");
    } else {
        em_buf_puts(b, "null");
    }
    em_buf_puts(b, ",\n  \"exit_status\": ");
    if (r->has_exit_status)
        em_buf_printf(b, "%d", r->exit_status);
    else
        em_buf_puts(b, "null");
    em_buf_puts(b, r->win.include_idle ? ",\n  \"include_idle\": true"
                                       : ",\n  \"include_idle\": false");

    em_buf_puts(b, ",\n  \"components\": {");
    for (size_t i = 0; i < r->win.ncomps; i++) {
        em_buf_puts(b, i ? ",\n" : "\n");
        put_component(b, &r->win.comps[i]);
    }
    em_buf_puts(b, r->win.ncomps ? "\n  },\n" : "},\n");

    if (r->win.nsamples > 0)
        put_series(b, r);
    em_buf_puts(b, "  \"total_joules\": ");
    put_num(b, r->total_joules);

    em_buf_puts(b, ",\n  \"warnings\": [");
    for (size_t i = 0; i < r->win.nwarnings; i++) {
        em_buf_puts(b, i ? ",\n    " : "\n    ");
        em_buf_json_str(b, r->win.warnings[i]);
    }
    em_buf_puts(b, r->win.nwarnings ? "\n  ]\n}\n" : "]\n}\n");
}
