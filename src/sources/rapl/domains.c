/*
 * The RAPL domains (rapl.h). Sources: Intel SDM vol. 4 (MSR_PKG_ENERGY_STATUS
 * 0x611, MSR_DRAM_ENERGY_STATUS 0x619, MSR_PP0/PP1_ENERGY_STATUS 0x639/0x641,
 * MSR_PLATFORM_ENERGY_COUNTER 0x64d), AMD PPR for family 17h and later
 * (Core::X86::Msr::PKG_ENERGY_STAT 0xc001029b, CORE_ENERGY_STAT 0xc001029a),
 * the kernel's perf RAPL events (energy-pkg, -ram, -cores, -gpu, -psys) and
 * powercap zone names (package-N, dram, core, uncore, psys).
 */
#include <stdio.h>
#include <string.h>

#include "rapl.h"

const struct em_rapl_domain em_rapl_domains[] = {
    {"cpu", 1, 0, "energy-pkg", "package-", 0x611, "package", 0xc001029b, "package", 0},
    {"dram", 1, 0, "energy-ram", "dram", 0x619, "dram", 0, NULL, 0},
    {"cpu-core", 0, 0, "energy-cores", "core", 0x639, "pp0", 0xc001029a, "core", 1},
    {"cpu-uncore", 0, 0, "energy-gpu", "uncore", 0x641, "pp1", 0, NULL, 0},
    {"psys", 0, 1, "energy-psys", "psys", 0x64d, "platform", 0, NULL, 0},
};

const size_t em_rapl_ndomains = sizeof em_rapl_domains / sizeof em_rapl_domains[0];

const struct em_rapl_domain *em_rapl_powercap_domain(const char *name, int top)
{
    for (size_t i = 0; i < em_rapl_ndomains; i++) {
        const char *pc = em_rapl_domains[i].powercap;
        size_t n = strlen(pc);
        int prefix = n > 0 && pc[n - 1] == '-';
        if (prefix ? top && strncmp(name, pc, n) == 0 : strcmp(name, pc) == 0)
            return &em_rapl_domains[i];
    }
    return NULL;
}

void em_rapl_device(const struct em_rapl_domain *d, int pkg, char *out, size_t outsz)
{
    snprintf(out, outsz, d->platform ? "platform-%d" : "package-%d", pkg);
}
