/*
 * The storage fallbacks, used when eBPF cannot be (no privileges, no BTF, a
 * build without it, --no-bpf or ENERGYMETER_NO_BPF=1):
 *
 * - system scope: /proc/diskstats, whole disks only. A partition's I/O is
 *   also counted in its disk's line, so partition lines are skipped (folded);
 *   a dm or md device's I/O is counted again on the disks below it, so disks
 *   with slaves are skipped too. Busy time is io_ticks (milliseconds, updated
 *   at jiffy granularity: a few milliseconds of error per reading).
 * - tree scope: /proc/self/io. The kernel adds a reaped child's I/O counters
 *   to its parent's when it waits for it, so this process's file covers the
 *   process and every descendant that has exited and been waited for. It
 *   counts reads when they are submitted and writes when pages are dirtied
 *   (cancelled_write_bytes: dirty pages truncated before writeback), without
 *   devices and without busy time.
 *
 * Every path is read under ENERGYMETER_SYSFS_ROOT.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "disk.h"
#include "util/sysfs.h"

/* /proc/diskstats is one short line per block device: this is plenty even
 * with hundreds of loop devices. */
#define DISKSTATS_MAX (1u << 20)

struct em_disk_stat *em_disk_set_add(struct em_disk_set *s, const char *name, uint32_t dev)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        struct em_disk_stat *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return NULL;
        s->v = v;
        s->cap = cap;
    }
    struct em_disk_stat *d = &s->v[s->n++];
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", name);
    d->dev = dev;
    d->busy_s = NAN;
    return d;
}

struct em_disk_stat *em_disk_set_find(const struct em_disk_set *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i].name, name) == 0)
            return &s->v[i];
    return NULL;
}

void em_disk_set_free(struct em_disk_set *s)
{
    free(s->v);
    *s = (struct em_disk_set){0};
}

/* ------------------------------------------------------------ /sys/block */

static int has_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d)))
        found = e->d_name[0] != '.';
    closedir(d);
    return found;
}

static void read_disk_info(const char *block_dir, struct em_disk_info *di)
{
    /* Room for the directory, the name and a suffix. */
    char path[PATH_MAX + EM_DISK_NAME_MAX + 16], target[PATH_MAX], buf[64];
    snprintf(path, sizeof path, "%s/%s", block_dir, di->name);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n > 0) {
        target[n] = '\0';
        di->virt = strstr(target, "/virtual/") != NULL;
    }
    snprintf(path, sizeof path, "%s/%s/dev", block_dir, di->name);
    unsigned major, minor;
    char end;
    if (em_read_text(path, buf, sizeof buf) == 0 &&
        sscanf(buf, "%u:%u%c", &major, &minor, &end) == 2)
        di->dev = major << 20 | minor;
    snprintf(path, sizeof path, "%s/%s/slaves", block_dir, di->name);
    di->stacked = has_entries(path);
}

int em_disk_list_read(const char *root, struct em_disk_list *l)
{
    *l = (struct em_disk_list){0};
    char dir[PATH_MAX];
    if (em_sysfs_path(root, dir, sizeof dir, "/sys/block"))
        return EM_ERR_INVALID;
    DIR *d = opendir(dir);
    if (!d)
        return errno == EACCES ? EM_ERR_PERM : EM_ERR_NOT_FOUND;
    int err = 0;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len >= EM_DISK_NAME_MAX)
            continue;
        if (l->n == cap) {
            cap = cap ? cap * 2 : 16;
            struct em_disk_info *v = realloc(l->v, cap * sizeof *v);
            if (!v) {
                err = EM_ERR_NOMEM;
                break;
            }
            l->v = v;
        }
        struct em_disk_info *di = &l->v[l->n++];
        memset(di, 0, sizeof *di);
        memcpy(di->name, e->d_name, len + 1);
        read_disk_info(dir, di);
    }
    closedir(d);
    if (err)
        em_disk_list_free(l);
    return err;
}

const struct em_disk_info *em_disk_list_find(const struct em_disk_list *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].name, name) == 0)
            return &l->v[i];
    return NULL;
}

const struct em_disk_info *em_disk_list_find_dev(const struct em_disk_list *l, uint32_t dev)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].dev == dev)
            return &l->v[i];
    return NULL;
}

void em_disk_list_free(struct em_disk_list *l)
{
    free(l->v);
    *l = (struct em_disk_list){0};
}

/* ------------------------------------------------------- /proc/diskstats */

int em_diskstats_parse(const char *text, const struct em_disk_list *l, struct em_disk_set *out)
{
    const char *line = text;
    while (line && *line) {
        const char *start = line, *nl = strchr(line, '\n');
        char buf[512];
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        line = nl ? nl + 1 : NULL;
        if (len == 0)
            continue;
        if (len >= sizeof buf)
            return EM_ERR_FORMAT;
        memcpy(buf, start, len);
        buf[len] = '\0';
        unsigned major, minor;
        char name[64];
        /* reads, merged, sectors read, ms reading, writes, merged, sectors
         * written, ms writing, in flight, io_ticks (ms busy), ... */
        unsigned long long f[10];
        int n = sscanf(buf, " %u %u %63s %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &major,
                       &minor, name, &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7], &f[8],
                       &f[9]);
        if (n != 13)
            return EM_ERR_FORMAT;
        const struct em_disk_info *di = em_disk_list_find(l, name);
        if (!di || di->stacked)
            continue;
        struct em_disk_stat *d = em_disk_set_add(out, name, major << 20 | minor);
        if (!d)
            return EM_ERR_NOMEM;
        d->reads = f[0];
        d->read_bytes = f[2] * 512; /* diskstats sectors are always 512 bytes */
        d->writes = f[4];
        d->write_bytes = f[6] * 512;
        d->busy_s = f[9] / 1000.0;
    }
    return 0;
}

/* Read a whole (possibly long) file into a malloc'd string. */
static int read_file(const char *path, char **out)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == EACCES || errno == EPERM ? EM_ERR_PERM
               : errno == ENOENT                 ? EM_ERR_NOT_FOUND
                                                 : EM_ERR_IO;
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap);
    int err = buf ? 0 : EM_ERR_NOMEM;
    while (!err) {
        if (len + 1 >= cap) {
            if (cap >= DISKSTATS_MAX) {
                err = EM_ERR_FORMAT;
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                err = EM_ERR_NOMEM;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            err = EM_ERR_IO;
        else if (n == 0)
            break;
        else
            len += (size_t)n;
    }
    close(fd);
    if (err) {
        free(buf);
        return err;
    }
    buf[len] = '\0';
    *out = buf;
    return 0;
}

int em_diskstats_read(const char *root, struct em_disk_set *out)
{
    struct em_disk_list l;
    int err = em_disk_list_read(root, &l);
    if (err)
        return err;
    char path[PATH_MAX];
    char *text = NULL;
    err = em_sysfs_path(root, path, sizeof path, "/proc/diskstats");
    if (!err)
        err = read_file(path, &text);
    if (!err)
        err = em_diskstats_parse(text, &l, out);
    free(text);
    em_disk_list_free(&l);
    return err;
}

/* ---------------------------------------------------------- /proc/self/io */

int em_procio_parse(const char *text, struct em_disk_stat *out)
{
    uint64_t rb = 0, wb = 0, cancelled = 0;
    int seen = 0;
    for (const char *p = text; p && *p;) {
        char key[32];
        uint64_t v;
        if (sscanf(p, "%31[^:]: %" SCNu64, key, &v) == 2) {
            if (strcmp(key, "read_bytes") == 0) {
                rb = v;
                seen |= 1;
            } else if (strcmp(key, "write_bytes") == 0) {
                wb = v;
                seen |= 2;
            } else if (strcmp(key, "cancelled_write_bytes") == 0) {
                cancelled = v;
            }
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    /* Without CONFIG_TASK_IO_ACCOUNTING the file lacks these lines. */
    if (seen != 3)
        return EM_ERR_FORMAT;
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "tree");
    out->read_bytes = rb;
    out->write_bytes = wb > cancelled ? wb - cancelled : 0;
    out->busy_s = NAN;
    return 0;
}

int em_procio_read(const char *root, struct em_disk_stat *out)
{
    char path[PATH_MAX];
    char *text = NULL;
    int err = em_sysfs_path(root, path, sizeof path, "/proc/self/io");
    if (!err)
        err = read_file(path, &text);
    if (!err)
        err = em_procio_parse(text, out);
    free(text);
    return err;
}
