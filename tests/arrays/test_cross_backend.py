"""One seed and one input give the same weights, outputs and gradients on every backend."""

from __future__ import annotations

import numpy as np
import pytest

import mlp


@pytest.mark.parametrize("dtype,rtol", [("float64", 1e-12), ("float32", 1e-5)])
def test_same_seed_same_model_everywhere(backend, dtype, rtol, rng):
    X = rng.normal(size=(10, 6))
    y = rng.integers(0, 3, size=10)
    ref = mlp.MLP([6, 8, 3], "relu", "softmax", dtype=dtype, seed=5)
    ours = mlp.MLP([6, 8, 3], "relu", "softmax", backend=backend.backend, dtype=dtype, seed=5)
    for a, b in zip(ref.get_weights(), ours.get_weights()):
        np.testing.assert_array_equal(a, b)  # drawn on the host: bitwise equal
    np.testing.assert_allclose(backend.host(ours(backend.data(X))), ref(X), rtol=rtol, atol=rtol)
    v_ref, g_ref = mlp.value_and_grad(ref, "cross_entropy", X, y)
    v, g = mlp.value_and_grad(ours, "cross_entropy", backend.data(X), backend.data(y))
    np.testing.assert_allclose(v, v_ref, rtol=rtol)
    for a, b in zip(g, g_ref):
        np.testing.assert_allclose(backend.host(a), b, rtol=rtol * 10, atol=rtol)


def test_params_live_on_the_backend(backend):
    model = mlp.MLP([3, 4, 2], backend=backend.backend)
    assert [tuple(p.shape) for p in model.params] == [(3, 4), (4,), (4, 2), (2,)]
    for p in model.params:
        assert model.backend.owns(p)
        assert p.dtype == model.backend.xp.float32
    assert model.n_params == 3 * 4 + 4 + 4 * 2 + 2


def test_moving_a_model_keeps_its_weights(backend, rng):
    X = rng.normal(size=(4, 3))
    ref = mlp.MLP([3, 5, 2], "tanh", dtype="float64", seed=2)
    moved = ref.to(backend.backend)
    np.testing.assert_allclose(backend.host(moved(backend.data(X))), ref(X), rtol=1e-12)


@pytest.mark.parametrize("init", ["normal", "glorot_uniform", "glorot_normal", "he_normal", "he_uniform", 0.3])
def test_initializers_scale(init):
    fan_in, fan_out = 400, 300
    W = mlp.Sequential(mlp.Dense(fan_in, fan_out, init=init), dtype="float64", seed=0).get_weights()
    expected_std = {
        "normal": 0.01,
        "glorot_uniform": np.sqrt(2 / 700),
        "glorot_normal": np.sqrt(2 / 700),
        "he_normal": np.sqrt(2 / 400),
        "he_uniform": np.sqrt(2 / 400),
        0.3: 0.3,
    }[init]
    assert abs(W[0].std() / expected_std - 1) < 0.02
    assert abs(W[0].mean()) < 0.05 * expected_std + 1e-4
    np.testing.assert_array_equal(W[1], 0)  # biases start at zero


def test_set_weights_copies_host_arrays():
    model = mlp.MLP([2, 2], dtype="float64")
    w = [np.ones((2, 2)), np.zeros(2)]
    model.set_weights(w)
    model.params[0] -= 1.0  # an in-place update must not reach the caller's array
    np.testing.assert_array_equal(w[0], 1.0)


def test_backend_inferred_from_an_array(backend, rng):
    X = backend.backend.asarray(rng.normal(size=(4, 3)), "float32")
    model = mlp.MLP([3, 2], backend=X)
    assert model.backend is backend.backend
    assert model.backend.owns(model(X))
    with pytest.raises(TypeError, match="backend must be a backend name, a Backend or an array"):
        mlp.MLP([3, 2], backend=object())
