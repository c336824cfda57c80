"""Summarise gpu_accuracy output: per burst length and settle, the median
truth, energymeter and original-method joules, their errors, and the targets
(energymeter within 5 % from 0.3 s, within 10 % at 0.1 s; em_end() under 10 ms
without settle; sampler under 0.5 % of a core)."""
import statistics
import sys

rows = []
extra = {}
for line in open(sys.argv[1]):
    f = line.split()
    if f and f[0] == "burst":
        rows.append({f[i]: f[i + 1] for i in range(0, len(f) - 1, 2)})
    elif len(f) >= 2:
        extra[f[0]] = " ".join(f[1:])

print("GPU: %s, idle %s W" % (extra.get("gpu", "?"), extra.get("idle_w", "?")))
print("%6s %6s %9s %9s %8s %8s %9s %8s %8s" % ("burst", "settle", "truth_J", "em_J", "em_err%",
                                                "em_u_J", "orig_J", "orig_err%", "end_ms"))
ok = True
for key in sorted({(float(r["burst"]), int(r["settle"])) for r in rows}):
    rs = [r for r in rows if (float(r["burst"]), int(r["settle"])) == key]
    med = lambda k: statistics.median(float(r[k]) for r in rs)
    worst = max(abs(float(r["em_err_pct"])) for r in rs)
    target = 10 if key[0] < 0.3 else 5
    good = worst <= target
    ok = ok and (good or key[1] == 0)
    print("%6.1f %6d %9.2f %9.2f %8.2f %8.2f %9.2f %8.2f %8.2f %s" % (
        key[0], key[1], med("truth_j"), med("em_j"), med("em_err_pct"), med("em_u_j"),
        med("orig_j"), med("orig_err_pct"), med("end_ms"),
        "ok" if good else "worst %.1f%% > %d%%" % (worst, target)))
ends = [float(r["end_ms"]) for r in rows if r["settle"] == "0"]
if ends:
    print("em_end() without settle: median %.2f ms, max %.2f ms (target < 10 ms)" % (
        statistics.median(ends), max(ends)))
print("sampler CPU: %s %% of one core (target < 0.5 %%)" % extra.get("sampler_cpu_percent", "?"))
sys.exit(0 if ok else 1)
