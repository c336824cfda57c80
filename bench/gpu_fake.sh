#!/bin/sh
# GPU figures of the meter on the fake NVML (no GPU needed): em_begin()/em_end()
# latency and sampler CPU with 1 and 4 GPUs whose energy call costs 3.9 ms, as
# measured on an H100. The fake's calls sleep, so the CPU figures are
# energymeter's own work, not the driver's. Then the honesty of short windows
# (bench_gpu honesty) on regular and jittery counters.
#   sh bench/gpu_fake.sh [BUILD_DIR]      (after `make BUILD_DIR/bench/bench_gpu`)
set -eu
B=${1:-build}
cfg=$(mktemp)
root=$(mktemp -d)
trap 'rm -rf "$cfg" "$root"' EXIT
export ENERGYMETER_NVML_LIB="$B/tests/libnvidia-ml-fake.so" FAKE_NVML_CONFIG="$cfg"
# An empty root: only the GPUs are measured.
export ENERGYMETER_SYSFS_ROOT="$root"
for n in 1 4; do
  printf 'count=%s\npower_w=80\nenergy_latency_ms=3.9\npower_latency_ms=0.001\n' "$n" > "$cfg"
  echo "== baseline: $n GPU(s) read one after another: $(awk "BEGIN { print $n * 3.9 }") ms per begin or end;"
  echo "   the original tool reads GPU 0 only, from a polling thread that never sleeps (~100 % of a core)"
  echo "== $n GPU(s), 3.9 ms energy call, no settle"
  "$B/bench/bench_gpu" latency 20
  echo "== $n GPU(s), 3.9 ms energy call, --gpu-settle 150"
  "$B/bench/bench_gpu" latency 10 150
  echo "== $n GPU(s), sampler"
  "$B/bench/bench_gpu" sampler 5
done
# Honesty and accuracy of short windows on counters whose steps jitter (up
# to 2 ms and 15 ms off a 100 ms grid) and on a regular one, next to the
# plain difference of two counter readings, measured in the same windows.
# Settle and no settle run side by side: the fake's calls only sleep.
for j in 0 2 15; do
  printf 'count=1\npower_w=300\ntick_jitter_ms=%s\n' "$j" > "$cfg"
  echo "== honesty: steps up to $j ms off their grid, one meter reused, --gpu-settle 150 | 0"
  "$B/bench/bench_gpu" honesty 80 150 300 > "$root/settle.txt" &
  "$B/bench/bench_gpu" honesty 80 0 300 > "$root/nosettle.txt"
  wait
  cat "$root/settle.txt" "$root/nosettle.txt"
done
