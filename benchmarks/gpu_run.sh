#!/usr/bin/env bash
# Everything this project checks on a GPU, in one command that ends in under 9 minutes on an H200
# (each step has its own time limit), from the repository root:
#
#   bash benchmarks/gpu_run.sh "$OUT"
#
# 1. installs the project (no network: wheels it lacks carried in .whl/, see the README's GPU section),
# 2. records the device, driver and library versions, and which backends run (and why the others do not),
# 3. runs the test suite (-n 4) with cupy, torch-cuda and jax on the GPU (JAX's preallocation off, so that
#    four workers share the GPU; where jax has no GPU it says so and tests it on the CPU),
# 4. runs mlp bench on every GPU backend beside PyTorch CUDA eager and the GEMM-only time, in float32
#    (JAX pinned to full float32 products, as the others) and in bfloat16, and the 4096-wide roofline case,
# 5. keeps every raw output under OUT/gpu (and OUT/gpu.tar, the one file to bring back).
set -uo pipefail
out=${1:-${OUT:-benchmarks/results/gpu}}/gpu
mkdir -p "$out"
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
python3 -m pip install -q --no-deps --no-build-isolation -e . > "$out/install.txt" 2>&1 || { cat "$out/install.txt"; exit 1; }
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  python3 - <<'EOF'
import importlib
for mod in ("numpy", "cupy", "torch", "jax", "jaxlib", "array_api_compat", "array_api_strict", "sklearn"):
    try:
        print(mod, importlib.import_module(mod).__version__)
    except Exception as exc:
        print(mod, "missing:", exc)
import mlp
print("backends", mlp.backends.available())
print("not usable", mlp.backends.unavailable())
try:
    import jax
    kinds = {d.platform for d in jax.devices()}
    print("jax devices", jax.devices(), "" if "gpu" in kinds else "-- JAX HAS NO GPU HERE: its tests and rows ran on the CPU")
except Exception as exc:
    print("jax", exc)
EOF
} > "$out/device.txt" 2>&1
cat "$out/device.txt"

timeout 240 python3 -m pytest -n 4 -q -rs -p no:cacheprovider > "$out/tests.txt" 2>&1
echo "pytest exit $?" >> "$out/tests.txt"
tail -4 "$out/tests.txt"

gpu_backends=$(python3 -c "import mlp; print(','.join(b for b in ('cupy', 'torch-cuda', 'jax') if b in mlp.backends.available()))")
timeout 100 mlp bench --backends "$gpu_backends" --sizes 784,1024,1024,10 --batch-sizes 128,512,4096 --repeats 3 \
  --no-scaling --out "$out/784-1024-1024-10" > "$out/bench-784-1024.txt" 2>&1
echo "bench 784-1024 exit $?" >> "$out/bench-784-1024.txt"
timeout 50 mlp bench --backends "$gpu_backends" --sizes 784,1024,1024,10 --batch-sizes 512,4096 --repeats 3 \
  --no-scaling --precision bf16 --out "$out/784-1024-bf16" > "$out/bench-784-1024-bf16.txt" 2>&1
echo "bench bf16 exit $?" >> "$out/bench-784-1024-bf16.txt"
timeout 50 mlp bench --backends cupy --sizes 4096,4096,4096,4096,4096 --n 65536 --batch-sizes 8192 --repeats 3 \
  --no-scaling --no-peers --out "$out/4x4096" > "$out/bench-4x4096.txt" 2>&1
echo "bench 4x4096 exit $?" >> "$out/bench-4x4096.txt"
tail -n 30 "$out"/bench-*.txt
tar cf "${out%/gpu}/gpu.tar" -C "${out%/gpu}" gpu
