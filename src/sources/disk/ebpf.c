/*
 * The storage source's eBPF programs (bpf/blkio.bpf.c): checked against the
 * kernel's BTF, loaded with libbpf (CO-RE, tp_btf, the skeleton mk/bpf.mk
 * generates), attached once when the meter is made, and their per-disk map
 * read at each edge of a window. This is the only file that knows whether
 * eBPF was built in (EM_HAVE_BPF, else EM_BPF_MISSING says why not).
 *
 * libbpf reports through one print hook for the whole process
 * (libbpf_set_print), and a library must not print. The rule: every libbpf
 * call of ours that may print (opening, loading, attaching, destroying, the
 * BTF checks) runs between libbpf_enter() and libbpf_leave(), under one
 * process-wide mutex, with our hook installed. Our hook keeps the last
 * warning of the thread that holds the mutex (a thread-local flag says which
 * thread that is), to explain a failure in the reason, and hands every other
 * thread's messages to the hook it displaced, which is put back on leaving.
 * So two meters made at once in two threads take turns, and a host program's
 * own hook keeps working and keeps receiving its own threads' messages.
 * One limit remains: a host that calls libbpf_set_print() itself while a
 * meter is being made (or freed) races with us; its new hook can be replaced
 * by the one before it when we put that back. libbpf gives no way to avoid
 * this (no "swap if still ours"), so a host should set its hook before
 * making meters.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ebpf.h"
#include "util/sysfs.h"

#ifndef EM_HAVE_BPF

const char *em_ebpf_unbuilt(void)
{
#ifdef EM_BPF_MISSING
    return "built without eBPF: " EM_BPF_MISSING;
#else
    return "built without eBPF";
#endif
}

char *em_ebpf_start(const struct em_config *cfg, int tree, struct em_ebpf **out)
{
    (void)cfg;
    (void)tree;
    *out = NULL;
    return em_strdup(em_ebpf_unbuilt());
}

int em_ebpf_read(struct em_ebpf *k, struct em_ebpf_reading *r)
{
    (void)k;
    (void)r;
    return EM_ERR_UNSUPPORTED;
}

int em_ebpf_tree_at_issue(const struct em_ebpf *k)
{
    (void)k;
    return 0;
}

int em_ebpf_no_dirty_credit(const struct em_ebpf *k)
{
    (void)k;
    return 0;
}

void em_ebpf_stop(struct em_ebpf *k)
{
    (void)k;
}

#else /* EM_HAVE_BPF */

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "blkio.h"
#include "blkio.skel.h"

/* The layout blkio.bpf.c relies on: two whole cache lines a disk. */
_Static_assert(sizeof(struct em_blk_dev) == 128 && offsetof(struct em_blk_dev, all_io) == 64,
               "struct em_blk_dev must be two 64-byte lines, the I/O counts in the second");
_Static_assert(EM_EBPF_MAX_DEVS == EM_BLK_MAX_DEVS, "ebpf.h and blkio.h must agree");

struct em_ebpf {
    struct blkio_bpf *skel;
    int devs_fd;
    int tree_at_issue;
    int no_dirty_credit;
};

/* What the kernel offers, from its BTF (and ENERGYMETER_BPF_SKIP). */
struct kernel {
    int io_start, requeue, folio, page, fork, exit;
    uint32_t rq_slots;
};

const char *em_ebpf_unbuilt(void)
{
    return NULL;
}

/* ---------------------------------------------------- libbpf's printing */

/* Held around each of our libbpf calls that may print (see the top). */
static pthread_mutex_t libbpf_lock = PTHREAD_MUTEX_INITIALIZER;
/* The hook ours displaced, which gets every other thread's messages. Kept
 * after it is put back: another thread's message may already be on its way
 * to ours. */
static _Atomic(libbpf_print_fn_t) host_print;
/* Set from just before our hook is installed until host_print holds the
 * hook it displaced. */
static atomic_int swapping;
/* Set on the thread that holds libbpf_lock: its messages are ours. */
static _Thread_local int capturing;
static _Thread_local char libbpf_last[256];

/* Another thread's message: the host's. */
static int forward(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    /* Pairs with the fence in libbpf_enter(): a thread that found our hook
     * installed also sees the flag set before it. */
    atomic_thread_fence(memory_order_acquire);
    while (atomic_load(&swapping))
        sched_yield(); /* only for the two stores that end libbpf_enter() */
    libbpf_print_fn_t fn = atomic_load(&host_print);
    return fn ? fn(level, fmt, ap) : 0;
}

static int libbpf_capture(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    if (!capturing)
        return forward(level, fmt, ap);
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

static void libbpf_enter(void)
{
    pthread_mutex_lock(&libbpf_lock);
    capturing = 1;
    atomic_store(&swapping, 1);
    atomic_thread_fence(memory_order_release);
    libbpf_print_fn_t prev = libbpf_set_print(libbpf_capture);
    /* Ours is still there when a host put back, after we left, the hook it
     * was given while we held the lock (the limit above): forwarding to
     * ourselves would never end, so the host's hook stays the one before. */
    if (prev != libbpf_capture)
        atomic_store(&host_print, prev);
    atomic_store(&swapping, 0);
}

static void libbpf_leave(void)
{
    libbpf_set_print(atomic_load(&host_print));
    capturing = 0;
    pthread_mutex_unlock(&libbpf_lock);
}

/* ------------------------------------------------------------- loading */

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

/* Why eBPF cannot be used: *why = reason (malloc'd), and
 * EM_ERR_UNSUPPORTED, or EM_ERR_NOMEM when reason could not be made. */
static int refuse(char **why, char *reason)
{
    *why = reason;
    return reason ? EM_ERR_UNSUPPORTED : EM_ERR_NOMEM;
}

static int bpf_err(char **why, const char *what, int err)
{
    err = err < 0 ? -err : err;
    /* libbpf's last warning, when there was one, in parentheses */
    const char *pre = libbpf_last[0] ? " (libbpf: " : "", *post = libbpf_last[0] ? ")" : "";
    /* EACCES is the verifier's refusal; missing privileges are EPERM. */
    if (err == EPERM)
        return refuse(why, em_asprintf("%s: permission denied: eBPF needs CAP_BPF and "
                                       "CAP_PERFMON (or root)",
                                       what));
    if (err == EACCES)
        return refuse(why, em_asprintf("%s: the kernel's verifier rejected them%s%s%s", what, pre,
                                       libbpf_last, post));
    return refuse(why, em_asprintf("%s: %s%s%s%s", what, strerror(err), pre, libbpf_last, post));
}

/* ENERGYMETER_BPF_SKIP=NAME[,NAME...]: optional tracepoints not to attach,
 * as if the kernel lacked them (to work around one that misbehaves, and to
 * test the paths older kernels take). 0, or refuse(). */
static int apply_skip(const char *env, int *io_start, int *requeue, int *folio, int *page,
                      char **why)
{
    if (!env || !*env)
        return 0;
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
            struct em_buf b;
            em_buf_init(&b);
            em_buf_printf(&b,
                          "ENERGYMETER_BPF_SKIP names '%.*s', which is not an optional "
                          "tracepoint (",
                          (int)len, p);
            for (size_t k = 0; k < NNAMES; k++)
                em_buf_printf(&b, "%s%s", k ? ", " : "", names[k]);
            em_buf_puts(&b, ")");
            return refuse(why, em_buf_steal(&b));
        }
        *flags[i] = 0;
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
}

/* ENERGYMETER_BPF_RQ_SLOTS=N: slots of the direct-mapped request table to
 * use (0 or a power of two up to its size; fewer send more requests to the
 * hash map behind it, to test that path). Sets *slots; 0, or refuse(). */
static int apply_rq_slots(const char *env, uint32_t *slots, char **why)
{
    *slots = 1u << EM_BLK_RQ_SLOT_BITS;
    if (!env || !*env)
        return 0;
    char *end;
    errno = 0;
    unsigned long n = strtoul(env, &end, 10);
    if (errno || *end || end == env || n > *slots || (n & (n - 1)))
        return refuse(why, em_asprintf("ENERGYMETER_BPF_RQ_SLOTS is '%s': give 0 or a power of "
                                       "two up to %u",
                                       env, *slots));
    *slots = (uint32_t)n;
    return 0;
}

/* Which tracepoints the kernel's BTF at btf_path has, and with the
 * signatures the programs expect: 0, or refuse(). */
static int read_btf(const char *btf_path, struct kernel *k, char **why)
{
    if (access(btf_path, R_OK) != 0)
        return refuse(why, em_asprintf("no kernel BTF at %s (%s): eBPF CO-RE needs a kernel "
                                       "built with CONFIG_DEBUG_INFO_BTF",
                                       btf_path, strerror(errno)));
    struct btf *btf = btf__parse(btf_path, NULL);
    if (!btf)
        return refuse(
            why, em_asprintf("cannot parse the kernel BTF at %s: %s", btf_path, strerror(errno)));
    static const char *const required[] = {"block_rq_issue", "block_rq_complete"};
    int err = 0;
    for (size_t i = 0; i < sizeof required / sizeof required[0] && !err; i++)
        if (tp_args(btf, required[i]) < 0)
            err = refuse(why, em_asprintf("the kernel has no %s tracepoint (its BTF lacks "
                                          "btf_trace_%s)",
                                          required[i], required[i]));
    /* Before 5.11 block_rq_issue also took the queue. */
    if (!err && tp_args(btf, "block_rq_issue") != 2)
        err = refuse(why, em_strdup("the kernel's block_rq_issue tracepoint has the pre-5.11 "
                                    "signature (kernel too old for this eBPF program)"));
    if (!err) {
        k->io_start = tp_args(btf, "block_io_start") == 2;
        k->requeue = tp_args(btf, "block_rq_requeue") == 2;
        k->folio = tp_args(btf, "writeback_dirty_folio") == 3;
        k->page = !k->folio && tp_args(btf, "writeback_dirty_page") == 3;
        k->fork = tp_args(btf, "sched_process_fork") == 3;
        k->exit = tp_args(btf, "sched_process_exit") >= 2;
    }
    btf__free(btf);
    return err;
}

/* What the kernel offers, less what the configuration turns off: 0, or
 * refuse(). */
static int check_kernel(const struct em_config *cfg, const char *btf_path, int tree,
                        struct kernel *k, char **why)
{
    int err = read_btf(btf_path, k, why);
    if (!err)
        err = apply_skip(cfg->bpf_skip, &k->io_start, &k->requeue, &k->folio, &k->page, why);
    if (!err)
        err = apply_rq_slots(cfg->bpf_rq_slots, &k->rq_slots, why);
    if (!err && tree && (!k->fork || !k->exit))
        err = refuse(why, em_strdup("the kernel lacks the sched_process_fork/exit tracepoints "
                                    "needed to follow the process tree"));
    return err;
}

/* Open, configure, load, seed and attach the skeleton into e: 0, or
 * refuse(), with e->skel left for the caller to destroy. */
static int load(struct em_ebpf *e, const struct em_config *cfg, const char *btf_path, int tree,
                const struct kernel *kn, char **why)
{
    libbpf_last[0] = '\0';
    /* With a fake sysfs root, the BTF under it is the kernel's. */
    LIBBPF_OPTS(bpf_object_open_opts, oo, .btf_custom_path = cfg->sysfs_root[0] ? btf_path : NULL);
    struct blkio_bpf *k = e->skel = blkio_bpf__open_opts(&oo);
    if (!k)
        return bpf_err(why, "opening the eBPF object", errno);
    long ps = sysconf(_SC_PAGESIZE);
    k->rodata->page_size = ps > 0 ? (uint64_t)ps : 4096;
    k->rodata->tree_scope = tree != 0;
    k->rodata->rq_slots_used = kn->rq_slots;
    bpf_program__set_autoload(k->progs.em_io_start, kn->io_start && tree);
    bpf_program__set_autoload(k->progs.em_rq_requeue, kn->requeue);
    bpf_program__set_autoload(k->progs.em_dirty_folio, kn->folio && tree);
    bpf_program__set_autoload(k->progs.em_dirty_page, kn->page && tree);
    bpf_program__set_autoload(k->progs.em_fork, tree);
    bpf_program__set_autoload(k->progs.em_exit, tree);
    int err = blkio_bpf__load(k);
    if (err)
        return bpf_err(why, "loading the eBPF programs", err);
    uint32_t me = (uint32_t)getpid();
    uint8_t one = 1;
    err = bpf_map__update_elem(k->maps.tree_pids, &me, sizeof me, &one, sizeof one, BPF_ANY);
    if (err)
        return bpf_err(why, "seeding the process tree", err);
    err = blkio_bpf__attach(k);
    if (err)
        return bpf_err(why, "attaching to the block tracepoints", err);
    e->devs_fd = bpf_map__fd(k->maps.devs);
    e->tree_at_issue = tree && !kn->io_start;
    e->no_dirty_credit = tree && !kn->folio && !kn->page;
    return 0;
}

char *em_ebpf_start(const struct em_config *cfg, int tree, struct em_ebpf **out)
{
    *out = NULL;
    char btf_path[PATH_MAX];
    if (em_sysfs_path(cfg->sysfs_root, btf_path, sizeof btf_path, "/sys/kernel/btf/vmlinux"))
        return em_strdup("ENERGYMETER_SYSFS_ROOT is too long");
    struct em_ebpf *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    struct kernel kn = {0};
    char *why = NULL;
    libbpf_enter();
    int err = check_kernel(cfg, btf_path, tree, &kn, &why);
    if (!err)
        err = load(e, cfg, btf_path, tree, &kn, &why);
    if (err)
        blkio_bpf__destroy(e->skel); /* NULL-safe */
    libbpf_leave();
    if (err) {
        free(e);
        return why; /* NULL: out of memory */
    }
    *out = e;
    return NULL;
}

void em_ebpf_stop(struct em_ebpf *e)
{
    if (!e)
        return;
    libbpf_enter();
    blkio_bpf__destroy(e->skel);
    libbpf_leave();
    free(e);
}

int em_ebpf_tree_at_issue(const struct em_ebpf *e)
{
    return e->tree_at_issue;
}

int em_ebpf_no_dirty_credit(const struct em_ebpf *e)
{
    return e->no_dirty_credit;
}

/* -------------------------------------------------------------- reading */

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

static void copy_scope(struct em_ebpf_scope *dst, const struct em_blk_io *io,
                       const struct em_blk_busy *busy, uint64_t now)
{
    *dst = (struct em_ebpf_scope){
        .read_bytes = io->read_bytes,
        .write_bytes = io->write_bytes,
        .reads = io->reads,
        .writes = io->writes,
        .busy_ns = busy_until(busy, now),
    };
}

int em_ebpf_read(struct em_ebpf *e, struct em_ebpf_reading *r)
{
    struct blkio_bpf__bss *bss = e->skel->bss;
    size_t n = __atomic_load_n(&bss->ndevs, __ATOMIC_ACQUIRE);
    if (n > EM_BLK_MAX_DEVS)
        n = EM_BLK_MAX_DEVS;
    r->n = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct em_blk_dev v;
        /* BPF_F_LOCK: a consistent copy, taken under the disk's lock. */
        if (bpf_map_lookup_elem_flags(e->devs_fd, &i, &v, BPF_F_LOCK))
            return errno == EPERM ? EM_ERR_PERM : EM_ERR_IO;
        uint64_t now = mono_ns();
        if (!v.dev)
            continue;
        size_t j = r->n++;
        r->d[j].dev = v.dev;
        copy_scope(&r->d[j].all, &v.all_io, &v.all_busy, now);
        copy_scope(&r->d[j].tree, &v.tree_io, &v.tree_busy, now);
    }
    r->dropped_devs = __atomic_load_n(&bss->dropped_devs, __ATOMIC_RELAXED);
    r->dropped_rqs = __atomic_load_n(&bss->dropped_rqs, __ATOMIC_RELAXED);
    r->dropped_pids = __atomic_load_n(&bss->dropped_pids, __ATOMIC_RELAXED);
    return 0;
}

#endif /* EM_HAVE_BPF */
