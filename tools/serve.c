/*
 * energymeter serve: a Prometheus exporter.
 *
 * One meter measures back-to-back windows of --interval, as monitor does
 * (tools/windows.c), and adds each window's report to running totals
 * (em_totals, in the library): counters that only grow. GET /metrics answers the totals as of
 * the last completed window, in Prometheus text format; libmicrohttpd
 * serves it from its own thread, under the mutex that guards the totals.
 *
 * It listens on loopback unless told otherwise: energy readings at a fine
 * grain are a side channel (CVE-2020-8694), so exposing them beyond the
 * machine is the user's explicit choice (--listen 0.0.0.0:PORT).
 */
#ifndef EM_NO_SERVE
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "commands.h"
#include "energymeter/energymeter.h"
#include "options.h"
#include "windows.h"

#define DEFAULT_PORT "9955"
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

void help_serve(FILE *f)
{
    fputs("Usage: energymeter serve [--listen ADDR:PORT] [--interval MS] [--duration S]\n"
          "\n"
          "Serve the energy of every component (CPU packages, DRAM, GPUs, storage) and\n"
          "device to Prometheus: GET /metrics answers counters of the joules measured\n"
          "since the exporter started (energymeter_energy_joules_total and others, see\n"
          "'man energymeter'), updated once per window of --interval. Storage counts\n"
          "every process on the machine. Stops on SIGINT or SIGTERM (exit status 0).\n"
          "\n"
          "  -l, --listen ADDR:PORT  where to listen (default 127.0.0.1:" DEFAULT_PORT
          "); ADDR is an\n"
          "                          IPv4 or [IPv6] address or a host name, PORT 0 picks a\n"
          "                          free port; a bare PORT listens on loopback. Listening\n"
          "                          beyond loopback exposes energy readings to the network\n"
          "  -i, --interval MS       window length in milliseconds (10-3600000, default 1000)\n"
          "  -d, --duration S        stop after S seconds (default: run until stopped)\n"
          "  -h, --help              this help\n"
          "\n"
          "The address actually listened on is printed on stderr once the exporter is\n"
          "ready: 'energymeter serve: listening on http://ADDR:PORT/metrics'.\n"
          "\n"
          "Example scrape configuration (prometheus.yml):\n"
          "  scrape_configs:\n"
          "    - job_name: energymeter\n"
          "      static_configs: [{targets: ['127.0.0.1:" DEFAULT_PORT "']}]\n",
          f);
}

struct serve_args {
    char host[256];
    char port[16];
    unsigned interval_ms;
    double duration_s; /* 0: until stopped */
};

/* "ADDR:PORT", "[V6]:PORT", ":PORT" (all interfaces) or "PORT" (loopback). */
static int parse_listen(const char *s, struct serve_args *a)
{
    const char *colon = strrchr(s, ':');
    const char *host = s, *port;
    size_t hlen;
    if (!colon) {
        host = "127.0.0.1";
        hlen = strlen(host);
        port = s;
    } else {
        port = colon + 1;
        hlen = (size_t)(colon - s);
        if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']') {
            host = s + 1;
            hlen -= 2;
        } else if (memchr(s, ':', hlen)) {
            return -1; /* an IPv6 address must be in brackets */
        }
    }
    unsigned p;
    if (hlen >= sizeof a->host || parse_uint(port, 65535, &p))
        return -1;
    memcpy(a->host, host, hlen);
    a->host[hlen] = '\0';
    snprintf(a->port, sizeof a->port, "%u", p);
    return 0;
}

static int parse_args(int argc, char **argv, struct serve_args *a)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"interval", required_argument, NULL, 'i'},
        {"duration", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    int c;
    snprintf(a->host, sizeof a->host, "127.0.0.1");
    snprintf(a->port, sizeof a->port, "%s", DEFAULT_PORT);
    a->interval_ms = 1000;
    a->duration_s = 0;
    options_reset();
    while ((c = getopt_long(argc, argv, ":l:i:d:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'l':
            if (parse_listen(optarg, a))
                return usage_error("serve",
                                   "--listen wants ADDR:PORT (PORT 0-65535, an IPv6 "
                                   "address in brackets), not '%s'",
                                   optarg);
            break;
        case 'i':
            if (parse_interval("serve", optarg, 10, &a->interval_ms))
                return EXIT_USAGE;
            break;
        case 'd':
            if (parse_duration("serve", optarg, &a->duration_s))
                return EXIT_USAGE;
            break;
        case 'h':
            help_serve(stdout);
            return -1;
        default:
            return option_error("serve", c, argv);
        }
    }
    if (optind < argc)
        return operand_error("serve", argv);
    return 0;
}

/* ------------------------------------------------------------------ HTTP */

struct server {
    pthread_mutex_t mu;
    em_totals *totals;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
                             char *body, int owned)
{
    struct MHD_Response *resp =
        owned ? MHD_create_response_from_buffer_with_free_callback(strlen(body), body, em_free)
              : MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        if (owned)
            em_free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    struct server *s = cls;
    (void)version;
    (void)upload_data;
    (void)con_cls;
    if (*upload_data_size)
        *upload_data_size = 0; /* a body nobody asked for is dropped */
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
                     (char *)"only GET and HEAD are served\n", 0);
    if (strcmp(url, "/metrics") == 0) {
        char *text = NULL;
        pthread_mutex_lock(&s->mu);
        int err = em_totals_to_string(s->totals, EM_FORMAT_PROMETHEUS, &text);
        pthread_mutex_unlock(&s->mu);
        if (err)
            return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain",
                         (char *)"energymeter: out of memory\n", 0);
        return reply(conn, MHD_HTTP_OK, METRICS_CONTENT_TYPE, text, 1);
    }
    if (strcmp(url, "/") == 0)
        return reply(conn, MHD_HTTP_OK, "text/plain; charset=utf-8",
                     (char *)"energymeter exporter: the metrics are at /metrics\n", 0);
    return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain",
                 (char *)"not found: the metrics are at /metrics\n", 0);
}

/* A listening socket on a->host:a->port; -1 with a message on stderr. The
 * address listened on goes to where (for the ready line). */
static int listen_on(const struct serve_args *a, char *where, size_t size)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(a->host[0] ? a->host : NULL, a->port, &hints, &res);
    if (rc) {
        fprintf(stderr, "energymeter: serve: cannot resolve '%s': %s (see --listen)\n", a->host,
                gai_strerror(rc));
        return -1;
    }
    int fd = -1, saved = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 64) == 0)
            break;
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        fprintf(stderr,
                "energymeter: serve: cannot listen on %s%s%s:%s: %s (choose another address or "
                "port with --listen ADDR:PORT)\n",
                strchr(a->host, ':') ? "[" : "", a->host, strchr(a->host, ':') ? "]" : "", a->port,
                strerror(saved));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[NI_MAXHOST] = "?", port[NI_MAXSERV] = "?";
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        getnameinfo((struct sockaddr *)&ss, len, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV);
    snprintf(where, size, "%s%s%s:%s", ss.ss_family == AF_INET6 ? "[" : "", host,
             ss.ss_family == AF_INET6 ? "]" : "", port);
    return fd;
}

/* ------------------------------------------------------------------ main */

/* Each window's report into the totals. */
static int each_window(em_report *r, double t_s, void *arg)
{
    struct server *s = arg;
    (void)t_s;
    pthread_mutex_lock(&s->mu);
    int err = em_totals_add(s->totals, r);
    pthread_mutex_unlock(&s->mu);
    if (err) {
        fprintf(stderr, "energymeter: serve: %s\n", em_strerror(err));
        return 1;
    }
    return 0;
}

int cmd_serve(int argc, char **argv)
{
    struct serve_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc < 0 ? 0 : rc;

    catch_stop_signals();

    struct server s = {.totals = NULL};
    struct MHD_Daemon *d = NULL;
    em_meter *m = NULL;
    int fd = -1;
    char where[NI_MAXHOST + NI_MAXSERV + 4];
    pthread_mutex_init(&s.mu, NULL);
    rc = 1;
    if (em_totals_new(&s.totals)) {
        fprintf(stderr, "energymeter: serve: out of memory\n");
        goto cleanup;
    }
    /* Listen first: a port in use is reported before the sources are opened. */
    if ((fd = listen_on(&a, where, sizeof where)) < 0)
        goto cleanup;

    em_options opts;
    em_options_init(&opts);
    opts.disk_scope = EM_DISK_SCOPE_SYSTEM;
    opts.label = "energymeter serve";
    if (em_meter_new(&opts, &m)) {
        meter_error(NULL);
        goto cleanup;
    }
    d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, handle,
                         &s, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
                         (unsigned)64, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "energymeter: serve: the HTTP server (libmicrohttpd) did not start\n");
        goto cleanup;
    }
    fd = -1; /* the daemon owns it now */
    fprintf(stderr, "energymeter serve: listening on http://%s/metrics (%.3f s windows)\n", where,
            a.interval_ms / 1000.0);
    fflush(stderr);
    /* A window cut short by a signal still counts: the counters stay exact
     * whatever the window's length. */
    struct windows w = {.interval_s = a.interval_ms / 1000.0,
                        .duration_s = a.duration_s,
                        .keep_cut = 1,
                        .split = 1,
                        .each = each_window,
                        .ctx = &s};
    rc = run_windows(m, &w);

cleanup:
    if (d)
        MHD_stop_daemon(d);
    if (fd >= 0)
        close(fd);
    em_meter_free(m);
    em_totals_free(s.totals);
    pthread_mutex_destroy(&s.mu);
    return rc;
}

#else /* EM_NO_SERVE: a CLI built without libmicrohttpd (make NO_SERVE=1) */

#include "commands.h"
#include "options.h"

void help_serve(FILE *f)
{
    fputs("Usage: energymeter serve [--listen ADDR:PORT] [--interval MS] [--duration S]\n"
          "\n"
          "This energymeter was built without the Prometheus exporter (make NO_SERVE=1).\n",
          f);
}

int cmd_serve(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "energymeter: serve: this binary was built without the exporter "
                    "(NO_SERVE=1, no libmicrohttpd); rebuild without NO_SERVE\n");
    return EXIT_USAGE;
}

#endif
