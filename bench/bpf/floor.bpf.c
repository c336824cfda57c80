/*
 * The floor of the storage overhead: programs that do nothing, attached as
 * BTF tracepoints (tp_btf) to the block request tracepoints energymeter's
 * blkio.bpf.c follows on every request. What attaching them costs is what
 * any tool built on these tracepoints pays on this kernel before doing any
 * work (the tracepoint's probe call, the BPF dispatch around the program and
 * the program's entry); energymeter's own work is what it adds on top.
 * With read_clock set, the issue and completion programs each read the
 * clock once and store it: the least that any exact busy time (the time
 * stamps of a request's start and end) costs on these tracepoints.
 * Loaded by bench/bpf/bpf_floor.c.
 */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u8 read_clock = 0; /* set by bpf_floor --clock before loading */
__u64 last_ns;                      /* where the clock goes, so that it is read */

SEC("tp_btf/block_io_start")
int floor_io_start(void *ctx)
{
    return 0;
}

SEC("tp_btf/block_rq_issue")
int floor_rq_issue(void *ctx)
{
    if (read_clock)
        last_ns = bpf_ktime_get_ns();
    return 0;
}

SEC("tp_btf/block_rq_complete")
int floor_rq_complete(void *ctx)
{
    if (read_clock)
        last_ns = bpf_ktime_get_ns();
    return 0;
}
