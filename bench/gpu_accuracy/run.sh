#!/bin/sh
# Build and run the GPU accuracy benchmark on a machine with an NVIDIA GPU and
# nvcc, then summarise per burst length (see README.md).
#   sh bench/gpu_accuracy/run.sh [BUILD_DIR] [GPU_INDEX] [REPS]
# BUILD_DIR holds libenergymeter.so (default: build). The raw lines go to
# $OUT/gpu_accuracy.txt when OUT is set, else to BUILD_DIR.
set -eu
B=$(cd "${1:-build}" && pwd)
GPU=${2:-0}
REPS=${3:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
DEST=${OUT:-$B}
"$NVCC" -O2 -o "$B/gpu_accuracy" "$HERE/gpu_accuracy.cu" -I"$REPO/include" \
  -L"$B" -lenergymeter -Xlinker -rpath -Xlinker "$B" -ldl -lpthread
nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv,noheader || true
"$B/gpu_accuracy" "$GPU" "$REPS" | tee "$DEST/gpu_accuracy.txt"
python3 "$HERE/summarise.py" "$DEST/gpu_accuracy.txt"
