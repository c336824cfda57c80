#!/usr/bin/python3
"""`make bench`: what the Prometheus exporter (`energymeter serve`) costs.

On a fake Intel 2-socket powercap tree whose writer moves the counters:
- the latency of a /metrics scrape (many scrapes, median and p99 of runs);
- the exporter's CPU time over a stretch of 1 s windows, idle and scraped
  every second, next to the baseline measured in the same run: `energymeter
  monitor` at the same interval, the same meter loop without HTTP (its CSV
  line per window goes to /dev/null).
This VM is noisy: each figure is the median of several runs.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "fake"))
import faketree  # noqa: E402

def cpu_s(pid):
    """CPU time of a process's live threads, seconds, from schedstat (ns;
    the clock-tick counts of /proc/PID/stat are too coarse for ~0.1 %)."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except FileNotFoundError:
            pass  # a thread that just ended
    return total / 1e9


def start_serve(cli, env, interval_ms):
    p = subprocess.Popen([cli, "serve", "--listen", "127.0.0.1:0", "--interval", str(interval_ms)],
                         env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    m = re.search(r"(http://\S+/metrics)", p.stderr.readline())
    if not m:
        p.kill()
        raise SystemExit("serve did not start: %s" % p.stderr.read())
    return p, m.group(1)


def scrape(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()


def stop(p):
    p.terminate()
    p.wait(timeout=20)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--scrapes", type=int, default=300)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    cli = os.path.join(args.build, "energymeter")

    with tempfile.TemporaryDirectory(prefix="em-bench-serve-") as tmp:
        tree = faketree.FakeTree.build(os.path.join(tmp, "root"), "intel2")
        env = dict(os.environ, ENERGYMETER_SYSFS_ROOT=tree.root,
                   ENERGYMETER_NVML_LIB="/nonexistent/libnvidia-ml.so.1")
        env.pop("ENERGYMETER_LOG", None)
        print("energymeter serve (fake Intel 2-socket tree, %d runs, medians)" % args.runs)
        with tree.writer():
            med, p99, size = [], [], 0
            for _ in range(args.runs):
                p, url = start_serve(cli, env, 100)
                try:
                    time.sleep(0.3)
                    lat = []
                    for _ in range(args.scrapes):
                        t0 = time.perf_counter()
                        size = len(scrape(url))
                        lat.append((time.perf_counter() - t0) * 1e3)
                finally:
                    stop(p)
                lat.sort()
                med.append(statistics.median(lat))
                p99.append(lat[int(0.99 * (len(lat) - 1))])
            print("  /metrics scrape (%d bytes), %d scrapes a run: median %.3f ms, p99 %.3f ms "
                  "(a Prometheus scrape_timeout is 10 s by default)"
                  % (size, args.scrapes, statistics.median(med), statistics.median(p99)))

            def cpu_of(kind, scraped):
                out = []
                for _ in range(args.runs):
                    if kind == "serve":
                        p, url = start_serve(cli, env, 1000)
                    else:
                        p = subprocess.Popen([cli, "monitor", "--interval", "1000", "--csv"],
                                             env=env, stdin=subprocess.DEVNULL,
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                        url = None
                    try:
                        time.sleep(1.0)  # past meter creation
                        c0, t0 = cpu_s(p.pid), time.monotonic()
                        end = t0 + args.seconds
                        while time.monotonic() < end:
                            if scraped and url:
                                scrape(url)
                            time.sleep(min(1.0, max(0.0, end - time.monotonic())))
                        out.append((cpu_s(p.pid) - c0) / (time.monotonic() - t0) * 100)
                    finally:
                        stop(p)
                return statistics.median(out)

            base = cpu_of("monitor", False)
            idle = cpu_of("serve", False)
            busy = cpu_of("serve", True)
            print("  CPU over %.0f s of 1 s windows (%% of one core, all threads):" % args.seconds)
            print("    baseline: monitor, same meter loop, no HTTP  %6.3f %%" % base)
            print("    serve, not scraped                           %6.3f %%" % idle)
            print("    serve, scraped every second                  %6.3f %%" % busy)


if __name__ == "__main__":
    main()
