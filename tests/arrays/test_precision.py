"""Mixed precision: float32 weights and optimizer state, products and activations in bfloat16 or
float16, the loss in float32; dynamic loss scaling for float16; backends without the type refuse
it naming those that have it. And compiled JAX steps reused across train() calls."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from helpers import needs

import mlp

BF16_EPS = 2.0**-8  # bfloat16 keeps 8 significant bits


def _backends_with(dtype):
    return [
        b for b in ("torch", "jax") if b in mlp.backends.available() and dtype in mlp.backends.get(b).compute_dtypes
    ]


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_bf16_gradients_equal_float32_within_bf16_rounding(backend, rng):
    if backend not in mlp.backends.available():
        pytest.skip(f"{backend} is not installed")
    X, y = rng.normal(size=(64, 6)), rng.integers(0, 3, size=64)

    def grads(compute):
        model = mlp.MLP([6, 32, 32, 3], "tanh", backend=backend, dtype="float32", seed=2, compute_dtype=compute)
        _, g = mlp.value_and_grad(model, "softmax_cross_entropy", X, y)
        return [model.backend.to_numpy(a).astype(np.float64) for a in g], g

    ref, _ = grads(None)
    low, raw = grads("bfloat16")
    assert all(str(a.dtype).endswith("float32") for a in raw)  # gradients come back in the variable dtype
    for a, b in zip(low, ref):
        # a product of three layers' roundings, each within bf16's epsilon, relative to the gradient's size
        assert np.linalg.norm(a - b) <= 16 * BF16_EPS * np.linalg.norm(b)
        assert np.linalg.norm(a - b) > 0  # the products really ran in 16 bits


def test_digits_trained_in_bf16_within_half_a_point_of_float32():
    if "torch" not in mlp.backends.available():
        pytest.skip("torch is not installed")
    ds = mlp.data.digits()

    def accuracy(compute):
        scores = []
        for seed in range(3):
            model = mlp.MLP([64, 256, 256, 10], scale="standard", backend="torch", seed=seed, compute_dtype=compute)
            mlp.train(model, ds.X_train, ds.y_train, optimizer="adam", epochs=30, seed=seed, progress=False)
            assert all(str(p.dtype) == "torch.float32" for p in model.params)
            scores.append(model.evaluate(ds.X_test, ds.y_test)["accuracy"])
        return np.mean(scores)

    assert abs(accuracy("bfloat16") - accuracy(None)) <= 0.005


@pytest.mark.parametrize(
    "make_opt",
    [
        lambda: mlp.SGD(0.05),
        lambda: mlp.SGD(0.05, momentum=0.9, weight_decay=1e-3),
        lambda: mlp.SGD(0.05, momentum=0.9, nesterov=True),
        lambda: mlp.Adam(1e-2),
        lambda: mlp.AdamW(1e-2),
        lambda: mlp.RMSProp(1e-3),
    ],
)
def test_bf16_updates_in_the_flat_buffers_equal_the_unfused_rule(make_opt, rng, monkeypatch):
    """The float32 gradients of a bf16 backward written into the optimizer's sinks in place (one fused
    update per step, the torch kernels' scale_add) train the weights that the same backward with the
    generic sink rule and unfused update trains."""
    if "torch" not in mlp.backends.available():
        pytest.skip("torch is not installed")
    from mlp.backends.kernels import GENERIC

    X, y = rng.normal(size=(96, 6)), rng.integers(0, 3, size=96)

    from mlp.backends.torch_backend import TorchKernels

    written = []
    scale_add = TorchKernels.scale_add

    def spy(self, g, acc=None, alpha=1.0, beta=0.0):
        written.append(acc is not None)
        return scale_add(self, g, acc, alpha, beta)

    def run(fused):
        if fused:
            monkeypatch.setattr(TorchKernels, "scale_add", spy)
        else:  # the same kernels for the backward, the generic rule for the sinks and the update
            for module in ("mlp.training.step", "mlp.training.loop"):
                monkeypatch.setattr(f"{module}.update_kernels", lambda opt, kernels: GENERIC)
        model = mlp.MLP([6, 32, 32, 3], backend="torch", seed=2, compute_dtype="bfloat16")
        mlp.train(model, X, y, optimizer=make_opt(), epochs=3, batch_size=16, progress=False)
        monkeypatch.undo()
        return model.get_weights()

    fused, unfused = run(True), run(False)
    assert written and all(written)  # every gradient went into its sink through the torch kernels
    for a, b in zip(fused, unfused):
        # float32 rounding of the two update formulas, which a flipped bf16 rounding in a later forward
        # pass can grow: far below what a step changes (lr·g, about 1e-3 here)
        np.testing.assert_allclose(a, b, rtol=0, atol=5e-5)
    assert not all(np.array_equal(a, b) for a, b in zip(fused, mlp.MLP([6, 32, 32, 3], seed=2).get_weights()))


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_float16_loss_scaling_skips_overflowing_steps_and_keeps_the_weights(backend, rng):
    if backend not in mlp.backends.available():
        pytest.skip(f"{backend} is not installed")
    X, y = rng.normal(size=(64, 5)), rng.integers(0, 3, size=64)
    model = mlp.MLP([5, 16, 3], backend=backend, seed=0, compute_dtype="float16")
    before = model.get_weights()
    opt = mlp.Adam(1e-2)
    opt.scaler = mlp.LossScaler(scale=2.0**60)  # far beyond float16's largest value (65504): δ·scale overflows
    with pytest.warns(mlp.PrecisionWarning, match=r"skipped 2 step\(s\) whose gradients overflowed"):
        h = mlp.train(model, X, y, optimizer=opt, epochs=2, batch_size=None, progress=False)  # one step per epoch
    assert h.skipped_steps == 2 and h.loss_scale == 2.0**58  # halved at each skipped step
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)  # a skipped step changes nothing
    opt = mlp.Adam(1e-2)
    opt.scaler = mlp.LossScaler(scale=2.0**30, interval=5)
    with pytest.warns(mlp.PrecisionWarning):
        h = mlp.train(model, X, y, optimizer=opt, epochs=40, batch_size=16, progress=False)
    assert 0 < h.skipped_steps < 40 and h.loss[-1] < h.loss[0]  # it recovers, and trains
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())


def test_float16_loss_scaling_from_the_default_scale_trains(rng):
    backend = _backends_with("float16")
    if not backend:
        pytest.skip("no backend with float16 here")
    ds = mlp.data.digits()
    model = mlp.MLP([64, 64, 10], scale="standard", backend=backend[0], seed=0, compute_dtype="float16")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mlp.PrecisionWarning)
        mlp.train(model, ds.X_train, ds.y_train, optimizer="adam", epochs=10, progress=False)
    assert model.evaluate(ds.X_test, ds.y_test)["accuracy"] > 0.9


@pytest.mark.parametrize("backend", ["numpy", "array_api_strict"])
def test_backends_without_16_bit_compute_refuse_it_naming_those_that_have_it(backend):
    if backend not in mlp.backends.available():
        pytest.skip(f"{backend} is not installed")
    with pytest.raises(ValueError, match=r"compute_dtype 'bfloat16' is not offered by backend .*have it: \[.*'torch'"):
        mlp.MLP([4, 2], backend=backend, compute_dtype="bfloat16")
    with pytest.raises(ValueError, match="compute_dtype must be one of"):
        mlp.MLP([4, 2], compute_dtype="int8")


def test_a_mixed_precision_model_saves_float32_weights_and_its_policy(tmp_path, rng):
    if "torch" not in mlp.backends.available():
        pytest.skip("torch is not installed")
    X, y = rng.normal(size=(40, 4)), rng.integers(0, 2, size=40)
    model = mlp.MLP([4, 8, 2], backend="torch", compute_dtype="bfloat16", seed=0)
    mlp.train(model, X, y, epochs=2, progress=False)
    model.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as z:
        assert z["param_0"].dtype == np.float32
    again = mlp.load(tmp_path / "m.npz", backend="torch")
    assert again.backend.dtype_name(again.compute_dtype) == "bfloat16"
    np.testing.assert_array_equal(again.backend.to_numpy(again(X)), model.backend.to_numpy(model(X)))
    on_numpy = mlp.load(tmp_path / "m.npz", backend="numpy", dtype="float32")  # another backend: full float32
    assert on_numpy.compute_dtype == on_numpy.dtype


def test_cli_trains_in_bf16(capsys):
    if "torch" not in mlp.backends.available():
        pytest.skip("torch is not installed")
    import json

    from mlp.cli import main

    assert main(["train", "--backend", "torch", "--precision", "bf16", "--epochs", "5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert out["test_accuracy"] > 0.9
    assert main(["train", "--precision", "bf16", "--backend", "numpy", "--epochs", "1"]) == 2
    assert "not offered by backend 'numpy'" in capsys.readouterr().err


# -- compiled JAX steps are reused ---------------------------------------------------------------
def test_a_second_train_call_reuses_the_compiled_step(rng):
    pytest.importorskip("jax")
    X, y = rng.normal(size=(96, 5)).astype(np.float32), rng.integers(0, 3, size=96)
    model = mlp.MLP([5, 16, 3], backend="jax", dtype="float32", seed=0)
    kw = dict(optimizer="adam", epochs=2, batch_size=32, progress=False)
    mlp.train(model, X, y, **kw)
    steps = {k: v for k, v in model.net.compiled.items() if k[0] == "train_step"}
    entries = list(steps.values())
    assert len(entries) == 1 and entries[0]["traces"] == 1  # one batch shape: one trace
    h = mlp.train(model, X, y, **kw)  # a new optimizer object with the same settings
    steps = {k: v for k, v in model.net.compiled.items() if k[0] == "train_step"}
    assert entries[0]["traces"] == 1 and len(steps) == 1  # no new trace, no new entry
    mlp.train(model, X, y, **{**kw, "optimizer": mlp.Adam(0.01)})  # another learning rate: still the same step
    mlp.train(model, X, y, **{**kw, "seed": 5})  # another seed (dropout masks): still the same step
    assert entries[0]["traces"] == 1
    mlp.train(model, X, y, **{**kw, "optimizer": mlp.Adam(betas=(0.8, 0.99))})  # other settings: a new step
    assert len([k for k in model.net.compiled if k[0] == "train_step"]) == 2
    assert np.isfinite(h.loss[-1])


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_float16_outputs_that_overflow_give_no_label_or_probability(backend, rng):
    """A row far outside the training data overflows float16's products: predict_labels and
    predict_proba refuse it, naming the row, instead of returning NaN probabilities and label 0."""
    needs(backend, backend)
    X, y = rng.normal(size=(200, 3)), rng.integers(0, 2, size=200)
    model = mlp.MLP([3, 16, 2], backend=backend, seed=0, compute_dtype="float16")
    mlp.train(model, X, y, epochs=2, progress=False)
    rows = X[:4].copy()
    rows[2] = 1e6
    for predict in (model.predict_labels, model.predict_proba):
        with pytest.raises(ValueError, match=r"outputs for 1 rows of X \(first \[2\]\) are NaN or infinity.*float16"):
            predict(rows)
    assert model.predict_proba(X[:4]).shape == (4, 2)
