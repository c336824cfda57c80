/*
 * Building the report from a window's readings, once, and the two things
 * only the caller knows (the command and its exit status). Totals are
 * computed here, in em_report_finish(); the outputs only print them.
 */
#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "baseline.h"

static void free_argv(struct em_report *r)
{
    if (r->argv) {
        for (int i = 0; i < r->argc; i++)
            free(r->argv[i]);
        free(r->argv);
    }
    r->argv = NULL;
    r->argc = 0;
}

void em_report_free(struct em_report *r)
{
    if (!r)
        return;
    em_readings_free(&r->win);
    free_argv(r);
    free(r);
}

void em_report_finish(struct em_report *r)
{
    if (!r)
        return;
    double total = 0.0;
    for (size_t i = 0; i < r->win.ncomps; i++) {
        struct em_reading *c = &r->win.comps[i];
        if (c->status == EM_STATUS_UNAVAILABLE) {
            /* Enforce the invariant even for a component whose status was
             * set by hand instead of through em_reading_set_unavailable(). */
            c->joules = NAN;
            c->uncertainty_j = NAN;
            continue;
        }
        if (c->ndevices > 0) {
            double j = 0.0, u = 0.0;
            for (size_t d = 0; d < c->ndevices; d++) {
                j += c->devices[d].joules;
                /* Errors of different counters may all lean the same way,
                 * so the bound adds them instead of adding in quadrature. */
                u += c->devices[d].uncertainty_j;
            }
            c->joules = j;
            c->uncertainty_j = u;
        }
        if (c->in_total)
            total += c->joules;
    }
    r->total_joules = total;
}

int em_report_build(struct em_readings *w, const struct em_baseline *baseline,
                    struct em_report **out)
{
    *out = NULL;
    struct em_report *r = calloc(1, sizeof *r);
    if (!r) {
        em_readings_free(w);
        return EM_ERR_NOMEM;
    }
    r->win = *w;
    memset(w, 0, sizeof *w);
    em_report_finish(r);
    if (baseline && em_baseline_apply(baseline, r)) {
        em_report_free(r);
        return EM_ERR_NOMEM;
    }
    *out = r;
    return 0;
}

double em_report_device_power_at(const struct em_report *r, const struct em_reading_device *d,
                                 size_t i)
{
    if (!d->series_j || i >= r->win.nsamples)
        return NAN;
    double dt = r->win.sample_t[i + 1] - r->win.sample_t[i];
    if (!(dt > 0))
        return NAN;
    return (d->series_j[i + 1] - d->series_j[i]) / dt;
}

int em_report_set_command(em_report *r, int argc, const char *const *argv)
{
    if (!r || argc < 0 || (argc > 0 && !argv))
        return EM_ERR_INVALID;
    for (int i = 0; i < argc; i++)
        if (!argv[i])
            return EM_ERR_INVALID;

    /* NULL-terminated, so that an empty command is still "set" (argv != NULL). */
    char **copy = calloc((size_t)argc + 1, sizeof(*copy));
    if (!copy)
        return EM_ERR_NOMEM;
    for (int i = 0; i < argc; i++) {
        copy[i] = em_strdup(argv[i]);
        if (!copy[i]) {
            for (int j = 0; j < i; j++)
                free(copy[j]);
            free(copy);
            return EM_ERR_NOMEM;
        }
    }
    free_argv(r);
    r->argv = copy;
    r->argc = argc;
    return EM_OK;
}

void em_report_set_exit_status(em_report *r, int status)
{
    if (!r)
        return;
    r->exit_status = status;
    r->has_exit_status = 1;
}
