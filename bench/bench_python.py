#!/usr/bin/env python3
"""What the Python layer costs (issue 14's benchmark).

1. Python begin()+end() against the same pair called through ctypes
   (em_begin + em_end on the same meter), in the same run: the difference is
   what the package adds (target: under 20 us per pair).
2. Python begin_window()+end_window() against em_window_begin +
   em_window_end + em_report_free through ctypes.
3. 1,000 concurrent windows on one meter against 1,000 separate meters (the
   only way before named windows, one window per meter): CPU time, threads,
   file descriptors and resident memory.

Fake powercap tree (intel2) whose counters do not move (the cost of the
calls, not of the sensors); medians of several rounds; this VM is noisy.
Usage: bench_python.py [--build build] [--rounds 5]
"""

import argparse
import ctypes
import os
import resource
import statistics
import sys
import tempfile
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def paired_us(a, b, n):
    """a and b called in turn n times: their medians and the median of
    (b - a) per turn. Paired, because this VM drifts by tens of us between
    runs of a few thousand calls (the same C pair: 62 to 100 us), far more
    than the difference measured."""
    xa, xb, d = [], [], []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        a()
        t1 = time.perf_counter_ns()
        b()
        t2 = time.perf_counter_ns()
        xa.append(t1 - t0)
        xb.append(t2 - t1)
        d.append((t2 - t1) - (t1 - t0))
    return (statistics.median(xa) / 1000.0, statistics.median(xb) / 1000.0,
            statistics.median(d) / 1000.0)


def pairs(em, lib, n, _lib):
    m = em._meter
    out = {}

    def raw():
        lib.em_begin(m)
        lib.em_end(m)

    def py():
        em.begin()
        em.end()

    out["ctypes em_begin+em_end"], out["python begin()+end()"], out["python adds (paired)"] = \
        paired_us(raw, py, n)
    if lib.has_summary and lib.has_take:
        # The same C work end() must do to hand over figures: the report
        # taken, summarised in one call and freed.
        rs = _lib.ReportSummary()
        comps = (_lib.ComponentSummary * 16)()
        size = ctypes.sizeof(_lib.ComponentSummary)

        def raw_full():
            lib.em_begin(m)
            lib.em_end(m)
            r = lib.em_meter_take_report(m)
            lib.em_report_summarize(r, ctypes.byref(rs), comps, size, 16)
            lib.em_report_free(r)

        out["ctypes ... + take+summarize+free"], _, out["python adds over that (paired)"] = \
            paired_us(raw_full, py, n)
    if lib.has_windows:
        name = b"bench"
        rep = ctypes.c_void_p()

        def raw_w():
            lib.em_window_begin(m, name)
            lib.em_window_end(m, name, ctypes.byref(rep))
            lib.em_report_free(rep)

        def py_w():
            em.begin_window("bench")
            em.end_window("bench")

        (out["ctypes em_window_begin+end+free"], out["python begin_window()+end_window()"],
         out["python adds per window (paired)"]) = paired_us(raw_w, py_w, n)
    return out


def many(kind, n, EnergyMeter):
    """n concurrent windows on one meter, or n meters each with a window."""
    t0, c0, r0 = time.perf_counter(), cpu_s(), rss_kib()
    th0, fd0 = len(os.listdir("/proc/self/task")), len(os.listdir("/proc/self/fd"))
    if kind == "windows":
        em = EnergyMeter(ignore_disk=True)
        for i in range(n):
            em.begin_window("w%d" % i)
        keep = [em]
    elif kind == "alike":
        # The same arguments: the meters share one engine (sources, sampler).
        keep = [EnergyMeter(ignore_disk=True) for i in range(n)]
        for em in keep:
            em.begin()
    else:
        # Different gpu_settle_ms: meters that cannot share sources, as every
        # meter was before named windows.
        keep = [EnergyMeter(ignore_disk=True, gpu_settle_ms=i % 10001) for i in range(n)]
        for em in keep:
            em.begin()
    open_s = time.perf_counter() - t0
    th, fd, rss = (len(os.listdir("/proc/self/task")) - th0,
                   len(os.listdir("/proc/self/fd")) - fd0, rss_kib() - r0)
    t1 = time.perf_counter()
    if kind == "windows":
        for i in range(n):
            keep[0].end_window("w%d" % i)
    else:
        for em in keep:
            em.end()
    close_s = time.perf_counter() - t1
    cpu = cpu_s() - c0
    for em in keep:
        em.measurements.clear()
        em.close()
    return {"open_s": open_s, "end_s": close_s, "cpu_s": cpu, "threads": th, "fds": fd,
            "rss_mib": rss / 1024.0}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--pairs", type=int, default=2000)
    ap.add_argument("--many", type=int, default=1000)
    a = ap.parse_args()
    os.environ.setdefault("ENERGYMETER_LIB", os.path.join(os.path.abspath(a.build),
                                                          "libenergymeter.so"))
    os.environ["ENERGYMETER_NVML_LIB"] = "/nonexistent/libnvidia-ml.so.1"
    sys.path.insert(0, os.path.join(REPO, "python"))
    sys.path.insert(0, os.path.join(REPO, "tests", "fake"))
    from faketree import FakeTree

    root = tempfile.mkdtemp(prefix="em-bench-py-")
    tree = FakeTree.build(os.path.join(root, "root"), "intel2", range_uj=10_000_000)
    os.environ["ENERGYMETER_SYSFS_ROOT"] = tree.root
    warnings.simplefilter("ignore")
    from energy_meter import EnergyMeter, _lib

    lib = _lib.load()
    print("Python layer (issue 14): %s, %d rounds of %d pairs, medians"
          % (lib.path, a.rounds, a.pairs))
    em = EnergyMeter(ignore_disk=True)
    rounds = [pairs(em, lib, a.pairs, _lib) for _ in range(a.rounds)]
    keys = list(rounds[0])
    med = {k: statistics.median(r[k] for r in rounds) for k in keys}
    for k in keys:
        if "paired" in k:
            print("  %-38s %8.1f us   (target < 20 us)" % (k, med[k]))
        else:
            print("  %-38s %8.1f us" % (k, med[k]))
    if lib.has_windows:
        print()
        print("%d concurrent windows on one meter vs %d separate meters (median of %d):"
              % (a.many, a.many, max(1, a.rounds // 2)))
        res = {}
        for kind in ("windows", "alike", "meters"):
            rs = [many(kind, a.many, EnergyMeter) for _ in range(max(1, a.rounds // 2))]
            res[kind] = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        print("  (alike: %d meters with the same arguments, which share one engine)" % a.many)
        print("  %-16s %12s %12s %12s %8s" % ("", "windows", "alike", "meters", "ratio"))
        for k in ("open_s", "end_s", "cpu_s", "threads", "fds", "rss_mib"):
            w, al, m = res["windows"][k], res["alike"][k], res["meters"][k]
            ratio = ("%.3g" % (m / w)) if w else ("inf" if m else "-")
            print("  %-16s %12.4g %12.4g %12.4g %8s" % (k, w, al, m, ratio))
    em.close()
    os.system("rm -rf '%s'" % root)


if __name__ == "__main__":
    main()
