/*
 * What the eBPF side (bpf/blkio.bpf.c) and its loader in user space
 * (ebpf.c) share: the layout of the per-disk accounting map. Plain
 * fixed-size types only, because the BPF side sees the kernel's types
 * (vmlinux.h) and user space sees <linux/bpf.h>. The source (blkio.c) never
 * sees them: the loader hands it the plain snapshots of ebpf.h.
 */
#ifndef EM_BLKIO_H
#define EM_BLKIO_H

/* Whole disks tracked at once; requests to more disks are counted in
 * em_blk_dropped_devs and reported as a warning. */
#define EM_BLK_MAX_DEVS 64

/* Requests remembered at once: a direct-mapped table of 2^EM_BLK_RQ_SLOT_BITS
 * slots first, then a hash map of EM_BLK_MAX_RQS (far above any queue depth). */
#define EM_BLK_RQ_SLOT_BITS 12
#define EM_BLK_MAX_RQS 16384

/* One scope's busy time of one disk, kept as the sum of the closed busy
 * periods plus the start of the open one (when inflight > 0), so that a
 * reader can compute the busy time at any instant. */
struct em_blk_busy {
    __u64 busy_ns;
    __u64 busy_since; /* CLOCK_MONOTONIC ns; meaningful when inflight > 0 */
    __s64 inflight;
};

/* One scope's completed I/O of one disk. */
struct em_blk_io {
    __u64 read_bytes;
    __u64 write_bytes;
    __u64 reads;  /* read requests completed */
    __u64 writes; /* write requests completed */
};

/* One whole disk, in two cache lines (the map's values start on a page
 * boundary, BPF_F_MMAPABLE): the first holds what every issue and
 * completion changes, the second what only completions add, so that where
 * issue and completion run on different CPUs only the first moves between
 * them for every request. The lock makes the in-flight counts and the busy
 * periods change together, so that busy time is exact even when requests
 * of one disk are issued and completed on several CPUs at once. */
struct em_blk_dev {
    struct bpf_spin_lock lock;
    __u32 dev; /* the kernel's dev_t: major << 20 | minor; 0: slot unused */
    struct em_blk_busy all_busy;
    struct em_blk_busy tree_busy; /* requests of the measured process tree */
    __u64 pad;
    struct em_blk_io all_io;
    struct em_blk_io tree_io;
};

#define EM_BLK_KDEV_MAJOR(d) ((d) >> 20)
#define EM_BLK_KDEV_MINOR(d) ((d) & ((1U << 20) - 1))

#endif
