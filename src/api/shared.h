/* The process's engines, shared by the meters with the same source
 * configuration (shared.c). */
#ifndef EM_API_SHARED_H
#define EM_API_SHARED_H

#include "core/engine.h"

struct em_shared;

/*
 * The engine for meters made with opts over table whose configuration is
 * cfg: the one a live meter of this process already uses when their
 * sources' options, environment and logger are the same, else a new one
 * (its own copy of the configuration and logger, so that it outlives the
 * meter that made it). msg says what failed.
 */
EM_INTERNAL int em_shared_get(const em_options *opts, const struct em_source_ops *const *table,
                              const struct em_config *cfg, const struct em_logger *log,
                              struct em_shared **out, char *msg, size_t msgsz);
EM_INTERNAL struct em_engine *em_shared_engine(const struct em_shared *sh);
/* A meter (owner) lets go: its windows are dropped, and the engine is freed
 * with the last meter. */
EM_INTERNAL void em_shared_put(struct em_shared *sh, const struct em_config *owner);

#endif
