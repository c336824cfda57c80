/*
 * The engine of a meter: its sources and their channels, the sampler
 * thread, the time series and the window in progress. The public handle
 * (api/meter.c) drives it: em_engine_new() does the slow work (probing and
 * opening every source, starting the sampler thread, which then sleeps);
 * em_engine_begin() and em_engine_end() only read each channel once, and
 * em_engine_end() hands over the window's readings.
 *
 * Errors are a negative EM_ERR_* (em_engine_new() also writes a message in
 * msg that names what failed); nothing is printed (warnings go to the
 * logger).
 */
#ifndef EM_CORE_ENGINE_H
#define EM_CORE_ENGINE_H

#include <stddef.h>

#include "config.h"
#include "reading.h"
#include "source.h"

struct em_engine;

/* Probe and open the sources of table (NULL-terminated, in order of
 * preference). cfg and log must outlive the engine. */
EM_INTERNAL int em_engine_new(const struct em_source_ops *const *table, const struct em_config *cfg,
                              const struct em_logger *log, struct em_engine **out, char *msg,
                              size_t msgsz);
EM_INTERNAL void em_engine_free(struct em_engine *e);

/*
 * Windows. owner: the meter's configuration (a shared engine serves several
 * meters; reports carry the owner's label). Each owner has at most one
 * begin()/end() window and any number of named windows (named.c), all
 * measured from the same counters, which run while any window is open.
 *
 * begin: EM_ERR_STATE when the owner's is running. end: its readings into
 * *out (initialised here; the caller frees them or builds the report from
 * them); EM_ERR_STATE when it has none running, EM_ERR_NOMEM.
 */
EM_INTERNAL int em_engine_begin(struct em_engine *e, const struct em_config *owner);
EM_INTERNAL int em_engine_end(struct em_engine *e, const struct em_config *owner,
                              struct em_readings *out);
/*
 * Named windows: any number open at once, nested or overlapping, ended in
 * any order from any thread. begin: EM_ERR_STATE when one of that name is
 * open for the owner. end and split (end, and begin again at the same
 * reading): the readings into *out; EM_ERR_NOT_FOUND when none of that name
 * is open. EM_ERR_NOMEM.
 */
EM_INTERNAL int em_engine_window_begin(struct em_engine *e, const struct em_config *owner,
                                       const char *name);
EM_INTERNAL int em_engine_window_end(struct em_engine *e, const struct em_config *owner,
                                     const char *name, int again, struct em_readings *out);
EM_INTERNAL int em_engine_window_cancel(struct em_engine *e, const struct em_config *owner,
                                        const char *name);
/* The owner's named windows open now. */
EM_INTERNAL size_t em_engine_window_count(struct em_engine *e, const struct em_config *owner);
/* Drop every window of the owner (a meter that goes while the engine stays). */
EM_INTERNAL void em_engine_forget(struct em_engine *e, const struct em_config *owner);

#endif
