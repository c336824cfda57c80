/*
 * NVML itself, loaded with dlopen (libnvidia-ml.so.1, or the meter's
 * ENERGYMETER_NVML_LIB): no link-time dependency and no NVIDIA header, so
 * energymeter builds and runs on machines without a GPU. Only nvmlInit_v2,
 * nvmlShutdown, nvmlErrorString, nvmlDeviceGetCount_v2,
 * nvmlDeviceGetHandleByIndex_v2, nvmlDeviceGetName and one of the two
 * readings are required; every other symbol is used when present.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "nvml.h"

#define DEFAULT_LIB "libnvidia-ml.so.1"

#define DRIVER_FIX                                                                                 \
    "install the NVIDIA driver (it provides libnvidia-ml.so.1), or set ENERGYMETER_NVML_LIB to "   \
    "the library's path"

/* dlsym into a function pointer (ISO C has no cast between the two). */
static int load_sym(void *dl, const char *name, void *dst, size_t size)
{
    void *p = dlsym(dl, name);
    memcpy(dst, &p, size);
    return p != NULL;
}
#define LOAD(api, field, name) load_sym((api)->dl, name, (void *)&(api)->field, sizeof(api)->field)

/* Load the library and its symbols; on failure a malloc'd reason (NULL with
 * *nomem set when out of memory). */
static char *load_api(struct em_nvml_api *api, const char *env, const char **fix, int *nomem)
{
    const char *lib = env && *env ? env : DEFAULT_LIB;
    char *why = NULL;
    *fix = NULL;
    dlerror();
    api->dl = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!api->dl) {
        const char *e = dlerror();
        *fix = DRIVER_FIX;
        why = env && *env ? em_asprintf("cannot load NVML from ENERGYMETER_NVML_LIB=%s: %s", lib,
                                        e ? e : "dlopen failed")
                          : em_strdup("no NVIDIA driver (" DEFAULT_LIB " not found)");
        goto out;
    }
    static const char *const required[] = {"nvmlInit_v2",
                                           "nvmlShutdown",
                                           "nvmlErrorString",
                                           "nvmlDeviceGetCount_v2",
                                           "nvmlDeviceGetHandleByIndex_v2",
                                           "nvmlDeviceGetName"};
    int got[6] = {
        LOAD(api, init, required[0]),         LOAD(api, shutdown, required[1]),
        LOAD(api, error_string, required[2]), LOAD(api, count, required[3]),
        LOAD(api, handle, required[4]),       LOAD(api, name, required[5]),
    };
    for (int i = 0; i < 6; i++)
        if (!got[i]) {
            *fix = "update the NVIDIA driver";
            why = em_asprintf("%s lacks %s (an NVML too old or not NVML at all)", lib, required[i]);
            goto out;
        }
    int readings = LOAD(api, energy, "nvmlDeviceGetTotalEnergyConsumption");
    readings |= LOAD(api, power, "nvmlDeviceGetPowerUsage");
    if (!readings) {
        *fix = "update the NVIDIA driver";
        why = em_asprintf("%s has neither nvmlDeviceGetTotalEnergyConsumption nor "
                          "nvmlDeviceGetPowerUsage",
                          lib);
        goto out;
    }
    LOAD(api, uuid, "nvmlDeviceGetUUID");
    LOAD(api, enforced_limit, "nvmlDeviceGetEnforcedPowerLimit");
    LOAD(api, limit, "nvmlDeviceGetPowerManagementLimit");
    if (!LOAD(api, procs_v2, "nvmlDeviceGetComputeRunningProcesses_v3"))
        LOAD(api, procs_v2, "nvmlDeviceGetComputeRunningProcesses_v2");
    LOAD(api, procs_v1, "nvmlDeviceGetComputeRunningProcesses");
    return NULL;

out:
    if (!why)
        *nomem = 1;
    if (api->dl)
        dlclose(api->dl);
    *api = (struct em_nvml_api){0};
    return why;
}

const char *em_nvml_error_string(const struct em_nvml_api *api, nvmlReturn_t r)
{
    const char *s = api->error_string ? api->error_string(r) : NULL;
    return s ? s : "unknown NVML error";
}

int em_nvml_library_open(struct em_nvml_api *api, const char *path, unsigned *count, char **why,
                         const char **fix)
{
    int nomem = 0;
    *why = load_api(api, path, fix, &nomem);
    if (nomem)
        return EM_ERR_NOMEM;
    if (*why)
        return EM_ERR_NOT_FOUND;
    nvmlReturn_t r = api->init();
    if (r != NVML_SUCCESS) {
        *why = em_asprintf("NVML could not start: %s (nvmlInit_v2 returned %d)",
                           em_nvml_error_string(api, r), r);
        *fix = "check that the NVIDIA kernel module is loaded and that nvidia-smi works";
        dlclose(api->dl);
        *api = (struct em_nvml_api){0};
        return *why ? EM_ERR_IO : EM_ERR_NOMEM;
    }
    *count = 0;
    r = api->count(count);
    if (r != NVML_SUCCESS || *count == 0) {
        /* Started: em_nvml_library_close() shuts it down. */
        *why = r != NVML_SUCCESS
                   ? em_asprintf("nvmlDeviceGetCount_v2: %s", em_nvml_error_string(api, r))
                   : em_strdup("NVML sees no GPU");
        *fix = NULL;
        return *why ? EM_ERR_NOT_FOUND : EM_ERR_NOMEM;
    }
    return 0;
}

void em_nvml_library_close(struct em_nvml_api *api)
{
    if (api->dl) {
        api->shutdown();
        dlclose(api->dl);
    }
    *api = (struct em_nvml_api){0};
}
