"""Sample and class weights: the weighted mean loss, equal to repeating rows (integer weights) on
every backend, streamed and in memory, in one process and two."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import mlp


def _data(rng, n=30):
    X = rng.normal(size=(n, 4))
    return X, rng.integers(0, 3, size=n), rng.integers(0, 4, size=n)  # integer weights 0..3


def _fit(backend, X, y, **kw):
    model = mlp.MLP([4, 8, 3], "tanh", "softmax", backend=backend, dtype="float64", seed=1)
    h = mlp.train(model, X, y, optimizer=mlp.SGD(0.2, momentum=0.5), epochs=4, batch_size=None, progress=False, **kw)
    return model, h


def test_integer_weights_equal_repeated_rows(backend, rng):
    X, y, w = _data(rng)
    repeated = np.repeat(np.arange(X.shape[0]), w)
    a, ha = _fit(backend.backend, backend.data(X), backend.data(y), sample_weight=w)
    b, hb = _fit(backend.backend, backend.data(X[repeated]), backend.data(y[repeated]))
    np.testing.assert_allclose(ha.loss, hb.loss, rtol=1e-10)
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-9, atol=1e-12)


def test_value_and_grad_with_weights_equals_repeated_rows(rng):
    X, y, w = _data(rng)
    repeated = np.repeat(np.arange(X.shape[0]), w)
    model = mlp.MLP([4, 8, 3], "tanh", dtype="float64", seed=1)
    v1, g1 = mlp.value_and_grad(model, "softmax_cross_entropy", X, y, sample_weight=w)
    v2, g2 = mlp.value_and_grad(model, "softmax_cross_entropy", X[repeated], y[repeated])
    assert v1 == pytest.approx(v2, rel=1e-12)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize(
    "loss,output,make_y",
    [
        ("mse", "identity", lambda rng, n: rng.normal(size=(n, 2))),
        ("bce", "sigmoid", lambda rng, n: rng.integers(0, 2, size=(n, 2)).astype(float)),
        ("kl_divergence", "softmax", lambda rng, n: rng.dirichlet(np.ones(2), size=n)),
        ("hinge", "identity", lambda rng, n: rng.choice([-1.0, 1.0], size=(n, 2))),
    ],
)
def test_every_loss_weighs_samples(loss, output, make_y, rng):
    X, _, w = _data(rng)
    y = make_y(rng, X.shape[0])
    repeated = np.repeat(np.arange(X.shape[0]), w)
    model = mlp.MLP([4, 5, 2], "tanh", output, dtype="float64", seed=3)
    v1, g1 = mlp.value_and_grad(model, loss, X, y, sample_weight=w)
    v2, g2 = mlp.value_and_grad(model, loss, X[repeated], y[repeated])
    assert v1 == pytest.approx(v2, rel=1e-12)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)


def test_streamed_weighted_training_equals_in_memory(tmp_path, rng):
    X, y, w = _data(rng, 101)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    kw = dict(optimizer="adam", epochs=3, batch_size=16, sample_weight=w, validation_fraction=0.2, progress=False)
    a = mlp.MLP([4, 8, 3], dtype="float64", seed=0)
    b = mlp.MLP([4, 8, 3], dtype="float64", seed=0)
    ha = mlp.train(a, X, y, **kw)
    hb = mlp.train(b, np.load(tmp_path / "X.npy", mmap_mode="r"), np.load(tmp_path / "y.npy", mmap_mode="r"), **kw)
    assert ha.loss == hb.loss and ha.val_loss == hb.val_loss
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(u, v)


def test_balanced_class_weights_are_scikit_learns(rng):
    from sklearn.utils.class_weight import compute_sample_weight

    X = rng.normal(size=(60, 4))
    y = np.array(["a"] * 40 + ["b"] * 15 + ["c"] * 5)
    model = mlp.MLP([4, 8, 3], dtype="float64", seed=0)
    h1 = mlp.train(model, X, y, class_weight="balanced", batch_size=None, epochs=2, progress=False)
    model2 = mlp.MLP([4, 8, 3], dtype="float64", seed=0)
    h2 = mlp.train(
        model2, X, y, sample_weight=compute_sample_weight("balanced", y), batch_size=None, epochs=2, progress=False
    )
    np.testing.assert_allclose(h1.loss, h2.loss, rtol=1e-12)
    model3 = mlp.MLP([4, 8, 3], dtype="float64", seed=0)
    h3 = mlp.train(model3, X, y, class_weight={"c": 8.0, "b": 2.0}, batch_size=None, epochs=2, progress=False)
    w = np.select([y == "c", y == "b"], [8.0, 2.0], 1.0)
    model4 = mlp.MLP([4, 8, 3], dtype="float64", seed=0)
    h4 = mlp.train(model4, X, y, sample_weight=w, batch_size=None, epochs=2, progress=False)
    np.testing.assert_allclose(h3.loss, h4.loss, rtol=1e-12)


@pytest.mark.parametrize(
    "kw,err,match",
    [
        (dict(sample_weight=np.ones(5)), ValueError, r"sample_weight must have one weight per sample \(30\)"),
        (dict(sample_weight=-np.ones(30)), ValueError, "sample_weight must be >= 0"),
        (dict(sample_weight=np.full(30, np.nan)), ValueError, "sample_weight must be finite"),
        (dict(sample_weight=np.zeros(30)), ValueError, "at least one positive weight"),
        (dict(class_weight="even"), ValueError, "class_weight must be 'balanced', a dict or None"),
        (dict(class_weight={7: 1.0}), ValueError, "class_weight names the label 7"),
        (dict(class_weight={0: -1.0}), ValueError, r"class_weight\[0\] must be a finite number >= 0"),
    ],
)
def test_bad_weights_are_named(kw, err, match, rng):
    X, y, _ = _data(rng)
    with pytest.raises(err, match=match):
        mlp.train(mlp.MLP([4, 3]), X, y, progress=False, **kw)


def test_class_weight_on_a_regression_loss_is_an_error(rng):
    X = rng.normal(size=(10, 4))
    with pytest.raises(ValueError, match="class_weight applies to classification losses"):
        mlp.train(mlp.MLP([4, 1]), X, X[:, 0], loss="mse", class_weight="balanced", progress=False)


def test_cli_class_weight(capsys):
    import json

    from mlp.cli import main

    assert main(["train", "--class-weight", "balanced", "--epochs", "10", "--hidden", "32", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["test_accuracy"] > 0.8


@pytest.mark.skipif(not __import__("shutil").which("mpirun"), reason="mpirun (Open MPI or MPICH) is not installed")
def test_two_processes_equal_one_with_sample_weights(tmp_path):
    pytest.importorskip("mpi4py")
    from helpers import MPI_ENV as ENV
    from helpers import MPI_WORKER as WORKER

    r = subprocess.run(
        ["mpirun", "-n", "2", sys.executable, WORKER, "weighted", str(tmp_path / "two.npz")],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    two = np.load(tmp_path / "two.npz")
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(203, 6)), rng.integers(0, 3, size=203)
    model = mlp.MLP([6, 16, 3], "tanh", "softmax", dtype="float64", seed=1)
    h = mlp.train(
        model,
        X,
        y,
        optimizer=mlp.SGD(0.1, momentum=0.9),
        epochs=4,
        batch_size=32,
        seed=5,
        progress=False,
        sample_weight=np.arange(203) % 4,
    )
    for i, w in enumerate(model.get_weights()):
        np.testing.assert_allclose(two[f"arr_{i}"], w, rtol=0, atol=1e-10)
    np.testing.assert_allclose(two["loss"], h.loss, rtol=1e-10)


def test_class_weight_is_refused_for_multilabel_targets():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(60, 3)), (rng.random((60, 3)) > 0.5).astype(int)
    model = mlp.MLP([3, 8, 3], output="sigmoid", seed=0)
    with pytest.raises(ValueError, match="class_weight weights a sample by its one class.*multilabel.*sample_weight"):
        mlp.train(model, X, Y, epochs=1, progress=False, loss="bce", class_weight={0: 1, 1: 5})


def test_class_weight_keys_are_the_models_classes_not_the_labels_present():
    """A class the model has but this y lacks may be weighted (its weight has no row to act on)."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), np.arange(40) % 2  # classes 0 and 1 present; the model has 3
    h = mlp.train(mlp.MLP([3, 4, 3], seed=0), X, y, epochs=1, progress=False, class_weight={0: 1.0, 2: 3.0})
    assert np.isfinite(h.loss[-1])
    with pytest.raises(ValueError, match=r"class_weight names the label 3, which is not among the classes \[0, 1, 2\]"):
        mlp.train(mlp.MLP([3, 4, 3], seed=0), X, y, epochs=1, progress=False, class_weight={3: 1.0})
