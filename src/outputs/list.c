/*
 * What `energymeter list` prints: for each component the source that
 * measures it (and its devices) or why none does, then every source and
 * every zone it found, usable or not, with the reason and a safe fix. As
 * text, or as JSON (schema energymeter-list/1).
 */
#include "outputs.h"

static void json_opt_str(struct em_buf *b, const char *s)
{
    if (s)
        em_buf_json_str(b, s);
    else
        em_buf_puts(b, "null");
}

static void json_zone(struct em_buf *b, const struct em_zone_info *zi)
{
    em_buf_puts(b, "{\"name\": ");
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

static void json_component(struct em_buf *b, const struct em_listing_component *c)
{
    em_buf_json_str(b, c->name);
    if (!c->source) {
        em_buf_puts(b, ": {\"available\": false, \"reason\": ");
        em_buf_json_str(b, c->reason);
        em_buf_puts(b, "}");
        return;
    }
    em_buf_puts(b, ": {\"available\": true, \"source\": ");
    em_buf_json_str(b, c->source);
    em_buf_puts(b, ", \"devices\": [");
    for (size_t d = 0; d < c->ndevices; d++) {
        em_buf_puts(b, d ? ", " : "");
        em_buf_json_str(b, c->devices[d]);
    }
    em_buf_puts(b, "]}");
}

void em_write_listing_json(const struct em_listing *l, struct em_buf *b)
{
    em_buf_puts(b, "{\n  \"schema\": \"energymeter-list/1\",\n  \"sysfs_root\": ");
    em_buf_json_str(b, l->sysfs_root[0] ? l->sysfs_root : "/");
    em_buf_puts(b, ",\n  \"sources\": [");
    for (size_t k = 0; k < l->nprobes; k++) {
        const struct em_probe *p = &l->probes[k];
        em_buf_printf(b, "%s\n    {\"name\": ", k ? "," : "");
        em_buf_json_str(b, p->source);
        em_buf_printf(b, ", \"available\": %s, \"reason\": ", p->available ? "true" : "false");
        json_opt_str(b, p->reason);
        em_buf_puts(b, ", \"fix\": ");
        json_opt_str(b, p->fix);
        em_buf_puts(b, ", \"zones\": [");
        for (size_t z = 0; z < p->nzones; z++) {
            em_buf_puts(b, z ? ",\n      " : "\n      ");
            json_zone(b, &p->zones[z]);
        }
        em_buf_puts(b, p->nzones ? "\n    ]}" : "]}");
    }
    em_buf_puts(b, "\n  ],\n  \"components\": {");
    for (size_t i = 0; i < l->ncomps; i++) {
        em_buf_puts(b, i ? ",\n    " : "\n    ");
        json_component(b, &l->comps[i]);
    }
    em_buf_puts(b, "\n  }\n}\n");
}

static void text_probe(struct em_buf *b, const struct em_probe *p)
{
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

void em_write_listing_text(const struct em_listing *l, struct em_buf *b)
{
    if (l->sysfs_root[0])
        em_buf_printf(b, "(ENERGYMETER_SYSFS_ROOT=%s)\n\n", l->sysfs_root);
    em_buf_puts(b, "Components:\n");
    for (size_t i = 0; i < l->ncomps; i++) {
        const struct em_listing_component *c = &l->comps[i];
        em_buf_printf(b, "  %-12s ", c->name);
        if (!c->source) {
            em_buf_printf(b, "unavailable: %s\n", c->reason);
            continue;
        }
        em_buf_printf(b, "%s (", c->source);
        for (size_t d = 0; d < c->ndevices; d++)
            em_buf_printf(b, "%s%s", d ? ", " : "", c->devices[d]);
        em_buf_puts(b, ")\n");
    }
    em_buf_puts(b, "\nSources, in order of preference:\n");
    for (size_t k = 0; k < l->nprobes; k++)
        text_probe(b, &l->probes[k]);
}
