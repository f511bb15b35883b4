#!/usr/bin/env bash
# Issue 6 on a GPU machine, in one command (from the repository root, with the project installed):
#   bash benchmarks/gpu_run.sh benchmarks/results/gpu-$(date +%F)
# Runs the whole test suite with the cupy and torch-cuda backends, then mlp bench on the GPU against
# PyTorch CUDA eager in the same process, and keeps raw outputs with device and versions.
set -uo pipefail
out=${1:-benchmarks/results/gpu}
mkdir -p "$out"
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  python -c "import cupy, torch, numpy; print('cupy', cupy.__version__, 'torch', torch.__version__, 'numpy', numpy.__version__)"
  python -c "import mlp; print('backends', mlp.backends.available())"
} > "$out/device.txt" 2>&1
python -m pytest -n 4 -q -rs > "$out/tests.txt" 2>&1; echo "pytest exit $?" >> "$out/tests.txt"
mlp bench --backends cupy --sizes 784,1024,1024,10 --batch-sizes 128,512,4096 --repeats 5 --no-scaling \
  --out "$out/784-1024-1024-10" > "$out/bench-784-1024.txt" 2>&1
mlp bench --backends cupy --sizes 4096,4096,4096,4096,4096 --n 65536 --batch-sizes 8192 --repeats 5 --no-scaling \
  --no-peers --out "$out/4x4096" > "$out/bench-4x4096.txt" 2>&1
mlp bench --backends cupy --quick --out "$out/scaling" > "$out/bench-scaling.txt" 2>&1
# every GPU backend in one run (jax on the GPU beside cupy and torch-cuda), batch 128 and 512:
mlp bench --backends cupy,torch-cuda,jax --batch-sizes 128,512 --repeats 5 --no-scaling \
  --out "$out/backends" > "$out/bench-backends.txt" 2>&1
# streamed from disk to the GPU, with and without the prefetch thread, up to 10^6 rows (3 GB):
mlp bench --backends cupy --scaling-n --scaling-n-max 1000000 --data-dir /tmp/mlp-bench-data \
  --out "$out/scaling-n" > "$out/bench-scaling-n.txt" 2>&1
tail -3 "$out/tests.txt"
