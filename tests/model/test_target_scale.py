"""Regression targets standardized inside the model (``scale_targets=True``, a ``TargetScale`` last
layer): fitted by mlp.train on the training targets, learned standardized, mapped back to their
units by model(X), saved, moved, exported; the loss in standardized units, the metrics in the
targets' units."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from helpers import has

import mlp


def _data(n=1500, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    Y = np.c_[1000 * (X[:, 0] + np.sin(X[:, 1])), 0.001 * X[:, 2] * X[:, 3], 50 + 3 * X[:, 3] ** 2]
    return X, Y


def _train(model, X, Y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mlp.TrainingWarning)
        return mlp.train(model, X, Y, loss="mse", epochs=kw.pop("epochs", 25), progress=False, **kw)


def test_outputs_of_different_scales_are_learned_alike_and_given_back_in_their_units():
    from sklearn.metrics import mean_squared_error, r2_score

    X, Y = _data()
    model = mlp.MLP([4, 64, 64, 3], scale="robust", scale_targets=True, seed=0)
    h = _train(model, X[:1200], Y[:1200], validation_fraction=0.1)
    mean, std, rows = model.get_state()[-3:]
    train_rows = model.get_state()[2][0]  # the input stage fitted on the same training rows
    assert rows[0] == train_rows == 1080
    P = np.asarray(model(X[1200:]), dtype=np.float64)
    assert min(r2_score(Y[1200:, j], P[:, j]) for j in range(3)) > 0.9
    assert h.val_loss[0] < 1.5  # standardized units: about the targets' variance, 1, at the start
    metrics = model.evaluate(X[1200:], Y[1200:])  # the targets' units
    assert metrics["mse"] == pytest.approx(mean_squared_error(Y[1200:], P), rel=1e-6)
    raw = mlp.MLP([4, 64, 64, 3], scale="robust", seed=0)
    _train(raw, X[:1200], Y[:1200])
    assert r2_score(Y[1200:, 1], np.asarray(raw(X[1200:]))[:, 1]) < 0.5  # the small output is lost without


def test_the_fitted_scale_is_the_training_targets_mean_and_std_and_is_kept(tmp_path):
    X, Y = _data(300)
    Y[:, 1] = 7.0  # a constant target: std 1
    model = mlp.MLP([4, 8, 3], scale_targets=True, seed=0, dtype="float64")
    _train(model, X, Y, epochs=2)
    mean, std, rows = model.get_state()[-3:]
    np.testing.assert_allclose(mean, Y.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(std, [Y[:, 0].std(), 1.0, Y[:, 2].std()], rtol=1e-12)
    _train(model, X * 2, Y * 5, epochs=1)  # a second run goes on: the scale is not refitted
    np.testing.assert_array_equal(model.get_state()[-3], mean)
    ctx = mlp.Context(training=False)
    inner, _ = model.apply(model.prepare_input(X), ctx, stop=model.net.target_scale)
    np.testing.assert_allclose(np.asarray(model(X)), np.asarray(inner) * std + mean, rtol=1e-12)
    model.save(tmp_path / "m.npz")
    np.testing.assert_array_equal(mlp.load(tmp_path / "m.npz")(X), model(X))
    if has("torch"):
        moved = model.to("torch")
        np.testing.assert_allclose(moved.backend.to_numpy(moved(X)), model(X), rtol=1e-12)
    if has("onnx") and has("onnxruntime"):
        import onnxruntime as ort

        model.to_onnx(tmp_path / "m.onnx")
        got = ort.InferenceSession(str(tmp_path / "m.onnx")).run(["Y"], {"X": X})[0]
        np.testing.assert_allclose(got, model(X), rtol=1e-12)


def test_what_target_scaling_cannot_do_is_refused_by_name():
    X, Y = _data(40)
    with pytest.raises(ValueError, match="ends in a TargetScale .* takes class labels"):
        mlp.train(
            mlp.MLP([4, 3], scale_targets=True), X, np.arange(40) % 3, loss="softmax_cross_entropy", progress=False
        )
    with pytest.raises(ValueError, match="output must be 'identity'; got 'sigmoid'"):
        mlp.MLP([4, 3], output="sigmoid", scale_targets=True)
    with pytest.raises(TypeError, match="scale_targets must be True or False"):
        mlp.MLP([4, 3], scale_targets="yes")
    with pytest.raises(ValueError, match=r"a TargetScale must be the last layer; layers\[1\]"):
        mlp.Sequential(mlp.Dense(4, 3), mlp.TargetScale(3), mlp.Dense(3, 1))
    Y[3, 0] = np.nan
    with pytest.raises(ValueError):
        mlp.train(mlp.MLP([4, 3], scale_targets=True), X, Y, loss="mse", progress=False)


def test_mlp_train_standardizes_several_regression_outputs_by_default(tmp_path, capsys):
    """mlp.defaults.SCALE_TARGETS: on for several outputs (their units differ), off for one (the study
    in benchmarks/results/target-scale-2026-12-06); --scale-targets/--no-scale-targets choose."""
    from helpers import cli

    X, Y = _data(400)
    np.savez(tmp_path / "multi.npz", X_train=X[:300], y_train=Y[:300], X_test=X[300:], y_test=Y[300:])
    np.savez(tmp_path / "one.npz", X_train=X[:300], y_train=Y[:300, 2], X_test=X[300:], y_test=Y[300:, 2])
    for name, flags, scaled in (
        ("multi", (), True),
        ("multi", ("--no-scale-targets",), False),
        ("one", (), False),
        ("one", ("--scale-targets",), True),
    ):
        code, out, _ = cli(
            capsys,
            "train",
            "--data",
            str(tmp_path / f"{name}.npz"),
            "--epochs",
            "2",
            "--save",
            str(tmp_path / "m.npz"),
            *flags,
        )
        assert code == 0
        assert (mlp.load(tmp_path / "m.npz").net.target_scale is not None) == scaled, (name, flags)
        assert ("standardized targets" in out) == scaled
