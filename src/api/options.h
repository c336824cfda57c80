/* A meter's configuration from its options and the environment (options.c). */
#ifndef EM_API_OPTIONS_H
#define EM_API_OPTIONS_H

#include <stddef.h>

#include "core/config.h"

/*
 * Check opts (NULL: the defaults) and copy them into cfg with the
 * environment. EM_ERR_INVALID with a message naming the option, or
 * EM_ERR_NOMEM. cfg is zeroed first and must be freed with em_config_free()
 * whatever the result.
 */
EM_INTERNAL int em_config_init(struct em_config *cfg, const em_options *opts, char *msg,
                               size_t msgsz);
EM_INTERNAL void em_config_free(struct em_config *cfg);

#endif
