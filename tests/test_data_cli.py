"""Datasets, user files, metrics and the `mlp train` command."""

from __future__ import annotations

import gzip
import json
import struct
import subprocess
import sys

import numpy as np
import pytest
from helpers import has, needs

import mlp
from mlp import data, metrics


def test_digits_split_and_scaling():
    ds = data.digits()
    assert ds.X_train.shape == (1347, 64) and ds.X_test.shape == (450, 64)
    from sklearn.datasets import load_digits

    per_class = np.bincount(load_digits().target)
    assert np.all(np.abs(np.bincount(ds.y_test) - per_class / 4) <= 1)  # stratified 75/25
    model = mlp.Sequential(mlp.Standardize(64), mlp.Dense(64, 10), dtype="float64").adapt(ds.X_train)
    Z = model.inputs.host(ds.X_train)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-10)
    assert np.all(np.isfinite(model.inputs.host(ds.X_test)))  # constant pixels get scale 1
    mm = mlp.Sequential(mlp.MinMax(64), mlp.Dense(64, 10), dtype="float64").adapt(ds.X_train)
    Z = mm.inputs.host(ds.X_train)
    assert Z.min() == 0 and Z.max() == 1


def test_generators():
    assert data.two_moons(n=200).X_train.shape == (150, 2)
    r = data.regression(n=100)
    assert r.task == "regression" and r.y_train.shape == (75,)
    with pytest.raises(ValueError, match="dataset must be one of"):
        data.load_dataset("cifar")


def test_npz_csv_and_idx_files(tmp_path, rng):
    X, y = rng.normal(size=(20, 3)), rng.integers(0, 2, size=20)
    np.savez(tmp_path / "d.npz", X_train=X, y_train=y, X_test=X[:5], y_test=y[:5])
    ds = data.load_file(tmp_path / "d.npz")
    assert ds.task == "classification" and ds.X_test.shape == (5, 3)
    np.savez(tmp_path / "bad.npz", X=X)
    with pytest.raises(ValueError, match="needs arrays X_train and y_train"):
        data.load_file(tmp_path / "bad.npz")
    mnist = tmp_path / "mnist"
    mnist.mkdir()
    imgs = rng.integers(0, 256, size=(6, 4, 4)).astype(np.uint8)
    labels = np.arange(6, dtype=np.uint8)
    for prefix in ("train", "t10k"):
        with gzip.open(mnist / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(struct.pack(">BBBBIII", 0, 0, 8, 3, 6, 4, 4) + imgs.tobytes())
        (mnist / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">BBBBI", 0, 0, 8, 1, 6) + labels.tobytes())
    ds = data.load_file(mnist)
    assert ds.X_train.shape == (6, 16) and ds.X_train.max() <= 1 and list(ds.y_test) == list(range(6))
    (tmp_path / "d.csv").write_text("a,b,label\n" + "\n".join(f"{a},{b},{int(a > b)}" for a, b in X[:, :2]))
    if not has("pyarrow"):  # the core install: the reader says which extra it needs
        with pytest.raises(ValueError, match=r"reading CSV and Parquet files needs pyarrow: pip install mlp\[data\]"):
            data.load_file(tmp_path / "d.csv")
    needs("pyarrow", "data")
    ds = data.load_file(tmp_path / "d.csv")
    assert ds.X_train.shape[1] == 2 and ds.task == "classification"
    with pytest.raises(ValueError, match="no label column 'target'"):
        data.load_file(tmp_path / "d.csv", label="target")
    (tmp_path / "t.csv").write_text("a,label\nx,1\n2,0\n3,1\n4,0\n")
    with pytest.raises(ValueError, match="feature column 'a' holds text \\('x'\\) in data row 1"):
        data.load_file(tmp_path / "t.csv")


def test_metrics_match_scikit_learn(backend, rng):
    sk = pytest.importorskip("sklearn.metrics")
    y = rng.integers(0, 3, size=30)
    p = rng.dirichlet(np.ones(3), size=30)
    assert metrics.accuracy(backend.data(y), backend.data(p)) == pytest.approx(sk.accuracy_score(y, p.argmax(1)))
    assert metrics.log_loss(backend.data(y), backend.data(p)) == pytest.approx(sk.log_loss(y, p))
    t, q = rng.normal(size=(30, 2)), rng.normal(size=(30, 2))
    assert metrics.mean_squared_error(backend.data(t), backend.data(q)) == pytest.approx(sk.mean_squared_error(t, q))
    assert metrics.r2_score(backend.data(t), backend.data(q)) == pytest.approx(sk.r2_score(t, q))


def _mlp(*args):
    return subprocess.run([sys.executable, "-m", "mlp", *args], capture_output=True, text=True)


def test_cli_train_json_and_plot(tmp_path):
    needs("matplotlib", "plot")
    png = tmp_path / "curves.png"
    r = _mlp(
        "train", "--json", "--epochs", "3", "--hidden", "32", "--plot", str(png), "--save", str(tmp_path / "m.npz")
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert {"backend", "device", "epochs", "train_loss", "seconds", "test_accuracy"} <= set(out)
    assert out["backend"] == mlp.backends.best() and out["epochs"] == 3 and 0.5 < out["test_accuracy"] <= 1
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model = mlp.load(tmp_path / "m.npz")
    assert model.n_features == 64 and model.n_outputs == 10


def test_cli_regression_reports_mse():
    r = _mlp("train", "--json", "--dataset", "regression", "--epochs", "2", "--hidden", "8", "--lr", "0.01")
    assert r.returncode == 0, r.stderr
    assert "test_mse" in json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "args,match",
    [
        (["train", "--epochs", "0"], "--epochs: must be > 0"),
        (["train", "--hidden", "a,b"], "--hidden: expected comma-separated integers"),
        (["train", "--backend", "tpu"], "--backend: invalid choice"),
        (["train", "--data", "/no/such/file.npz"], "does not exist"),
        (["train", "--lr", "-1"], "--lr: must be > 0"),
    ],
)
def test_cli_errors_are_one_line_exit_2(args, match):
    r = _mlp(*args)
    assert r.returncode == 2
    assert match in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 3


def test_cli_bad_data_file(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    r = _mlp("train", "--data", str(tmp_path / "junk.npz"))
    assert r.returncode == 2 and "cannot read as .npz" in r.stderr and "Traceback" not in r.stderr
