"""Data-parallel training: 2 MPI processes on loopback equal one process (float64, 1e-10),
and a failed or hung rank ends the job with a clear error instead of hanging."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
from helpers import MPI_ENV, MPI_WORKER

import mlp

pytest.importorskip("mpi4py", reason="mpi4py is not installed")


if shutil.which("mpirun") is None:
    pytest.skip("mpirun (Open MPI or MPICH) is not installed", allow_module_level=True)


WORKER, ENV = MPI_WORKER, MPI_ENV


def mpirun(n, mode, out, timeout=120):
    cmd = ["mpirun", "-n", str(n), sys.executable, WORKER, mode, str(out)]
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=timeout)


@pytest.mark.parametrize("mode", ["train", "stream", "staged"])
def test_two_processes_equal_one(tmp_path, mode):
    """In memory (each rank keeps its shard) or streamed from memory maps (each rank reads its rows of each batch)."""
    r = mpirun(2, mode, tmp_path / "two.npz")
    assert r.returncode == 0, r.stderr[-2000:]
    two = np.load(tmp_path / "two.npz")
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(203, 6)), rng.integers(0, 3, size=203)
    model = mlp.MLP([6, 16, 3], "tanh", "softmax", dtype="float64", seed=1)
    h = mlp.train(model, X, y, optimizer=mlp.SGD(0.1, momentum=0.9), epochs=4, batch_size=32, seed=5, progress=False)
    for i, w in enumerate(model.get_weights()):
        np.testing.assert_allclose(two[f"arr_{i}"], w, rtol=0, atol=1e-10)
    np.testing.assert_allclose(two["loss"], h.loss, rtol=1e-10)
    assert not np.array_equal(model.get_weights()[0], mlp.MLP([6, 16, 3], seed=1, dtype="float64").get_weights()[0])


def test_two_processes_equal_one_in_mixed_precision(tmp_path):
    pytest.importorskip("torch")
    r = mpirun(2, "bf16", tmp_path / "two.npz")
    assert r.returncode == 0, r.stderr[-2000:]
    two = np.load(tmp_path / "two.npz")
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(203, 6)), rng.integers(0, 3, size=203)
    model = mlp.MLP([6, 16, 3], "tanh", "softmax", backend="torch", dtype="float32", compute_dtype="bfloat16", seed=1)
    mlp.train(model, X, y, optimizer=mlp.SGD(0.1, momentum=0.9), epochs=4, batch_size=32, seed=5, progress=False)
    for i, w in enumerate(model.get_weights()):
        # bf16 products of half batches, summed in float32 across ranks: bf16 rounding apart, not more
        np.testing.assert_allclose(two[f"arr_{i}"], w, rtol=0, atol=0.02)
        assert two[f"arr_{i}"].dtype == np.float32


@pytest.mark.parametrize(
    "mode,message",
    [
        ("fail", "rank 1 of 2: ValueError: injected failure on rank 1; aborting all ranks"),
        ("hang", "rank 0 of 2: gradient all-reduce did not complete within 5 s"),
    ],
)
def test_a_failed_or_hung_rank_ends_the_job(tmp_path, mode, message):
    t0 = time.monotonic()
    r = mpirun(2, mode, tmp_path / "x.npz")
    assert r.returncode != 0
    assert message in r.stderr
    assert time.monotonic() - t0 < 60


def test_cli_distributed_prints_once_from_rank_0(tmp_path):
    import json

    cmd = [
        "mpirun",
        "-n",
        "2",
        sys.executable,
        "-m",
        "mlp",
        "train",
        "--distributed",
        "--json",
        "--epochs",
        "8",
        "--hidden",
        "16",
        "--backend",
        "numpy",
        "--save",
        str(tmp_path / "m.npz"),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = [line for line in r.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1  # only rank 0 prints
    out = json.loads(lines[0])
    assert out["epochs"] == 8 and out["test_accuracy"] > 0.5
    assert mlp.load(tmp_path / "m.npz").n_features == 64


# -- MPI ranks that disagree ---------------------------------------------------------------------
@pytest.mark.skipif(not __import__("shutil").which("mpirun"), reason="mpirun (Open MPI or MPICH) is not installed")
@pytest.mark.parametrize(
    "what,match", [("seed", "rank 1's seed is 6, rank 0's is 5"), ("batch", "rank 1's batch_size is 16")]
)
def test_mpi_ranks_that_run_different_settings_abort_naming_them(tmp_path, what, match):
    pytest.importorskip("mpi4py")

    r = subprocess.run(
        ["mpirun", "-n", "2", sys.executable, WORKER, f"disagree-{what}", str(tmp_path / "x.npz")],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    assert r.returncode != 0 and match in r.stderr, r.stderr[-1500:]
