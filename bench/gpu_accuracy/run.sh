#!/bin/sh
# Build and run the GPU accuracy benchmark on a machine with an NVIDIA GPU and
# nvcc, then summarise per burst length (see README.md).
#   sh bench/gpu_accuracy/run.sh [BUILD_DIR] [GPU_INDEX] [REPS]
# BUILD_DIR holds libenergymeter.so (default: build; `make gpu-bundle` makes
# build/gpu, which also runs where this project's libraries are not
# installed, with gpu_accuracy prebuilt when nvcc was there). The raw lines go to
# $OUT/gpu_accuracy.txt when OUT is set, else to BUILD_DIR.
set -eu
B=$(cd "${1:-build}" && pwd)
GPU=${2:-0}
REPS=${3:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
DEST=${OUT:-$B}
# The library's soname, and libraries carried beside it (`make gpu-bundle`).
[ -e "$B/libenergymeter.so.0" ] || ln -sf libenergymeter.so "$B/libenergymeter.so.0"
export LD_LIBRARY_PATH="$B${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [ -x "$NVCC" ]; then
  "$NVCC" -O2 -o "$B/gpu_accuracy" "$HERE/gpu_accuracy.cu" -I"$REPO/include" \
    -L"$B" -lenergymeter -Xlinker -rpath -Xlinker "$B" -ldl -lpthread
elif [ ! -x "$B/gpu_accuracy" ]; then
  echo "run.sh: no nvcc ($NVCC) and no prebuilt $B/gpu_accuracy (make gpu-bundle)" >&2
  exit 2
fi
nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv,noheader || true
"$B/gpu_accuracy" "$GPU" "$REPS" | tee "$DEST/gpu_accuracy.txt"
python3 "$HERE/summarise.py" "$DEST/gpu_accuracy.txt"
