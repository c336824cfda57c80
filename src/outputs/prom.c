/*
 * Running totals as Prometheus text (exposition format 0.0.4), what
 * `energymeter serve` answers on /metrics.
 *
 * Counters carry only labels that never change for a series (component,
 * device, in_total), so rate() and increase() work across windows; what can
 * change (status, source, the reason a component is unavailable) is in an
 * info-style gauge beside them. A component that was never measured has no
 * energy sample at all, never a 0 that looks measured. The sum over
 * components of energymeter_energy_joules_total{in_total="true"} is the
 * report's total_joules summed over the windows (psys, cpu-core and
 * cpu-uncore, parts or supersets of others, have in_total="false").
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "outputs.h"

/* A label value: backslash, double quote and newline escaped, bytes that
 * are not UTF-8 replaced (device names come from sysfs). */
static void put_label_value(struct em_buf *b, const char *s)
{
    em_buf_append(b, "\"", 1);
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        if (*p == '\\' || *p == '"') {
            em_buf_append(b, "\\", 1);
            em_buf_append(b, (const char *)p, 1);
            p++;
        } else if (*p == '\n') {
            em_buf_append(b, "\\n", 2);
            p++;
        } else {
            size_t n = em_utf8_len(p);
            if (n == 0) {
                em_buf_append(b, "?", 1);
                p++;
            } else {
                em_buf_append(b, (const char *)p, n);
                p += n;
            }
        }
    }
    em_buf_append(b, "\"", 1);
}

/* A sample value: the shortest of %.15g and %.17g that reads back exactly. */
static void put_value(struct em_buf *b, double v)
{
    char s[40];
    if (isnan(v)) {
        em_buf_puts(b, " NaN\n");
        return;
    }
    snprintf(s, sizeof s, "%.15g", v);
    if (strtod(s, NULL) != v)
        snprintf(s, sizeof s, "%.17g", v);
    em_buf_printf(b, " %s\n", s);
}

static void family(struct em_buf *b, const char *name, const char *type, const char *help)
{
    em_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{component="c"[,device="d"]} v */
static void sample(struct em_buf *b, const char *name, const char *comp, const char *dev, double v)
{
    em_buf_puts(b, name);
    if (comp || dev) {
        const char *sep = "{";
        if (comp) {
            em_buf_printf(b, "%scomponent=", sep);
            put_label_value(b, comp);
            sep = ",";
        }
        if (dev) {
            em_buf_printf(b, "%sdevice=", sep);
            put_label_value(b, dev);
        }
        em_buf_puts(b, "}");
    }
    put_value(b, v);
}

static void put_components(const struct em_totals *t, struct em_buf *b)
{
    family(b, "energymeter_energy_joules_total", "counter",
           "Energy a component's sensors saw, summed over the windows it was measured in (cpu, "
           "dram, gpu: idle power included; disk: the disk model's estimate).");
    for (size_t i = 0; i < t->ncomps; i++) {
        const struct em_totals_component *c = &t->comps[i];
        if (!c->ever_measured)
            continue;
        em_buf_puts(b, "energymeter_energy_joules_total{component=");
        put_label_value(b, c->name);
        em_buf_printf(b, ",in_total=\"%s\"}", c->in_total ? "true" : "false");
        put_value(b, c->joules);
    }
    family(b, "energymeter_energy_uncertainty_joules_total", "counter",
           "Half-width of the interval the true energy lies in, summed over the windows.");
    for (size_t i = 0; i < t->ncomps; i++)
        if (t->comps[i].ever_measured)
            sample(b, "energymeter_energy_uncertainty_joules_total", t->comps[i].name, NULL,
                   t->comps[i].uncertainty_j);
    family(b, "energymeter_degraded_windows_total", "counter",
           "Windows in which a counter fault made part of a component's energy an estimate.");
    for (size_t i = 0; i < t->ncomps; i++)
        if (t->comps[i].ever_measured)
            sample(b, "energymeter_degraded_windows_total", t->comps[i].name, NULL,
                   (double)t->comps[i].degraded_windows);
    family(b, "energymeter_power_watts", "gauge",
           "Mean power of a component over the last window (absent when it was not measured "
           "then).");
    for (size_t i = 0; i < t->ncomps; i++)
        if (isfinite(t->comps[i].last_watts))
            sample(b, "energymeter_power_watts", t->comps[i].name, NULL, t->comps[i].last_watts);
    family(b, "energymeter_component_info", "gauge",
           "How a component was measured in the last window: status (measured, estimated, "
           "unavailable), source, and the reason when unavailable.");
    for (size_t i = 0; i < t->ncomps; i++) {
        const struct em_totals_component *c = &t->comps[i];
        em_buf_puts(b, "energymeter_component_info{component=");
        put_label_value(b, c->name);
        em_buf_puts(b, ",status=");
        put_label_value(b, em_status_name(c->status));
        em_buf_puts(b, ",source=");
        put_label_value(b, c->source);
        em_buf_puts(b, ",reason=");
        put_label_value(b, c->reason);
        em_buf_puts(b, "} 1\n");
    }
}

static void put_devices(const struct em_totals *t, struct em_buf *b)
{
    family(b, "energymeter_device_energy_joules_total", "counter",
           "Energy of one device of a component (a CPU package, a GPU, a disk), summed over the "
           "windows.");
    for (size_t i = 0; i < t->ncomps; i++)
        for (size_t d = 0; d < t->comps[i].ndevices; d++)
            sample(b, "energymeter_device_energy_joules_total", t->comps[i].name,
                   t->comps[i].devices[d].name, t->comps[i].devices[d].joules);
    family(b, "energymeter_device_power_watts", "gauge",
           "Mean power of one device over the last window.");
    for (size_t i = 0; i < t->ncomps; i++)
        for (size_t d = 0; d < t->comps[i].ndevices; d++)
            if (isfinite(t->comps[i].devices[d].last_watts))
                sample(b, "energymeter_device_power_watts", t->comps[i].name,
                       t->comps[i].devices[d].name, t->comps[i].devices[d].last_watts);
}

/* Disk I/O of one family (which: 0 read bytes, 1 written bytes, 2 busy
 * seconds) per device, or for the component where no device had it. */
static void put_disk_family(const struct em_totals *t, struct em_buf *b, const char *name,
                            int which)
{
    for (size_t i = 0; i < t->ncomps; i++) {
        const struct em_totals_component *c = &t->comps[i];
        if (!c->has_disk)
            continue;
        int per_device = 0;
        for (size_t d = 0; d < c->ndevices; d++) {
            const struct em_totals_device *dv = &c->devices[d];
            if (!dv->has_disk)
                continue;
            per_device = 1;
            double v = which == 0 ? dv->read_bytes : which == 1 ? dv->write_bytes : dv->busy_s;
            sample(b, name, NULL, dv->name, v);
        }
        if (!per_device)
            sample(b, name, NULL, NULL,
                   which == 0   ? c->read_bytes
                   : which == 1 ? c->write_bytes
                                : c->busy_s);
    }
}

static void put_disk(const struct em_totals *t, struct em_buf *b)
{
    family(b, "energymeter_disk_read_bytes_total", "counter",
           "Bytes read from a block device (what the disk component's energy is modelled on).");
    put_disk_family(t, b, "energymeter_disk_read_bytes_total", 0);
    family(b, "energymeter_disk_written_bytes_total", "counter",
           "Bytes written to a block device.");
    put_disk_family(t, b, "energymeter_disk_written_bytes_total", 1);
    family(b, "energymeter_disk_busy_seconds_total", "counter",
           "Time a block device had at least one request in flight.");
    put_disk_family(t, b, "energymeter_disk_busy_seconds_total", 2);
}

void em_write_prometheus(const struct em_totals *t, struct em_buf *b)
{
    family(b, "energymeter_build_info", "gauge", "The energymeter library serving the metrics.");
    em_buf_puts(b, "energymeter_build_info{version=");
    put_label_value(b, em_version());
    em_buf_puts(b, "} 1\n");
    family(b, "energymeter_windows_total", "counter",
           "Measurement windows completed; the counters below move once a window.");
    sample(b, "energymeter_windows_total", NULL, NULL, (double)t->windows);
    family(b, "energymeter_measured_seconds_total", "counter",
           "Time covered by the windows completed.");
    sample(b, "energymeter_measured_seconds_total", NULL, NULL, t->seconds);
    family(b, "energymeter_unmeasured_seconds_total", "counter",
           "Time between one window's end and the next one's start, whose energy no window "
           "holds.");
    sample(b, "energymeter_unmeasured_seconds_total", NULL, NULL, t->gaps_s);
    family(b, "energymeter_warnings_total", "counter",
           "Warnings the windows' reports carried (counter faults, late readings).");
    sample(b, "energymeter_warnings_total", NULL, NULL, (double)t->warnings);
    if (t->windows) {
        family(b, "energymeter_last_window_end_timestamp_seconds", "gauge",
               "Wall-clock end of the last window completed, seconds since the Unix epoch.");
        sample(b, "energymeter_last_window_end_timestamp_seconds", NULL, NULL,
               (double)t->last_end_ns / 1e9);
        family(b, "energymeter_last_window_duration_seconds", "gauge",
               "Length of the last window completed.");
        sample(b, "energymeter_last_window_duration_seconds", NULL, NULL, t->last_duration_s);
    }
    put_components(t, b);
    put_devices(t, b);
    put_disk(t, b);
}
