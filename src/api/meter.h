/* The meter handle's internal entry points (meter.c). */
#ifndef EM_API_METER_H
#define EM_API_METER_H

#include "core/source.h"

/* em_meter_new() over the sources of table (NULL-terminated, in order of
 * preference) instead of the built-in ones: how the unit tests register a
 * source of their own (docs/ARCHITECTURE.md, "Adding a source"). */
EM_INTERNAL int em_meter_new_with(const em_options *opts, const struct em_source_ops *const *table,
                                  em_meter **out);

#endif
