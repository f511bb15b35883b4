"""The GPU runbook (benchmarks/gpu_run.sh) rehearsed on a CPU: a lease has 15 minutes, no network,
brings back at most 8 files two folders deep, and its Python lacks array-api-compat and
array-api-strict. ``GPU_RUN_DRY=1`` runs the real script with the GPU parts stubbed (numpy stands
for the GPU backends, tests are collected, bench calls are --smoke runs); here the files it leaves,
the carried wheels' check and the steps' time limits are checked."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import os
import pathlib
import re
import subprocess
import sys
import tarfile
import time
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_run.sh"
LEASE_BUDGET = 8 * 60  # seconds the script may take, of the lease's 15 minutes (starts and transfers included)


def _wheel_from_installed(dist_name: str, folder: pathlib.Path) -> pathlib.Path:
    """A wheel of an installed pure-Python distribution, rebuilt from its installed files (no network)."""
    dist = importlib.metadata.distribution(dist_name)
    name, version = dist.metadata["Name"].replace("-", "_"), dist.version
    path = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    files = [f for f in dist.files if not str(f).startswith(("..", "/")) and ".dist-info" not in str(f)]
    files = [f for f in files if "__pycache__" not in str(f)]
    record = []
    with zipfile.ZipFile(path, "w") as z:
        for f in files:
            data = pathlib.Path(dist.locate_file(f)).read_bytes()
            z.writestr(str(f), data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{f},sha256={digest},{len(data)}")
        z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {dist.metadata['Name']}\nVersion: {version}\n")
        z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{info}/RECORD", "\n".join([*record, f"{info}/METADATA,,", f"{info}/WHEEL,,", f"{info}/RECORD,,"]))
    return path


def _run(out, wheels, timeout):
    env = {**os.environ, "GPU_RUN_DRY": "1", "GPU_RUN_WHEELS": str(wheels), "PYTHON": sys.executable}
    start = time.monotonic()
    r = subprocess.run(
        ["bash", str(SCRIPT), str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    return r, time.monotonic() - start


def test_the_steps_limits_fit_the_lease():
    """Every step runs under `step NAME SECONDS`; with the three GPU backends a lease runs the
    float32 bench three times, bf16 twice (cupy, torch-cuda) and the 4096-wide case once."""
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    text = SCRIPT.read_text()
    steps = {name: int(s) for name, s in re.findall(r"^\s*step ([\w-]+) (\d+) ", text, re.M)}  # install: 2 lines
    benches = re.findall(r'bench "?([\w$-]+)"? (\d+) ', text)
    times = {"fp32": 3, "bf16": 2}
    total = sum(steps.values()) + sum(int(s) * times.get(name.rsplit("-", 1)[-1], 1) for name, s in benches)
    assert len(steps) == 6 and len(benches) == 3, (steps, benches)
    assert total <= LEASE_BUDGET, f"the steps' limits add up to {total} s"
    assert "XLA_PYTHON_CLIENT_PREALLOCATE=false" in text and "--timeout 60" in text and "timeout -s INT" in text


@pytest.mark.skipif(sys.platform == "win32", reason="a bash script")
def test_a_dry_run_leaves_one_tar_and_one_summary_and_runs_every_step(tmp_path):
    pytest.importorskip("array_api_strict", reason="the rehearsal imports what the lease carries")
    wheels = tmp_path / "whl"
    wheels.mkdir()
    for dist in ("array-api-compat", "array-api-strict"):
        _wheel_from_installed(dist, wheels)
    r, seconds = _run(tmp_path / "out", wheels, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["gpu.tar", "summary.txt"]  # 2 of the 8 files
    summary = (tmp_path / "out" / "summary.txt").read_text()
    for name in ("preflight", "install", "device", "tests-kernels", "tests-cuda", "tests-jax", "bench-numpy-fp32"):
        assert re.search(rf"^== {name}: exit 0 in \d+ s \(limit \d+ s\)$", summary, re.M), summary
    collected = [int(n) for n in re.findall(r"^(\d+)(?:/\d+)? tests collected", summary, re.M)]
    assert len(collected) == 3 and min(collected) > 50, summary
    with tarfile.open(tmp_path / "out" / "gpu.tar") as tar:
        names = tar.getnames()
    assert "gpu/preflight.txt" in names and "gpu/bench-numpy-fp32/results.json" in names
    assert max(n.count("/") for n in names) <= 2  # inside the tar: any depth; the tar itself is OUT's top level
    assert seconds < 240


def test_a_missing_wheel_stops_the_run_in_seconds_and_says_which(tmp_path):
    wheels = tmp_path / "whl"
    wheels.mkdir()
    r, seconds = _run(tmp_path / "out", wheels, timeout=60)
    assert r.returncode == 1 and seconds < 20
    summary = (tmp_path / "out" / "summary.txt").read_text()
    assert "lacks the array_api_compat wheel" in summary and "nothing else was run" in summary
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["gpu.tar", "summary.txt"]
