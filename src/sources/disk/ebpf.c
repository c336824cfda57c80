/*
 * The storage source's eBPF programs (bpf/blkio.bpf.c): checked against the
 * kernel's BTF, loaded with libbpf (CO-RE, tp_btf, the skeleton mk/bpf.mk
 * generates), attached once when the meter is made, and their per-disk map
 * read at each edge of a window. This is the only file that knows whether
 * eBPF was built in (EM_HAVE_BPF, else EM_BPF_MISSING says why not).
 *
 * libbpf reports through one print hook for the whole process
 * (libbpf_set_print), and a library must not print. So every libbpf call of
 * ours that may print runs under one process-wide mutex, with our hook
 * installed: it keeps the last warning of the thread that called (to
 * explain a failure) and hands every other thread's messages to the hook
 * that was there before, which is put back afterwards. Two meters made at
 * once in two threads take turns; a host program's own hook keeps working.
 * One limit remains: a host that calls libbpf_set_print() itself while a
 * meter is being made can have its new hook replaced by the one before it.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
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

static pthread_mutex_t libbpf_lock = PTHREAD_MUTEX_INITIALIZER;
/* The hook that was installed before ours (while libbpf_lock is held). */
static libbpf_print_fn_t host_print;
/* Set on the thread that holds libbpf_lock: its messages are ours. */
static _Thread_local int capturing;
static _Thread_local char libbpf_last[256];

static int libbpf_capture(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    if (!capturing)
        return host_print ? host_print(level, fmt, ap) : 0;
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
    host_print = libbpf_set_print(libbpf_capture);
}

static void libbpf_leave(void)
{
    libbpf_set_print(host_print);
    host_print = NULL;
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

/* What the kernel's BTF at btf_path says of the tracepoints, and the
 * environment's restrictions: NULL, or why eBPF cannot be used (malloc'd). */
static char *check_kernel(const struct em_config *cfg, const char *btf_path, int tree,
                          struct kernel *k)
{
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
    k->io_start = tp_args(btf, "block_io_start") == 2;
    k->requeue = tp_args(btf, "block_rq_requeue") == 2;
    k->folio = tp_args(btf, "writeback_dirty_folio") == 3;
    k->page = !k->folio && tp_args(btf, "writeback_dirty_page") == 3;
    k->fork = tp_args(btf, "sched_process_fork") == 3;
    k->exit = tp_args(btf, "sched_process_exit") >= 2;
    btf__free(btf);
    char *why = apply_skip(cfg->bpf_skip, &k->io_start, &k->requeue, &k->folio, &k->page);
    if (!why)
        why = apply_rq_slots(cfg->bpf_rq_slots, &k->rq_slots);
    if (!why && tree && (!k->fork || !k->exit))
        why = em_strdup("the kernel lacks the sched_process_fork/exit tracepoints needed to "
                        "follow the process tree");
    return why;
}

/* Open, configure, load, seed and attach the skeleton into e: NULL, or why
 * not (malloc'd), with e->skel left for the caller to destroy. */
static char *load(struct em_ebpf *e, const struct em_config *cfg, const char *btf_path, int tree,
                  const struct kernel *kn)
{
    libbpf_last[0] = '\0';
    /* With a fake sysfs root, the BTF under it is the kernel's. */
    LIBBPF_OPTS(bpf_object_open_opts, oo, .btf_custom_path = cfg->sysfs_root[0] ? btf_path : NULL);
    struct blkio_bpf *k = e->skel = blkio_bpf__open_opts(&oo);
    if (!k)
        return bpf_err("opening the eBPF object", errno);
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
        return bpf_err("loading the eBPF programs", err);
    uint32_t me = (uint32_t)getpid();
    uint8_t one = 1;
    err = bpf_map__update_elem(k->maps.tree_pids, &me, sizeof me, &one, sizeof one, BPF_ANY);
    if (err)
        return bpf_err("seeding the process tree", err);
    err = blkio_bpf__attach(k);
    if (err)
        return bpf_err("attaching to the block tracepoints", err);
    e->devs_fd = bpf_map__fd(k->maps.devs);
    e->tree_at_issue = tree && !kn->io_start;
    e->no_dirty_credit = tree && !kn->folio && !kn->page;
    return NULL;
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
    libbpf_enter();
    char *why = check_kernel(cfg, btf_path, tree, &kn);
    if (!why)
        why = load(e, cfg, btf_path, tree, &kn);
    if (why && e->skel)
        blkio_bpf__destroy(e->skel);
    libbpf_leave();
    if (why) {
        free(e);
        return why;
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
