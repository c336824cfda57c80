/*
 * Monotonic time and sleeping for unit tests whose fakes move with time
 * (header-only).
 */
#ifndef EM_TEST_TESTCLOCK_H
#define EM_TEST_TESTCLOCK_H

#include <math.h>
#include <time.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif

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

/* Whether the test runs under valgrind, where every thread runs tens of
 * times slower and wakes late: bounds on timing-bound precision do not hold
 * there (bounds on honesty still must). */
static inline int under_valgrind(void)
{
#ifdef RUNNING_ON_VALGRIND
    return RUNNING_ON_VALGRIND != 0;
#else
    return 0;
#endif
}

#endif
