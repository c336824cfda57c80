/* Small internal helpers shared by the library: growable strings, time, logging. */
#ifndef EM_UTIL_H
#define EM_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "energymeter/energymeter.h"

#define EM_INTERNAL __attribute__((visibility("hidden")))
#define EM_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* A growable NUL-terminated string. A failed append sets .oom and is sticky. */
struct em_buf {
    char *data;
    size_t len;
    size_t cap;
    int oom;
};

EM_INTERNAL void em_buf_init(struct em_buf *b);
EM_INTERNAL void em_buf_free(struct em_buf *b);
EM_INTERNAL void em_buf_append(struct em_buf *b, const char *s, size_t n);
EM_INTERNAL void em_buf_puts(struct em_buf *b, const char *s);
EM_INTERNAL void em_buf_printf(struct em_buf *b, const char *fmt, ...) EM_PRINTF(2, 3);
/* Append s as a JSON string literal, quotes included. */
EM_INTERNAL void em_buf_json_str(struct em_buf *b, const char *s);
/* Append s as one CSV field (quoted when it holds a comma, quote or newline). */
EM_INTERNAL void em_buf_csv_field(struct em_buf *b, const char *s);
/* Hand the string over to the caller (NULL when out of memory). */
EM_INTERNAL char *em_buf_steal(struct em_buf *b);

/* Length of the well-formed UTF-8 sequence at s (1..4), or 0 when the bytes
 * there are not valid UTF-8 (overlong, surrogate, above U+10FFFF, truncated). */
EM_INTERNAL size_t em_utf8_len(const unsigned char *s);

/* strdup that accepts NULL. */
EM_INTERNAL char *em_strdup(const char *s);
/* snprintf into a malloc'd string; NULL when out of memory. */
EM_INTERNAL char *em_asprintf(const char *fmt, ...) EM_PRINTF(1, 2);

/* Seconds on CLOCK_MONOTONIC and nanoseconds on CLOCK_REALTIME. */
EM_INTERNAL double em_now_mono(void);
EM_INTERNAL int64_t em_now_real_ns(void);

/* Logging: a callback, else stderr at the level env names (the meter's
 * ENERGYMETER_LOG: "debug", "info", "warn" or "error"), else nothing. */
struct em_logger {
    em_log_fn fn;
    void *userdata;
    em_log_level level;
};
EM_INTERNAL void em_logger_init(struct em_logger *lg, const em_options *opts, const char *env);
EM_INTERNAL void em_log(const struct em_logger *lg, em_log_level level, const char *fmt, ...)
    EM_PRINTF(3, 4);

#endif
