#!/usr/bin/env bash
# Everything this project checks on a GPU, in one command of at most 8 minutes, from the repository root:
#
#   bash benchmarks/gpu_run.sh "$OUT"
#
# It leaves exactly two files in OUT (the lease brings back at most 8): summary.txt (each step's budget,
# time, exit status and the lines that matter) and gpu.tar (every raw log and result, in gpu/). Steps:
#
#   preflight   seconds, before anything else: nvidia-smi answers, the carried wheels install (.whl/,
#               see the README's GPU section: array-api-compat and array-api-strict, which the image
#               lacks), the project's imports work and at least one GPU backend is usable; else it stops
#   install     pip install --no-deps --no-build-isolation -e .
#   device      GPU, driver and library versions, the backends that run and why the others do not
#   tests-*     the GPU-relevant tests only: the kernel, GPU-path, NVRTC and streaming files, then the
#               cupy/cuda cases and the jax cases of the whole suite; a per-test --timeout, short
#               tracebacks, and SIGINT at the step's limit, so that pytest still prints its summary
#   bench-*     python -m mlp bench, one call per backend and precision, each writing its rows as it
#               ends: float32 784-1024-1024-10 at batch 128, 512 and 4096 beside PyTorch CUDA eager and
#               the GEMM-only time, bf16, and the 4096-wide roofline case on cupy
#
# Each step runs under its own limit (the `step NAME SECONDS` lines: they add up to at most 480 s).
# GPU_RUN_DRY=1 is the CPU rehearsal tests/project/test_gpu_run.py makes: no GPU is asked for (a stub
# stands for nvidia-smi, numpy for the GPU backends), the tests are collected, not run, and the bench
# calls are --smoke runs; the files, the wheels' check and the budget are the real ones.
set -uo pipefail
OUT=${1:-${OUT:-benchmarks/results/gpu-run}}
PY=${PYTHON:-python3}
DRY=${GPU_RUN_DRY:-0}
WHEELS=${GPU_RUN_WHEELS:-.whl}  # the carried wheels' folder
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
scratch=$(mktemp -d)
logs=$scratch/gpu
mkdir -p "$logs"
summary=$OUT/summary.txt
: > "$summary"
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false

say() { echo "$*" | tee -a "$summary"; }

finish() {
  tar cf "$OUT/gpu.tar" -C "$scratch" gpu
  rm -rf "$scratch"
}
trap finish EXIT

# step NAME SECONDS COMMAND...: COMMAND under a limit of SECONDS (SIGINT first, then SIGKILL 10 s later),
# its output in gpu/NAME.txt, its budget, time and exit status in the summary with its last lines
step() {
  local name=$1 budget=$2
  shift 2
  local start=$SECONDS
  timeout -s INT -k 10 "$budget" "$@" > "$logs/$name.txt" 2>&1
  local rc=$?
  say "== $name: exit $rc in $((SECONDS - start)) s (limit $budget s)"
  case $name in
    tests-*) { grep -E "^(FAILED|ERROR) " "$logs/$name.txt" | head -n 20; tail -n 1 "$logs/$name.txt"; } >> "$summary" ;;
    bench-*) grep -E "^\| " "$logs/$name.txt" | head -n 16 >> "$summary" ;;
    *) tail -n 2 "$logs/$name.txt" >> "$summary" ;;
  esac
  return $rc
}

gpu_smi() {
  if [ "$DRY" = 1 ]; then echo "name, driver_version, memory.total [MiB]"; echo "dry run (no GPU), -, -"; return 0; fi
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
}

# -- preflight: seconds, or stop ------------------------------------------------------------------
preflight() {
  gpu_smi || { echo "PREFLIGHT: nvidia-smi does not answer: no GPU here"; return 1; }
  local wheels
  wheels=$(ls "$WHEELS"/*.whl 2>/dev/null | tr '\n' ' ')
  for need in array_api_compat array_api_strict; do
    case "$wheels" in
      *"$need"-*) ;;
      *) echo "PREFLIGHT: $WHEELS/ lacks the $need wheel (see the README's GPU section: pip download it into .whl/ and name .whl in carry)"; return 1 ;;
    esac
  done
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$scratch/site" "$WHEELS"/*.whl \
    || { echo "PREFLIGHT: the wheels in $WHEELS/ do not install"; return 1; }
  PYTHONPATH=$scratch/site${PYTHONPATH:+:$PYTHONPATH} $PY - "$DRY" <<'EOF'
import sys
import array_api_compat, array_api_strict  # the carried wheels
import numpy, sklearn
sys.path.insert(0, ".")
import mlp
on = mlp.backends.available()
gpu = [b for b in ("cupy", "torch-cuda") if b in on] + (["jax"] if "jax" in on and mlp.backends.get("jax").on_gpu else [])
if sys.argv[1] == "1":
    gpu = gpu or ["numpy"]  # the rehearsal: numpy stands for the GPU backends
print("array-api-compat", array_api_compat.__version__, "array-api-strict", array_api_strict.__version__)
print("GPU backends:", ",".join(gpu) or "NONE", "| not usable:", mlp.backends.unavailable())
if not gpu:
    sys.exit("PREFLIGHT: no GPU backend is usable here")
EOF
}
export -f gpu_smi preflight
export PY DRY WHEELS scratch
step preflight 20 bash -c preflight || { say "preflight failed: nothing else was run"; tail -n 3 "$logs/preflight.txt" | tee -a "$summary"; exit 1; }
export PYTHONPATH=$scratch/site${PYTHONPATH:+:$PYTHONPATH}

# -- install and record ---------------------------------------------------------------------------
if [ "$DRY" = 1 ]; then
  step install 40 $PY -c "import mlp; print('dry run: the project is installed already:', mlp.__file__)"
else
  step install 40 $PY -m pip install -q --no-deps --no-build-isolation -e .
fi
record() {
  date -u
  gpu_smi
  $PY - <<'EOF'
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
}
export -f record
step device 20 bash -c record
gpu_backends=$(grep -o "GPU backends: [^ |]*" "$logs/preflight.txt" | cut -d' ' -f3)
say "GPU backends: $gpu_backends"

# -- the GPU-relevant tests -----------------------------------------------------------------------
pytest_args=(-q -rfEs --tb=short -p no:cacheprovider -p no:randomly)
if [ "$DRY" = 1 ]; then
  pytest_args+=(--collect-only)
else
  pytest_args+=(-n 4 --timeout 60)
fi
step tests-kernels 60 $PY -m pytest "${pytest_args[@]}" tests/arrays/test_kernels.py tests/arrays/test_gpu_path.py \
  tests/arrays/test_cuda_compile.py tests/arrays/test_op_count.py tests/training/test_streaming.py
step tests-cuda 90 $PY -m pytest "${pytest_args[@]}" tests -k "cupy or cuda"
step tests-jax 70 $PY -m pytest "${pytest_args[@]}" tests -k "jax"

# -- mlp bench: one call per backend and precision, each writing its rows as it ends ----------------
bench() {  # bench NAME SECONDS ARGS...
  local name=$1 budget=$2
  shift 2
  if [ "$DRY" = 1 ]; then
    step "$name" "$budget" $PY -m mlp bench --smoke --no-scaling --no-peers --backends numpy --out "$logs/$name"
  else
    step "$name" "$budget" $PY -m mlp bench --no-scaling --repeats 3 --out "$logs/$name" "$@"
  fi
}
for b in ${gpu_backends//,/ }; do
  bench "bench-$b-fp32" 35 --backends "$b" --sizes 784,1024,1024,10 --batch-sizes 128,512,4096
done
for b in ${gpu_backends//,/ }; do
  case $b in cupy | torch-cuda) bench "bench-$b-bf16" 25 --backends "$b" --sizes 784,1024,1024,10 --batch-sizes 512,4096 --precision bf16 ;; esac
done
case ",$gpu_backends," in
  *,cupy,*) bench bench-cupy-4x4096 25 --backends cupy --sizes 4096,4096,4096,4096,4096 --n 65536 --batch-sizes 8192 --no-peers ;;
esac
say "done in $SECONDS s"
