/*
 * Reports for the tests of the report and its writers. The meter builds a
 * report from a window's readings in one pass (em_report_build()); these
 * tests build an empty one that way, fill its readings (r->win) with the
 * same helpers the meter and the sources use, then total it.
 */
#ifndef EM_TESTS_REPORTS_H
#define EM_TESTS_REPORTS_H

#include "report/report.h"

static inline struct em_report *test_report_new(const char *label, int include_idle)
{
    struct em_readings w;
    assert_int_equal(em_readings_init(&w, label, include_idle), 0);
    struct em_report *r = NULL;
    assert_int_equal(em_report_build(&w, NULL, &r), 0);
    return r;
}

#endif
