/*
 * The writers: each formats a read-only view of a report (or of running
 * totals, or of a source listing) into a growable string, and calls nothing
 * that calls it. format.c dispatches em_format values to them. An out of
 * memory write leaves the buffer's sticky .oom set.
 */
#ifndef EM_OUTPUTS_OUTPUTS_H
#define EM_OUTPUTS_OUTPUTS_H

#include "report/listing.h"
#include "report/report.h"
#include "report/totals.h"
#include "util/util.h"

/* A human table like perf stat's (text.c). */
EM_INTERNAL void em_write_text(const struct em_report *r, struct em_buf *b);
/* JSON, schema energymeter/1 (json.c). */
EM_INTERNAL void em_write_json(const struct em_report *r, struct em_buf *b);
/* One row per component and device, then the time series (csv.c). */
EM_INTERNAL void em_write_csv(const struct em_report *r, struct em_buf *b);
/* A self-contained SVG plot (svg.c). */
EM_INTERNAL void em_write_svg(const struct em_report *r, struct em_buf *b);
/* Prometheus text exposition format 0.0.4 (prom.c). */
EM_INTERNAL void em_write_prometheus(const struct em_totals *t, struct em_buf *b);
/* What `energymeter list` prints, as text or JSON (list.c). */
EM_INTERNAL void em_write_listing_text(const struct em_listing *l, struct em_buf *b);
EM_INTERNAL void em_write_listing_json(const struct em_listing *l, struct em_buf *b);
/* The listing as text or JSON (EM_FORMAT_TEXT, EM_FORMAT_JSON; else
 * EM_ERR_INVALID), for em_free(). EM_ERR_NOMEM. */
EM_INTERNAL int em_listing_to_string(const struct em_listing *l, em_format format, char **out);

#endif
