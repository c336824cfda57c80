/*
 * em_list_sources(): every source the library knows and every zone it found,
 * usable or not, with the reason and a safe fix, and which source serves each
 * component. This is what `energymeter list` prints.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "core/source.h"
#include "sources/sources.h"
#include "util/util.h"

static const char *const fixed_components[] = {"cpu", "dram", "gpu", "disk"};

struct listing {
    struct em_config cfg;
    struct em_source *src;
    struct em_probe *probes;
    size_t n;
};

static void listing_free(struct listing *l)
{
    em_sources_close(l->src, l->probes, l->n);
    em_config_free(&l->cfg);
}

/* A listing's configuration: every method is probed, whatever a meter's options would pick. */
static int listing_open(struct listing *l)
{
    char msg[256];
    int err = em_config_init(&l->cfg, NULL, msg, sizeof msg);
    l->cfg.listing = 1;
    return err ? err
               : em_sources_open(em_builtin_sources, &l->cfg, &l->src, &l->probes, &l->n, msg,
                                 sizeof msg);
}

/* The source whose channels serve component, or NULL. */
static const struct em_source *serving(const struct listing *l, const char *component)
{
    for (size_t k = 0; k < l->n; k++)
        for (size_t i = 0; i < l->src[k].nch; i++)
            if (!l->src[k].ch[i].unused && strcmp(l->src[k].ch[i].component, component) == 0)
                return &l->src[k];
    return NULL;
}

/* A source that builds the component itself at the end of a window (the
 * model, storage) and has a usable zone for it; its index, or -1. */
static long window_source(const struct listing *l, const char *component)
{
    for (size_t k = 0; k < l->n; k++) {
        if (!l->src[k].ops->fill)
            continue;
        for (size_t z = 0; z < l->probes[k].nzones; z++) {
            const struct em_zone_info *zi = &l->probes[k].zones[z];
            if (zi->usable && zi->component && strcmp(zi->component, component) == 0)
                return (long)k;
        }
    }
    return -1;
}

/* The devices (usable zones) of component in probe k, comma-separated. */
static void zone_devices(struct em_buf *b, const struct em_probe *p, const char *component,
                         int json)
{
    int first = 1;
    for (size_t z = 0; z < p->nzones; z++) {
        const struct em_zone_info *zi = &p->zones[z];
        if (!zi->usable || !zi->component || strcmp(zi->component, component) != 0)
            continue;
        em_buf_puts(b, first ? "" : ", ");
        if (json)
            em_buf_json_str(b, zi->device ? zi->device : zi->name);
        else
            em_buf_puts(b, zi->device ? zi->device : zi->name);
        first = 0;
    }
}

/* Components in report order: the fixed four, then extras as zones name them. */
static size_t component_names(const struct listing *l, const char **names, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < 4; i++)
        names[n++] = fixed_components[i];
    for (size_t k = 0; k < l->n; k++)
        for (size_t i = 0; i < l->src[k].nch && n < max; i++) {
            const char *c = l->src[k].ch[i].component;
            size_t j = 0;
            while (j < n && strcmp(names[j], c) != 0)
                j++;
            if (j == n)
                names[n++] = c;
        }
    return n;
}

static void json_opt_str(struct em_buf *b, const char *s)
{
    if (s)
        em_buf_json_str(b, s);
    else
        em_buf_puts(b, "null");
}

static int format_json(const struct listing *l, struct em_buf *b)
{
    em_buf_puts(b, "{\n  \"schema\": \"energymeter-list/1\",\n  \"sysfs_root\": ");
    em_buf_json_str(b, l->cfg.sysfs_root[0] ? l->cfg.sysfs_root : "/");
    em_buf_puts(b, ",\n  \"sources\": [");
    for (size_t k = 0; k < l->n; k++) {
        const struct em_probe *p = &l->probes[k];
        em_buf_printf(b, "%s\n    {\"name\": ", k ? "," : "");
        em_buf_json_str(b, p->source);
        em_buf_printf(b, ", \"available\": %s, \"reason\": ", p->available ? "true" : "false");
        json_opt_str(b, p->reason);
        em_buf_puts(b, ", \"fix\": ");
        json_opt_str(b, p->fix);
        em_buf_puts(b, ", \"zones\": [");
        for (size_t z = 0; z < p->nzones; z++) {
            const struct em_zone_info *zi = &p->zones[z];
            em_buf_printf(b, "%s\n      {\"name\": ", z ? "," : "");
            json_opt_str(b, zi->name);
            em_buf_puts(b, ", \"component\": ");
            json_opt_str(b, zi->component);
            em_buf_puts(b, ", \"device\": ");
            json_opt_str(b, zi->device);
            em_buf_puts(b, ", \"path\": ");
            json_opt_str(b, zi->path);
            em_buf_printf(b, ", \"used\": %s, \"reason\": ", zi->usable ? "true" : "false");
            json_opt_str(b, zi->reason);
            em_buf_puts(b, ", \"fix\": ");
            json_opt_str(b, zi->fix);
            em_buf_puts(b, "}");
        }
        em_buf_puts(b, p->nzones ? "\n    ]}" : "]}");
    }
    em_buf_puts(b, "\n  ],\n  \"components\": {");
    const char *names[64];
    size_t n = component_names(l, names, 64);
    for (size_t i = 0; i < n; i++) {
        const struct em_source *s = serving(l, names[i]);
        long w;
        em_buf_printf(b, "%s\n    ", i ? "," : "");
        em_buf_json_str(b, names[i]);
        if (s) {
            em_buf_puts(b, ": {\"available\": true, \"source\": ");
            em_buf_json_str(b, s->ops->name);
            em_buf_puts(b, ", \"devices\": [");
            int first = 1;
            for (size_t c = 0; c < s->nch; c++)
                if (!s->ch[c].unused && strcmp(s->ch[c].component, names[i]) == 0) {
                    em_buf_puts(b, first ? "" : ", ");
                    em_buf_json_str(b, s->ch[c].device);
                    first = 0;
                }
            em_buf_puts(b, "]}");
        } else if ((w = window_source(l, names[i])) >= 0) {
            em_buf_puts(b, ": {\"available\": true, \"source\": ");
            em_buf_json_str(b, l->probes[w].source);
            em_buf_puts(b, ", \"devices\": [");
            zone_devices(b, &l->probes[w], names[i], 1);
            em_buf_puts(b, "]}");
        } else {
            char *why = em_probe_component_reason(l->probes, l->n, names[i]);
            if (!why)
                return EM_ERR_NOMEM;
            em_buf_puts(b, ": {\"available\": false, \"reason\": ");
            em_buf_json_str(b, why);
            em_buf_puts(b, "}");
            free(why);
        }
    }
    em_buf_puts(b, "\n  }\n}\n");
    return 0;
}

static int format_text(const struct listing *l, struct em_buf *b)
{
    if (l->cfg.sysfs_root[0])
        em_buf_printf(b, "(ENERGYMETER_SYSFS_ROOT=%s)\n\n", l->cfg.sysfs_root);
    em_buf_puts(b, "Components:\n");
    const char *names[64];
    size_t n = component_names(l, names, 64);
    for (size_t i = 0; i < n; i++) {
        const struct em_source *s = serving(l, names[i]);
        long w;
        em_buf_printf(b, "  %-12s ", names[i]);
        if (s) {
            em_buf_printf(b, "%s (", s->ops->name);
            int first = 1;
            for (size_t c = 0; c < s->nch; c++)
                if (!s->ch[c].unused && strcmp(s->ch[c].component, names[i]) == 0) {
                    em_buf_printf(b, "%s%s", first ? "" : ", ", s->ch[c].device);
                    first = 0;
                }
            em_buf_puts(b, ")\n");
        } else if ((w = window_source(l, names[i])) >= 0) {
            em_buf_printf(b, "%s (", l->probes[w].source);
            zone_devices(b, &l->probes[w], names[i], 0);
            em_buf_puts(b, ")\n");
        } else {
            char *why = em_probe_component_reason(l->probes, l->n, names[i]);
            if (!why)
                return EM_ERR_NOMEM;
            em_buf_printf(b, "unavailable: %s\n", why);
            free(why);
        }
    }
    em_buf_puts(b, "\nSources, in order of preference:\n");
    for (size_t k = 0; k < l->n; k++) {
        const struct em_probe *p = &l->probes[k];
        em_buf_printf(b, "  %-14s %s\n", p->source, p->available ? "available" : "unavailable");
        if (p->reason)
            em_buf_printf(b, "    %s\n", p->reason);
        if (p->fix)
            em_buf_printf(b, "    fix: %s\n", p->fix);
        for (size_t z = 0; z < p->nzones; z++) {
            const struct em_zone_info *zi = &p->zones[z];
            em_buf_printf(b, "    %-18s %-11s %-12s %s\n", zi->name ? zi->name : "?",
                          zi->component ? zi->component : "-", zi->device ? zi->device : "-",
                          zi->usable ? "used" : "not used");
            if (zi->path)
                em_buf_printf(b, "      file: %s\n", zi->path);
            if (zi->reason)
                em_buf_printf(b, "      why:  %s\n", zi->reason);
            if (zi->fix)
                em_buf_printf(b, "      fix:  %s\n", zi->fix);
        }
    }
    return 0;
}

int em_list_sources(em_format format, char **out)
{
    if (!out || (format != EM_FORMAT_TEXT && format != EM_FORMAT_JSON))
        return EM_ERR_INVALID;
    *out = NULL;
    struct listing l = {0};
    struct em_buf b;
    em_buf_init(&b);
    int err = listing_open(&l);
    if (err)
        goto cleanup;
    err = format == EM_FORMAT_JSON ? format_json(&l, &b) : format_text(&l, &b);
    if (err)
        goto cleanup;
    *out = em_buf_steal(&b);
    if (!*out)
        err = EM_ERR_NOMEM;
cleanup:
    em_buf_free(&b);
    listing_free(&l);
    return err;
}
