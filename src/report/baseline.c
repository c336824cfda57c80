/*
 * The idle baseline: idle power per component and device, measured by
 * `energymeter calibrate` (or `stat --baseline S`) and stored as a small JSON
 * file. Reports then split each measured component's joules into
 * idle_joules (baseline power x duration) and dynamic_joules (the rest).
 *
 *   {"schema": "energymeter-baseline/1", "created": "...", "duration_s": 10.0,
 *    "components": {"cpu": {"watts": 21.5, "devices": {"package-0": 21.5}}}}
 *
 * The file is read with cJSON (Debian libcjson): a parser is not something
 * to write by hand.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "baseline.h"

#define MAX_FILE_BYTES (1 << 20)

void em_baseline_free(struct em_baseline *b)
{
    if (!b)
        return;
    free(b->e);
    free(b);
}

static int add_entry(struct em_baseline *b, const char *component, const char *device, double watts)
{
    struct em_baseline_entry *e = realloc(b->e, (b->n + 1) * sizeof *e);
    if (!e)
        return EM_ERR_NOMEM;
    b->e = e;
    e = &b->e[b->n++];
    memset(e, 0, sizeof *e);
    snprintf(e->component, sizeof e->component, "%s", component);
    snprintf(e->device, sizeof e->device, "%s", device);
    e->watts = watts;
    return 0;
}

int em_baseline_from_report(const struct em_report *r, struct em_baseline **out)
{
    *out = NULL;
    if (!(r->win.duration_s > 0))
        return EM_ERR_INVALID;
    struct em_baseline *b = calloc(1, sizeof *b);
    if (!b)
        return EM_ERR_NOMEM;
    b->duration_s = r->win.duration_s;
    b->created_ns = r->win.end_ns;
    for (size_t i = 0; i < r->win.ncomps; i++) {
        const struct em_reading *c = &r->win.comps[i];
        /* Only sensors: an estimate's idle term is an assumption, not a
         * measurement, and storage follows its own model. */
        if (c->status != EM_STATUS_MEASURED || !strcmp(c->name, "disk"))
            continue;
        for (size_t d = 0; d < c->ndevices; d++)
            if (add_entry(b, c->name, c->devices[d].name,
                          c->devices[d].joules / r->win.duration_s)) {
                em_baseline_free(b);
                return EM_ERR_NOMEM;
            }
    }
    *out = b;
    return 0;
}

static const struct em_baseline_entry *find(const struct em_baseline *b, const char *component,
                                            const char *device)
{
    for (size_t i = 0; i < b->n; i++)
        if (!strcmp(b->e[i].component, component) && !strcmp(b->e[i].device, device))
            return &b->e[i];
    return NULL;
}

int em_baseline_apply(const struct em_baseline *b, struct em_report *r)
{
    for (size_t i = 0; i < r->win.ncomps; i++) {
        struct em_reading *c = &r->win.comps[i];
        if (c->status == EM_STATUS_UNAVAILABLE || c->ndevices == 0)
            continue;
        /* All of a component's devices need a baseline, or its idle part
         * would be too small. */
        size_t known = 0;
        for (size_t d = 0; d < c->ndevices; d++)
            known += find(b, c->name, c->devices[d].name) != NULL;
        if (known != c->ndevices)
            continue;
        double idle = 0;
        for (size_t d = 0; d < c->ndevices; d++) {
            struct em_reading_device *dev = &c->devices[d];
            double di = find(b, c->name, dev->name)->watts * r->win.duration_s;
            idle += di;
            if (em_extras_set_number(&dev->extras, "idle_joules", di) ||
                em_extras_set_number(&dev->extras, "dynamic_joules", dev->joules - di))
                return EM_ERR_NOMEM;
        }
        if (em_extras_set_number(&c->extras, "idle_joules", idle) ||
            em_extras_set_number(&c->extras, "dynamic_joules", c->joules - idle))
            return EM_ERR_NOMEM;
    }
    return 0;
}

/* mkdir -p of path's parent directories. */
static int make_parents(const char *path)
{
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
        return EM_ERR_INVALID;
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0755) != 0 && errno != EEXIST)
            return errno == EACCES ? EM_ERR_PERM : EM_ERR_IO;
        *p = '/';
    }
    return 0;
}

int em_baseline_save(const struct em_baseline *b, const char *path, char *msg, size_t msgsz)
{
    struct em_buf buf;
    em_buf_init(&buf);
    char date[32] = "";
    time_t t = (time_t)(b->created_ns / 1000000000LL);
    struct tm tm;
    if (gmtime_r(&t, &tm))
        strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
    em_buf_printf(&buf, "{\n  \"schema\": \"energymeter-baseline/1\",\n  \"created\": ");
    em_buf_json_str(&buf, date);
    em_buf_printf(&buf, ",\n  \"duration_s\": %.6f,\n  \"components\": {", b->duration_s);
    int firstc = 1;
    for (size_t i = 0; i < b->n; i++) {
        /* Entries of one component are contiguous (built from a report). */
        if (i > 0 && !strcmp(b->e[i].component, b->e[i - 1].component))
            continue;
        double sum = 0;
        for (size_t j = i; j < b->n && !strcmp(b->e[j].component, b->e[i].component); j++)
            sum += b->e[j].watts;
        em_buf_puts(&buf, firstc ? "\n    " : ",\n    ");
        firstc = 0;
        em_buf_json_str(&buf, b->e[i].component);
        em_buf_printf(&buf, ": {\"watts\": %.6f, \"devices\": {", sum);
        for (size_t j = i; j < b->n && !strcmp(b->e[j].component, b->e[i].component); j++) {
            em_buf_puts(&buf, j > i ? ", " : "");
            em_buf_json_str(&buf, b->e[j].device);
            em_buf_printf(&buf, ": %.6f", b->e[j].watts);
        }
        em_buf_puts(&buf, "}}");
    }
    em_buf_puts(&buf, firstc ? "}\n}\n" : "\n  }\n}\n");
    int err = buf.oom ? EM_ERR_NOMEM : make_parents(path);
    FILE *f = NULL;
    if (!err && !(f = fopen(path, "we")))
        err = errno == EACCES ? EM_ERR_PERM : EM_ERR_IO;
    if (!err && (fwrite(buf.data, 1, buf.len, f) != buf.len || fflush(f) != 0))
        err = EM_ERR_IO;
    if (f && fclose(f) != 0 && !err)
        err = EM_ERR_IO;
    if (err)
        snprintf(msg, msgsz, "cannot write the baseline to %s: %s%s", path, em_strerror(err),
                 err == EM_ERR_PERM ? " (run as root, or choose a path you can write)" : "");
    em_buf_free(&buf);
    return err;
}

int em_baseline_load(const char *path, struct em_baseline **out, char *msg, size_t msgsz)
{
    *out = NULL;
    struct em_baseline *b = NULL;
    cJSON *root = NULL;
    char *text = NULL;
    int err = 0;
    FILE *f = fopen(path, "re");
    if (!f) {
        err = errno == ENOENT ? EM_ERR_NOT_FOUND : errno == EACCES ? EM_ERR_PERM : EM_ERR_IO;
        snprintf(msg, msgsz, "cannot read the baseline %s: %s%s", path, strerror(errno),
                 err == EM_ERR_NOT_FOUND ? " (run 'energymeter calibrate' to make one)" : "");
        return err;
    }
    text = malloc(MAX_FILE_BYTES + 1);
    size_t n = text ? fread(text, 1, MAX_FILE_BYTES + 1, f) : 0;
    fclose(f);
    if (!text) {
        err = EM_ERR_NOMEM;
        goto cleanup;
    }
    text[n > MAX_FILE_BYTES ? MAX_FILE_BYTES : n] = '\0';
    root = n > MAX_FILE_BYTES ? NULL : cJSON_Parse(text);
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(root, "schema");
    const cJSON *comps = cJSON_GetObjectItemCaseSensitive(root, "components");
    const cJSON *dur = cJSON_GetObjectItemCaseSensitive(root, "duration_s");
    if (!cJSON_IsString(schema) || strcmp(schema->valuestring, "energymeter-baseline/1") != 0 ||
        !cJSON_IsObject(comps)) {
        err = EM_ERR_FORMAT;
        snprintf(msg, msgsz,
                 "%s is not an energymeter baseline (schema energymeter-baseline/1): run "
                 "'energymeter calibrate' again",
                 path);
        goto cleanup;
    }
    if (!(b = calloc(1, sizeof *b))) {
        err = EM_ERR_NOMEM;
        goto cleanup;
    }
    b->duration_s = cJSON_IsNumber(dur) ? dur->valuedouble : 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, comps)
    {
        const cJSON *devs = cJSON_GetObjectItemCaseSensitive(c, "devices"), *d;
        cJSON_ArrayForEach(d, devs)
        {
            if (!cJSON_IsNumber(d) || !isfinite(d->valuedouble) || d->valuedouble < 0 ||
                !c->string || !d->string) {
                err = EM_ERR_FORMAT;
                snprintf(msg, msgsz, "%s: %s/%s is not a power in watts", path,
                         c->string ? c->string : "?", d->string ? d->string : "?");
                goto cleanup;
            }
            if ((err = add_entry(b, c->string, d->string, d->valuedouble)) != 0)
                goto cleanup;
        }
    }
    *out = b;
    b = NULL;

cleanup:
    if (err == EM_ERR_NOMEM)
        snprintf(msg, msgsz, "out of memory reading the baseline");
    em_baseline_free(b);
    cJSON_Delete(root);
    free(text);
    return err;
}
