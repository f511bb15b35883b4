"""Central finite differences (float64) for every layer, activation, loss and for models."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import check_model_grads, numeric_grad

import mlp

ELEMENTWISE = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "abs", "softplus", "gelu", "softmax"]


def _layer_input_grad(case, layer, x, rng):
    """backward(r) of a parameter-free layer equals d/dx sum(r * forward(x))."""
    r = rng.normal(size=layer_out_shape(layer, x))
    X = case.backend.asarray(x, "float64")
    train = mlp.Context(training=True, keep=True)
    _, _, saved = layer.forward([], [], X, train)
    got = case.host(layer.backward([], saved, case.backend.asarray(r, "float64"), train)[0])

    def f(xv):
        return float(np.sum(r * case.host(layer.forward([], [], case.backend.asarray(xv, "float64"))[0])))

    idx, num = numeric_grad(f, x.copy())
    np.testing.assert_allclose(got.reshape(-1)[idx], num, rtol=1e-6, atol=1e-8)


def layer_out_shape(layer, x):
    return x.shape


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_activation_backward_matches_finite_differences(backend, name, rng):
    x = rng.normal(size=(5, 4)) * 2
    x[np.abs(x) < 1e-3] = 0.5  # stay off the kinks of relu/abs
    _layer_input_grad(backend, mlp.get_activation(name), x, rng)


def test_generalized_relu_alpha(backend, rng):
    x = rng.normal(size=(4, 3))
    _layer_input_grad(backend, mlp.GeneralizedReLU(0.3), x, rng)
    out = backend.host(mlp.GeneralizedReLU(-1.0).apply(backend.backend.asarray(x, "float64")))
    np.testing.assert_allclose(out, np.abs(x))  # alpha = -1 is the absolute value


@pytest.mark.parametrize("layer", ["dense", "maxout"])
def test_parametric_layer_grads(backend, layer, rng):
    first = mlp.Dense(3, 6) if layer == "dense" else mlp.Maxout(3, 4, k=3)
    width = first.out_features
    model = mlp.Sequential(
        first, mlp.Tanh(), mlp.Dense(width, 2), backend=backend.backend, dtype="float64", seed=3, init="glorot_normal"
    )
    X = rng.normal(size=(7, 3))
    y = rng.normal(size=(7, 2))
    check_model_grads(backend, model, "mse", X, y)


LOSS_CASES = [
    ("mse", "identity", lambda rng, n, k: rng.normal(size=(n, k))),
    ("cross_entropy", "softmax", lambda rng, n, k: rng.integers(0, k, size=n)),
    (mlp.CrossEntropy(label_smoothing=0.1), "softmax", lambda rng, n, k: rng.integers(0, k, size=n)),
    ("softmax_cross_entropy", "identity", lambda rng, n, k: rng.dirichlet(np.ones(k), size=n)),
    ("kl_divergence", "softmax", lambda rng, n, k: rng.dirichlet(np.ones(k), size=n)),
    ("bce", "sigmoid", lambda rng, n, k: rng.integers(0, 2, size=(n, k)).astype(float)),
    ("bce_logits", "identity", lambda rng, n, k: rng.uniform(size=(n, k))),
    ("hinge", "identity", lambda rng, n, k: rng.choice([-1.0, 1.0], size=(n, k))),
    ("perceptron", "identity", lambda rng, n, k: rng.choice([-1.0, 1.0], size=(n, k))),
]


@pytest.mark.parametrize("loss,output,make_y", LOSS_CASES, ids=lambda v: getattr(v, "name", str(v))[:20])
def test_loss_and_model_grads(backend, loss, output, make_y, rng):
    k = 1 if loss in ("hinge", "perceptron") else 3
    model = backend.model([4, 5, 3, k], "tanh", output, seed=1, init="glorot_normal")
    X = rng.normal(size=(6, 4))
    check_model_grads(backend, model, loss, X, make_y(rng, 6, k))


@pytest.mark.parametrize("output,loss", [("sigmoid", "bce"), ("softmax", "cross_entropy"), ("softmax", "kl")])
def test_unfused_probability_path_matches_finite_differences(backend, output, loss, rng):
    """The probability-space loss gradient, backpropagated through the activation itself."""
    k = 3
    model = backend.model([4, k], output=output)
    X = rng.normal(size=(5, 4))
    y = (
        rng.dirichlet(np.ones(k), size=5)
        if loss == "kl"
        else (rng.integers(0, 2, size=(5, k)).astype(float) if loss == "bce" else rng.integers(0, k, size=5))
    )
    lossobj = mlp.get_loss(loss)
    T = lossobj.prepare(backend.data(y), k, model.backend, model.dtype)
    Xb = model.prepare_input(backend.data(X))
    train = mlp.Context(training=True, keep=True)
    out, _ = model.apply(Xb, train, len(model.layers) - 1)
    fused_value, fused_delta = lossobj.fused_value_and_gradient(out, T)
    probs, _, saved = model.layers[-1].forward([], [], out, train)
    value, delta = lossobj.value_and_gradient(probs, T)
    generic_delta = model.layers[-1].backward([], saved, delta, train)[0]
    np.testing.assert_allclose(float(value), float(fused_value), rtol=1e-10)
    np.testing.assert_allclose(backend.host(generic_delta), backend.host(fused_delta), rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "softplus", "gelu", "leaky_relu"])
def test_deep_model_grads(backend, activation, rng):
    model = backend.model([5, 6, 6, 6, 3], activation, "softmax", seed=7)
    # nonzero biases keep every unit off the kink at s = 0 (a dead unit with zero bias sits on it)
    model.set_weights([w if w.ndim == 2 else rng.normal(size=w.shape) * 0.3 for w in model.get_weights()])
    X = rng.normal(size=(8, 5))
    check_model_grads(backend, model, "cross_entropy", X, rng.integers(0, 3, size=8))


@pytest.mark.parametrize("name", ["sign", "step"])
def test_sign_backward_raises(backend, name):
    model = backend.model([2, 1], output=name)
    out = backend.host(model(backend.data(np.array([[1.0, 2.0], [-3.0, -1.0]]))))
    assert set(np.unique(out)) <= {-1.0, 0.0, 1.0}
    with pytest.raises(mlp.NotDifferentiableError, match=f"the {name} activation has zero derivative"):
        mlp.value_and_grad(model, "mse", backend.data(np.ones((2, 2))), backend.data(np.ones(2)))
