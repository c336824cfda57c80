/*
 * Fake sysfs trees for unit tests (header-only).
 *
 * A tree lives in a fresh mkdtemp() directory that ENERGYMETER_SYSFS_ROOT
 * points at. It mirrors the real powercap layout, symbolic links included:
 *
 *   ROOT/sys/class/powercap/intel-rapl     -> ../../devices/virtual/powercap/intel-rapl
 *   ROOT/sys/class/powercap/intel-rapl:0   ->
 * ../../devices/virtual/powercap/intel-rapl/intel-rapl:0 ROOT/sys/class/powercap/intel-rapl:0:2 ->
 * ../../devices/virtual/powercap/intel-rapl/ intel-rapl:0/intel-rapl:0:2
 *
 * Subzones live inside their parent's directory. "intel-rapl" (the control
 * type, no energy_uj) is linked too, as on a real machine, so that sources
 * learn to ignore it. Include after <cmocka.h>.
 */
#ifndef EM_TEST_FAKEFS_H
#define EM_TEST_FAKEFS_H

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/options.h"

#define FAKEFS_PATH_MAX 1024
#define FAKEFS_CLASS "sys/class/powercap"
#define FAKEFS_DEVICES "sys/devices/virtual/powercap"

struct fakefs {
    char root[256];
};

/* snprintf that fails the test rather than truncate. */
static inline void fakefs_fmt(char *out, size_t outsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void fakefs_fmt(char *out, size_t outsz, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, outsz, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < outsz);
}

/* root + "/" + rel into out. Fails the test when it does not fit. */
static inline void fakefs_path(const struct fakefs *f, char *out, size_t outsz, const char *rel)
{
    int n = snprintf(out, outsz, "%s/%s", f->root, rel);
    assert_true(n > 0 && (size_t)n < outsz);
}

/* mkdir -p of an absolute path. */
static inline void fakefs_mkdir_p_abs(const char *path)
{
    char tmp[FAKEFS_PATH_MAX];
    size_t len = strlen(path);
    assert_true(len < sizeof tmp);
    memcpy(tmp, path, len + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0)
            assert_int_equal(errno, EEXIST);
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0)
        assert_int_equal(errno, EEXIST);
}

/* mkdir -p of a path relative to the tree root. */
static inline void fakefs_mkdir_p(const struct fakefs *f, const char *rel)
{
    char p[FAKEFS_PATH_MAX];
    fakefs_path(f, p, sizeof p, rel);
    fakefs_mkdir_p_abs(p);
}

/* Write (create or truncate) a file at an absolute path. */
static inline void fakefs_write_abs(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

/* Write a file relative to the tree root (its directory must exist). */
static inline void fakefs_write(const struct fakefs *f, const char *rel, const char *text)
{
    char p[FAKEFS_PATH_MAX];
    fakefs_path(f, p, sizeof p, rel);
    fakefs_write_abs(p, text);
}

/* A file of size bytes, all the character c, relative to the root. */
static inline void fakefs_write_fill(const struct fakefs *f, const char *rel, char c, size_t size)
{
    char *buf = malloc(size + 1);
    assert_non_null(buf);
    memset(buf, c, size);
    buf[size] = '\0';
    fakefs_write(f, rel, buf);
    free(buf);
}

/* Remove a file relative to the root. */
static inline void fakefs_unlink(const struct fakefs *f, const char *rel)
{
    char p[FAKEFS_PATH_MAX];
    fakefs_path(f, p, sizeof p, rel);
    assert_int_equal(unlink(p), 0);
}

/* A symbolic link at rel (relative to the root) holding target verbatim. */
static inline void fakefs_symlink(const struct fakefs *f, const char *target, const char *rel)
{
    char p[FAKEFS_PATH_MAX];
    fakefs_path(f, p, sizeof p, rel);
    assert_int_equal(symlink(target, p), 0);
}

/* A new empty tree in a temporary directory; ENERGYMETER_SYSFS_ROOT points at it. */
static inline void fakefs_init(struct fakefs *f)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    int n = snprintf(f->root, sizeof f->root, "%s/emtest.XXXXXX", tmp);
    assert_true(n > 0 && (size_t)n < sizeof f->root);
    assert_non_null(mkdtemp(f->root));
    assert_int_equal(setenv("ENERGYMETER_SYSFS_ROOT", f->root, 1), 0);
}

static inline int fakefs_rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* A meter's configuration as sources see it: the default options and the
 * environment read now (ENERGYMETER_SYSFS_ROOT: the tree, once fakefs_init()
 * ran). Free it with em_config_free(). */
static inline void fakefs_config(struct em_config *cfg)
{
    char msg[256];
    assert_int_equal(em_config_init(cfg, NULL, msg, sizeof msg), 0);
}

/* rm -rf the tree (links are removed, never followed) and unset the root. */
static inline void fakefs_cleanup(struct fakefs *f)
{
    if (f->root[0])
        assert_int_equal(nftw(f->root, fakefs_rm_cb, 16, FTW_DEPTH | FTW_PHYS), 0);
    f->root[0] = '\0';
    unsetenv("ENERGYMETER_SYSFS_ROOT");
}

/* The powercap class directory, empty (a machine with the class but no
 * RAPL driver). */
static inline void fakefs_powercap_class(const struct fakefs *f)
{
    fakefs_mkdir_p(f, FAKEFS_CLASS);
}

/*
 * Directory of a zone relative to the root: for "intel-rapl:0:2",
 * sys/devices/virtual/powercap/intel-rapl/intel-rapl:0/intel-rapl:0:2.
 * Works for "intel-rapl-mmio:N" as well (control type intel-rapl-mmio).
 */
static inline void fakefs_zone_dir(const char *id, char *out, size_t outsz)
{
    const char *colon = strchr(id, ':');
    assert_non_null(colon);
    int n = snprintf(out, outsz, "%s/%.*s", FAKEFS_DEVICES, (int)(colon - id), id);
    assert_true(n > 0 && (size_t)n < outsz);
    for (const char *p = colon; p;) {
        const char *next = strchr(p + 1, ':');
        size_t len = next ? (size_t)(next - id) : strlen(id);
        size_t used = strlen(out);
        n = snprintf(out + used, outsz - used, "/%.*s", (int)len, id);
        assert_true(n > 0 && (size_t)n < outsz - used);
        p = next;
    }
}

/* Path of a file in a zone's directory, relative to the root. */
static inline void fakefs_zone_file(const char *id, const char *file, char *out, size_t outsz)
{
    char dir[FAKEFS_PATH_MAX];
    fakefs_zone_dir(id, dir, sizeof dir);
    int n = snprintf(out, outsz, "%s/%s", dir, file);
    assert_true(n > 0 && (size_t)n < outsz);
}

/* Write one file of a zone (the zone must exist). */
static inline void fakefs_zone_write(const struct fakefs *f, const char *id, const char *file,
                                     const char *text)
{
    char rel[FAKEFS_PATH_MAX];
    fakefs_zone_file(id, file, rel, sizeof rel);
    fakefs_write(f, rel, text);
}

/* Absolute path of a zone's file (for reading or rewriting it). */
static inline void fakefs_zone_abs(const struct fakefs *f, const char *id, const char *file,
                                   char *out, size_t outsz)
{
    char rel[FAKEFS_PATH_MAX];
    fakefs_zone_file(id, file, rel, sizeof rel);
    fakefs_path(f, out, outsz, rel);
}

/*
 * A zone with the files a real one has. range_text is written verbatim to
 * max_energy_range_uj (so tests can make it malformed); max_power_uw 0 means
 * no constraint_0_max_power_uw file. The control type directory and its
 * class link are created with the first zone of that type.
 */
static inline void fakefs_zone_raw(const struct fakefs *f, const char *id, const char *name,
                                   const char *range_text, uint64_t max_power_uw,
                                   uint64_t energy_uj)
{
    char dir[FAKEFS_PATH_MAX], rel[FAKEFS_PATH_MAX], target[FAKEFS_PATH_MAX], text[64];
    const char *colon = strchr(id, ':');
    assert_non_null(colon);

    /* The control type: devices/.../intel-rapl and its class link. */
    fakefs_powercap_class(f);
    fakefs_fmt(rel, sizeof rel, "%s/%.*s", FAKEFS_CLASS, (int)(colon - id), id);
    char abs[FAKEFS_PATH_MAX];
    struct stat st;
    fakefs_path(f, abs, sizeof abs, rel);
    if (lstat(abs, &st) != 0) {
        fakefs_fmt(dir, sizeof dir, "%s/%.*s", FAKEFS_DEVICES, (int)(colon - id), id);
        fakefs_mkdir_p(f, dir);
        fakefs_fmt(target, sizeof target, "%s/enabled", dir);
        fakefs_write(f, target, "1\n");
        fakefs_fmt(target, sizeof target, "../../devices/virtual/powercap/%.*s", (int)(colon - id),
                   id);
        fakefs_symlink(f, target, rel);
    }

    fakefs_zone_dir(id, dir, sizeof dir);
    fakefs_mkdir_p(f, dir);
    fakefs_fmt(text, sizeof text, "%s\n", name);
    fakefs_zone_write(f, id, "name", text);
    fakefs_zone_write(f, id, "max_energy_range_uj", range_text);
    fakefs_zone_write(f, id, "enabled", "1\n");
    fakefs_zone_write(f, id, "uevent", "");
    fakefs_fmt(text, sizeof text, "%llu\n", (unsigned long long)energy_uj);
    fakefs_zone_write(f, id, "energy_uj", text);
    fakefs_zone_write(f, id, "constraint_0_name", "long_term\n");
    fakefs_zone_write(f, id, "constraint_0_power_limit_uw", "15000000\n");
    fakefs_zone_write(f, id, "constraint_0_time_window_us", "999424\n");
    if (max_power_uw) {
        fakefs_fmt(text, sizeof text, "%llu\n", (unsigned long long)max_power_uw);
        fakefs_zone_write(f, id, "constraint_0_max_power_uw", text);
    }

    /* sys/class/powercap/ID -> ../../devices/virtual/powercap/... */
    assert_true(strncmp(dir, "sys/", 4) == 0);
    fakefs_fmt(target, sizeof target, "../../%s", dir + 4);
    fakefs_fmt(rel, sizeof rel, "%s/%s", FAKEFS_CLASS, id);
    fakefs_symlink(f, target, rel);
}

/* A well-formed zone: max_energy_range_uj = range_uj. */
static inline void fakefs_zone(const struct fakefs *f, const char *id, const char *name,
                               uint64_t range_uj, uint64_t max_power_uw, uint64_t energy_uj)
{
    char text[32];
    fakefs_fmt(text, sizeof text, "%llu\n", (unsigned long long)range_uj);
    fakefs_zone_raw(f, id, name, text, max_power_uw, energy_uj);
}

#endif
