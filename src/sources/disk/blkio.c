/*
 * Storage: the "disk" component, from what the block devices really did.
 *
 * First choice: eBPF (src/bpf/blkio.bpf.c), loaded and attached once when
 * the meter is created, so that em_begin() and em_end() only read one small
 * map entry per disk. It counts bytes, requests and exact busy time per whole
 * disk, for the whole system and for the meter's process tree (this process
 * and its descendants, with writeback of pages they dirtied).
 *
 * When eBPF cannot be used (no CAP_BPF/CAP_PERFMON, no kernel BTF, missing
 * tracepoints, a build without it, --no-bpf, ENERGYMETER_NO_BPF=1), the
 * fallbacks of src/diskstats.c: /proc/diskstats for system scope and
 * /proc/self/io for tree scope. The component's source says which was used
 * and a warning says why eBPF was not.
 *
 * The disk is not a joule counter, so this source has no channels: its
 * begin/end hooks snapshot the counters and fill() builds the component
 * through the model (src/disk_model.c).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "disk.h"
#include "sources/sources.h"
#include "util/sysfs.h"

#ifdef EM_HAVE_BPF
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "blkio.h"
#include "blkio.skel.h"
#endif

#define PERM_FIX                                                                                   \
    "run as root, or give the program CAP_BPF and CAP_PERFMON (setcap "                            \
    "cap_bpf,cap_perfmon+ep on the binary)"

/* io_ticks moves in jiffies (1-10 ms): each of the two readings may be off
 * by one. */
#define DISKSTATS_BUSY_ERR_S 0.008
/* Disks one report can list (all of /sys/block with include_idle). */
#define MAX_REPORTED 512

enum method { M_NONE = 0, M_BPF, M_DISKSTATS, M_PROCIO, M_IGNORED };

static const char *const method_names[] = {"none", "ebpf-block", "diskstats", "proc-io", "ignored"};

#ifdef EM_HAVE_BPF
/* One scope of one disk at one instant: its completed I/O, and its busy
 * time up to that instant (the open busy period included). */
struct scope_snap {
    struct em_blk_io io;
    uint64_t busy_ns;
};

/* One disk's counters at one instant, both scopes. */
struct bpf_snap {
    uint32_t dev;
    struct scope_snap all, tree;
};

/* The layout blkio.bpf.c relies on: two whole cache lines a disk. */
_Static_assert(sizeof(struct em_blk_dev) == 128 && offsetof(struct em_blk_dev, all_io) == 64,
               "struct em_blk_dev must be two 64-byte lines, the I/O counts in the second");

struct bpf_reading {
    struct bpf_snap d[EM_BLK_MAX_DEVS];
    size_t n;
    uint64_t dropped_devs, dropped_rqs, dropped_pids;
};
#endif

struct blkio {
    const struct em_config *cfg;
    enum method method;
    int system;         /* scope */
    char *bpf_why_not;  /* why eBPF is not used (NULL when it is) */
    char *fallback_why; /* why the fallback cannot be used either */
    struct em_disk_list disks;
    int read_err[2];
    int have[2]; /* 0: begin, 1: end */
    double t[2];
    struct em_disk_set set[2]; /* diskstats */
    struct em_disk_stat tree[2];
    int tree_at_issue;   /* tree scope without block_io_start: the issuer decides */
    int no_dirty_credit; /* tree scope without the writeback_dirty_* tracepoints */
#ifdef EM_HAVE_BPF
    struct blkio_bpf *skel;
    int devs_fd;
    struct bpf_reading bpf[2];
#endif
};

/* ------------------------------------------------------------- eBPF */

#ifdef EM_HAVE_BPF

/* libbpf prints to stderr by default; a library must not. Its last warning
 * is kept to explain a failure. The print hook is process-wide, so it is set
 * only around our own calls into libbpf. */
static _Thread_local char libbpf_last[256];

static int libbpf_capture(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    if (level == LIBBPF_DEBUG)
        return 0;
    char line[sizeof libbpf_last];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == ' '))
        line[--n] = '\0';
    if (n > 0)
        memcpy(libbpf_last, line, n + 1);
    return 0;
}

/* Does the kernel have the tracepoint (a btf_trace_NAME typedef)? And with
 * how many arguments (the context pointer included)? -1 when missing. */
static int tp_args(const struct btf *btf, const char *name)
{
    char tname[96];
    snprintf(tname, sizeof tname, "btf_trace_%s", name);
    int id = btf__find_by_name_kind(btf, tname, BTF_KIND_TYPEDEF);
    if (id <= 0)
        return -1;
    const struct btf_type *t = btf__type_by_id(btf, btf__type_by_id(btf, id)->type);
    if (!t || !btf_is_ptr(t))
        return -1;
    t = btf__type_by_id(btf, t->type);
    return t && btf_is_func_proto(t) ? btf_vlen(t) : -1;
}

static char *bpf_err(const char *what, int err)
{
    err = err < 0 ? -err : err;
    /* EACCES is the verifier's refusal; missing privileges are EPERM. */
    if (err == EPERM)
        return em_asprintf("%s: permission denied: eBPF needs CAP_BPF and CAP_PERFMON (or root)",
                           what);
    if (err == EACCES)
        return em_asprintf("%s: the kernel's verifier rejected them%s%s%s", what,
                           libbpf_last[0] ? " (libbpf: " : "", libbpf_last,
                           libbpf_last[0] ? ")" : "");
    return em_asprintf("%s: %s%s%s%s", what, strerror(err), libbpf_last[0] ? " (libbpf: " : "",
                       libbpf_last, libbpf_last[0] ? ")" : "");
}

/* ENERGYMETER_BPF_SKIP=NAME[,NAME...]: optional tracepoints not to attach,
 * as if the kernel lacked them (to work around one that misbehaves, and to
 * test the paths older kernels take). NULL when fine; else why eBPF is not
 * used (malloc'd). */
static char *apply_skip(const char *env, int *io_start, int *requeue, int *folio, int *page)
{
    if (!env || !*env)
        return NULL;
    static const char *const names[] = {"block_io_start", "block_rq_requeue",
                                        "writeback_dirty_folio", "writeback_dirty_page"};
    enum { NNAMES = sizeof names / sizeof names[0] };
    int *flags[NNAMES] = {io_start, requeue, folio, page};
    const char *p = env;
    while (*p) {
        size_t len = strcspn(p, ",");
        size_t i = 0;
        while (i < NNAMES && !(strlen(names[i]) == len && strncmp(p, names[i], len) == 0))
            i++;
        if (i == NNAMES) {
            struct em_buf why;
            em_buf_init(&why);
            em_buf_printf(&why,
                          "ENERGYMETER_BPF_SKIP names '%.*s', which is not an optional "
                          "tracepoint (",
                          (int)len, p);
            for (size_t k = 0; k < NNAMES; k++)
                em_buf_printf(&why, "%s%s", k ? ", " : "", names[k]);
            em_buf_puts(&why, ")");
            return em_buf_steal(&why);
        }
        *flags[i] = 0;
        p += len;
        if (*p == ',')
            p++;
    }
    return NULL;
}

/* ENERGYMETER_BPF_RQ_SLOTS=N: slots of the direct-mapped request table to
 * use (0 or a power of two up to its size; fewer send more requests to the
 * hash map behind it, to test that path). Sets *slots; NULL when fine, else
 * why eBPF is not used (malloc'd). */
static char *apply_rq_slots(const char *env, uint32_t *slots)
{
    *slots = 1u << EM_BLK_RQ_SLOT_BITS;
    if (!env || !*env)
        return NULL;
    char *end;
    errno = 0;
    unsigned long n = strtoul(env, &end, 10);
    if (errno || *end || end == env || n > *slots || (n & (n - 1)))
        return em_asprintf("ENERGYMETER_BPF_RQ_SLOTS is '%s': give 0 or a power of two up to %u",
                           env, *slots);
    *slots = (uint32_t)n;
    return NULL;
}

/* Load and attach. On success b->skel is set and NULL is returned; else
 * why not (malloc'd; NULL only when out of memory). */
static char *bpf_start(struct blkio *b, int want_tree)
{
    char btf_path[PATH_MAX];
    if (em_sysfs_path(b->cfg->sysfs_root, btf_path, sizeof btf_path, "/sys/kernel/btf/vmlinux"))
        return em_strdup("ENERGYMETER_SYSFS_ROOT is too long");
    if (access(btf_path, R_OK) != 0)
        return em_asprintf("no kernel BTF at %s (%s): eBPF CO-RE needs a kernel built with "
                           "CONFIG_DEBUG_INFO_BTF",
                           btf_path, strerror(errno));
    struct btf *btf = btf__parse(btf_path, NULL);
    if (!btf)
        return em_asprintf("cannot parse the kernel BTF at %s: %s", btf_path, strerror(errno));
    static const char *const required[] = {"block_rq_issue", "block_rq_complete"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (tp_args(btf, required[i]) < 0) {
            btf__free(btf);
            return em_asprintf("the kernel has no %s tracepoint (its BTF lacks btf_trace_%s)",
                               required[i], required[i]);
        }
    /* Before 5.11 block_rq_issue also took the queue. */
    if (tp_args(btf, "block_rq_issue") != 2) {
        btf__free(btf);
        return em_strdup("the kernel's block_rq_issue tracepoint has the pre-5.11 signature "
                         "(kernel too old for this eBPF program)");
    }
    int has_io_start = tp_args(btf, "block_io_start") == 2;
    int has_requeue = tp_args(btf, "block_rq_requeue") == 2;
    int has_folio = tp_args(btf, "writeback_dirty_folio") == 3;
    int has_page = !has_folio && tp_args(btf, "writeback_dirty_page") == 3;
    int has_fork = tp_args(btf, "sched_process_fork") == 3;
    int has_exit = tp_args(btf, "sched_process_exit") >= 2;
    btf__free(btf);
    char *skip_why =
        apply_skip(b->cfg->bpf_skip, &has_io_start, &has_requeue, &has_folio, &has_page);
    if (skip_why)
        return skip_why;
    uint32_t rq_slots;
    char *slots_why = apply_rq_slots(b->cfg->bpf_rq_slots, &rq_slots);
    if (slots_why)
        return slots_why;
    if (want_tree && (!has_fork || !has_exit))
        return em_strdup("the kernel lacks the sched_process_fork/exit tracepoints needed to "
                         "follow the process tree");

    libbpf_last[0] = '\0';
    libbpf_print_fn_t old = libbpf_set_print(libbpf_capture);
    char *why = NULL;
    /* With a fake sysfs root, the BTF under it is the kernel's. */
    LIBBPF_OPTS(bpf_object_open_opts, oo,
                .btf_custom_path = b->cfg->sysfs_root[0] ? btf_path : NULL);
    b->skel = blkio_bpf__open_opts(&oo);
    if (!b->skel) {
        why = bpf_err("opening the eBPF object", errno);
        goto out;
    }
    long ps = sysconf(_SC_PAGESIZE);
    b->skel->rodata->page_size = ps > 0 ? (uint64_t)ps : 4096;
    b->skel->rodata->tree_scope = want_tree != 0;
    b->skel->rodata->rq_slots_used = rq_slots;
    struct blkio_bpf *k = b->skel;
    bpf_program__set_autoload(k->progs.em_io_start, has_io_start && want_tree);
    bpf_program__set_autoload(k->progs.em_rq_requeue, has_requeue);
    bpf_program__set_autoload(k->progs.em_dirty_folio, has_folio && want_tree);
    bpf_program__set_autoload(k->progs.em_dirty_page, has_page && want_tree);
    bpf_program__set_autoload(k->progs.em_fork, want_tree);
    bpf_program__set_autoload(k->progs.em_exit, want_tree);
    int err = blkio_bpf__load(k);
    if (err) {
        why = bpf_err("loading the eBPF programs", err);
        goto out;
    }
    uint32_t me = (uint32_t)getpid();
    uint8_t one = 1;
    err = bpf_map__update_elem(k->maps.tree_pids, &me, sizeof me, &one, sizeof one, BPF_ANY);
    if (err) {
        why = bpf_err("seeding the process tree", err);
        goto out;
    }
    err = blkio_bpf__attach(k);
    if (err) {
        why = bpf_err("attaching to the block tracepoints", err);
        goto out;
    }
    b->devs_fd = bpf_map__fd(k->maps.devs);
    b->tree_at_issue = want_tree && !has_io_start;
    b->no_dirty_credit = want_tree && !has_folio && !has_page;
out:
    libbpf_set_print(old);
    if (why && b->skel) {
        blkio_bpf__destroy(b->skel);
        b->skel = NULL;
    }
    return why;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The busy time up to now: the closed periods, and the open one to now. */
static uint64_t busy_until(const struct em_blk_busy *b, uint64_t now)
{
    uint64_t ns = b->busy_ns;
    if (b->inflight > 0 && now > b->busy_since)
        ns += now - b->busy_since;
    return ns;
}

static int bpf_read(struct blkio *b, struct bpf_reading *r)
{
    struct blkio_bpf__bss *bss = b->skel->bss;
    size_t n = __atomic_load_n(&bss->ndevs, __ATOMIC_ACQUIRE);
    if (n > EM_BLK_MAX_DEVS)
        n = EM_BLK_MAX_DEVS;
    r->n = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct em_blk_dev v;
        /* BPF_F_LOCK: a consistent copy, taken under the disk's lock. */
        if (bpf_map_lookup_elem_flags(b->devs_fd, &i, &v, BPF_F_LOCK))
            return errno == EPERM ? EM_ERR_PERM : EM_ERR_IO;
        uint64_t now = mono_ns();
        if (!v.dev)
            continue;
        struct bpf_snap *s = &r->d[r->n++];
        s->dev = v.dev;
        s->all.io = v.all_io;
        s->all.busy_ns = busy_until(&v.all_busy, now);
        s->tree.io = v.tree_io;
        s->tree.busy_ns = busy_until(&v.tree_busy, now);
    }
    r->dropped_devs = __atomic_load_n(&bss->dropped_devs, __ATOMIC_RELAXED);
    r->dropped_rqs = __atomic_load_n(&bss->dropped_rqs, __ATOMIC_RELAXED);
    r->dropped_pids = __atomic_load_n(&bss->dropped_pids, __ATOMIC_RELAXED);
    return 0;
}

static const struct bpf_snap *snap_find(const struct bpf_reading *r, uint32_t dev)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->d[i].dev == dev)
            return &r->d[i];
    return NULL;
}

#endif /* EM_HAVE_BPF */

/* ------------------------------------------------------------ open/close */

/* Why eBPF will not be tried (static), or NULL to try it. */
static const char *bpf_refused(const struct em_config *cfg)
{
    if (cfg->no_bpf_env)
        return "eBPF disabled by ENERGYMETER_NO_BPF";
    if (cfg->no_bpf && !cfg->listing)
        return "eBPF disabled (--no-bpf)";
#ifndef EM_HAVE_BPF
#ifdef EM_BPF_MISSING
    return "built without eBPF: " EM_BPF_MISSING;
#else
    return "built without eBPF";
#endif
#else
    return NULL;
#endif
}

/* Why the fallback m cannot be used (malloc'd), or NULL when it can (or
 * when out of memory: *oom). */
static char *fallback_check(const char *root, enum method m, int *oom)
{
    int err;
    char *why;
    if (m == M_DISKSTATS) {
        struct em_disk_set s = {0};
        err = em_diskstats_read(root, &s);
        em_disk_set_free(&s);
        if (!err)
            return NULL;
        why = em_asprintf("cannot read /proc/diskstats with /sys/block under '%s' (%s)",
                          root[0] ? root : "/", em_strerror(err));
    } else {
        struct em_disk_stat st;
        err = em_procio_read(root, &st);
        if (!err)
            return NULL;
        why = em_asprintf("cannot read %s/proc/self/io (%s)", root, em_strerror(err));
    }
    *oom = why == NULL;
    return why;
}

static int add_zone(struct em_probe *p, const char *name, const char *path, const char *why,
                    const char *fix)
{
    return em_probe_add_zone(p, name, "disk", "all disks", path, why, why ? fix : NULL);
}

static int blkio_probe(struct em_source *s, struct em_probe *probe)
{
    struct blkio *b = calloc(1, sizeof *b);
    if (!b)
        return EM_ERR_NOMEM;
    s->priv = b;
    const struct em_config *cfg = s->cfg;
    int err = 0;
    b->cfg = cfg;
    if (cfg->ignore_disk && !cfg->listing) {
        b->method = M_IGNORED;
        return em_probe_set_reason(probe, "ignored (--ignore-disk)", NULL);
    }
    b->system = !cfg->listing && cfg->disk_scope == EM_DISK_SCOPE_SYSTEM;
    /* Names and kinds of the disks; a missing /sys/block only costs names. */
    em_disk_list_read(cfg->sysfs_root, &b->disks);

    const char *refused = bpf_refused(cfg);
    if (refused && !(b->bpf_why_not = em_strdup(refused)))
        return EM_ERR_NOMEM;
#ifdef EM_HAVE_BPF
    if (!refused && !(b->bpf_why_not = bpf_start(b, !b->system)) && !b->skel)
        return EM_ERR_NOMEM;
#endif
    if (!b->bpf_why_not) {
        b->method = M_BPF;
        return add_zone(probe, "ebpf-block", "tp_btf/block_rq_issue, tp_btf/block_rq_complete",
                        NULL, NULL);
    }
    err = add_zone(probe, "ebpf-block", "tp_btf/block_rq_issue, tp_btf/block_rq_complete",
                   b->bpf_why_not, PERM_FIX);
    /* `energymeter list` (no configuration) shows both fallbacks. */
    int ds_oom = 0, io_oom = 0;
    char *ds_why =
        (cfg->listing || b->system) ? fallback_check(cfg->sysfs_root, M_DISKSTATS, &ds_oom) : NULL;
    char *io_why =
        (cfg->listing || !b->system) ? fallback_check(cfg->sysfs_root, M_PROCIO, &io_oom) : NULL;
    if (!err && (cfg->listing || b->system))
        err =
            add_zone(probe, "diskstats (fallback, system scope)", "/proc/diskstats", ds_why, NULL);
    if (!err && (cfg->listing || !b->system))
        err = add_zone(probe, "proc-io (fallback, tree scope)", "/proc/self/io", io_why, NULL);
    if (b->system) {
        b->method = ds_why ? M_NONE : M_DISKSTATS;
        b->fallback_why = ds_why;
        ds_why = NULL;
    } else {
        b->method = io_why ? M_NONE : M_PROCIO;
        b->fallback_why = io_why;
        io_why = NULL;
    }
    free(ds_why);
    free(io_why);
    if (ds_oom || io_oom)
        return EM_ERR_NOMEM;
    return err == EM_ERR_NOMEM ? err : 0;
}

static void blkio_close(struct em_source *s)
{
    struct blkio *b = s->priv;
    if (!b)
        return;
#ifdef EM_HAVE_BPF
    if (b->skel)
        blkio_bpf__destroy(b->skel);
#endif
    free(b->bpf_why_not);
    free(b->fallback_why);
    em_disk_list_free(&b->disks);
    em_disk_set_free(&b->set[0]);
    em_disk_set_free(&b->set[1]);
    free(b);
    s->priv = NULL;
}

static int blkio_read(struct em_source *s, size_t i, uint64_t *raw)
{
    (void)s;
    (void)i;
    (void)raw;
    return EM_ERR_NOT_FOUND; /* no channels */
}

/* -------------------------------------------------------------- window */

static int snapshot(struct blkio *b, int k)
{
    b->have[k] = 0;
    b->t[k] = em_now_mono();
    int err = 0;
    switch (b->method) {
#ifdef EM_HAVE_BPF
    case M_BPF:
        err = bpf_read(b, &b->bpf[k]);
        break;
#endif
    case M_DISKSTATS:
        b->set[k].n = 0;
        err = em_diskstats_read(b->cfg->sysfs_root, &b->set[k]);
        break;
    case M_PROCIO:
        err = em_procio_read(b->cfg->sysfs_root, &b->tree[k]);
        break;
    default:
        return 0;
    }
    b->read_err[k] = err;
    b->have[k] = err == 0;
    return err;
}

static int blkio_begin(struct em_source *s)
{
    struct blkio *b = s->priv;
    b->have[1] = 0;
    return snapshot(b, 0);
}

static int blkio_end(struct em_source *s)
{
    return snapshot(s->priv, 1);
}

/* --------------------------------------------------------------- fill */

static uint64_t sub(uint64_t a, uint64_t b)
{
    return a > b ? a - b : 0;
}

/* Physical disks without I/O in the window still draw idle power. */
static int add_idle_disks(struct blkio *b, struct em_disk_delta *v, size_t *n, size_t cap,
                          const struct em_config *cfg)
{
    if (!cfg->include_idle)
        return 0;
    for (size_t i = 0; i < b->disks.n && *n < cap; i++) {
        const struct em_disk_info *di = &b->disks.v[i];
        if (di->virt || di->stacked)
            continue;
        size_t j = 0;
        while (j < *n && strcmp(v[j].name, di->name) != 0)
            j++;
        if (j < *n)
            continue;
        v[*n] = (struct em_disk_delta){.busy_s = b->method == M_PROCIO ? NAN : 0};
        snprintf(v[*n].name, sizeof v[*n].name, "%s", di->name);
        (*n)++;
    }
    return 0;
}

#ifdef EM_HAVE_BPF
/* Name and kind of a disk by dev_t, from /sys/block (re-read once when the
 * disk appeared after the meter was created). */
static void name_disk(struct blkio *b, uint32_t dev, struct em_disk_delta *d, int *stacked)
{
    const struct em_disk_info *di = em_disk_list_find_dev(&b->disks, dev);
    if (!di) {
        em_disk_list_free(&b->disks);
        em_disk_list_read(b->cfg->sysfs_root, &b->disks);
        di = em_disk_list_find_dev(&b->disks, dev);
    }
    if (di) {
        snprintf(d->name, sizeof d->name, "%s", di->name);
        d->virt = di->virt;
        *stacked = di->stacked;
    } else {
        snprintf(d->name, sizeof d->name, "%u:%u", dev >> 20, dev & ((1u << 20) - 1));
    }
}

#endif

static int fill_deltas(struct blkio *b, struct em_disk_delta *v, size_t *n, size_t cap)
{
    *n = 0;
    if (b->method == M_PROCIO) {
        struct em_disk_delta *d = &v[(*n)++];
        *d = (struct em_disk_delta){.busy_s = NAN, .pseudo = 1};
        snprintf(d->name, sizeof d->name, "tree");
        d->read_bytes = sub(b->tree[1].read_bytes, b->tree[0].read_bytes);
        d->write_bytes = sub(b->tree[1].write_bytes, b->tree[0].write_bytes);
        return 0;
    }
    if (b->method == M_DISKSTATS) {
        for (size_t i = 0; i < b->set[1].n && *n < cap; i++) {
            const struct em_disk_stat *e = &b->set[1].v[i];
            const struct em_disk_stat *s = em_disk_set_find(&b->set[0], e->name);
            struct em_disk_stat zero = {0};
            if (!s)
                s = &zero;
            struct em_disk_delta d = {.busy_err_s = DISKSTATS_BUSY_ERR_S};
            snprintf(d.name, sizeof d.name, "%s", e->name);
            const struct em_disk_info *di = em_disk_list_find(&b->disks, e->name);
            d.virt = di && di->virt;
            d.read_bytes = sub(e->read_bytes, s->read_bytes);
            d.write_bytes = sub(e->write_bytes, s->write_bytes);
            d.reads = sub(e->reads, s->reads);
            d.writes = sub(e->writes, s->writes);
            d.busy_s = e->busy_s > s->busy_s ? e->busy_s - s->busy_s : 0;
            if (d.read_bytes || d.write_bytes || d.busy_s > 0 || d.reads || d.writes)
                v[(*n)++] = d;
        }
        return 0;
    }
#ifdef EM_HAVE_BPF
    const struct bpf_reading *r0 = &b->bpf[0], *r1 = &b->bpf[1];
    for (size_t i = 0; i < r1->n && *n < cap; i++) {
        const struct bpf_snap *e = &r1->d[i];
        const struct bpf_snap *s = snap_find(r0, e->dev);
        struct bpf_snap zero = {0};
        if (!s)
            s = &zero;
        const struct scope_snap *ea = b->system ? &e->all : &e->tree;
        const struct scope_snap *sa = b->system ? &s->all : &s->tree;
        struct em_disk_delta d = {0};
        int stacked = 0;
        name_disk(b, e->dev, &d, &stacked);
        /* Request-based dm (multipath) clones its requests to the disks
         * below: counted there. */
        if (stacked)
            continue;
        d.read_bytes = sub(ea->io.read_bytes, sa->io.read_bytes);
        d.write_bytes = sub(ea->io.write_bytes, sa->io.write_bytes);
        d.reads = sub(ea->io.reads, sa->io.reads);
        d.writes = sub(ea->io.writes, sa->io.writes);
        d.busy_s = (double)sub(ea->busy_ns, sa->busy_ns) / 1e9;
        if (d.read_bytes || d.write_bytes || d.busy_s > 0 || d.reads || d.writes)
            v[(*n)++] = d;
    }
#endif
    return 0;
}

static int set_unavailable(struct em_reading *c, const char *fmt, ...) EM_PRINTF(2, 3);

static int set_unavailable(struct em_reading *c, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    int err = em_reading_set_unavailable(c, buf);
    return err ? err : 1;
}

static int bpf_warnings(struct blkio *b, struct em_readings *w)
{
#ifdef EM_HAVE_BPF
    if (b->method != M_BPF)
        return 0;
    const struct bpf_reading *r0 = &b->bpf[0], *r1 = &b->bpf[1];
    int err = 0;
    if (r1->dropped_devs > r0->dropped_devs)
        err = em_readings_warn(w, "disk: requests to more than %d disks were not counted",
                               EM_BLK_MAX_DEVS);
    if (!err && r1->dropped_rqs > r0->dropped_rqs)
        err = em_readings_warn(w,
                               "disk: %llu requests could not be followed (map full) "
                               "and were not counted",
                               (unsigned long long)(r1->dropped_rqs - r0->dropped_rqs));
    if (!err && !b->system && r1->dropped_pids > r0->dropped_pids)
        err = em_readings_warn(w,
                               "disk: %llu new processes of the tree could not be tracked "
                               "(map full): their I/O is missing",
                               (unsigned long long)(r1->dropped_pids - r0->dropped_pids));
    return err;
#else
    (void)b;
    (void)w;
    return 0;
#endif
}

static int blkio_fill(struct em_source *s, struct em_reading *c, struct em_readings *w)
{
    struct blkio *b = s->priv;
    if (strcmp(c->name, "disk") != 0)
        return 0;
    if (b->method == M_IGNORED)
        return set_unavailable(c, "ignored (--ignore-disk)");
    if (b->method == M_NONE)
        return set_unavailable(c, "%s; fallback for %s scope: %s. Fix: %s", b->bpf_why_not,
                               b->system ? "system" : "tree", b->fallback_why, PERM_FIX);
    const char *src = method_names[b->method];
    for (int k = 0; k < 2; k++)
        if (!b->have[k])
            return set_unavailable(c,
                                   "%s: reading the counters at the %s of the window failed "
                                   "(%s)",
                                   src, k ? "end" : "start", em_strerror(b->read_err[k]));
    size_t cap = MAX_REPORTED, n = 0;
    struct em_disk_delta *v = calloc(cap, sizeof *v);
    if (!v)
        return EM_ERR_NOMEM;
    int err = fill_deltas(b, v, &n, cap);
    if (!err && b->method != M_PROCIO)
        err = add_idle_disks(b, v, &n, cap, s->cfg);
    if (!err)
        err = em_disk_model_fill(c, w, s->cfg, src, b->method != M_PROCIO, v, n);
    free(v);
    if (!err && b->method != M_BPF)
        err = em_readings_warn(w, "disk: measured with the %s fallback: %s", src, b->bpf_why_not);
    if (!err)
        err = bpf_warnings(b, w);
    if (!err && b->method == M_BPF && !b->system)
        /* Who decides that a request is the tree's: the process that built
         * it (block_io_start, 6.5 and later), or the one that issued it to
         * the device, which is the same one unless an I/O scheduler or a
         * busy device defers the issue to another context. */
        err = em_extras_set_string(&c->extras, "tree_attribution",
                                   b->tree_at_issue ? "issuer" : "submitter");
    if (!err && b->method == M_BPF && b->no_dirty_credit)
        err = em_readings_warn(w, "disk: no writeback_dirty_folio/page tracepoint: writes "
                                  "the kernel flushes later for the tree are not counted");
    return err ? err : 1;
}

const struct em_source_ops em_src_blkio = {
    .name = "blkio",
    .serves = "disk",
    .probe = blkio_probe,
    .read = blkio_read,
    .close = blkio_close,
    .begin = blkio_begin,
    .end = blkio_end,
    .fill = blkio_fill,
};
