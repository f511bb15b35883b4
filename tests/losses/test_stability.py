"""Fused losses are stable from logits: ±1e4 gives finite values and gradients, no warnings."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import mlp


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "output,loss,k",
    [
        ("softmax", "cross_entropy", 3),
        ("sigmoid", "bce", 2),
        ("identity", "softmax_cross_entropy", 3),
        ("identity", "bce_logits", 2),
        ("softmax", mlp.CrossEntropy(label_smoothing=0.1), 3),
        ("softmax", "kl", 3),
    ],
)
def test_huge_logits_are_finite(backend, output, loss, k, dtype):
    # a one-layer model with identity weights passes X straight through as the logits
    model = mlp.Sequential(
        mlp.Dense(k, k, init=lambda rng, a, b: np.eye(a)),
        mlp.get_activation(output),
        backend=backend.backend,
        dtype=dtype,
    )
    X = np.array([[1e4, -1e4, 0.0][:k], [-1e4, 1e4, 1e4][:k], [0.0, -1e4, -1e4][:k]])
    if loss in ("bce", "bce_logits"):
        y = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    elif loss == "kl":
        y = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.2, 0.3, 0.5]])
    else:
        y = np.array([1, 0, 2])
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        value, grads = mlp.value_and_grad(model, loss, backend.data(X), backend.data(y))
    assert np.isfinite(value) and value > 100  # confidently wrong: a large, finite loss
    for g in grads:
        assert np.all(np.isfinite(backend.host(g)))


def test_activations_do_not_overflow(backend):
    s = backend.backend.asarray(np.array([[-1e4, -50.0, 0.0, 50.0, 1e4]]), "float32")
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        for name in ("sigmoid", "softplus", "softmax", "tanh", "gelu"):
            out = backend.host(mlp.get_activation(name).apply(s))
            assert np.all(np.isfinite(out)), name
    np.testing.assert_allclose(
        backend.host(mlp.Sigmoid().apply(s)), [[0, 1.9287e-22, 0.5, 1, 1]], rtol=1e-3, atol=1e-30
    )
