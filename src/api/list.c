/*
 * em_list_sources(): every built-in source probed as a listing (every
 * method, whatever a meter's options would pick), the listing built from
 * the probes, and written as text or JSON. What `energymeter list` prints.
 */
#include "options.h"
#include "core/source.h"
#include "outputs/outputs.h"
#include "report/listing.h"
#include "sources/sources.h"

int em_list_sources(em_format format, char **out)
{
    if (!out || (format != EM_FORMAT_TEXT && format != EM_FORMAT_JSON))
        return EM_ERR_INVALID;
    *out = NULL;
    struct em_config cfg;
    struct em_source *src = NULL;
    struct em_probe *probes = NULL;
    struct em_listing l = {0};
    size_t n = 0;
    char msg[256];
    int err = em_config_init(&cfg, NULL, msg, sizeof msg);
    cfg.listing = 1;
    if (!err)
        err = em_sources_open(em_builtin_sources, &cfg, &src, &probes, &n, msg, sizeof msg);
    if (!err)
        err = em_listing_build(&l, src, probes, n, cfg.sysfs_root);
    if (!err)
        err = em_listing_to_string(&l, format, out);
    em_listing_free(&l);
    em_sources_close(src, probes, n);
    em_config_free(&cfg);
    return err;
}
