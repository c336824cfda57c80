/*
 * The storage source's eBPF side, as the source sees it (ebpf.c): load and
 * attach the programs once, read the per-disk counters at a window's edges,
 * unload. The only part of the storage source that knows whether eBPF was
 * built in: without it, every call says why not.
 */
#ifndef EM_SOURCES_DISK_EBPF_H
#define EM_SOURCES_DISK_EBPF_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

/* Whole disks followed at once (EM_BLK_MAX_DEVS of blkio.h: ebpf.c checks). */
#define EM_EBPF_MAX_DEVS 64

/* One scope of one disk at one instant: its completed I/O, and its busy
 * time up to that instant (the open busy period included). */
struct em_ebpf_scope {
    uint64_t read_bytes, write_bytes;
    uint64_t reads, writes; /* requests completed */
    uint64_t busy_ns;
};

/* Every disk's counters at one instant, both scopes. */
struct em_ebpf_reading {
    struct {
        uint32_t dev; /* the kernel's dev_t: major << 20 | minor */
        struct em_ebpf_scope all, tree;
    } d[EM_EBPF_MAX_DEVS];
    size_t n;
    /* what could not be followed, since loading (disks over the limit,
     * requests and processes when their maps were full) */
    uint64_t dropped_devs, dropped_rqs, dropped_pids;
};

struct em_ebpf;

/* Why this build has no eBPF (static text), or NULL when it has. */
EM_INTERNAL const char *em_ebpf_unbuilt(void);

/*
 * Load and attach the programs, following the meter's process tree when
 * tree is set (else every process). NULL with *out set; else why not,
 * malloc'd (NULL with *out NULL only when out of memory).
 */
EM_INTERNAL char *em_ebpf_start(const struct em_config *cfg, int tree, struct em_ebpf **out);
/* The counters now. 0, EM_ERR_PERM or EM_ERR_IO. */
EM_INTERNAL int em_ebpf_read(struct em_ebpf *k, struct em_ebpf_reading *r);
/* Tree scope decided at issue, not at submission (no block_io_start). */
EM_INTERNAL int em_ebpf_tree_at_issue(const struct em_ebpf *k);
/* Tree scope without writeback credits (no writeback_dirty_* tracepoint). */
EM_INTERNAL int em_ebpf_no_dirty_credit(const struct em_ebpf *k);
EM_INTERNAL void em_ebpf_stop(struct em_ebpf *k);

#endif
