/* Back-to-back windows on one meter (tools/windows.c), for monitor and serve. */
#ifndef EM_WINDOWS_H
#define EM_WINDOWS_H

#include "energymeter/energymeter.h"

struct windows {
    double interval_s;
    double duration_s; /* 0: until stopped; the last window ends exactly then */
    int keep_cut;      /* hand over a window cut short by SIGINT/SIGTERM too */
    int split;         /* one named window split at each deadline: no time between windows
                          (em_window_split()), the GPU's figures its counter's difference */
    /* Each window's report (valid until it returns) and when it ended,
     * seconds since the first began: 0 to go on, > 0 to stop with that exit
     * status, < 0 to stop with 0. */
    int (*each)(em_report *r, double t_s, void *ctx);
    void *ctx;
};

/* SIGINT and SIGTERM end the current window (and run_windows()); SIGPIPE is
 * ignored. Call before creating the meter, so that a signal then is not fatal. */
void catch_stop_signals(void);

/* Run windows until stopped, the duration is over or each() says so; the
 * exit status (1 after a library error, with its message on stderr). */
int run_windows(em_meter *m, const struct windows *w);

#endif
