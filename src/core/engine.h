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

/* Start a window: EM_ERR_STATE when one is running. */
EM_INTERNAL int em_engine_begin(struct em_engine *e);
/* End it: the window's readings into *out (initialised here; the caller
 * frees them, or builds the report from them). EM_ERR_STATE when no window
 * is running, EM_ERR_NOMEM. */
EM_INTERNAL int em_engine_end(struct em_engine *e, struct em_readings *out);

/*
 * Named windows (named.c): any number open at once, nested or overlapping,
 * ended in any order from any thread, beside the begin()/end() window. They
 * are measured from the channels' counters, which keep running while any
 * window is open. begin: EM_ERR_STATE when one of that name is open. end
 * and split (end, and begin again at the same reading): the readings into
 * *out; EM_ERR_NOT_FOUND when none of that name is open. EM_ERR_NOMEM.
 */
EM_INTERNAL int em_engine_window_begin(struct em_engine *e, const char *name);
EM_INTERNAL int em_engine_window_end(struct em_engine *e, const char *name, int again,
                                     struct em_readings *out);
EM_INTERNAL int em_engine_window_cancel(struct em_engine *e, const char *name);
EM_INTERNAL size_t em_engine_window_count(struct em_engine *e);

#endif
