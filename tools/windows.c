/*
 * Back-to-back windows on one meter, for monitor and serve: em_begin(), sleep
 * to the window's deadline, em_end(), em_begin() again at once, then hand the
 * report over; or (split, for serve's counters) one named window split at
 * each deadline, so that no time falls between two windows. Deadlines are absolute
 * (CLOCK_MONOTONIC), so windows do not drift however long the caller takes with a report; the
 * report stays valid until the next em_end(), which comes only after the caller returns.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <time.h>

#include "options.h"
#include "windows.h"

/* Set by SIGINT and SIGTERM: the current window ends now. */
static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

void catch_stop_signals(void)
{
    /* No SA_RESTART: the window's sleep returns at once. A closed pipe
     * (monitor | head) shows as a write error instead of killing us. */
    struct sigaction sa = {.sa_handler = on_stop};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sleep until monotonic time t; returns early when a stop is requested (the
 * signal interrupts the sleep). */
static void sleep_until(double t)
{
    struct timespec ts;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    while (!stop_requested) {
        int rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        if (rc == 0 || rc != EINTR)
            return;
    }
}

/* The named window's name when split. */
#define SPLIT_WINDOW "energymeter"

/* Windows of em_window_split(): each window's first reading is the last
 * one of the window before. */
static int run_split(em_meter *m, const struct windows *w, double start, double end)
{
    if (em_window_begin(m, SPLIT_WINDOW))
        return meter_error(m);
    for (unsigned long k = 1;; k++) {
        double deadline = fmin(start + w->interval_s * (double)k, end);
        sleep_until(deadline);
        int last = stop_requested || deadline >= end;
        em_report *r = NULL;
        if (last ? em_window_end(m, SPLIT_WINDOW, &r) : em_window_split(m, SPLIT_WINDOW, &r))
            return meter_error(m);
        double t_s = now_mono() - start;
        int rc = stop_requested && !w->keep_cut ? -1 : w->each(r, t_s, w->ctx);
        em_report_free(r);
        if (rc)
            return rc < 0 ? 0 : rc;
        if (last)
            return 0;
    }
}

int run_windows(em_meter *m, const struct windows *w)
{
    double start = now_mono();
    double end = w->duration_s > 0 ? start + w->duration_s : INFINITY;
    if (w->split)
        return run_split(m, w, start, end);
    if (em_begin(m))
        return meter_error(m);
    for (unsigned long k = 1;; k++) {
        double deadline = fmin(start + w->interval_s * (double)k, end);
        sleep_until(deadline);
        if (em_end(m))
            return meter_error(m);
        double t_s = now_mono() - start;
        int last = stop_requested || deadline >= end;
        if (stop_requested && !w->keep_cut)
            return 0;
        em_report *r = em_meter_report(m);
        if (!last && em_begin(m))
            return meter_error(m);
        int rc = w->each(r, t_s, w->ctx);
        if (rc)
            return rc < 0 ? 0 : rc;
        if (last)
            return 0;
    }
}
