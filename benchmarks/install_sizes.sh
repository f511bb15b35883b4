#!/usr/bin/env bash
# The install size and time of the core and of each extra, each in a fresh venv, downloads included
# (pip's cache off).   bash benchmarks/install_sizes.sh OUT.md   (from the repository root)
set -u
out=${1:-install-sizes.md}
root=$(pwd)
work=$(mktemp -d)
python -m venv "$work/empty" && empty=$(du -sm "$work/empty" | cut -f1)
{
  echo "Fresh venv per row (Python $(python -c 'import sys; print(sys.version.split()[0])'), pip's cache off; size: the venv"
  echo "minus an empty one, ${empty} MB); $(date -u +%F) on $(nproc) cores."
  echo
  echo "| install | MB | seconds | what it adds |"
  echo "|---|---:|---:|---|"
} > "$out"
for spec in "" test jax torch plot data onnx mpi bench cuda12 "test,jax,torch,plot,data" dev; do
  v="$work/v"
  rm -rf "$v" && python -m venv "$v"
  start=$(date +%s)
  pre=""
  if [[ ",$spec," == *",torch,"* || "$spec" == "dev" ]]; then
    "$v/bin/pip" install -q --no-cache-dir torch==2.13.0 >/dev/null 2>&1; pre="torch==2.13.0 (CPU) first, then "
  fi
  target="-e ."; [[ -n "$spec" ]] && target="-e .[$spec]"
  if "$v/bin/pip" install -q --no-cache-dir $target >"$work/log" 2>&1; then
    secs=$(( $(date +%s) - start ))
    mb=$(( $(du -sm "$v" | cut -f1) - empty ))
    top=$("$v/bin/python" - <<'PY'
import importlib.metadata as m, os
sizes = []
for d in m.distributions():
    files = d.files or []
    total = sum(os.path.getsize(f.locate()) for f in files if os.path.isfile(f.locate()))
    sizes.append((total, d.metadata["Name"]))
print(", ".join(f"{n} {s / 1e6:.0f}" for s, n in sorted(sizes, reverse=True)[:5]))
PY
)
    echo "| \`pip install ${pre}-e \".[${spec}]\"\` | $mb | $secs | largest (MB): $top |" >> "$out"
  else
    echo "| \`pip install -e \".[${spec}]\"\` | failed | | $(tail -1 "$work/log") |" >> "$out"
  fi
  echo "done: [$spec]" >&2
done
sed -i 's/`pip install -e ".\[\]"`/`pip install -e .` (the core)/' "$out"
rm -rf "$work"
cat "$out"
