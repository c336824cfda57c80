/*
 * How NVML's energy counter steps: its period and jitter, learnt from the
 * steps the watches see (worker.c), for the window arithmetic that must
 * place the steps nobody saw (the one before a window's start, the last one
 * before its end when no watch saw it).
 *
 * Model: step k comes at phase + k x period + j_k, the offsets j_k bounded
 * by the jitter. Sightings whose step numbers relative to each other are
 * certain form a chain; each chain has a phase of its own, and all chains
 * share the period, fitted by least squares (so chains too far apart to be
 * linked, such as the watches of windows minutes apart, still add up).
 * What the fit leaves over, beyond the timing errors, is jitter.
 *
 * The window arithmetic adds the uncertainties as bounds, so they are
 * bounds here too, not standard errors:
 * - jitter: the largest offset seen, widened while few were seen. Offsets
 *   spread evenly over +-J leave all of n below J / f with chance f^-n, so
 *   f = 100^(1/n) (1 %), at most 3, with n the residuals' degrees of freedom.
 * - period: three standard errors of the fitted slope for offsets spread
 *   evenly over +-jitter (standard deviation jitter / sqrt 3), plus the most
 *   the timing errors can tilt it. Recomputed whenever the jitter changes, so
 *   that a period fitted before the jitter was seen does not keep an error
 *   that ignores it.
 */
#include <math.h>
#include <string.h>

#include "nvml.h"

/* A step number is certain when its sighting cannot be a step either side:
 * off by less than this fraction of a period at worst. */
#define CERTAIN_FRACTION 0.4

/* How much the largest offset seen is widened with n degrees of freedom. */
static double widen(int dof)
{
    if (dof <= 0)
        return 0; /* nothing to tell jitter from: the period is assumed to hold */
    return fmin(3.0, pow(100.0, 1.0 / dof));
}

/* The chain's own sums: mean k and t, sum (k - kbar)^2, (k - kbar)(t - tbar),
 * |k - kbar|, and its largest timing error. */
struct sums {
    double kbar, tbar, sxx, sxy, sabs, emax;
};

static struct sums chain_sums(const struct em_nvml_steps *s)
{
    struct sums m = {0};
    if (s->n == 0)
        return m;
    for (int i = 0; i < s->n; i++) {
        m.kbar += s->k[i];
        m.tbar += s->t[i];
        m.emax = fmax(m.emax, s->err[i]);
    }
    m.kbar /= s->n;
    m.tbar /= s->n;
    for (int i = 0; i < s->n; i++) {
        double dk = s->k[i] - m.kbar;
        m.sxx += dk * dk;
        m.sxy += dk * (s->t[i] - m.tbar);
        m.sabs += fabs(dk);
    }
    return m;
}

/* Degrees of freedom of all residuals: every chain's points less its phase,
 * less the shared period. */
static int dof_of(const struct em_nvml_steps *s)
{
    int dof = s->dof_past + (s->n > 0 ? s->n - 1 : 0);
    return dof - (s->past_sxx > 0 || s->n > 1 ? 1 : 0);
}

/* Period, jitter and their errors from the chains gone and this one. */
static void refit(struct em_nvml_steps *s)
{
    struct sums m = chain_sums(s);
    double sxx = s->past_sxx + m.sxx, sxy = s->past_sxy + m.sxy;
    double sabs = s->past_sabs + m.sabs, emax = fmax(s->past_emax, m.emax);
    if (!(sxx > 0))
        return; /* no two steps a known number apart yet: the prior holds */
    double T = sxy / sxx;
    if (!(T > 0))
        return;
    /* The offsets of this chain's steps from its own grid, less each
     * sighting's own timing error: what is left is jitter, or the grid's
     * own error (itself from jitter and timing errors). Subtracting the
     * grid's worst case too would hide a jitter as large as the timing
     * errors (2 ms under 0.5 ms brackets went unseen in half of the fresh
     * meters); jitter well below a sighting's timing error stays unseen
     * either way (docs/gpu.md). */
    double tilt = emax * sabs / sxx;
    int residuals = s->n > 2 || (s->n == 2 && s->past_sxx > 0);
    for (int i = 0; residuals && i < s->n; i++) {
        double dk = s->k[i] - m.kbar;
        double r = s->t[i] - m.tbar - T * dk;
        double off = fabs(r) - s->err[i];
        if (off > s->off_max)
            s->off_max = off;
    }
    s->period = T;
    s->jitter = s->off_max * widen(dof_of(s));
    s->period_err = sqrt(3.0) * s->jitter / sqrt(sxx) + tilt;
}

/* Fold the chain into the past sums and start an empty one. */
static void close_chain(struct em_nvml_steps *s)
{
    if (s->n > 0) {
        struct sums m = chain_sums(s);
        s->past_sxx += m.sxx;
        s->past_sxy += m.sxy;
        s->past_sabs += m.sabs;
        s->past_emax = fmax(s->past_emax, m.emax);
        s->dof_past += s->n - 1;
    }
    s->n = 0;
}

/* The step number of a sighting at t +- err relative to the chain, or NAN
 * when it is not certain. `adjacent`: the watch's previous call came after
 * the chain's last sighting, and this one's bracket holds one step only. */
static double step_number(const struct em_nvml_steps *s, double t, double err, int adjacent)
{
    if (s->n == 0)
        return 0;
    int last = s->n - 1;
    double T = s->period;
    if (adjacent)
        return 2 * err < T / 2 ? s->k[last] + 1 : NAN;
    double dk = round((t - s->t[last]) / T);
    /* Where the period puts it, give or take its error over dk periods, the
     * offsets of both steps and both sightings' timing errors. */
    double u = dk * s->period_err + 2 * s->jitter + err + s->err[last];
    if (dk < 1 || u > CERTAIN_FRACTION * T)
        return NAN;
    return s->k[last] + dk;
}

void em_nvml_steps_init(struct em_nvml_steps *s)
{
    memset(s, 0, sizeof *s);
    s->period = EM_NVML_PERIOD_PRIOR_S;
    s->period_err = EM_NVML_PERIOD_ERR_PRIOR_S;
}

void em_nvml_steps_learn(struct em_nvml_steps *s, const double *t, const double *err, int count)
{
    int prev = 0; /* the previous sighting of this watch is the chain's last */
    for (int i = 0; i < count; i++) {
        if (!(err[i] >= 0) || !isfinite(t[i])) {
            prev = 0;
            continue;
        }
        s->seen++;
        double k = step_number(s, t[i], err[i], prev);
        prev = 1;
        if (isnan(k) || s->n == EM_NVML_CHAIN_MAX) {
            close_chain(s);
            k = 0;
        }
        s->k[s->n] = k;
        s->t[s->n] = t[i];
        s->err[s->n] = err[i];
        s->n++;
        refit(s);
    }
}

double em_nvml_steps_spacing_err(const struct em_nvml_steps *s)
{
    return s->period_err + 2 * s->jitter;
}
