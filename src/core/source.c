/* What every source shares: the source table, channels and probe records. */
#include "source.h"

#include <stdlib.h>
#include <string.h>

struct em_channel *em_source_add_channel(struct em_source *s, const char *component,
                                         const char *device, const char *path, int in_total)
{
    struct em_channel *ch = realloc(s->ch, (s->nch + 1) * sizeof *ch);
    if (!ch)
        return NULL;
    s->ch = ch;
    ch = &s->ch[s->nch++];
    memset(ch, 0, sizeof *ch);
    snprintf(ch->component, sizeof ch->component, "%s", component);
    snprintf(ch->device, sizeof ch->device, "%s", device);
    snprintf(ch->path, sizeof ch->path, "%s", path);
    ch->in_total = in_total;
    return ch;
}

int em_probe_add_zone(struct em_probe *p, const char *name, const char *component,
                      const char *device, const char *path, const char *reason, const char *fix)
{
    struct em_zone_info *z = realloc(p->zones, (p->nzones + 1) * sizeof *z);
    if (!z)
        return EM_ERR_NOMEM;
    p->zones = z;
    z = &p->zones[p->nzones];
    *z = (struct em_zone_info){
        .name = em_strdup(name),
        .component = em_strdup(component),
        .device = em_strdup(device),
        .path = em_strdup(path),
        .usable = reason == NULL,
        .reason = em_strdup(reason),
        .fix = em_strdup(fix),
    };
    p->nzones++;
    if ((name && !z->name) || (component && !z->component) || (device && !z->device) ||
        (path && !z->path) || (reason && !z->reason) || (fix && !z->fix))
        return EM_ERR_NOMEM;
    if (z->usable)
        p->available = 1;
    return 0;
}

int em_probe_set_reason(struct em_probe *p, const char *reason, const char *fix)
{
    free(p->reason);
    free(p->fix);
    p->reason = em_strdup(reason);
    p->fix = em_strdup(fix);
    if ((reason && !p->reason) || (fix && !p->fix))
        return EM_ERR_NOMEM;
    return 0;
}

void em_probe_clear(struct em_probe *p)
{
    for (size_t i = 0; i < p->nzones; i++) {
        struct em_zone_info *z = &p->zones[i];
        free(z->name);
        free(z->component);
        free(z->device);
        free(z->path);
        free(z->reason);
        free(z->fix);
    }
    free(p->zones);
    free(p->reason);
    free(p->fix);
    const char *src = p->source, *serves_list = p->serves;
    *p = (struct em_probe){.source = src, .serves = serves_list};
}

/* Does a comma-separated list name component? */
static int serves(const char *list, const char *component)
{
    size_t n = strlen(component);
    for (const char *p = list; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && strncmp(p, component, n) == 0)
            return 1;
        p = comma ? comma + 1 : NULL;
    }
    return 0;
}

char *em_probe_component_reason(const struct em_probe *probes, size_t n, const char *component)
{
    /* Every source that could have measured the component says why it did
     * not: its first unusable zone for it, else its own reason. */
    struct em_buf b;
    em_buf_init(&b);
    for (size_t k = 0; k < n; k++) {
        const struct em_probe *p = &probes[k];
        const char *reason = NULL, *fix = NULL;
        for (size_t z = 0; z < p->nzones && !reason; z++) {
            const struct em_zone_info *zi = &p->zones[z];
            if (!zi->usable && zi->component && strcmp(zi->component, component) == 0) {
                reason = zi->reason;
                fix = zi->fix;
            }
        }
        if (!reason && !p->available && p->reason && serves(p->serves, component)) {
            reason = p->reason;
            fix = p->fix;
        }
        if (!reason)
            continue;
        em_buf_printf(&b, "%s%s: %s", b.len ? "; " : "", p->source, reason);
        if (fix)
            em_buf_printf(&b, ". Fix: %s", fix);
    }
    if (b.len || b.oom)
        return em_buf_steal(&b);
    em_buf_free(&b);
    if (strcmp(component, "gpu") == 0)
        return em_strdup("no GPU energy source in this version of energymeter (NVML support "
                         "is not built yet)");
    if (strcmp(component, "disk") == 0)
        return em_strdup("no storage energy source in this version of energymeter (block I/O "
                         "measurement is not built yet)");
    if (strcmp(component, "dram") == 0)
        return em_strdup("no DRAM energy counter: RAPL on this machine has no dram domain (AMD "
                         "and most client Intel processors have none)");
    return em_asprintf("no source measures %s on this machine", component);
}

/* The first source, up to (not including) src[upto], with a used channel for component. */
static const struct em_source *owner(const struct em_source *src, size_t upto,
                                     const char *component)
{
    for (size_t k = 0; k < upto; k++)
        for (size_t i = 0; i < src[k].nch; i++)
            if (!src[k].ch[i].unused && strcmp(src[k].ch[i].component, component) == 0)
                return &src[k];
    return NULL;
}

int em_sources_resolve(struct em_source *src, struct em_probe *probes, size_t n)
{
    for (size_t k = 1; k < n; k++) {
        for (size_t i = 0; i < src[k].nch; i++)
            if (owner(src, k, src[k].ch[i].component))
                src[k].ch[i].unused = 1;
        struct em_probe *p = &probes[k];
        p->available = 0;
        for (size_t z = 0; z < p->nzones; z++) {
            struct em_zone_info *zi = &p->zones[z];
            const struct em_source *o =
                zi->usable && zi->component ? owner(src, k, zi->component) : NULL;
            if (o) {
                char *why = em_asprintf("%s is measured by %s, preferred over %s", zi->component,
                                        o->ops->name, src[k].ops->name);
                if (!why)
                    return EM_ERR_NOMEM;
                free(zi->reason);
                zi->reason = why;
                zi->usable = 0;
            }
            if (zi->usable)
                p->available = 1;
        }
    }
    return 0;
}

int em_sources_open(const struct em_source_ops *const *table, const struct em_config *cfg,
                    struct em_source **src, struct em_probe **probes, size_t *n, char *msg,
                    size_t msgsz)
{
    size_t total = 0;
    while (table[total])
        total++;
    *n = 0;
    *src = calloc(total ? total : 1, sizeof **src);
    *probes = calloc(total ? total : 1, sizeof **probes);
    if (!*src || !*probes) {
        snprintf(msg, msgsz, "out of memory");
        return EM_ERR_NOMEM;
    }
    for (size_t k = 0; k < total; k++) {
        const struct em_source_ops *ops = table[k];
        (*src)[k] = (struct em_source){.ops = ops, .cfg = cfg};
        (*probes)[k] = (struct em_probe){.source = ops->name, .serves = ops->serves};
        *n = k + 1;
        int err = ops->probe(&(*src)[k], &(*probes)[k]);
        if (err) {
            snprintf(msg, msgsz, "probing source %s: %s", ops->name, em_strerror(err));
            return err;
        }
        /* Right after its probe, so that a source's own set-up (the GPUs'
         * calibration) runs while the later sources are probed. */
        err = !cfg->listing && ops->open ? ops->open(&(*src)[k]) : 0;
        if (err) {
            snprintf(msg, msgsz, "opening source %s: %s", ops->name, em_strerror(err));
            return err;
        }
    }
    int err = em_sources_resolve(*src, *probes, *n);
    if (err)
        snprintf(msg, msgsz, "out of memory");
    return err;
}

void em_sources_close(struct em_source *src, struct em_probe *probes, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        if (src[k].ops && src[k].ops->close)
            src[k].ops->close(&src[k]);
        free(src[k].ch);
        em_probe_clear(&probes[k]);
    }
    free(src);
    free(probes);
}
