/*
 * The built-in sources (one file, or one folder, each under src/sources/) and
 * their table, in order of preference (table.c).
 */
#ifndef EM_SOURCES_SOURCES_H
#define EM_SOURCES_SOURCES_H

#include "core/source.h"

EM_INTERNAL extern const struct em_source_ops em_src_rapl_perf;
EM_INTERNAL extern const struct em_source_ops em_src_rapl_powercap;
EM_INTERNAL extern const struct em_source_ops em_src_rapl_msr;
EM_INTERNAL extern const struct em_source_ops em_src_nvml;
EM_INTERNAL extern const struct em_source_ops em_src_hwmon;
EM_INTERNAL extern const struct em_source_ops em_src_blkio;
EM_INTERNAL extern const struct em_source_ops em_src_model;

/* Every built-in source, in order of preference, NULL-terminated: for each
 * component, the first source with a working channel measures it
 * (em_sources_resolve()); the model only fills components no sensor
 * measures. */
EM_INTERNAL extern const struct em_source_ops *const em_builtin_sources[];

#endif
