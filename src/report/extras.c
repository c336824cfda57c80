/*
 * Extra keys of report components and devices: what a source knows beyond
 * joules (bytes read and written, busy time, the model used, a GPU's UUID).
 * The schema allows keys to be added; these never change the meaning of
 * the fixed ones.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

static struct em_report_extra *slot(struct em_report_extras *x, const char *key)
{
    for (size_t i = 0; i < x->n; i++)
        if (strcmp(x->v[i].key, key) == 0) {
            free(x->v[i].str);
            x->v[i].str = NULL;
            return &x->v[i];
        }
    struct em_report_extra *v = realloc(x->v, (x->n + 1) * sizeof *v);
    if (!v)
        return NULL;
    x->v = v;
    struct em_report_extra *e = &v[x->n];
    *e = (struct em_report_extra){.key = em_strdup(key)};
    if (!e->key)
        return NULL;
    x->n++;
    return e;
}

int em_extras_set_number(struct em_report_extras *x, const char *key, double v)
{
    struct em_report_extra *e = slot(x, key);
    if (!e)
        return EM_ERR_NOMEM;
    e->kind = EM_EXTRA_NUMBER;
    e->num = v;
    return 0;
}

int em_extras_set_integer(struct em_report_extras *x, const char *key, double v)
{
    struct em_report_extra *e = slot(x, key);
    if (!e)
        return EM_ERR_NOMEM;
    e->kind = EM_EXTRA_INTEGER;
    e->num = v;
    return 0;
}

int em_extras_set_bool(struct em_report_extras *x, const char *key, int v)
{
    struct em_report_extra *e = slot(x, key);
    if (!e)
        return EM_ERR_NOMEM;
    e->kind = EM_EXTRA_BOOL;
    e->num = v ? 1 : 0;
    return 0;
}

int em_extras_set_string(struct em_report_extras *x, const char *key, const char *v)
{
    struct em_report_extra *e = slot(x, key);
    if (!e)
        return EM_ERR_NOMEM;
    e->kind = EM_EXTRA_STRING;
    e->str = em_strdup(v);
    return v && !e->str ? EM_ERR_NOMEM : 0;
}

const struct em_report_extra *em_extras_get(const struct em_report_extras *x, const char *key)
{
    for (size_t i = 0; i < x->n; i++)
        if (strcmp(x->v[i].key, key) == 0)
            return &x->v[i];
    return NULL;
}

void em_extras_free(struct em_report_extras *x)
{
    for (size_t i = 0; i < x->n; i++) {
        free(x->v[i].key);
        free(x->v[i].str);
    }
    free(x->v);
    x->v = NULL;
    x->n = 0;
}

void em_extras_json(const struct em_report_extras *x, struct em_buf *b, const char *sep)
{
    for (size_t i = 0; i < x->n; i++) {
        const struct em_report_extra *e = &x->v[i];
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
