/*
 * Block I/O accounting in the kernel, per whole disk, for the whole system and
 * for one process tree (the meter's process and its descendants).
 *
 * Requests are followed from issue to completion through the block_rq_*
 * tracepoints, attached as BTF tracepoints (tp_btf), which need no tracefs.
 * A request belongs to the disk of its queue (rq->q->disk), so partitions
 * are folded into their disk; bio-based stacking drivers (dm, md) issue no
 * requests, so their I/O is seen once, on the disks below them.
 *
 * Who a request belongs to is decided where its submitter is still current:
 * at block_io_start (the request is built inside submit_bio), else at issue.
 * Writes flushed later by kernel writeback are credited to the tree when the
 * tree dirtied the pages: writeback_dirty_folio (called in the dirtier's
 * context when a clean folio turns dirty) adds the folio's bytes to a credit
 * per inode, and a write request whose first page belongs to an inode with
 * credit is the tree's and consumes it.
 *
 * Busy time is exact: under a per-disk lock, the first request in flight
 * opens a busy period and the last completion closes it; only those two
 * events read the clock.
 *
 * One file (over 600 lines) because it is one BPF object: its programs
 * share the maps and the static inline helpers, and bpftool makes one
 * skeleton from one object; splitting it would need a BPF link step for no
 * reader's benefit.
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "sources/disk/blkio.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by user space before loading. */
const volatile __u64 page_size = 4096;
const volatile __u8 tree_scope = 1; /* 0: system scope, no tree to follow */
/* Slots of the request table in use: 0 or a power of two up to its size
 * (fewer only to test the hash map path: ENERGYMETER_BPF_RQ_SLOTS). */
const volatile __u32 rq_slots_used = 1 << EM_BLK_RQ_SLOT_BITS;

/* Read by user space through the skeleton's mmap'ed .bss. */
__u32 ndevs;        /* slots handed out (may exceed EM_BLK_MAX_DEVS) */
__u64 dropped_devs; /* requests to disks beyond EM_BLK_MAX_DEVS */
__u64 dropped_rqs;  /* requests that could not be remembered */
__u64 dropped_pids; /* children of the tree that could not be tracked */

/* Internal. The disk (dev_t) of each slot in devs, claimed with a
 * compare-and-swap in index order, so that the claimed slots are a prefix
 * and finding a disk's slot is a scan of a few words, not a map lookup. */
__u32 slot_dev[EM_BLK_MAX_DEVS];
/* Bumped whenever tree_pids changes: invalidates the per-CPU in_tree cache. */
__u64 tree_gen;
/* Inodes ever given dirty credit: while 0, writes skip the credit lookup. */
__u64 credits;

/* Mmapable only for its layout: its values then start on a page, so that
 * each disk's two cache lines are whole ones (see struct em_blk_dev). */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(map_flags, BPF_F_MMAPABLE);
    __uint(max_entries, EM_BLK_MAX_DEVS);
    __type(key, __u32);
    __type(value, struct em_blk_dev);
} devs SEC(".maps");

enum rq_state { RQ_IDLE = 0, RQ_STARTED = 1, RQ_ISSUED = 2 };

struct rq_info {
    __u64 remaining; /* bytes not completed yet */
    __u32 slot;
    __u8 state; /* enum rq_state */
    __u8 tree;
    __u8 op;
    __u8 pad;
};

/* Requests by address. blk-mq preallocates its requests, so the same few
 * addresses come back again and again: an entry is created the first time
 * an address is seen and then rewritten in place, never deleted on
 * completion (it goes back to RQ_IDLE).
 *
 * First choice, a direct-mapped table: the address picks one slot, which
 * the first address to claim it keeps for good, and finding an entry is an
 * array index the verifier inlines (2-8 ns less than a hash map call, three
 * times a request). A slot is never handed to another address: that could
 * take the entry of a request in flight, whose completion would then never
 * close its busy period. Addresses whose slot is taken (and stale ones of
 * queues since torn down, which keep theirs) go to the hash map rqs: when
 * it is full, its idle entries are swept and the insert is tried again. A
 * plain (preallocated) hash: an LRU could evict a request in flight. */
struct rq_slot {
    __u64 addr; /* the request's; 0: free */
    struct rq_info info;
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1 << EM_BLK_RQ_SLOT_BITS);
    __type(key, __u32);
    __type(value, struct rq_slot);
} rq_slots SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, EM_BLK_MAX_RQS);
    __type(key, __u64);
    __type(value, struct rq_info);
} rqs SEC(".maps");

/* Where a request's address becomes a number (see addr_of). */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} addr_scratch SEC(".maps");

/* Thread group ids of the tree; user space seeds it with its own. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16384);
    __type(key, __u32);
    __type(value, __u8);
} tree_pids SEC(".maps");

/* The last answer of in_tree() on each CPU (one submitter usually issues
 * many requests in a row), in one word written at once: bit 0 the answer,
 * bits 1-31 the thread group id (pid_max is at most 2^22), bits 32-63 the
 * low half of tree_gen. Three fields written one by one could be torn by a
 * program that interrupts the write on the same CPU (block_rq_issue runs
 * from softirqs too), leaving one process's answer under another's id. */
struct tree_cache {
    __u64 word;
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct tree_cache);
} tree_cache SEC(".maps");

/* An inode by identity, not by address: addresses are reused once an inode
 * is freed, while (device, number, generation) names one file. */
struct inode_key {
    __u64 ino;
    __u32 dev;
    __u32 gen;
};

/* Bytes the tree dirtied in an inode and writeback has not written yet. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 16384);
    __type(key, struct inode_key);
    __type(value, __s64);
} dirty_credit SEC(".maps");

/* Kernels before 5.17 named the request's disk rq->rq_disk. */
struct request___old {
    struct gendisk *rq_disk;
} __attribute__((preserve_access_index));

/* Folio sizes across kernel versions. */
struct folio___v62 {
    unsigned int _folio_nr_pages;
} __attribute__((preserve_access_index));

struct folio___v612 {
    unsigned int _nr_pages;
} __attribute__((preserve_access_index));

#define REQ_OP_BITS_MASK 0xff
#define OP_READ 0  /* REQ_OP_READ: stable since the request ops were split out */
#define OP_WRITE 1 /* REQ_OP_WRITE */

/*
 * The pointers handed to tp_btf programs are typed (BTF): fields are read
 * with plain loads, relocated by CO-RE and made fault-safe by the verifier,
 * which costs far less than a bpf_probe_read_kernel() call per field.
 */

static __always_inline int in_tree(void)
{
    __u32 tgid = bpf_get_current_pid_tgid() >> 32;
    __u64 gen = *(volatile __u64 *)&tree_gen;
    __u64 key = (gen << 32) | ((__u64)(tgid & 0x7fffffff) << 1);
    __u32 zero = 0;
    struct tree_cache *c = bpf_map_lookup_elem(&tree_cache, &zero);
    if (c) {
        __u64 w = *(volatile __u64 *)&c->word;
        if ((w & ~1ull) == key)
            return w & 1;
    }
    int in = bpf_map_lookup_elem(&tree_pids, &tgid) != NULL;
    if (c)
        *(volatile __u64 *)&c->word = key | (__u64)in;
    return in;
}

static __always_inline int inode_key_of(struct inode *inode, struct inode_key *k)
{
    if (!inode)
        return -1;
    k->ino = BPF_CORE_READ(inode, i_ino);
    k->dev = BPF_CORE_READ(inode, i_sb, s_dev);
    k->gen = BPF_CORE_READ(inode, i_generation);
    return 0;
}

static __always_inline __u32 disk_dev(struct request *rq)
{
    struct gendisk *disk;
    struct request___old *old = (void *)rq;
    if (bpf_core_field_exists(old->rq_disk))
        disk = BPF_CORE_READ(old, rq_disk);
    else
        disk = rq->q->disk;
    if (!disk)
        return 0;
    return (__u32)disk->major << 20 | (__u32)disk->first_minor;
}

/* The accounting slot of a disk, handing out a new one on first sight;
 * -1 when all are taken. A global (not inlined) function: the verifier
 * checks it once, and its callers see an unknown number rather than one
 * exact slot per way out of the scan, which made the verifier walk the rest
 * of block_rq_issue once per slot (the meter's creation took 20 ms longer
 * once entries came from two maps). */
__noinline int slot_of(__u32 dev)
{
    for (int i = 0; i < EM_BLK_MAX_DEVS; i++) {
        __u32 cur = *(volatile __u32 *)&slot_dev[i];
        if (cur == dev)
            return i;
        if (cur)
            continue;
        cur = __sync_val_compare_and_swap(&slot_dev[i], 0, dev);
        if (cur == dev)
            return i; /* another CPU claimed it for the same disk */
        if (cur)
            continue; /* another CPU claimed it for another disk */
        __u32 slot = i;
        struct em_blk_dev *d = bpf_map_lookup_elem(&devs, &slot);
        if (d)
            d->dev = dev;
        __sync_fetch_and_add(&ndevs, 1);
        return i;
    }
    __sync_fetch_and_add(&dropped_devs, 1);
    return -1;
}

/* A write of pages the tree dirtied (flushed by writeback, whoever runs it)
 * is the tree's: consume the credit of the first page's inode. */
static __always_inline int consume_credit(struct request *rq, __u64 bytes)
{
    if (!*(volatile __u64 *)&credits)
        return 0;
    struct bio *bio = rq->bio;
    if (!bio)
        return 0;
    struct bio_vec *bv = bio->bi_io_vec;
    if (!bv)
        return 0;
    struct page *pg = bv->bv_page;
    if (!pg)
        return 0;
    /* A tagged pointer, read as a number (as the verifier wants). */
    unsigned long mapping = (unsigned long)BPF_CORE_READ(pg, mapping);
    /* Low bits tag anonymous and movable pages (O_DIRECT user buffers). */
    if (!mapping || (mapping & 3))
        return 0;
    struct inode_key k = {};
    if (inode_key_of(BPF_CORE_READ((struct address_space *)mapping, host), &k))
        return 0;
    __s64 *c = bpf_map_lookup_elem(&dirty_credit, &k);
    if (!c)
        return 0;
    __s64 old = __sync_fetch_and_add(c, -(__s64)bytes);
    if (old <= 0) {
        __sync_fetch_and_add(c, (__s64)bytes); /* nothing to consume: undo */
        return 0;
    }
    if (old < (__s64)bytes) /* do not go below zero */
        __sync_fetch_and_add(c, (__s64)bytes - old);
    return 1;
}

static long sweep_idle(struct bpf_map *map, __u64 *key, struct rq_info *ri, void *ctx)
{
    if (ri->state == RQ_IDLE)
        bpf_map_delete_elem(map, key);
    return 0;
}

/* A request's address as a number. The verifier allows no arithmetic on a
 * typed (BTF) pointer, but what is read back from a map value is a number
 * (storing a pointer there is allowed to programs with CAP_PERFMON, which
 * tracing needs anyway). The word is per CPU, but an interrupt can run
 * another of these programs between the store and the load and leave its
 * own request there: the value read is checked against the pointer and the
 * round trip made again then. 0 when no number could be had. */
static __always_inline __u64 addr_of(struct request *rq)
{
    __u32 zero = 0;
    __u64 *p = bpf_map_lookup_elem(&addr_scratch, &zero);
    if (!p || !rq)
        return 0;
    for (int i = 0; i < 4; i++) {
        *(volatile __u64 *)p = (__u64)rq;
        __u64 addr = *(volatile __u64 *)p;
        int same = addr == (__u64)rq;
        /* Else the compiler, knowing them equal, would use the pointer. */
        barrier_var(addr);
        if (same)
            return addr;
    }
    return 0;
}

static __always_inline struct rq_slot *slot_of_addr(__u64 addr)
{
    if (!rq_slots_used)
        return NULL;
    /* Multiplicative (Fibonacci) hashing: requests lie a fixed stride apart. */
    __u32 i = (__u32)((addr * 0x9E3779B97F4A7C15ull) >> (64 - EM_BLK_RQ_SLOT_BITS));
    i &= rq_slots_used - 1;
    return bpf_map_lookup_elem(&rq_slots, &i);
}

/* The entry of the request at addr; NULL when it has none. */
static __always_inline struct rq_info *rq_find(__u64 addr)
{
    if (!addr)
        return NULL;
    struct rq_slot *s = slot_of_addr(addr);
    if (s && s->addr == addr)
        return &s->info;
    return bpf_map_lookup_elem(&rqs, &addr);
}

/* A new entry for a request seen for the first time; NULL when none can be
 * made (counted). */
static __always_inline struct rq_info *rq_new(__u64 addr, __u8 state, __u8 tree)
{
    struct rq_info ri = {.state = state, .tree = tree};
    struct rq_slot *s = slot_of_addr(addr);
    if (s && !*(volatile __u64 *)&s->addr && !__sync_val_compare_and_swap(&s->addr, 0, addr)) {
        s->info = ri;
        return &s->info;
    }
    if (bpf_map_update_elem(&rqs, &addr, &ri, BPF_ANY)) {
        bpf_for_each_map_elem(&rqs, sweep_idle, NULL, 0);
        if (bpf_map_update_elem(&rqs, &addr, &ri, BPF_ANY)) {
            __sync_fetch_and_add(&dropped_rqs, 1);
            return NULL;
        }
    }
    return bpf_map_lookup_elem(&rqs, &addr);
}

/* Whether a request starting (dir > 0) or ending (dir < 0) now opens or
 * closes a busy period of the disk, the only moments that need the time:
 * with requests queued deep, most pass without reading the clock (35-40 ns
 * a read on our VMs, a third of what a program costs). Read under the lock
 * it is exact; read before it, a hint. */
static __always_inline int busy_edge(struct em_blk_dev *d, int tree, int dir)
{
    __s64 at = dir > 0 ? 0 : 1;
    return *(volatile __s64 *)&d->all_busy.inflight <= at ||
           (tree && *(volatile __s64 *)&d->tree_busy.inflight <= at);
}

/* Takes the disk's lock with the time in *now when the event opens or
 * closes a busy period. The clock is read before the lock when the hint
 * says so (no helper may be called under it); should the hint have been
 * wrong, the lock is dropped to read it and taken again. */
static __always_inline void lock_timed(struct em_blk_dev *d, int tree, int dir, __u64 *now)
{
    *now = busy_edge(d, tree, dir) ? bpf_ktime_get_ns() : 0;
    bpf_spin_lock(&d->lock);
    if (!*now && busy_edge(d, tree, dir)) {
        bpf_spin_unlock(&d->lock);
        *now = bpf_ktime_get_ns();
        bpf_spin_lock(&d->lock);
    }
}

static __always_inline void busy_start(struct em_blk_busy *a, __u64 now)
{
    if (a->inflight++ == 0)
        a->busy_since = now;
}

static __always_inline void busy_stop(struct em_blk_busy *a, __u64 now)
{
    if (a->inflight <= 0)
        return;
    if (--a->inflight == 0 && now > a->busy_since)
        a->busy_ns += now - a->busy_since;
}

static __always_inline void add_bytes(struct em_blk_io *a, __u8 op, __u64 bytes, int done)
{
    if (op == OP_READ) {
        a->read_bytes += bytes;
        a->reads += done;
    } else if (op == OP_WRITE) {
        a->write_bytes += bytes;
        a->writes += done;
    }
}

/* Built in the submitter's context: remember whether it is the tree's. */
SEC("tp_btf/block_io_start")
int BPF_PROG(em_io_start, struct request *rq)
{
    __u64 addr = addr_of(rq);
    if (!addr)
        return 0;
    __u8 tree = in_tree();
    struct rq_info *ri = rq_find(addr);
    if (!ri) {
        rq_new(addr, RQ_STARTED, tree);
        return 0;
    }
    /* An entry left issued belongs to a request whose completion was not
     * seen; a new request at this address starts afresh (as the delete and
     * insert of before did). */
    ri->tree = tree;
    ri->state = RQ_STARTED;
    return 0;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(em_rq_issue, struct request *rq)
{
    __u64 addr = addr_of(rq);
    if (!addr)
        return 0;
    struct rq_info *ri = rq_find(addr);
    if (ri && ri->state == RQ_ISSUED)
        return 0;
    __u8 tree = 0;
    if (ri && ri->state == RQ_STARTED)
        tree = ri->tree;
    else if (tree_scope)
        /* Built before we attached, or not through block_io_start (flush
         * requests, older kernels): the issuer is the best guess. */
        tree = in_tree();
    __u32 dev = disk_dev(rq);
    if (!dev)
        return 0;
    int slot = slot_of(dev);
    if (slot < 0 || slot >= EM_BLK_MAX_DEVS)
        return 0;
    __u32 uslot = slot;
    struct em_blk_dev *d = bpf_map_lookup_elem(&devs, &uslot);
    if (!d)
        return 0;
    if (!ri) {
        ri = rq_new(addr, RQ_IDLE, 0);
        if (!ri)
            return 0;
    }
    __u8 op = rq->cmd_flags & REQ_OP_BITS_MASK;
    __u64 len = rq->__data_len;
    /* Merges are over by now, so the whole request consumes credit (also
     * when the tree writes its pages itself, so that no credit is left). */
    if (tree_scope && op == OP_WRITE && len && consume_credit(rq, len))
        tree = 1;
    ri->slot = uslot;
    ri->op = op;
    ri->tree = tree;
    ri->remaining = len;
    ri->state = RQ_ISSUED;
    __u64 now;
    lock_timed(d, tree, 1, &now);
    busy_start(&d->all_busy, now);
    if (tree)
        busy_start(&d->tree_busy, now);
    bpf_spin_unlock(&d->lock);
    return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(em_rq_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
    struct rq_info *ri = rq_find(addr_of(rq));
    if (!ri)
        return 0;
    if (ri->state != RQ_ISSUED) {
        /* Ended without being issued (the original of a flush sequence):
         * nothing to count, and what io_start remembered is spent. */
        ri->state = RQ_IDLE;
        return 0;
    }
    __u32 slot = ri->slot;
    struct em_blk_dev *d = bpf_map_lookup_elem(&devs, &slot);
    if (!d)
        return 0;
    /* A request may complete in parts (one call per part). */
    int done = nr_bytes >= ri->remaining;
    if (done)
        ri->state = RQ_IDLE;
    else
        ri->remaining -= nr_bytes;
    __u8 op = ri->op, tree = ri->tree;
    __u64 now = 0;
    if (done)
        lock_timed(d, tree, -1, &now);
    else
        bpf_spin_lock(&d->lock);
    add_bytes(&d->all_io, op, nr_bytes, done);
    if (tree)
        add_bytes(&d->tree_io, op, nr_bytes, done);
    if (done) {
        busy_stop(&d->all_busy, now);
        if (tree)
            busy_stop(&d->tree_busy, now);
    }
    bpf_spin_unlock(&d->lock);
    return 0;
}

/* A requeued request leaves the device and will be issued again, as the
 * same submitter's. */
SEC("tp_btf/block_rq_requeue")
int BPF_PROG(em_rq_requeue, struct request *rq)
{
    struct rq_info *ri = rq_find(addr_of(rq));
    if (!ri || ri->state != RQ_ISSUED)
        return 0;
    __u32 slot = ri->slot;
    struct em_blk_dev *d = bpf_map_lookup_elem(&devs, &slot);
    ri->state = RQ_STARTED;
    if (!d)
        return 0;
    __u8 tree = ri->tree;
    __u64 now;
    lock_timed(d, tree, -1, &now);
    busy_stop(&d->all_busy, now);
    if (tree)
        busy_stop(&d->tree_busy, now);
    bpf_spin_unlock(&d->lock);
    return 0;
}

static __always_inline void credit_dirty(struct address_space *mapping, __u64 pages)
{
    struct inode_key k = {};
    if (inode_key_of(BPF_CORE_READ(mapping, host), &k))
        return;
    __s64 bytes = (__s64)(pages * page_size);
    __s64 *c = bpf_map_lookup_elem(&dirty_credit, &k);
    if (c) {
        __sync_fetch_and_add(c, bytes);
        return;
    }
    if (bpf_map_update_elem(&dirty_credit, &k, &bytes, BPF_NOEXIST)) {
        c = bpf_map_lookup_elem(&dirty_credit, &k);
        if (c)
            __sync_fetch_and_add(c, bytes);
        return;
    }
    __sync_fetch_and_add(&credits, 1);
}

static __always_inline __u64 folio_pages(struct folio *folio)
{
    unsigned long flags = 0;
    bpf_probe_read_kernel(&flags, sizeof flags, folio);
    int head = bpf_core_enum_value(enum pageflags, PG_head);
    if (!(flags & (1UL << head)))
        return 1;
    struct folio___v612 *f612 = (void *)folio;
    struct folio___v62 *f62 = (void *)folio;
    __u64 n = 1;
    if (bpf_core_field_exists(f612->_nr_pages))
        n = BPF_CORE_READ(f612, _nr_pages);
    else if (bpf_core_field_exists(f62->_folio_nr_pages))
        n = BPF_CORE_READ(f62, _folio_nr_pages);
    return n ? n : 1;
}

/* A clean folio turns dirty, in the dirtier's context. Tracepoint arguments
 * may be NULL: the verifier wants them checked. */
SEC("tp_btf/writeback_dirty_folio")
int BPF_PROG(em_dirty_folio, struct folio *folio, struct address_space *mapping)
{
    if (!folio || !mapping || !in_tree())
        return 0;
    credit_dirty(mapping, folio_pages(folio));
    return 0;
}

/* The same before folios (kernels before 5.17). */
SEC("tp_btf/writeback_dirty_page")
int BPF_PROG(em_dirty_page, struct page *page, struct address_space *mapping)
{
    if (!mapping || !in_tree())
        return 0;
    credit_dirty(mapping, 1);
    return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(em_fork, struct task_struct *parent, struct task_struct *child)
{
    if (!parent || !child)
        return 0;
    __u32 ptgid = BPF_CORE_READ(parent, tgid);
    if (!bpf_map_lookup_elem(&tree_pids, &ptgid))
        return 0;
    __u32 ctgid = BPF_CORE_READ(child, tgid);
    __u8 one = 1;
    if (bpf_map_update_elem(&tree_pids, &ctgid, &one, BPF_ANY))
        __sync_fetch_and_add(&dropped_pids, 1);
    else
        __sync_fetch_and_add(&tree_gen, 1);
    return 0;
}

/* Forget a process once its last thread exits, before its pid is reused. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(em_exit, struct task_struct *p)
{
    if (!p)
        return 0;
    if (BPF_CORE_READ(p, signal, live.counter) != 0)
        return 0;
    __u32 tgid = BPF_CORE_READ(p, tgid);
    if (bpf_map_delete_elem(&tree_pids, &tgid) == 0)
        __sync_fetch_and_add(&tree_gen, 1);
    return 0;
}
