/*
 * Every read of /sys, /proc and /dev/cpu/N/msr goes through here, so that
 * ENERGYMETER_SYSFS_ROOT (read once into the meter's configuration) can move
 * them all under a fake tree for tests.
 */
#ifndef EM_SYSFS_H
#define EM_SYSFS_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* root + abs_path into out (abs_path starts with '/'). root is the meter's
 * ENERGYMETER_SYSFS_ROOT (struct em_config's sysfs_root: "" for the real
 * root, no trailing '/'). EM_ERR_INVALID if too long. */
EM_INTERNAL int em_sysfs_path(const char *root, char *out, size_t outsz, const char *abs_path);

/*
 * Read a small file into buf (NUL-terminated, trailing whitespace removed).
 * Returns 0, EM_ERR_NOT_FOUND, EM_ERR_PERM, EM_ERR_IO or EM_ERR_FORMAT (empty).
 * path is a full path (already rooted).
 */
EM_INTERNAL int em_read_text(const char *path, char *buf, size_t bufsz);

/*
 * Parse an unsigned decimal integer that is the whole of s (leading/trailing
 * blanks allowed). EM_ERR_FORMAT when empty, not a number, negative or
 * larger than UINT64_MAX.
 */
EM_INTERNAL int em_parse_u64(const char *s, uint64_t *out);

/* em_read_text + em_parse_u64, retrying a torn (empty) read a few times. */
EM_INTERNAL int em_read_u64(const char *path, uint64_t *out);

#endif
