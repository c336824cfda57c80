/*
 * energymeter stat: run a command, measure the energy of the window it ran
 * in, write the report, exit with the command's status.
 *
 * The meter is created (sources probed and opened) before the command
 * starts, so that em_begin() and em_end() bracket the command closely.
 * SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to energymeter are forwarded to
 * the command; the report is written when it ends, whatever ends it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"
#include "energymeter/energymeter.h"
#include "options.h"

static volatile sig_atomic_t child_pid;

#define DEFAULT_GPU_SETTLE_MS 150

/* Exit status when the command cannot be run (like a shell). */
#define EXIT_NOEXEC 127

static const int forwarded_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define N_FORWARDED (sizeof forwarded_signals / sizeof forwarded_signals[0])

void help_stat(FILE *f)
{
    fputs("Usage: energymeter stat [OPTIONS] [--] CMD [ARGS...]\n"
          "\n"
          "Run CMD, measure the energy of every component while it runs, and write the\n"
          "report to stderr (or -o FILE). Exits with CMD's exit status (128+N when CMD\n"
          "dies of signal N, 127 when CMD cannot be run). SIGINT, SIGTERM, SIGHUP and\n"
          "SIGQUIT are forwarded to CMD; the report is still written.\n"
          "\n"
          "Output:\n"
          "  -o, --output FILE          write the report to FILE instead of stderr\n"
          "  -j, --json                 JSON report (schema energymeter/1)\n"
          "      --csv                  CSV report, one row per component and device\n"
          "      --label TEXT           a label copied into the report\n"
          "      --plot FILE.svg        also write a plot (SVG): joules per component and,\n"
          "                             with --interval, power over time\n"
          "\n"
          "Measurement:\n"
          "      --interval MS          record a time series: mean power per component and\n"
          "                             device every MS milliseconds (1-3600000), in the\n"
          "                             JSON/CSV report and the plot; at most 4096 samples,\n"
          "                             longer runs are downsampled\n"
          "      --include-idle         disk model: add idle power over the window\n"
          "      --disk-avg-speed B/S   disk model: bytes per second (original model)\n"
          "      --disk-active-power W  disk model: active power (default 6 W)\n"
          "      --disk-idle-power W    disk model: idle power (default 1.42 W)\n"
          "      --disk-power DEV:A:I   per-device active and idle power (repeatable)\n"
          "      --disk-scope SCOPE     'tree' (CMD and its descendants, default) or 'system'\n"
          "      --disk-time MODEL      'busy' (measured busy time, default) or 'bytes'\n"
          "                             (bytes / --disk-avg-speed, the original model)\n"
          "      --ignore-disk          do not measure storage\n"
          "      --no-bpf               do not use eBPF (fallback sources only)\n"
          "      --baseline S           measure idle power for S seconds before CMD, and\n"
          "                             report idle_joules and dynamic_joules\n"
          "      --baseline-file PATH   use this stored baseline (default: the one\n"
          "                             'energymeter calibrate' stored, if any)\n"
          "      --no-baseline          do not use a stored baseline\n"
          "      --no-estimates         never estimate: no sensor means unavailable\n"
          "      --cpu-tdp W            CPU model: power of all packages at full load\n"
          "      --cpu-idle W           CPU model: idle power (default 30 % of the TDP)\n"
          "      --gpu LIST             measure only these GPUs (indexes, e.g. 0,2)\n"
          "      --gpu-settle MS        at the end, wait up to MS (default 150, 0: never)\n"
          "                             for the GPU energy counter's next step, which\n"
          "                             makes the end of the window exact\n"
          "\n"
          "  -h, --help                 this help\n"
          "\n"
          "Example: energymeter stat --json -o run.json -- python3 train.py\n",
          f);
}

static void forward_signal(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    /* A terminal's ^C already reached the command through its process group
     * (SI_KERNEL); forward only what was sent to energymeter itself. */
    if (child_pid > 0 && si->si_code != SI_KERNEL)
        kill((pid_t)child_pid, sig);
}

struct stat_args {
    double baseline_s;         /* --baseline S: measure idle power first */
    const char *baseline_file; /* --baseline-file PATH */
    int no_baseline;
    char disk_power[1024]; /* --disk-power values joined with commas */
    const char *output;
    const char *plot; /* --plot FILE.svg: also write the SVG plot there */
    em_format format;
    em_options opts;
    char **cmd;
};

/* "0" or "0,2,3": GPU indexes. */
static int valid_gpu_list(const char *s)
{
    char buf[256];
    unsigned v;
    if (strlen(s) >= sizeof buf)
        return 0;
    strcpy(buf, s);
    char *save = NULL;
    int n = 0;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save), n++)
        if (parse_uint(tok, 1023, &v))
            return 0;
    return n > 0 && s[strlen(s) - 1] != ',' && s[0] != ',';
}

/* "DEV:ACTIVE:IDLE" with two watt figures >= 0. */
static int valid_disk_power(const char *s)
{
    const char *c1 = strchr(s, ':');
    const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c1 || !c2 || c1 == s || strchr(c2 + 1, ':') || strchr(s, ','))
        return 0;
    char active[64];
    double w;
    size_t n = (size_t)(c2 - c1 - 1);
    if (n == 0 || n >= sizeof active)
        return 0;
    memcpy(active, c1 + 1, n);
    active[n] = '\0';
    return parse_nonneg_double(active, &w) == 0 && parse_nonneg_double(c2 + 1, &w) == 0;
}

/* The long options without a short form. */
enum {
    OPT_CSV = 256,
    OPT_LABEL,
    OPT_INTERVAL,
    OPT_PLOT,
    OPT_IDLE,
    OPT_SPEED,
    OPT_ACTIVE,
    OPT_IDLEP,
    OPT_GPU,
    OPT_SETTLE,
    OPT_SCOPE,
    OPT_DTIME,
    OPT_DPOWER,
    OPT_NODISK,
    OPT_NOBPF,
    OPT_NOEST,
    OPT_TDP,
    OPT_CPUIDLE,
    OPT_BASELINE,
    OPT_BASEFILE,
    OPT_NOBASE
};

static const struct option longopts[] = {
    {"output", required_argument, NULL, 'o'},
    {"json", no_argument, NULL, 'j'},
    {"csv", no_argument, NULL, OPT_CSV},
    {"label", required_argument, NULL, OPT_LABEL},
    {"interval", required_argument, NULL, OPT_INTERVAL},
    {"plot", required_argument, NULL, OPT_PLOT},
    {"include-idle", no_argument, NULL, OPT_IDLE},
    {"disk-avg-speed", required_argument, NULL, OPT_SPEED},
    {"disk-active-power", required_argument, NULL, OPT_ACTIVE},
    {"disk-idle-power", required_argument, NULL, OPT_IDLEP},
    {"gpu", required_argument, NULL, OPT_GPU},
    {"gpu-settle", required_argument, NULL, OPT_SETTLE},
    {"disk-scope", required_argument, NULL, OPT_SCOPE},
    {"disk-time", required_argument, NULL, OPT_DTIME},
    {"disk-power", required_argument, NULL, OPT_DPOWER},
    {"ignore-disk", no_argument, NULL, OPT_NODISK},
    {"no-bpf", no_argument, NULL, OPT_NOBPF},
    {"no-estimates", no_argument, NULL, OPT_NOEST},
    {"cpu-tdp", required_argument, NULL, OPT_TDP},
    {"cpu-idle", required_argument, NULL, OPT_CPUIDLE},
    {"baseline", required_argument, NULL, OPT_BASELINE},
    {"baseline-file", required_argument, NULL, OPT_BASEFILE},
    {"no-baseline", no_argument, NULL, OPT_NOBASE},
    {"help", no_argument, NULL, 'h'},
    {0, 0, 0, 0},
};

/*
 * The options are set by one function per group, as in the help. Each takes
 * what getopt_long() returned and its value, and returns 0 when it took the
 * option, the exit status of a usage error it printed, or NOT_MINE for an
 * option of another group.
 */
#define NOT_MINE (-2)

/* arg is first (*which = 0) or second (1): 0, or the usage error. */
static int pick(const char *opt, const char *arg, const char *first, const char *second, int *which)
{
    if (strcmp(arg, first) != 0 && strcmp(arg, second) != 0)
        return usage_error("stat", "%s is '%s' or '%s', not '%s'", opt, first, second, arg);
    *which = strcmp(arg, second) == 0;
    return 0;
}

/* -o, --json, --csv, --label, --plot. */
static int output_option(struct stat_args *a, int c, const char *arg)
{
    switch (c) {
    case 'o':
        a->output = arg;
        return 0;
    case 'j':
        a->format = EM_FORMAT_JSON;
        return 0;
    case OPT_CSV:
        a->format = EM_FORMAT_CSV;
        return 0;
    case OPT_LABEL:
        a->opts.label = arg;
        return 0;
    case OPT_PLOT:
        if (!*arg)
            return usage_error("stat", "--plot wants a file name (e.g. run.svg)");
        a->plot = arg;
        return 0;
    default:
        return NOT_MINE;
    }
}

/* --interval, --gpu, --gpu-settle. */
static int series_gpu_option(struct stat_args *a, int c, const char *arg)
{
    switch (c) {
    case OPT_INTERVAL:
        return parse_interval("stat", arg, 1, &a->opts.interval_ms);
    case OPT_GPU:
        if (!valid_gpu_list(arg))
            return usage_error(
                "stat", "--gpu wants GPU indexes separated by commas (e.g. 0,2), not '%s'", arg);
        a->opts.gpu_list = arg;
        return 0;
    case OPT_SETTLE:
        return parse_ms("stat", "--gpu-settle", arg, 0, 10000, &a->opts.gpu_settle_ms);
    default:
        return NOT_MINE;
    }
}

/* --disk-power DEV:A:I, appended to the ones before. */
static int add_disk_power(struct stat_args *a, const char *arg)
{
    if (!valid_disk_power(arg) || strlen(a->disk_power) + strlen(arg) + 2 > sizeof a->disk_power)
        return usage_error(
            "stat", "--disk-power wants DEV:ACTIVE_W:IDLE_W (e.g. nvme0n1:6:1.4), not '%s'", arg);
    if (a->disk_power[0])
        strcat(a->disk_power, ",");
    strcat(a->disk_power, arg);
    a->opts.disk_power = a->disk_power;
    return 0;
}

/* The disk model and the storage sources. */
static int disk_option(struct stat_args *a, int c, const char *arg)
{
    em_options *o = &a->opts;
    int k;
    switch (c) {
    case OPT_IDLE:
        o->include_idle = 1;
        return 0;
    case OPT_SPEED:
        return parse_amount("stat", "--disk-avg-speed", arg, "bytes per second", 1,
                            &o->disk_avg_speed);
    case OPT_ACTIVE:
        return parse_amount("stat", "--disk-active-power", arg, "watts", 0, &o->disk_active_power);
    case OPT_IDLEP:
        return parse_amount("stat", "--disk-idle-power", arg, "watts", 0, &o->disk_idle_power);
    case OPT_DPOWER:
        return add_disk_power(a, arg);
    case OPT_SCOPE:
        if (pick("--disk-scope", arg, "tree", "system", &k))
            return EXIT_USAGE;
        o->disk_scope = k ? EM_DISK_SCOPE_SYSTEM : EM_DISK_SCOPE_TREE;
        return 0;
    case OPT_DTIME:
        if (pick("--disk-time", arg, "busy", "bytes", &k))
            return EXIT_USAGE;
        o->disk_time = k ? EM_DISK_TIME_BYTES : EM_DISK_TIME_BUSY;
        return 0;
    case OPT_NODISK:
        o->ignore_disk = 1;
        return 0;
    case OPT_NOBPF:
        o->no_bpf = 1;
        return 0;
    default:
        return NOT_MINE;
    }
}

/* --baseline, --baseline-file, --no-baseline. */
static int baseline_option(struct stat_args *a, int c, const char *arg)
{
    switch (c) {
    case OPT_BASELINE:
        return parse_seconds("stat", "--baseline", arg, 0.1, 3600, &a->baseline_s);
    case OPT_BASEFILE:
        a->baseline_file = arg;
        return 0;
    case OPT_NOBASE:
        a->no_baseline = 1;
        return 0;
    default:
        return NOT_MINE;
    }
}

/* --no-estimates and the CPU model. */
static int estimate_option(struct stat_args *a, int c, const char *arg)
{
    switch (c) {
    case OPT_NOEST:
        a->opts.no_estimates = 1;
        return 0;
    case OPT_TDP:
        return parse_amount("stat", "--cpu-tdp", arg, "watts", 1, &a->opts.cpu_tdp_w);
    case OPT_CPUIDLE:
        return parse_amount("stat", "--cpu-idle", arg, "watts", 0, &a->opts.cpu_idle_w);
    default:
        return NOT_MINE;
    }
}

static int (*const option_groups[])(struct stat_args *a, int c, const char *arg) = {
    output_option, series_gpu_option, disk_option, baseline_option, estimate_option,
};

/* What each option allows alone but not together with another. */
static int check_combinations(const struct stat_args *a)
{
    const em_options *o = &a->opts;
    if ((a->baseline_s > 0) + (a->baseline_file != NULL) + a->no_baseline > 1)
        return usage_error("stat", "--baseline, --baseline-file and --no-baseline "
                                   "exclude each other");
    if (o->cpu_idle_w > 0 && !(o->cpu_tdp_w > 0))
        return usage_error("stat", "--cpu-idle needs --cpu-tdp");
    if (o->cpu_tdp_w > 0 && o->cpu_idle_w > o->cpu_tdp_w)
        return usage_error("stat", "--cpu-idle cannot exceed --cpu-tdp");
    if (o->disk_time == EM_DISK_TIME_BYTES && !(o->disk_avg_speed > 0))
        return usage_error("stat", "--disk-time bytes needs --disk-avg-speed");
    return 0;
}

/* 0 to go on, -1 after --help, else the exit status of a usage error. */
static int parse_args(int argc, char **argv, struct stat_args *a)
{
    int c, rc;
    em_options_init(&a->opts);
    /* stat's windows are whole commands: waiting up to 150 ms at the end for
     * the GPU energy counter's next step costs little and makes the end exact. */
    a->opts.gpu_settle_ms = DEFAULT_GPU_SETTLE_MS;
    a->format = EM_FORMAT_TEXT;
    options_reset();
    /* '+': stop at the first non-option, which starts the command. */
    while ((c = getopt_long(argc, argv, "+:o:jh", longopts, NULL)) != -1) {
        rc = NOT_MINE;
        for (size_t i = 0; rc == NOT_MINE && i < sizeof option_groups / sizeof *option_groups; i++)
            rc = option_groups[i](a, c, optarg);
        if (rc == NOT_MINE && c == 'h') {
            help_stat(stdout);
            return -1;
        }
        if (rc == NOT_MINE)
            return option_error("stat", c, argv);
        if (rc)
            return rc;
    }
    if ((rc = check_combinations(a)))
        return rc;
    if (optind >= argc)
        return usage_error("stat", "no command given (energymeter stat -- CMD ARGS...)");
    a->cmd = argv + optind;
    return 0;
}

/* The idle baseline: measured now, loaded from a file, or the default one
 * when it exists. Nonzero when energymeter should stop. */
static int use_baseline(const struct stat_args *a, em_meter *m)
{
    if (a->baseline_s > 0) {
        fprintf(stderr, "energymeter: measuring idle power for %g s before the command\n",
                a->baseline_s);
        return em_meter_calibrate(m, a->baseline_s) ? meter_error(m) : 0;
    }
    if (a->baseline_file) {
        return em_meter_load_baseline(m, a->baseline_file) ? meter_error(m) : 0;
    }
    if (!a->no_baseline) {
        int err = em_meter_load_baseline(m, NULL);
        if (err && err != EM_ERR_NOT_FOUND)
            fprintf(stderr, "energymeter: warning: %s (ignored)\n", em_meter_errmsg(m));
    }
    return 0;
}

/* Start cmd; its exec failure comes back through a close-on-exec pipe. */
static pid_t spawn(char **cmd, int *exec_errno)
{
    int pfd[2];
    *exec_errno = 0;
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        *exec_errno = errno;
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        for (size_t i = 0; i < N_FORWARDED; i++)
            sigaction(forwarded_signals[i], &dfl, NULL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        close(pfd[0]);
        execvp(cmd[0], cmd);
        int e = errno;
        ssize_t w = write(pfd[1], &e, sizeof e);
        (void)w;
        _exit(EXIT_NOEXEC);
    }
    int saved = errno;
    close(pfd[1]);
    if (pid < 0) {
        close(pfd[0]);
        *exec_errno = saved;
        return -1;
    }
    child_pid = pid;
    ssize_t n;
    do {
        n = read(pfd[0], exec_errno, sizeof *exec_errno);
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof *exec_errno)
        *exec_errno = 0;
    close(pfd[0]);
    return pid;
}

/* The SVG plot, written beside the report; 0 or -1 (message printed). */
static int write_plot(const em_report *r, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "energymeter: cannot write the plot to '%s': %s\n", path, strerror(errno));
        return -1;
    }
    int err = em_report_write(r, EM_FORMAT_SVG, f);
    int saved = errno;
    if (fclose(f) != 0 && !err) {
        err = EM_ERR_IO;
        saved = errno;
    }
    if (err) {
        fprintf(stderr, "energymeter: writing the plot to '%s' failed: %s\n", path,
                err == EM_ERR_IO ? strerror(saved) : em_strerror(err));
        return -1;
    }
    return 0;
}

static int wait_child(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return 1;
    }
    child_pid = 0;
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

/* Block the forwarded signals, so that none is lost before the command
 * exists (the mask to restore goes to *old), and forward them from then on. */
static void forward_signals(sigset_t *old)
{
    sigset_t block;
    sigemptyset(&block);
    for (size_t i = 0; i < N_FORWARDED; i++)
        sigaddset(&block, forwarded_signals[i]);
    sigprocmask(SIG_BLOCK, &block, old);
    struct sigaction sa = {.sa_sigaction = forward_signal, .sa_flags = SA_SIGINFO | SA_RESTART};
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < N_FORWARDED; i++)
        sigaction(forwarded_signals[i], &sa, NULL);
}

/* em_begin(), run cmd to its end, em_end(): cmd's exit status, or (message
 * printed) EXIT_NOEXEC when it could not run and 1 after a library error.
 * *done is set when the window closed and its report is ready. */
static int measure_command(char **cmd, em_meter *m, int *done)
{
    sigset_t old;
    forward_signals(&old);
    if (em_begin(m)) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        return meter_error(m);
    }
    int exec_errno;
    pid_t pid = spawn(cmd, &exec_errno);
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (pid < 0 || exec_errno) {
        if (pid > 0)
            wait_child(pid);
        em_end(m);
        fprintf(stderr, "energymeter: cannot run '%s': %s\n", cmd[0],
                strerror(exec_errno ? exec_errno : errno));
        return EXIT_NOEXEC;
    }
    int rc = wait_child(pid);
    if (em_end(m)) {
        meter_error(m);
        return rc ? rc : 1;
    }
    *done = 1;
    return rc;
}

/* The report, with the command and its exit status rc, to out and to the
 * plot: rc, or 1 where rc is 0 and writing failed (message printed). */
static int write_report(const struct stat_args *a, em_report *r, FILE *out, int rc)
{
    int n = 0;
    while (a->cmd[n])
        n++;
    em_report_set_command(r, n, (const char *const *)a->cmd);
    em_report_set_exit_status(r, rc);
    if (em_report_write(r, a->format, out) || fflush(out) != 0) {
        fprintf(stderr, "energymeter: writing the report to '%s' failed: %s\n",
                a->output ? a->output : "stderr", strerror(errno));
        rc = rc ? rc : 1;
    }
    if (a->plot && write_plot(r, a->plot))
        rc = rc ? rc : 1;
    return rc;
}

int cmd_stat(int argc, char **argv)
{
    struct stat_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc < 0 ? 0 : rc;

    FILE *out = stderr;
    if (a.output && !(out = fopen(a.output, "w"))) {
        fprintf(stderr, "energymeter: cannot write the report to '%s': %s\n", a.output,
                strerror(errno));
        return 1;
    }
    em_meter *m = NULL;
    if (em_meter_new(&a.opts, &m)) {
        rc = meter_error(NULL);
    } else if (use_baseline(&a, m)) {
        rc = 1;
    } else {
        int done = 0;
        rc = measure_command(a.cmd, m, &done);
        if (done)
            rc = write_report(&a, em_meter_report(m), out, rc);
    }
    em_meter_free(m);
    if (out != stderr && fclose(out) != 0 && rc == 0) {
        fprintf(stderr, "energymeter: closing '%s' failed: %s\n", a.output, strerror(errno));
        rc = 1;
    }
    return rc;
}
