/*
 * The listing of `energymeter list` (listing.h): which source serves each
 * component, and with which devices, from the opened sources.
 */
#include "listing.h"

#include <stdlib.h>
#include <string.h>

/* The source whose channels serve component, or NULL. */
static const struct em_source *serving(const struct em_source *src, size_t n, const char *component)
{
    for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < src[k].nch; i++)
            if (!src[k].ch[i].unused && strcmp(src[k].ch[i].component, component) == 0)
                return &src[k];
    return NULL;
}

/* A source that builds the component itself at the end of a window (the
 * model, storage) and has a usable zone for it; its index, or -1. */
static long window_source(const struct em_source *src, const struct em_probe *probes, size_t n,
                          const char *component)
{
    for (size_t k = 0; k < n; k++) {
        if (!src[k].ops->fill)
            continue;
        for (size_t z = 0; z < probes[k].nzones; z++) {
            const struct em_zone_info *zi = &probes[k].zones[z];
            if (zi->usable && zi->component && strcmp(zi->component, component) == 0)
                return (long)k;
        }
    }
    return -1;
}

/* Components in report order: the fixed four, then extras as channels name them. */
static void add_names(struct em_listing *l, const struct em_source *src, size_t n)
{
    for (size_t i = 0; i < EM_NFIXED; i++)
        l->comps[l->ncomps++].name = em_fixed_components[i];
    for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < src[k].nch && l->ncomps < EM_LISTING_MAX_COMPONENTS; i++) {
            const char *c = src[k].ch[i].component;
            size_t j = 0;
            while (j < l->ncomps && strcmp(l->comps[j].name, c) != 0)
                j++;
            if (j == l->ncomps)
                l->comps[l->ncomps++].name = c;
        }
}

static int add_device(struct em_listing_component *c, const char *name)
{
    const char **v = realloc(c->devices, (c->ndevices + 1) * sizeof *v);
    if (!v)
        return EM_ERR_NOMEM;
    c->devices = v;
    v[c->ndevices++] = name;
    return 0;
}

/* Who serves component c, with its devices: a source's used channels, or a
 * window source's usable zones; else why no source does. */
static int fill_component(struct em_listing_component *c, const struct em_source *src,
                          const struct em_probe *probes, size_t n)
{
    int err = 0;
    const struct em_source *s = serving(src, n, c->name);
    long w;
    if (s) {
        c->source = s->ops->name;
        for (size_t i = 0; i < s->nch && !err; i++)
            if (!s->ch[i].unused && strcmp(s->ch[i].component, c->name) == 0)
                err = add_device(c, s->ch[i].device);
    } else if ((w = window_source(src, probes, n, c->name)) >= 0) {
        const struct em_probe *p = &probes[w];
        c->source = p->source;
        for (size_t z = 0; z < p->nzones && !err; z++) {
            const struct em_zone_info *zi = &p->zones[z];
            if (zi->usable && zi->component && strcmp(zi->component, c->name) == 0)
                err = add_device(c, zi->device ? zi->device : zi->name);
        }
    } else if (!(c->reason = em_probe_component_reason(probes, n, c->name))) {
        err = EM_ERR_NOMEM;
    }
    return err;
}

int em_listing_build(struct em_listing *l, const struct em_source *src,
                     const struct em_probe *probes, size_t n, const char *sysfs_root)
{
    memset(l, 0, sizeof *l);
    l->sysfs_root = sysfs_root;
    l->probes = probes;
    l->nprobes = n;
    add_names(l, src, n);
    int err = 0;
    for (size_t i = 0; i < l->ncomps && !err; i++)
        err = fill_component(&l->comps[i], src, probes, n);
    return err;
}

void em_listing_free(struct em_listing *l)
{
    for (size_t i = 0; i < l->ncomps; i++) {
        free(l->comps[i].devices);
        free(l->comps[i].reason);
    }
    memset(l, 0, sizeof *l);
}
