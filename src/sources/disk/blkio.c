/*
 * Storage: the "disk" component, from what the block devices really did.
 *
 * First choice: eBPF (ebpf.c, bpf/blkio.bpf.c), loaded and attached once when
 * the meter is created, so that em_begin() and em_end() only read one small
 * map entry per disk. It counts bytes, requests and exact busy time per whole
 * disk, for the whole system and for the meter's process tree (this process
 * and its descendants, with writeback of pages they dirtied).
 *
 * When eBPF cannot be used (no CAP_BPF/CAP_PERFMON, no kernel BTF, missing
 * tracepoints, a build without it, --no-bpf, ENERGYMETER_NO_BPF=1), the
 * fallbacks of diskstats.c: /proc/diskstats for system scope and
 * /proc/self/io for tree scope. The component's source says which was used
 * and a warning says why eBPF was not.
 *
 * The disk is not a joule counter, so this source has no channels: its
 * begin/end hooks snapshot the counters and fill() builds the component
 * through the model (disk_model.c).
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
#include "ebpf.h"
#include "sources/sources.h"
#include "util/sysfs.h"

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

/* The counters at one edge of a window. */
struct blkio_snap {
    int have; /* read */
    int read_err;
    double t;
    struct em_disk_set set; /* diskstats */
    struct em_disk_stat tree;
    struct em_ebpf_reading bpf;
};

struct blkio {
    const struct em_config *cfg;
    enum method method;
    int system;         /* scope */
    char *bpf_why_not;  /* why eBPF is not used (NULL when it is) */
    char *fallback_why; /* why the fallback cannot be used either */
    struct em_disk_list disks;
    struct em_ebpf *ebpf;     /* loaded programs (method M_BPF) */
    struct blkio_snap win[2]; /* the begin()/end() window's: 0 begin, 1 end */
};

/* ------------------------------------------------------------ open/close */

/* Why eBPF will not be tried (static), or NULL to try it. */
static const char *bpf_refused(const struct em_config *cfg)
{
    if (cfg->no_bpf_env)
        return "eBPF disabled by ENERGYMETER_NO_BPF";
    if (cfg->no_bpf && !cfg->listing)
        return "eBPF disabled (--no-bpf)";
    return em_ebpf_unbuilt();
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
    if (!refused && !(b->bpf_why_not = em_ebpf_start(cfg, !b->system, &b->ebpf)) && !b->ebpf)
        return EM_ERR_NOMEM;
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
    em_ebpf_stop(b->ebpf);
    free(b->bpf_why_not);
    free(b->fallback_why);
    em_disk_list_free(&b->disks);
    em_disk_set_free(&b->win[0].set);
    em_disk_set_free(&b->win[1].set);
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

static int snapshot(struct blkio *b, struct blkio_snap *sn)
{
    sn->have = 0;
    sn->t = em_now_mono();
    int err = 0;
    switch (b->method) {
    case M_BPF:
        err = em_ebpf_read(b->ebpf, &sn->bpf);
        break;
    case M_DISKSTATS:
        sn->set.n = 0;
        err = em_diskstats_read(b->cfg->sysfs_root, &sn->set);
        break;
    case M_PROCIO:
        err = em_procio_read(b->cfg->sysfs_root, &sn->tree);
        break;
    default:
        return 0;
    }
    sn->read_err = err;
    sn->have = err == 0;
    return err;
}

static int blkio_begin(struct em_source *s)
{
    struct blkio *b = s->priv;
    b->win[1].have = 0;
    return snapshot(b, &b->win[0]);
}

static int blkio_end(struct em_source *s)
{
    struct blkio *b = s->priv;
    return snapshot(b, &b->win[1]);
}

/* The snapshot of a source with nothing to read (ignored, or no method): one
 * for all, so that many windows cost nothing for it. */
static struct blkio_snap nothing_to_read;

/* Named windows: a snapshot of their own (NULL: out of memory; a failed
 * read is kept in it, and said by the fill). */
static void *blkio_snap(struct em_source *s)
{
    struct blkio *b = s->priv;
    if (b->method == M_NONE || b->method == M_IGNORED)
        return &nothing_to_read;
    struct blkio_snap *sn = calloc(1, sizeof *sn);
    if (sn)
        snapshot(b, sn);
    return sn;
}

static void blkio_snap_free(struct em_source *s, void *p)
{
    (void)s;
    struct blkio_snap *sn = p;
    if (!sn || sn == &nothing_to_read)
        return;
    em_disk_set_free(&sn->set);
    free(sn);
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

/* The eBPF counters' differences over the window, per disk of the scope. */
static int bpf_deltas(struct blkio *b, const struct blkio_snap *a, const struct blkio_snap *z,
                      struct em_disk_delta *v, size_t *n, size_t cap)
{
    const struct em_ebpf_reading *r0 = &a->bpf, *r1 = &z->bpf;
    for (size_t i = 0; i < r1->n && *n < cap; i++) {
        const struct em_ebpf_scope zero = {0}, *sa = &zero;
        const struct em_ebpf_scope *ea = b->system ? &r1->d[i].all : &r1->d[i].tree;
        for (size_t j = 0; j < r0->n && sa == &zero; j++)
            if (r0->d[j].dev == r1->d[i].dev)
                sa = b->system ? &r0->d[j].all : &r0->d[j].tree;
        struct em_disk_delta d = {0};
        int stacked = 0;
        name_disk(b, r1->d[i].dev, &d, &stacked);
        /* Request-based dm (multipath) clones its requests to the disks
         * below: counted there. */
        if (stacked)
            continue;
        d.read_bytes = sub(ea->read_bytes, sa->read_bytes);
        d.write_bytes = sub(ea->write_bytes, sa->write_bytes);
        d.reads = sub(ea->reads, sa->reads);
        d.writes = sub(ea->writes, sa->writes);
        d.busy_s = (double)sub(ea->busy_ns, sa->busy_ns) / 1e9;
        if (d.read_bytes || d.write_bytes || d.busy_s > 0 || d.reads || d.writes)
            v[(*n)++] = d;
    }
    return 0;
}

static int fill_deltas(struct blkio *b, const struct blkio_snap *a, const struct blkio_snap *z,
                       struct em_disk_delta *v, size_t *n, size_t cap)
{
    *n = 0;
    if (b->method == M_PROCIO) {
        struct em_disk_delta *d = &v[(*n)++];
        *d = (struct em_disk_delta){.busy_s = NAN, .pseudo = 1};
        snprintf(d->name, sizeof d->name, "tree");
        d->read_bytes = sub(z->tree.read_bytes, a->tree.read_bytes);
        d->write_bytes = sub(z->tree.write_bytes, a->tree.write_bytes);
        return 0;
    }
    if (b->method == M_DISKSTATS) {
        for (size_t i = 0; i < z->set.n && *n < cap; i++) {
            const struct em_disk_stat *e = &z->set.v[i];
            const struct em_disk_stat *s = em_disk_set_find(&a->set, e->name);
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
    return bpf_deltas(b, a, z, v, n, cap);
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

static int bpf_warnings(struct blkio *b, const struct blkio_snap *a, const struct blkio_snap *z,
                        struct em_readings *w)
{
    if (b->method != M_BPF)
        return 0;
    const struct em_ebpf_reading *r0 = &a->bpf, *r1 = &z->bpf;
    int err = 0;
    if (r1->dropped_devs > r0->dropped_devs)
        err = em_readings_warn(w, "disk: requests to more than %d disks were not counted",
                               EM_EBPF_MAX_DEVS);
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
}

/* The disk component of the window between snapshots a and z. */
static int blkio_fill_between(struct em_source *s, const void *pa, const void *pz,
                              struct em_reading *c, struct em_readings *w)
{
    struct blkio *b = s->priv;
    const struct blkio_snap *sn[2] = {pa, pz};
    if (strcmp(c->name, "disk") != 0)
        return 0;
    if (b->method == M_IGNORED)
        return set_unavailable(c, "ignored (--ignore-disk)");
    if (b->method == M_NONE)
        return set_unavailable(c, "%s; fallback for %s scope: %s. Fix: %s", b->bpf_why_not,
                               b->system ? "system" : "tree", b->fallback_why, PERM_FIX);
    const char *src = method_names[b->method];
    for (int k = 0; k < 2; k++)
        if (!sn[k]->have)
            return set_unavailable(c,
                                   "%s: reading the counters at the %s of the window failed "
                                   "(%s)",
                                   src, k ? "end" : "start", em_strerror(sn[k]->read_err));
    size_t cap = MAX_REPORTED, n = 0;
    struct em_disk_delta *v = calloc(cap, sizeof *v);
    if (!v)
        return EM_ERR_NOMEM;
    int err = fill_deltas(b, sn[0], sn[1], v, &n, cap);
    if (!err && b->method != M_PROCIO)
        err = add_idle_disks(b, v, &n, cap, s->cfg);
    if (!err)
        err = em_disk_model_fill(c, w, s->cfg, src, b->method != M_PROCIO, v, n);
    free(v);
    if (!err && b->method != M_BPF)
        err = em_readings_warn(w, "disk: measured with the %s fallback: %s", src, b->bpf_why_not);
    if (!err)
        err = bpf_warnings(b, sn[0], sn[1], w);
    if (!err && b->method == M_BPF && !b->system)
        /* Who decides that a request is the tree's: the process that built
         * it (block_io_start, 6.5 and later), or the one that issued it to
         * the device, which is the same one unless an I/O scheduler or a
         * busy device defers the issue to another context. */
        err = em_extras_set_string(&c->extras, "tree_attribution",
                                   em_ebpf_tree_at_issue(b->ebpf) ? "issuer" : "submitter");
    if (!err && b->method == M_BPF && em_ebpf_no_dirty_credit(b->ebpf))
        err = em_readings_warn(w, "disk: no writeback_dirty_folio/page tracepoint: writes "
                                  "the kernel flushes later for the tree are not counted");
    return err ? err : 1;
}

static int blkio_fill(struct em_source *s, struct em_reading *c, struct em_readings *w)
{
    struct blkio *b = s->priv;
    return blkio_fill_between(s, &b->win[0], &b->win[1], c, w);
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
    .snap = blkio_snap,
    .snap_free = blkio_snap_free,
    .fill_between = blkio_fill_between,
};
