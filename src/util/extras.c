/* Extra keys of components and devices: a small list of typed values (extras.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "extras.h"

static struct em_extra *slot(struct em_extras *x, const char *key)
{
    for (size_t i = 0; i < x->n; i++)
        if (strcmp(x->v[i].key, key) == 0) {
            free(x->v[i].str);
            x->v[i].str = NULL;
            return &x->v[i];
        }
    struct em_extra *v = realloc(x->v, (x->n + 1) * sizeof *v);
    if (!v)
        return NULL;
    x->v = v;
    struct em_extra *e = &v[x->n];
    *e = (struct em_extra){.key = em_strdup(key)};
    if (!e->key)
        return NULL;
    x->n++;
    return e;
}

int em_extras_set_number(struct em_extras *x, const char *key, double v)
{
    struct em_extra *e = slot(x, key);
    if (!e)
        return EM_ERR_NOMEM;
    e->kind = EM_EXTRA_NUMBER;
    e->num = v;
    return 0;
}

int em_extras_set_integer(struct em_extras *x, const char *key, double v)
{
    struct em_extra *e = slot(x, key);
    if (!e)
        return EM_ERR_NOMEM;
    e->kind = EM_EXTRA_INTEGER;
    e->num = v;
    return 0;
}

int em_extras_set_bool(struct em_extras *x, const char *key, int v)
{
    struct em_extra *e = slot(x, key);
    if (!e)
        return EM_ERR_NOMEM;
    e->kind = EM_EXTRA_BOOL;
    e->num = v ? 1 : 0;
    return 0;
}

int em_extras_set_string(struct em_extras *x, const char *key, const char *v)
{
    struct em_extra *e = slot(x, key);
    if (!e)
        return EM_ERR_NOMEM;
    e->kind = EM_EXTRA_STRING;
    e->str = em_strdup(v);
    return v && !e->str ? EM_ERR_NOMEM : 0;
}

const struct em_extra *em_extras_get(const struct em_extras *x, const char *key)
{
    for (size_t i = 0; i < x->n; i++)
        if (strcmp(x->v[i].key, key) == 0)
            return &x->v[i];
    return NULL;
}

double em_extras_number(const struct em_extras *x, const char *key)
{
    const struct em_extra *e = em_extras_get(x, key);
    return e && (e->kind == EM_EXTRA_NUMBER || e->kind == EM_EXTRA_INTEGER) ? e->num : NAN;
}

void em_extras_free(struct em_extras *x)
{
    for (size_t i = 0; i < x->n; i++) {
        free(x->v[i].key);
        free(x->v[i].str);
    }
    free(x->v);
    x->v = NULL;
    x->n = 0;
}
