/*
 * Storage internals shared by the blkio source (blkio.c), its fallbacks
 * (diskstats.c) and the disk energy model (disk_model.c). The eBPF loader's
 * snapshots are in ebpf.h.
 *
 * Storage is not a joule counter: each way of measuring gives cumulative
 * per-disk counters (bytes, requests, busy time), the meter's begin and end
 * hooks snapshot them, and the model turns the difference into joules.
 */
#ifndef EM_DISK_H
#define EM_DISK_H

#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

#define EM_DISK_NAME_MAX 32

/* Cumulative counters of one whole disk (or, for /proc/self/io, of the
 * process tree on all disks together, as one pseudo-device). */
struct em_disk_stat {
    char name[EM_DISK_NAME_MAX];
    uint32_t dev; /* kernel dev_t (major << 20 | minor); 0 when unknown */
    uint64_t read_bytes, write_bytes;
    uint64_t reads, writes; /* requests; 0 when unknown */
    double busy_s;          /* NaN when the method has no busy time */
};

struct em_disk_set {
    struct em_disk_stat *v;
    size_t n, cap;
};

EM_INTERNAL struct em_disk_stat *em_disk_set_add(struct em_disk_set *s, const char *name,
                                                 uint32_t dev);
EM_INTERNAL struct em_disk_stat *em_disk_set_find(const struct em_disk_set *s, const char *name);
EM_INTERNAL void em_disk_set_free(struct em_disk_set *s);

/* What /sys/block says about a whole disk. */
struct em_disk_info {
    char name[EM_DISK_NAME_MAX];
    uint32_t dev;
    int stacked; /* built on other block devices (dm, md: /sys/block/X/slaves/ not empty) */
    int virt;    /* not hardware (under /sys/devices/virtual: loop, zram, nbd...): its I/O
                    lands on another disk, in RAM or on the network */
};

struct em_disk_list {
    struct em_disk_info *v;
    size_t n;
};

/* Whole disks from ROOT/sys/block (partitions are not there: they are folded
 * into their disk). root: the meter's ENERGYMETER_SYSFS_ROOT ("" for /).
 * 0, EM_ERR_NOT_FOUND (no such directory), EM_ERR_NOMEM. */
EM_INTERNAL int em_disk_list_read(const char *root, struct em_disk_list *l);
EM_INTERNAL const struct em_disk_info *em_disk_list_find(const struct em_disk_list *l,
                                                         const char *name);
EM_INTERNAL const struct em_disk_info *em_disk_list_find_dev(const struct em_disk_list *l,
                                                             uint32_t dev);
EM_INTERNAL void em_disk_list_free(struct em_disk_list *l);

/* Parse /proc/diskstats text: whole, non-stacked disks of l only (a
 * partition's I/O is already counted in its disk's line; a dm or md device's
 * I/O is counted again on the disks below it). Busy time is io_ticks.
 * 0, EM_ERR_FORMAT, EM_ERR_NOMEM. */
EM_INTERNAL int em_diskstats_parse(const char *text, const struct em_disk_list *l,
                                   struct em_disk_set *out);
/* Read ROOT/proc/diskstats with the disks of ROOT/sys/block. */
EM_INTERNAL int em_diskstats_read(const char *root, struct em_disk_set *out);

/* The bytes this process and its reaped descendants made the block layer
 * read and write (ROOT/proc/self/io: read_bytes, write_bytes minus
 * cancelled_write_bytes), as one pseudo-device "tree". */
EM_INTERNAL int em_procio_parse(const char *text, struct em_disk_stat *out);
EM_INTERNAL int em_procio_read(const char *root, struct em_disk_stat *out);

/* --------------------------------------------------------------- model */

#define EM_DISK_DEFAULT_ACTIVE_W 6.0
#define EM_DISK_DEFAULT_IDLE_W 1.42
/* The bytes/speed model's speed when a fallback has no busy time and the
 * user gave none: the figure of the original tool's documentation. */
#define EM_DISK_DEFAULT_SPEED 1600e6

/* One device's activity in a window, as the model sees it. */
struct em_disk_delta {
    char name[EM_DISK_NAME_MAX];
    int virt;
    uint64_t read_bytes, write_bytes, reads, writes;
    double busy_s;     /* NaN: not measured */
    double busy_err_s; /* how far busy_s may be off (counter resolution) */
    int pseudo;        /* not a real disk (the tree total of /proc/self/io) */
};

struct em_config;
struct em_reading;
struct em_readings;

/* Fill the disk component (status estimated) from the per-device deltas of
 * the window. source: "ebpf-block", "diskstats", "proc-io"; measures_busy:
 * whether it measures busy time (busy_s is then reported even when 0). */
EM_INTERNAL int em_disk_model_fill(struct em_reading *c, struct em_readings *w,
                                   const struct em_config *cfg, const char *source,
                                   int measures_busy, const struct em_disk_delta *d, size_t n);

/* Look up DEV in a "DEV:ACTIVE:IDLE[,...]" list ("/dev/" prefix allowed).
 * 1 and the powers when found, 0 when not. */
EM_INTERNAL int em_disk_power_lookup(const char *list, const char *dev, double *active,
                                     double *idle);

#endif
