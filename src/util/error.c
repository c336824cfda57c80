/* Version and error strings. */
#include "util.h"

const char *em_version(void)
{
    return EM_VERSION_STRING;
}

const char *em_strerror(int err)
{
    switch (err) {
    case EM_OK:
        return "success";
    case EM_ERR_INVALID:
        return "invalid argument";
    case EM_ERR_NOMEM:
        return "out of memory";
    case EM_ERR_STATE:
        return "call out of order (em_begin() and em_end() must alternate)";
    case EM_ERR_IO:
        return "input/output error reading a sensor";
    case EM_ERR_PERM:
        return "permission denied";
    case EM_ERR_NOT_FOUND:
        return "no such sensor, file or device";
    case EM_ERR_UNSUPPORTED:
        return "not supported on this machine or build";
    case EM_ERR_THREAD:
        return "cannot start the sampler thread";
    case EM_ERR_FORMAT:
        return "malformed sensor data";
    default:
        return "unknown error";
    }
}
