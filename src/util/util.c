/* Small internal helpers: growable strings, escaping, clocks and logging. */
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ------------------------------------------------------------------ em_buf */

void em_buf_init(struct em_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->oom = 0;
}

void em_buf_free(struct em_buf *b)
{
    free(b->data);
    em_buf_init(b);
}

/* Make room for extra more bytes plus the NUL; 0 on success. Once out of
 * memory the buffer stays so, so that callers can check once at the end. */
static int buf_reserve(struct em_buf *b, size_t extra)
{
    if (b->oom)
        return -1;
    if (extra > SIZE_MAX - b->len - 1) {
        b->oom = 1;
        return -1;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void em_buf_append(struct em_buf *b, const char *s, size_t n)
{
    if (buf_reserve(b, n) != 0)
        return;
    if (n)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void em_buf_puts(struct em_buf *b, const char *s)
{
    if (s)
        em_buf_append(b, s, strlen(s));
}

void em_buf_printf(struct em_buf *b, const char *fmt, ...)
{
    va_list ap;
    char small[256];

    if (b->oom)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        /* Only an invalid format or conversion gets here; treat it like a
         * failed append rather than silently dropping text. */
        b->oom = 1;
        return;
    }
    if ((size_t)n < sizeof(small)) {
        em_buf_append(b, small, (size_t)n);
        return;
    }
    if (buf_reserve(b, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Length of the well-formed UTF-8 sequence at s (1..4), or 0 when the bytes
 * there are not valid UTF-8 (overlong, surrogate, above U+10FFFF, truncated). */
size_t em_utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        unsigned char lo = c == 0xe0 ? 0xa0 : 0x80;
        unsigned char hi = c == 0xed ? 0x9f : 0xbf;
        if (s[1] < lo || s[1] > hi || (s[2] & 0xc0) != 0x80)
            return 0;
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        unsigned char lo = c == 0xf0 ? 0x90 : 0x80;
        unsigned char hi = c == 0xf4 ? 0x8f : 0xbf;
        if (s[1] < lo || s[1] > hi || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
            return 0;
        return 4;
    }
    return 0;
}

void em_buf_json_str(struct em_buf *b, const char *s)
{
    if (!s) {
        em_buf_puts(b, "null");
        return;
    }
    em_buf_append(b, "\"", 1);
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        /* Copy the longest run that needs no escaping in one append. */
        const unsigned char *run = p;
        while (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
            p++;
        if (p > run)
            em_buf_append(b, (const char *)run, (size_t)(p - run));
        if (!*p)
            break;
        unsigned char c = *p;
        if (c >= 0x80) {
            /* JSON text must be UTF-8: labels, reasons and argv are free
             * text from users and sysfs, so bytes that are not valid UTF-8
             * become U+FFFD instead of making the whole report unreadable. */
            size_t n = em_utf8_len(p);
            if (n) {
                em_buf_append(b, (const char *)p, n);
                p += n;
            } else {
                em_buf_puts(b, "\\ufffd");
                p++;
            }
            continue;
        }
        switch (c) {
        case '"':
            em_buf_puts(b, "\\\"");
            break;
        case '\\':
            em_buf_puts(b, "\\\\");
            break;
        case '\b':
            em_buf_puts(b, "\\b");
            break;
        case '\f':
            em_buf_puts(b, "\\f");
            break;
        case '\n':
            em_buf_puts(b, "\\n");
            break;
        case '\r':
            em_buf_puts(b, "\\r");
            break;
        case '\t':
            em_buf_puts(b, "\\t");
            break;
        default:
            em_buf_printf(b, "\\u%04x", (unsigned)c);
            break;
        }
        p++;
    }
    em_buf_append(b, "\"", 1);
}

void em_buf_csv_field(struct em_buf *b, const char *s)
{
    if (!s)
        return;
    /* RFC 4180: quote a field holding a separator, quote or line break and
     * double the quotes inside; leave plain fields bare for readability. */
    if (!strpbrk(s, ",\"\r\n")) {
        em_buf_puts(b, s);
        return;
    }
    em_buf_append(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            em_buf_append(b, "\"\"", 2);
        else
            em_buf_append(b, p, 1);
    }
    em_buf_append(b, "\"", 1);
}

char *em_buf_steal(struct em_buf *b)
{
    char *s = NULL;
    if (!b->oom) {
        /* An empty buffer still hands over a real, empty string. */
        s = b->data ? b->data : em_strdup("");
        if (s == b->data)
            b->data = NULL;
    }
    em_buf_free(b);
    return s;
}

/* ----------------------------------------------------------------- strings */

char *em_strdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

char *em_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* ------------------------------------------------------------------- clocks */

double em_now_mono(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0.0;
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int64_t em_now_real_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000000000LL + (int64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------ logging */

/* True when the caller's options struct is large enough to hold field: an
 * application built against an older, smaller em_options must never have
 * fields read past its end. */
#define EM_OPT_HAS(opts, field)                                                                    \
    ((opts)->size >= offsetof(em_options, field) + sizeof((opts)->field))

static const char *level_name(em_log_level level)
{
    switch (level) {
    case EM_LOG_DEBUG:
        return "debug";
    case EM_LOG_INFO:
        return "info";
    case EM_LOG_WARN:
        return "warn";
    case EM_LOG_ERROR:
        return "error";
    default:
        return "log";
    }
}

static void log_to_stderr(em_log_level level, const char *message, void *userdata)
{
    (void)userdata;
    /* One fprintf per line so that lines from the sampler thread and the
     * caller do not interleave mid-line (stdio locks the stream per call). */
    fprintf(stderr, "energymeter: %s: %s\n", level_name(level), message);
}

void em_logger_init(struct em_logger *lg, const em_options *opts, const char *env)
{
    lg->fn = NULL;
    lg->userdata = NULL;
    lg->level = EM_LOG_OFF;

    if (opts && EM_OPT_HAS(opts, log_fn) && opts->log_fn) {
        lg->fn = opts->log_fn;
        if (EM_OPT_HAS(opts, log_userdata))
            lg->userdata = opts->log_userdata;
        /* A struct too old to carry a level still asked for a callback:
         * give it warnings and errors, the levels worth acting on. */
        lg->level = EM_OPT_HAS(opts, log_level) ? opts->log_level : EM_LOG_WARN;
        return;
    }

    if (!env || !*env)
        return;
    em_log_level level;
    if (strcasecmp(env, "debug") == 0)
        level = EM_LOG_DEBUG;
    else if (strcasecmp(env, "info") == 0)
        level = EM_LOG_INFO;
    else if (strcasecmp(env, "warn") == 0 || strcasecmp(env, "warning") == 0)
        level = EM_LOG_WARN;
    else if (strcasecmp(env, "error") == 0)
        level = EM_LOG_ERROR;
    else
        return; /* unknown value: stay silent rather than guess */
    lg->fn = log_to_stderr;
    lg->level = level;
}

void em_log(const struct em_logger *lg, em_log_level level, const char *fmt, ...)
{
    if (!lg || !lg->fn || level < lg->level || level >= EM_LOG_OFF)
        return;
    /* A fixed stack buffer: logging must work when memory is short and from
     * the sampler thread; longer messages are cut, never lost entirely. */
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    lg->fn(level, msg, lg->userdata);
}
