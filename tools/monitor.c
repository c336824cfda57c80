/*
 * energymeter monitor: live power per component and device.
 *
 * One meter takes back-to-back windows of --interval (tools/windows.c): the
 * power of a window is its joules divided by its duration, so every joule
 * the counters saw lands in exactly one window and nothing depends on
 * sampled instantaneous power.
 *
 * Output: a table refreshed in place on a terminal; CSV (one header line,
 * then one line per window) or JSON lines when stdout is not a terminal or
 * when asked. SIGINT and SIGTERM stop it cleanly (exit 0); --duration
 * bounds it (the last window ends exactly at the duration).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "energymeter/energymeter.h"
#include "options.h"
#include "windows.h"

enum mode { MODE_TABLE, MODE_CSV, MODE_JSON };

#define MAX_COLUMNS 256

void help_monitor(FILE *f)
{
    fputs("Usage: energymeter monitor [--interval MS] [--duration S] [--json|--csv]\n"
          "\n"
          "Show the power of every component (CPU packages, DRAM, GPUs, storage) and\n"
          "device, live: the energy of back-to-back windows of --interval divided by\n"
          "their length. On a terminal, a table refreshed in place; when the output is\n"
          "a pipe or a file, CSV (one header line, then a line per window), or JSON\n"
          "lines with --json. Storage counts every process on the machine. Stops on\n"
          "Ctrl-C (SIGINT) or SIGTERM, exit status 0, or after --duration.\n"
          "\n"
          "  -i, --interval MS   window length in milliseconds (1-3600000, default 1000)\n"
          "  -d, --duration S    stop after S seconds (default: run until stopped)\n"
          "  -j, --json          JSON lines: one object per window\n"
          "      --csv           CSV: t_s,duration_s,total_w,<component>_w...,\n"
          "                      <component>/<device>_w...\n"
          "      --table         the refreshed table even when not on a terminal\n"
          "  -h, --help          this help\n"
          "\n"
          "Watts of a component that cannot be measured are empty (CSV) or null (JSON);\n"
          "'energymeter list' says why.\n"
          "\n"
          "Example: energymeter monitor --interval 500 --duration 60 --csv > power.csv\n",
          f);
}

struct monitor_args {
    unsigned interval_ms;
    double duration_s; /* 0: until stopped */
    enum mode mode;
};

static int parse_args(int argc, char **argv, struct monitor_args *a)
{
    enum { OPT_CSV = 256, OPT_TABLE };
    static const struct option longopts[] = {
        {"interval", required_argument, NULL, 'i'},
        {"duration", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {"csv", no_argument, NULL, OPT_CSV},
        {"table", no_argument, NULL, OPT_TABLE},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    int c, chosen = 0;
    a->interval_ms = 1000;
    a->duration_s = 0;
    options_reset();
    while ((c = getopt_long(argc, argv, ":i:d:jh", longopts, NULL)) != -1) {
        switch (c) {
        case 'i':
            if (parse_interval("monitor", optarg, 1, &a->interval_ms))
                return EXIT_USAGE;
            break;
        case 'd':
            if (parse_duration("monitor", optarg, &a->duration_s))
                return EXIT_USAGE;
            break;
        case 'j':
            a->mode = MODE_JSON;
            chosen++;
            break;
        case OPT_CSV:
            a->mode = MODE_CSV;
            chosen++;
            break;
        case OPT_TABLE:
            a->mode = MODE_TABLE;
            chosen++;
            break;
        case 'h':
            help_monitor(stdout);
            return -1;
        default:
            return option_error("monitor", c, argv);
        }
    }
    if (optind < argc)
        return operand_error("monitor", argv);
    if (chosen > 1)
        return usage_error("monitor", "choose one of --json, --csv and --table");
    if (!chosen)
        a->mode = isatty(STDOUT_FILENO) ? MODE_TABLE : MODE_CSV;
    return 0;
}

static double watts(double joules, double duration)
{
    return isfinite(joules) && duration > 0 ? joules / duration : NAN;
}

/* ------------------------------------------------------------------ JSON */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void json_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.6f", v);
    else
        fputs("null", f);
}

static void print_json(FILE *f, const em_report *r, double t_s)
{
    double dur = em_report_duration_s(r);
    fputs("{\"t_s\": ", f);
    json_num(f, t_s);
    fputs(", \"duration_s\": ", f);
    json_num(f, dur);
    fputs(", \"total_watts\": ", f);
    json_num(f, watts(em_report_total_joules(r), dur));
    fputs(", \"components\": {", f);
    size_t n = em_report_component_count(r);
    for (size_t c = 0; c < n; c++) {
        em_status st = em_component_status(r, c);
        fputs(c ? ", " : "", f);
        json_str(f, em_component_name(r, c));
        fputs(": {\"watts\": ", f);
        json_num(f, st == EM_STATUS_UNAVAILABLE ? NAN : watts(em_component_joules(r, c), dur));
        fputs(", \"status\": ", f);
        json_str(f, em_status_name(st));
        if (!em_component_in_total(r, c))
            fputs(", \"in_total\": false", f);
        if (st != EM_STATUS_UNAVAILABLE) {
            fputs(", \"devices\": {", f);
            for (size_t d = 0; d < em_component_device_count(r, c); d++) {
                fputs(d ? ", " : "", f);
                json_str(f, em_device_name(r, c, d));
                fputs(": ", f);
                json_num(f, watts(em_device_joules(r, c, d), dur));
            }
            fputs("}", f);
        }
        fputs("}", f);
    }
    fputs("}}\n", f);
}

/* ------------------------------------------------------------------- CSV */

/* Columns are fixed by the first window (sources are opened once, so the
 * components and devices do not change): "cpu" or "cpu/package-0". */
struct columns {
    char *name[MAX_COLUMNS];
    size_t n;
};

static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static char *column_name(const char *comp, const char *dev)
{
    size_t n = strlen(comp) + (dev ? strlen(dev) + 1 : 0) + 3;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s%s_w", comp, dev ? "/" : "", dev ? dev : "");
    return s;
}

static int csv_header(FILE *f, const em_report *r, struct columns *cols)
{
    size_t n = em_report_component_count(r);
    for (int pass = 0; pass < 2; pass++)
        for (size_t c = 0; c < n; c++) {
            size_t nd = pass ? em_component_device_count(r, c) : 1;
            for (size_t d = 0; d < nd && cols->n < MAX_COLUMNS; d++) {
                char *s =
                    column_name(em_component_name(r, c), pass ? em_device_name(r, c, d) : NULL);
                if (!s)
                    return -1;
                cols->name[cols->n++] = s;
            }
        }
    fputs("t_s,duration_s,total_w", f);
    for (size_t i = 0; i < cols->n; i++) {
        fputc(',', f);
        csv_field(f, cols->name[i]);
    }
    fputc('\n', f);
    return 0;
}

static void print_csv(FILE *f, const em_report *r, double t_s, const struct columns *cols)
{
    double dur = em_report_duration_s(r);
    double v[MAX_COLUMNS];
    for (size_t i = 0; i < cols->n; i++)
        v[i] = NAN;
    size_t n = em_report_component_count(r);
    for (int pass = 0; pass < 2; pass++)
        for (size_t c = 0; c < n; c++) {
            if (em_component_status(r, c) == EM_STATUS_UNAVAILABLE)
                continue;
            size_t nd = pass ? em_component_device_count(r, c) : 1;
            for (size_t d = 0; d < nd; d++) {
                char *s =
                    column_name(em_component_name(r, c), pass ? em_device_name(r, c, d) : NULL);
                for (size_t i = 0; s && i < cols->n; i++)
                    if (strcmp(cols->name[i], s) == 0)
                        v[i] = watts(pass ? em_device_joules(r, c, d) : em_component_joules(r, c),
                                     dur);
                free(s);
            }
        }
    fprintf(f, "%.6f,%.6f,", t_s, dur);
    double total = watts(em_report_total_joules(r), dur);
    if (isfinite(total))
        fprintf(f, "%.6f", total);
    for (size_t i = 0; i < cols->n; i++) {
        fputc(',', f);
        if (isfinite(v[i]))
            fprintf(f, "%.6f", v[i]);
    }
    fputc('\n', f);
}

/* ----------------------------------------------------------------- table */

/* Free text (names, reasons) with control characters replaced, cut at max. */
static void put_clean(FILE *f, const char *s, int width, size_t max)
{
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p && (size_t)n < max;
         p++, n++)
        fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, f);
    for (; n < width; n++)
        fputc(' ', f);
}

static void print_watts(FILE *f, double w)
{
    if (isfinite(w))
        fprintf(f, "%10.2f W  ", w);
    else
        fprintf(f, "%10s    ", "-");
}

static void print_table(FILE *f, const em_report *r, double t_s, unsigned interval_ms)
{
    double dur = em_report_duration_s(r);
    /* Home the cursor and clear the screen: the table replaces the last one. */
    fputs("\033[H\033[2J", f);
    fprintf(f, "energymeter monitor: %.3f s windows, %.1f s elapsed (Ctrl-C to stop)\n\n",
            interval_ms / 1000.0, t_s);
    fprintf(f, "%-24s %12s  %-12s %s\n", "component / device", "power", "status",
            "source / reason");
    size_t n = em_report_component_count(r);
    for (size_t c = 0; c < n; c++) {
        em_status st = em_component_status(r, c);
        int unavailable = st == EM_STATUS_UNAVAILABLE;
        put_clean(f, em_component_name(r, c), 24, 24);
        fputc(' ', f);
        print_watts(f, unavailable ? NAN : watts(em_component_joules(r, c), dur));
        fprintf(f, "%-12s ", em_status_name(st));
        put_clean(f, unavailable ? em_component_reason(r, c) : em_component_source(r, c), 0, 60);
        if (!unavailable && !em_component_in_total(r, c))
            fputs(" (not in total)", f);
        fputc('\n', f);
        if (unavailable)
            continue;
        for (size_t d = 0; d < em_component_device_count(r, c); d++) {
            fputs("  ", f);
            put_clean(f, em_device_name(r, c, d), 22, 22);
            fputc(' ', f);
            print_watts(f, watts(em_device_joules(r, c, d), dur));
            fputc('\n', f);
        }
    }
    put_clean(f, "total", 24, 24);
    fputc(' ', f);
    print_watts(f, watts(em_report_total_joules(r), dur));
    fputc('\n', f);
}

/* ------------------------------------------------------------------ main */

/* What each window does with its report. */
struct monitor_ctx {
    const struct monitor_args *a;
    struct columns cols;
    int header_done;
    FILE *out;
};

static int each_window(em_report *r, double t_s, void *arg)
{
    struct monitor_ctx *x = arg;
    switch (x->a->mode) {
    case MODE_JSON:
        print_json(x->out, r, t_s);
        break;
    case MODE_CSV:
        if (!x->header_done) {
            if (csv_header(x->out, r, &x->cols)) {
                fprintf(stderr, "energymeter: out of memory\n");
                return 1;
            }
            x->header_done = 1;
        }
        print_csv(x->out, r, t_s, &x->cols);
        break;
    case MODE_TABLE:
        print_table(x->out, r, t_s, x->a->interval_ms);
        break;
    }
    if (fflush(x->out) != 0 || ferror(x->out)) {
        /* The reader went away (monitor | head): a normal way to stop. */
        if (errno == EPIPE)
            return -1;
        fprintf(stderr, "energymeter: writing the output failed: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}

int cmd_monitor(int argc, char **argv)
{
    struct monitor_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc < 0 ? 0 : rc;

    /* A closed pipe (monitor | head) shows as a write error, handled in
     * each_window(). */
    catch_stop_signals();

    em_options opts;
    em_options_init(&opts);
    opts.disk_scope = EM_DISK_SCOPE_SYSTEM;
    em_meter *m = NULL;
    if (em_meter_new(&opts, &m))
        return meter_error(NULL);

    struct monitor_ctx x = {.a = &a, .out = stdout};
    if (a.mode == MODE_TABLE) {
        fprintf(x.out, "\033[H\033[2Jenergymeter monitor: measuring the first %.3f s window...\n",
                a.interval_ms / 1000.0);
        fflush(x.out);
    }
    /* A window cut short by Ctrl-C is not printed: its power would be an
     * average over an arbitrary, possibly tiny, time. */
    struct windows w = {.interval_s = a.interval_ms / 1000.0,
                        .duration_s = a.duration_s,
                        .keep_cut = 0,
                        .each = each_window,
                        .ctx = &x};
    rc = run_windows(m, &w);

    em_meter_free(m);
    for (size_t i = 0; i < x.cols.n; i++)
        free(x.cols.name[i]);
    return rc;
}
