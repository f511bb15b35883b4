"""An exponential moving average of the weights (``ema=decay`` on any optimizer, Keras' use_ema):
updated after every step in one pass over the flat buffers, equal to an independent NumPy loop on
every backend, carried through checkpoints, and held by the model at the end of a run (or not,
``ema_final=False``, with ``optimizer.ema_weights()`` beside it)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import cli, last_json

import mlp
from mlp import backends


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    return X, (X[:, 0] - X[:, 3] > 0).astype(int)


def _independent(X, y, steps, lr, decay, batch=16):
    """Plain SGD by value_and_grad, no shuffle, and the average of the weights after each step."""
    ref = mlp.MLP([5, 8, 2], dtype="float64", seed=0)
    w = [a.copy() for a in ref.get_weights()]
    avg = [a.copy() for a in w]
    per_epoch = len(X) // batch
    for t in range(steps):
        rows = slice((t % per_epoch) * batch, (t % per_epoch + 1) * batch)
        _, grads = mlp.value_and_grad(ref, "softmax_cross_entropy", X[rows], y[rows])
        w = [a - lr * np.asarray(g) for a, g in zip(w, grads)]
        ref.set_weights(w)
        avg = [e * decay + a * (1 - decay) for e, a in zip(avg, w)]
    return w, avg


@pytest.mark.parametrize("name", backends.available())
def test_the_average_equals_an_independent_loop_on_every_backend(name):
    X, y = _data()
    raw, avg = _independent(X, y, 12, 0.2, 0.9)
    model = mlp.MLP([5, 8, 2], dtype="float64", seed=0, backend=name)
    opt = mlp.SGD(0.2, ema=0.9)
    mlp.train(model, X, y, optimizer=opt, epochs=2, batch_size=16, shuffle=False, progress=False)
    for got, want in zip(model.get_weights(), avg):  # the model ends holding the average
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13)
    for got, want in zip(opt.ema_weights(), avg):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13)


def test_ema_final_false_keeps_the_trained_weights_and_the_average_beside_them():
    X, y = _data()
    raw, avg = _independent(X, y, 12, 0.2, 0.9)
    model = mlp.MLP([5, 8, 2], dtype="float64", seed=0)
    opt = mlp.SGD(0.2, ema=0.9, ema_final=False)
    mlp.train(model, X, y, optimizer=opt, epochs=2, batch_size=16, shuffle=False, progress=False)
    for got, want in zip(model.get_weights(), raw):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13)
    model.set_weights(opt.ema_weights())  # switched to the average
    for got, want in zip(model.get_weights(), avg):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13)


def test_a_resumed_run_with_an_average_equals_an_uninterrupted_one(tmp_path):
    X, y = _data()

    def run(**kw):
        model = mlp.MLP([5, 8, 2], dtype="float64", seed=0)
        mlp.train(model, X, y, optimizer=mlp.Adam(0.01, ema=0.95), epochs=4, batch_size=16, progress=False, **kw)
        return model

    whole = run()
    run(checkpoint=tmp_path / "c.ckpt", callbacks=[lambda epoch, logs, model: epoch >= 1])
    resumed = run(resume=tmp_path / "c.ckpt")
    for a, b in zip(whole.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="ema"):
        mlp.train(
            mlp.MLP([5, 8, 2], dtype="float64", seed=0),
            X,
            y,
            optimizer=mlp.Adam(0.01),
            epochs=4,
            batch_size=16,
            progress=False,
            resume=tmp_path / "c.ckpt",
        )


def test_bad_settings_and_the_cli_flag(capsys):
    with pytest.raises(ValueError, match="ema must be in \\(0, 1\\); got 1.0"):
        mlp.Adam(ema=1.0)
    with pytest.raises(TypeError, match="ema_final must be True or False"):
        mlp.Adam(ema=0.9, ema_final="yes")
    code, out, _ = cli(capsys, "train", "--epochs", "2", "--ema", "0.99", "--json")
    assert code == 0 and last_json(out)["test_accuracy"] > 0.5
