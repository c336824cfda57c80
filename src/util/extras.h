/*
 * Extra keys of a component or device: what a source knows beyond joules
 * (bytes read and written, busy time, the model used, a GPU's UUID), as a
 * small list of typed values. The JSON schema allows keys to be added; these
 * never change the meaning of the fixed ones.
 */
#ifndef EM_UTIL_EXTRAS_H
#define EM_UTIL_EXTRAS_H

#include <stddef.h>

#include "util.h"

enum em_extra_kind {
    EM_EXTRA_NUMBER = 0,
    EM_EXTRA_INTEGER = 1,
    EM_EXTRA_STRING = 2,
    EM_EXTRA_BOOL = 3,
};

struct em_extra {
    char *key;
    enum em_extra_kind kind;
    double num;
    char *str;
};

struct em_extras {
    struct em_extra *v;
    size_t n;
};

/* Set (or replace) an extra key; strings are copied. EM_ERR_NOMEM. */
EM_INTERNAL int em_extras_set_number(struct em_extras *x, const char *key, double v);
EM_INTERNAL int em_extras_set_integer(struct em_extras *x, const char *key, double v);
EM_INTERNAL int em_extras_set_bool(struct em_extras *x, const char *key, int v);
EM_INTERNAL int em_extras_set_string(struct em_extras *x, const char *key, const char *v);
/* The entry for key, or NULL. */
EM_INTERNAL const struct em_extra *em_extras_get(const struct em_extras *x, const char *key);
/* A number (NUMBER or INTEGER) for key, or NaN when absent or not a number. */
EM_INTERNAL double em_extras_number(const struct em_extras *x, const char *key);
EM_INTERNAL void em_extras_free(struct em_extras *x);

#endif
