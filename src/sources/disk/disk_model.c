/*
 * The disk energy model. A disk has no energy counter we can read, so its
 * energy is always a model, and the component's status is always
 * "estimated", even when every input was measured:
 *
 *   active = busy time (measured), or bytes / disk_avg_speed (the original
 *            tool's model: --disk-time bytes, or when a fallback measured no
 *            busy time)
 *   E      = active x active power [+ (duration - active) x idle power]
 *
 * with the idle term only when include_idle is set. Powers come per device
 * from disk_power ("DEV:ACTIVE:IDLE"), else from disk_active_power and
 * disk_idle_power, else the original tool's 6 W / 1.42 W, with a warning
 * that names them, since they describe no disk in particular.
 *
 * Virtual disks (loop, nbd...) get no energy in system scope: the work they
 * stand for is done, and counted, on the disks below them (or in RAM). In
 * tree scope they are charged, because that lower-level I/O is made by
 * kernel threads outside the tree and would otherwise be lost.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disk.h"
#include "core/source.h"

int em_disk_power_lookup(const char *list, const char *dev, double *active, double *idle)
{
    if (!list || !dev)
        return 0;
    if (strncmp(dev, "/dev/", 5) == 0)
        dev += 5;
    size_t dl = strlen(dev);
    for (const char *p = list; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[256];
        if (len < sizeof item) {
            memcpy(item, p, len);
            item[len] = '\0';
            char *name = item;
            if (strncmp(name, "/dev/", 5) == 0)
                name += 5;
            char *c1 = strchr(name, ':');
            char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
            if (c2 && (size_t)(c1 - name) == dl && strncmp(name, dev, dl) == 0) {
                char *end1, *end2;
                double a = strtod(c1 + 1, &end1), i = strtod(c2 + 1, &end2);
                if (end1 == c2 && *end2 == '\0' && a >= 0 && i >= 0 && isfinite(a) && isfinite(i)) {
                    *active = a;
                    *idle = i;
                    return 1;
                }
            }
        }
        p = comma ? comma + 1 : NULL;
    }
    return 0;
}

/* The model's inputs for a window, and what it found on the way. */
struct model {
    const struct em_config *cfg;
    double duration_s;
    int system, bytes_model;
    double ga, gi, speed; /* the global powers and the bytes/speed model's speed */
    int default_power, default_speed, no_busy;
    /* over the charged devices */
    uint64_t read_bytes, write_bytes, reads, writes;
    double busy_s, active_s;
    int have_busy;
    double pseudo_j, pseudo_u; /* the tree total of /proc/self/io, which has no device */
};

static int device_extras(struct em_extras *x, const struct em_disk_delta *d, double active,
                         double pa, double pi, int charged)
{
    int err = em_extras_set_integer(x, "read_bytes", (double)d->read_bytes);
    if (!err)
        err = em_extras_set_integer(x, "write_bytes", (double)d->write_bytes);
    if (!err && (d->reads || d->writes))
        err = em_extras_set_integer(x, "requests", (double)(d->reads + d->writes));
    if (!err && !isnan(d->busy_s))
        err = em_extras_set_number(x, "busy_s", d->busy_s);
    if (!err)
        err = em_extras_set_number(x, "active_s", active);
    if (!err)
        err = em_extras_set_number(x, "active_power_w", pa);
    if (!err)
        err = em_extras_set_number(x, "idle_power_w", pi);
    if (!err && !charged)
        err = em_extras_set_string(x, "note",
                                   "virtual device: its I/O is counted on the disks below it, "
                                   "so it gets no energy in system scope");
    return err;
}

/* A device's active time: measured busy time, or bytes / speed. */
static double active_time(struct model *m, const struct em_disk_delta *d)
{
    if (!m->bytes_model && !isnan(d->busy_s))
        return d->busy_s;
    double bytes = (double)(d->read_bytes + d->write_bytes);
    if (!m->bytes_model)
        m->no_busy = 1;
    if (m->cfg->disk_avg_speed <= 0 && bytes > 0)
        m->default_speed = 1;
    return bytes / m->speed;
}

/* One device's energy into c (or into the pseudo total), and the sums. */
static int add_device(struct model *m, struct em_reading *c, const struct em_disk_delta *d)
{
    const struct em_config *cfg = m->cfg;
    double pa = m->ga, pi = m->gi;
    int explicit = em_disk_power_lookup(cfg->disk_power, d->name, &pa, &pi);
    int charged = explicit || d->pseudo || !(d->virt && m->system);
    double active = active_time(m, d);
    double idle = cfg->include_idle && m->duration_s > active ? m->duration_s - active : 0;
    double joules = charged ? active * pa + idle * pi : 0;
    double unc = charged ? d->busy_err_s * (pa + (cfg->include_idle ? pi : 0)) : 0;
    if (charged && !explicit &&
        (cfg->disk_active_power < 0 || (cfg->include_idle && cfg->disk_idle_power < 0)))
        m->default_power = 1;
    if (charged) {
        m->read_bytes += d->read_bytes;
        m->write_bytes += d->write_bytes;
        m->reads += d->reads;
        m->writes += d->writes;
        m->active_s += active;
        if (!isnan(d->busy_s)) {
            m->busy_s += d->busy_s;
            m->have_busy = 1;
        }
    }
    if (d->pseudo) {
        m->pseudo_j += joules;
        m->pseudo_u += unc;
        return 0;
    }
    int err = em_reading_add_device(c, d->name, joules, unc);
    return err ? err
               : device_extras(&c->devices[c->ndevices - 1].extras, d, active, pa, pi, charged);
}

/* The component's own extras: the sums and the model used. */
static int component_extras(const struct model *m, struct em_extras *x)
{
    int bytes_speed = m->bytes_model || m->no_busy;
    int err = em_extras_set_integer(x, "read_bytes", (double)m->read_bytes);
    if (!err)
        err = em_extras_set_integer(x, "write_bytes", (double)m->write_bytes);
    if (!err && (m->reads || m->writes))
        err = em_extras_set_integer(x, "requests", (double)(m->reads + m->writes));
    if (!err && m->have_busy)
        err = em_extras_set_number(x, "busy_s", m->busy_s);
    if (!err)
        err = em_extras_set_number(x, "active_s", m->active_s);
    if (!err)
        err = em_extras_set_string(x, "model", bytes_speed ? "bytes/speed" : "busy-time");
    if (!err)
        err = em_extras_set_string(x, "scope", m->system ? "system" : "tree");
    if (!err && bytes_speed)
        err = em_extras_set_number(x, "disk_avg_speed", m->speed);
    return err;
}

/* Warnings when figures of no disk in particular were used. */
static int model_warnings(const struct model *m, struct em_readings *w, const char *source)
{
    int err = 0;
    if (m->default_power)
        err = em_readings_warn(
            w,
            "disk: energy uses the default powers %g W active / %g W idle (the original "
            "tool's figures, not this machine's disks'): give --disk-active-power and "
            "--disk-idle-power, or --disk-power DEV:ACTIVE_W:IDLE_W",
            m->ga, m->gi);
    if (!err && m->no_busy && !m->bytes_model)
        err = em_readings_warn(w,
                               "disk: %s measures no busy time, so active time is bytes / "
                               "%g B/s%s",
                               source, m->speed,
                               m->default_speed ? " (the original tool's example speed: give "
                                                  "--disk-avg-speed)"
                                                : "");
    return err;
}

int em_disk_model_fill(struct em_reading *c, struct em_readings *w, const struct em_config *cfg,
                       const char *source, int measures_busy, const struct em_disk_delta *d,
                       size_t n)
{
    struct model m = {
        .cfg = cfg,
        .duration_s = w->duration_s,
        .system = cfg->disk_scope == EM_DISK_SCOPE_SYSTEM,
        .bytes_model = cfg->disk_time == EM_DISK_TIME_BYTES,
        .ga = cfg->disk_active_power >= 0 ? cfg->disk_active_power : EM_DISK_DEFAULT_ACTIVE_W,
        .gi = cfg->disk_idle_power >= 0 ? cfg->disk_idle_power : EM_DISK_DEFAULT_IDLE_W,
        .speed = cfg->disk_avg_speed > 0 ? cfg->disk_avg_speed : EM_DISK_DEFAULT_SPEED,
        .have_busy = measures_busy,
    };
    c->status = EM_STATUS_ESTIMATED;
    if (em_reading_set_source(c, source))
        return EM_ERR_NOMEM;
    int err = 0;
    for (size_t k = 0; k < n && !err; k++)
        err = add_device(&m, c, &d[k]);
    /* With devices, the report sums them; the tree total of /proc/self/io
     * has none. */
    c->joules = m.pseudo_j;
    c->uncertainty_j = m.pseudo_u;
    if (!err)
        err = component_extras(&m, &c->extras);
    if (!err)
        err = model_warnings(&m, w, source);
    return err;
}
