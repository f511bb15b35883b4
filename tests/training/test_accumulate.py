"""Gradient accumulation: ``accumulate=k`` sums the gradients of k micro-batches of ``batch_size``
rows before each update: equal to batches of k · batch_size rows (the losses average), checked
against an independent NumPy computation and on every backend; resumed exactly; BatchNorm takes
each micro-batch's statistics (documented)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import cli, last_json

import mlp
from mlp import backends


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    return X, (X[:, 0] - X[:, 2] > 0).astype(int)


def _run(batch_size, k, backend="numpy", **kw):
    X, y = _data()
    model = mlp.MLP([5, 8, 2], dtype="float64", seed=0, backend=backend)
    opt = kw.pop("optimizer", None) or mlp.SGD(0.1, momentum=0.9)
    h = mlp.train(
        model, X, y, optimizer=opt, epochs=3, batch_size=batch_size, accumulate=k, seed=1, progress=False, **kw
    )
    return h.loss, model.get_weights()


def test_one_update_equals_the_weighted_sum_of_the_micro_batches_gradients():
    """Plain SGD, one epoch of one update, no shuffle: w − lr · Σ_i (n_i / n) ∇L_i computed here."""
    X, y = _data(30)
    model = mlp.MLP([5, 8, 2], dtype="float64", seed=0)
    ref = [w.copy() for w in model.get_weights()]
    mlp.train(model, X, y, optimizer=mlp.SGD(0.5), epochs=1, batch_size=11, accumulate=3, shuffle=False, progress=False)
    probe = mlp.MLP([5, 8, 2], dtype="float64", seed=0)
    total = None
    for a, b in ((0, 11), (11, 22), (22, 30)):
        _, grads = mlp.value_and_grad(probe, "softmax_cross_entropy", X[a:b], y[a:b])
        part = [np.asarray(g) * (b - a) / 30 for g in grads]
        total = part if total is None else [t + p for t, p in zip(total, part)]
    for got, w, g in zip(model.get_weights(), ref, total):
        np.testing.assert_allclose(got, w - 0.5 * g, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", backends.available())
def test_k_micro_batches_equal_one_k_times_larger_batch_on_every_backend(name):
    (l_big, w_big), (l_acc, w_acc) = _run(32, 1, name), _run(8, 4, name)
    np.testing.assert_allclose(l_acc, l_big, rtol=1e-12)
    for a, b in zip(w_acc, w_big):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "big,small,k,kw",
    [
        (32, 8, 4, {"sample_weight": np.random.default_rng(1).uniform(0.5, 2, size=96)}),
        (30, 10, 3, {}),  # the epoch's last batch is shorter: its micro-batches too
        (32, 16, 2, {"adam": True}),
    ],
    ids=["weighted", "uneven", "adam"],
)
def test_weights_uneven_batches_and_adam(big, small, k, kw):
    def make(kw):
        kw = dict(kw)
        return {**kw, "optimizer": mlp.Adam(0.01)} if kw.pop("adam", False) else kw

    (_, w_big), (_, w_acc) = _run(big, 1, **make(kw)), _run(small, k, **make(kw))
    for a, b in zip(w_acc, w_big):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_a_resumed_run_with_accumulation_equals_an_uninterrupted_one(tmp_path):
    X, y = _data()
    whole = mlp.MLP([5, 8, 2], dtype="float64", seed=0)
    mlp.train(whole, X, y, epochs=4, batch_size=8, accumulate=3, seed=2, progress=False)
    cut = mlp.MLP([5, 8, 2], dtype="float64", seed=0)
    stop = [lambda epoch, logs, model: epoch >= 1]
    mlp.train(
        cut,
        X,
        y,
        epochs=4,
        batch_size=8,
        accumulate=3,
        seed=2,
        progress=False,
        checkpoint=tmp_path / "c.ckpt",
        callbacks=stop,
    )
    resumed = mlp.MLP([5, 8, 2], dtype="float64", seed=0)
    mlp.train(resumed, X, y, epochs=4, batch_size=8, accumulate=3, seed=2, progress=False, resume=tmp_path / "c.ckpt")
    for a, b in zip(whole.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="accumulate: 3 in the checkpoint, 1 in this run"):
        mlp.train(
            mlp.MLP([5, 8, 2], dtype="float64", seed=0),
            X,
            y,
            epochs=4,
            batch_size=8,
            seed=2,
            progress=False,
            resume=tmp_path / "c.ckpt",
        )


def test_batch_norm_takes_each_micro_batchs_statistics():
    """Documented: the micro-batches' statistics, so k micro-batches differ from one batch with BatchNorm."""
    X, y = _data()

    def run(bs, k):
        model = mlp.MLP([5, 8, 2], dtype="float64", seed=0, norm="batch")
        mlp.train(model, X, y, epochs=1, batch_size=bs, accumulate=k, shuffle=False, progress=False)
        return model.get_weights()

    assert not np.allclose(run(32, 1)[0], run(8, 4)[0])


def test_what_accumulation_refuses_and_the_cli_flag(capsys):
    X, y = _data()
    with pytest.raises(ValueError, match="accumulate must be an integer >= 1; got 0"):
        mlp.train(mlp.MLP([5, 2]), X, y, accumulate=0, progress=False)
    with pytest.raises(ValueError, match="batch_size=None \\(the full batch\\) has one batch"):
        mlp.train(mlp.MLP([5, 2]), X, y, accumulate=2, batch_size=None, progress=False)
    code, out, _ = cli(capsys, "train", "--epochs", "2", "--batch-size", "16", "--accumulate", "4", "--json")
    assert code == 0 and last_json(out)["test_accuracy"] > 0.5
