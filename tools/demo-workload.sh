#!/bin/sh
# The demo that `make run` measures: a few seconds of CPU work, then file I/O
# (64 MiB written with fsync, read back, removed). $1: directory for the file.
set -e
dir=${1:-${TMPDIR:-/tmp}}
f=$(mktemp "$dir/energymeter-demo.XXXXXX")
trap 'rm -f "$f"' EXIT
echo "demo: CPU work (floating point loop)..."
awk 'BEGIN { s = 0; for (i = 1; i <= 50000000; i++) s += sqrt(i) / i; printf "demo: sum %.3f\n", s }'
echo "demo: writing 64 MiB with fsync, reading it back..."
dd if=/dev/zero of="$f" bs=1M count=64 conv=fsync status=none
dd if="$f" of=/dev/null bs=1M status=none
echo "demo: done"
