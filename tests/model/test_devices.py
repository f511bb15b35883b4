"""A model on a device that is not the default: array-api-strict's ``device1`` refuses any
operation that mixes arrays of two devices, as a second GPU would. Every call a user makes on
such a model (train from host or device rows, an input stage fitted on device rows, predict,
probabilities, evaluate, value_and_grad, save and load, a move, checkpoint and resume, streamed
rows) stays on it."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import needs

import mlp


@pytest.fixture
def strict():
    needs("array_api_strict", "test")
    import array_api_strict as xp

    return xp


def test_every_call_of_a_model_on_a_second_device_stays_there(strict, tmp_path):
    xp, d1 = strict, strict.Device("device1")
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(64, 3)), np.arange(64) % 3
    Xd, yd = xp.asarray(X.astype(np.float32), device=d1), xp.asarray(y, device=d1)
    for rows, labels in ((X, y), (Xd, yd)):  # host rows, then rows already on device1 (scaler fitted from them)
        model = mlp.MLP([3, 8, 3], backend="array_api_strict", device="device1", scale="standard", seed=0)
        mlp.train(model, rows, labels, epochs=2, progress=False, validation_fraction=0.25)
        assert model(rows).device == d1
        labels_out = model.predict_labels(rows)
        assert labels_out.shape == (64,) and model.predict_proba(rows).shape == (64, 3)
        assert 0.0 <= model.evaluate(rows, labels)["accuracy"] <= 1.0
        value, grads = mlp.value_and_grad(model, "softmax_cross_entropy", rows, labels, sample_weight=np.ones(64))
        assert np.isfinite(value) and all(g.device == d1 for g in grads)
    model.save(tmp_path / "m.npz")
    loaded = mlp.load(tmp_path / "m.npz", backend="array_api_strict", device="device1")
    np.testing.assert_array_equal(loaded.predict_labels(X), model.predict_labels(X))
    moved = model.to("array_api_strict", device="device2")
    assert moved(X).device == xp.Device("device2")
    np.testing.assert_array_equal(moved.predict_labels(X), model.predict_labels(X))

    net = mlp.MLP([3, 8, 3], backend="array_api_strict", device="device1", norm="batch", dropout=0.1, seed=0)
    mlp.train(net, X, y, epochs=2, progress=False, class_weight="balanced", checkpoint=tmp_path / "c.ckpt")
    mlp.train(net, X, y, epochs=3, progress=False, resume=tmp_path / "c.ckpt")
    np.save(tmp_path / "X.npy", X)
    mlp.train(net, np.load(tmp_path / "X.npy", mmap_mode="r"), y, epochs=1, progress=False)
    reg = mlp.MLP([3, 8, 1], backend="array_api_strict", device="device1", seed=0)
    mlp.train(reg, X, X[:, 0], loss="mse", epochs=2, progress=False, sample_weight=np.ones(64))
    assert set(reg.evaluate(Xd, xp.asarray(X[:, 0], device=d1))) == {"mse", "r2"}


def test_every_device_touching_call_runs_in_the_backends_context(monkeypatch):
    """CuPy makes arrays on its *current* device, whatever the model's: the model's calls enter
    ``backend.context()`` (CuPy: ``with device``) before they make any array. Seen here through a
    context that records whether it is open when the targets are prepared and outputs are read."""
    import contextlib

    from mlp import backends
    from mlp.losses import CrossEntropy

    b = backends.get("numpy")
    depth, seen = [0], []

    @contextlib.contextmanager
    def context(self):
        depth[0] += 1
        try:
            yield
        finally:
            depth[0] -= 1

    real_prepare, real_to_numpy = CrossEntropy.prepare, type(b).to_numpy
    monkeypatch.setattr(type(b), "context", context)
    monkeypatch.setattr(CrossEntropy, "prepare", lambda *a, **k: seen.append(depth[0]) or real_prepare(*a, **k))
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 3)), np.arange(20) % 3
    model = mlp.MLP([3, 4, 3], seed=0)
    mlp.train(model, X, y, epochs=1, progress=False)
    mlp.value_and_grad(model, "softmax_cross_entropy", X, y)
    assert seen and min(seen) >= 1, seen
    seen.clear()
    monkeypatch.setattr(type(b), "to_numpy", lambda self, x: seen.append(depth[0]) or real_to_numpy(self, x))
    model.predict_labels(X), model.predict_proba(X), model(X)
    assert seen and min(seen) >= 1, seen
