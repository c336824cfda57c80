/*
 * bpf_floor: run a command with programs that do nothing attached to the
 * block request tracepoints energymeter follows (bench/bpf/floor.bpf.c), so
 * that the storage benchmark can measure the floor of the overhead: what
 * the tracepoints' dispatch alone costs a request on this kernel.
 *
 *   bpf_floor [--system] [--clock] -- CMD [ARG...]
 *
 * Without --system it attaches what `energymeter stat` attaches on every
 * request in tree scope (block_io_start where the kernel has it,
 * block_rq_issue, block_rq_complete); with --system what system scope
 * attaches (block_rq_issue, block_rq_complete). With --clock the issue and
 * completion programs each read the clock (the least an exact busy time
 * needs). Exits with the command's
 * status; 2 on a usage error, 1 when the programs cannot be attached.
 * Needs root (or CAP_BPF and CAP_PERFMON).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "floor.skel.h"

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    if (level == LIBBPF_DEBUG)
        return 0;
    return vfprintf(stderr, fmt, ap);
}

static int has_tracepoint(const struct btf *vmlinux, const char *name)
{
    char tname[96];
    snprintf(tname, sizeof tname, "btf_trace_%s", name);
    return btf__find_by_name_kind(vmlinux, tname, BTF_KIND_TYPEDEF) > 0;
}

int main(int argc, char **argv)
{
    int system = 0, clock = 0, i = 1;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--system") == 0)
            system = 1;
        else if (strcmp(argv[i], "--clock") == 0)
            clock = 1;
        else
            break;
    }
    if (i >= argc || strcmp(argv[i], "--") != 0 || i + 1 >= argc) {
        fprintf(stderr, "usage: bpf_floor [--system] [--clock] -- CMD [ARG...]\n");
        return 2;
    }
    char **cmd = argv + i + 1;
    libbpf_set_print(quiet);

    int status = 1;
    struct floor_bpf *skel = NULL;
    struct btf *vmlinux = btf__load_vmlinux_btf();
    if (!vmlinux) {
        fprintf(stderr, "bpf_floor: cannot read the kernel's BTF (/sys/kernel/btf/vmlinux): %s\n",
                strerror(errno));
        goto cleanup;
    }
    skel = floor_bpf__open();
    if (!skel) {
        fprintf(stderr, "bpf_floor: cannot open the eBPF object: %s\n", strerror(errno));
        goto cleanup;
    }
    skel->rodata->read_clock = clock;
    bpf_program__set_autoload(skel->progs.floor_io_start,
                              !system && has_tracepoint(vmlinux, "block_io_start"));
    int err = floor_bpf__load(skel);
    if (!err)
        err = floor_bpf__attach(skel);
    if (err) {
        fprintf(stderr, "bpf_floor: cannot load or attach the programs: %s%s\n", strerror(-err),
                -err == EPERM ? " (run as root, or with CAP_BPF and CAP_PERFMON)" : "");
        goto cleanup;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("bpf_floor: fork");
        goto cleanup;
    }
    if (pid == 0) {
        execvp(cmd[0], cmd);
        fprintf(stderr, "bpf_floor: cannot run %s: %s\n", cmd[0], strerror(errno));
        _exit(127);
    }
    int ws;
    while (waitpid(pid, &ws, 0) < 0)
        if (errno != EINTR) {
            perror("bpf_floor: waitpid");
            goto cleanup;
        }
    status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
cleanup:
    floor_bpf__destroy(skel);
    btf__free(vmlinux);
    return status;
}
