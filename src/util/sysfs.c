/*
 * Rooted file access. ENERGYMETER_SYSFS_ROOT moves every read of /sys, /proc
 * and /dev/cpu under a fake tree; sources never build paths by hand.
 */
#include "sysfs.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A writer rewriting a file in place can be caught between truncate and
 * write: an empty read is retried this many times before it counts. */
#define EM_TORN_READ_RETRIES 8

int em_sysfs_path(const char *root, char *out, size_t outsz, const char *abs_path)
{
    size_t rl = strlen(root);
    while (rl > 0 && root[rl - 1] == '/')
        rl--;
    int n = snprintf(out, outsz, "%.*s%s", (int)rl, root, abs_path);
    if (n < 0 || (size_t)n >= outsz)
        return EM_ERR_INVALID;
    return 0;
}

static int errno_to_em(int e)
{
    switch (e) {
    case ENOENT:
    case ENOTDIR:
    case ENODEV:
    case ENXIO:
        return EM_ERR_NOT_FOUND;
    case EACCES:
    case EPERM:
        return EM_ERR_PERM;
    case ENOMEM:
        return EM_ERR_NOMEM;
    default:
        return EM_ERR_IO;
    }
}

int em_read_text(const char *path, char *buf, size_t bufsz)
{
    if (bufsz < 2)
        return EM_ERR_INVALID;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno_to_em(errno);
    ssize_t n;
    do {
        n = read(fd, buf, bufsz - 1);
    } while (n < 0 && errno == EINTR);
    int err = n < 0 ? errno_to_em(errno) : 0;
    if (!err && (size_t)n == bufsz - 1) {
        /* Full buffer: a longer file is not a value we know how to read. */
        char extra;
        if (read(fd, &extra, 1) > 0)
            err = EM_ERR_FORMAT;
    }
    close(fd);
    if (err)
        return err;
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        n--;
    buf[n] = '\0';
    return n == 0 ? EM_ERR_FORMAT : 0;
}

int em_parse_u64(const char *s, uint64_t *out)
{
    while (*s == ' ' || *s == '\t')
        s++;
    if (!isdigit((unsigned char)*s))
        return EM_ERR_FORMAT;
    uint64_t v = 0;
    for (; isdigit((unsigned char)*s); s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return EM_ERR_FORMAT;
        v = v * 10 + d;
    }
    while (isspace((unsigned char)*s))
        s++;
    if (*s != '\0')
        return EM_ERR_FORMAT;
    *out = v;
    return 0;
}

int em_read_u64(const char *path, uint64_t *out)
{
    char buf[64];
    int err = 0;
    for (int i = 0; i < EM_TORN_READ_RETRIES; i++) {
        err = em_read_text(path, buf, sizeof buf);
        if (err == 0)
            err = em_parse_u64(buf, out);
        if (err != EM_ERR_FORMAT)
            return err;
        /* Empty or half-written: the writer is mid-update; let it finish. */
        sched_yield();
    }
    return err;
}
