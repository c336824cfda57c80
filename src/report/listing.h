/*
 * What `energymeter list` shows: every source's probe, in order of
 * preference, and for each component (the fixed four, then extras as
 * channels name them) the source that measures it and its devices, or why
 * none does. Built from opened sources (listing.c); the probes are borrowed
 * from them and must outlive the listing. outputs/list.c formats it.
 */
#ifndef EM_REPORT_LISTING_H
#define EM_REPORT_LISTING_H

#include <stddef.h>

#include "core/source.h"

#define EM_LISTING_MAX_COMPONENTS 64

struct em_listing_component {
    const char *name;
    const char *source;   /* NULL: no source measures it */
    const char **devices; /* borrowed names, ndevices of them */
    size_t ndevices;
    char *reason; /* when no source measures it (malloc'd) */
};

struct em_listing {
    const char *sysfs_root; /* "" for the real root */
    const struct em_probe *probes;
    size_t nprobes;
    struct em_listing_component comps[EM_LISTING_MAX_COMPONENTS];
    size_t ncomps;
};

/* The listing of n opened sources (em_sources_open()). EM_ERR_NOMEM;
 * em_listing_free() whatever the result. */
EM_INTERNAL int em_listing_build(struct em_listing *l, const struct em_source *src,
                                 const struct em_probe *probes, size_t n, const char *sysfs_root);
EM_INTERNAL void em_listing_free(struct em_listing *l);

#endif
