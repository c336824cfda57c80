/* The built-in sources in order of preference: adding a source is one line here. */
#include "sources.h"

const struct em_source_ops *const em_builtin_sources[] = {
    &em_src_rapl_perf, &em_src_rapl_powercap, &em_src_rapl_msr, &em_src_nvml,
    &em_src_hwmon,     &em_src_blkio,         &em_src_model,    NULL,
};
