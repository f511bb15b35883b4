"""The fitted input transforms at the edges of float64: features of 1e-300 or 1e200 are scaled,
not taken for constants or overflowed, and device rows that the model's dtype cannot scale are
refused, naming the value."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import needs

import mlp


@pytest.mark.parametrize("magnitude", [1e-300, 1e-30, 1.0, 1e30, 1e200])
def test_standard_scaling_at_any_magnitude(magnitude):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2)) * magnitude
    mean, scale, n = mlp.nn.transforms.Standardize(2).fit([X[:80], X[80:]], 200)
    np.testing.assert_allclose(mean, X.mean(axis=0), rtol=1e-9)
    np.testing.assert_allclose(scale / magnitude, (X / magnitude).std(axis=0), rtol=1e-9)
    assert n[0] == 200


@pytest.mark.parametrize("magnitude", [1e-300, 1e200])
def test_a_float32_model_learns_from_features_beyond_float32(magnitude):
    """Host rows are scaled in float64 and then cast; rows already on the device (float32) cannot
    be scaled by values float32 does not hold, and are refused, naming the value."""
    needs("array_api_strict", "test")
    import array_api_strict as xp

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 2)) * magnitude
    y = (X[:, 0] > 0).astype(int)
    model = mlp.MLP([2, 16, 2], scale="standard", seed=0, backend="array_api_strict")
    mlp.train(model, X, y, epochs=20, progress=False)
    assert np.mean(np.asarray(model.predict_labels(X)) == y) > 0.9
    with pytest.raises(ValueError, match=r"input scaling runs in float32; that scaling holds .*e[-+]\d+ .*pass host"):
        model(xp.asarray(np.zeros((2, 2), np.float32)))


@pytest.mark.parametrize("scale", ["standard", "robust", "minmax"])
def test_features_spanning_all_of_float64_are_scaled_or_refused_by_name(scale):
    """±1e308: the mean, std, quantiles and IQR are taken of the features over a power of two (exact),
    so standard and robust scaling hold them; min-max's span (2e308) exceeds float64 and is refused."""
    X = np.array([[-1e308, 0.0], [1e308, 1.0]] * 10)
    y = np.arange(20) % 2
    model = mlp.MLP([2, 4, 2], scale=scale, dtype="float64", seed=0)
    if scale == "minmax":
        with pytest.raises(ValueError, match=r"X's feature 0 runs from -1e\+308 to 1e\+308, .*scale='standard'"):
            mlp.train(model, X, y, epochs=1, progress=False)
        return
    with np.errstate(all="raise"):
        mlp.train(model, X, y, epochs=1, progress=False)
    shift, spread = model.get_state()[:2]
    assert shift[0] == 0.0 and np.isfinite(spread[0]) and spread[0] > 1e307
    assert np.all(np.isfinite(np.asarray(model(X))))


@pytest.mark.parametrize("name", ["numpy", "torch", "jax", "array_api_strict"])
def test_the_fitted_float64_scaling_survives_every_backends_training_step(name):
    """A compiled step (JAX) hands the input stage's state back as new arrays in the model's dtype;
    the float64 values fitted on the host stay pinned to them, so features of 1e-300 are still
    scaled after training (not read back as float32 zeros)."""
    from mlp import backends

    if name not in backends.available():
        pytest.skip(f"{name} is not installed")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2)) * 1e-300
    y = (X[:, 0] > 0).astype(int)
    model = mlp.MLP([2, 16, 2], scale="standard", seed=0, backend=name)
    mlp.train(model, X, y, epochs=20, progress=False)
    assert np.mean(np.asarray(model.predict_labels(X)) == y) > 0.9
    assert model.get_state()[1][0] == pytest.approx(X[:, 0].std(), rel=1e-9)
