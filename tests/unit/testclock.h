/*
 * Monotonic time and sleeping for unit tests whose fakes move with time
 * (header-only).
 */
#ifndef EM_TEST_TESTCLOCK_H
#define EM_TEST_TESTCLOCK_H

#include <math.h>
#include <time.h>

/* CLOCK_MONOTONIC in seconds. */
static inline double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Sleeps s seconds, however often a signal interrupts. */
static inline void sleep_s(double s)
{
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - floor(s)) * 1e9)};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

#endif
