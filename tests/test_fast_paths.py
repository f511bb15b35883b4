"""Every backend fast path equals the generic array-API path it replaces."""
from __future__ import annotations

import numpy as np
import pytest

import mlp
from mlp import backends
from mlp.workspace import Workspace

FAST_BACKENDS = [n for n in backends.available() if backends.get(n).fast("matmul_into")]


@pytest.fixture(params=FAST_BACKENDS or [pytest.param(None, marks=pytest.mark.skip(reason="no backend with fast paths"))])
def fast_backend(request):
    return backends.get(request.param)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kernels_match_generic_math(fast_backend, dtype, rng):
    b, h = fast_backend, fast_backend.to_numpy
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == "float32" else dict(rtol=1e-12, atol=1e-12)
    x, d = rng.normal(size=(37, 11)), rng.normal(size=(37, 5))
    W, bias, c = rng.normal(size=(11, 5)), rng.normal(size=5), rng.normal(size=(11, 5))
    X, D = b.asarray(x, dtype), b.asarray(d, dtype)
    out = b.asarray(np.zeros((37, 5)), dtype, copy=True)
    np.testing.assert_allclose(h(b.fast("matmul_into")(X, b.asarray(W, dtype), out)), x @ W, **tol)
    np.testing.assert_allclose(h(b.fast("add_row_inplace")(out, b.asarray(bias, dtype))), x @ W + bias, **tol)
    s = b.asarray(x @ W, dtype, copy=True)
    np.testing.assert_allclose(h(b.fast("relu_inplace")(s)), np.maximum(x @ W, 0), **tol)
    delta = b.asarray(d, dtype, copy=True)
    np.testing.assert_allclose(h(b.fast("relu_backward_inplace")(delta, s)), np.where(x @ W > 0, d, 0), **tol)
    for alpha, beta in [(1.0, 0.0), (-0.1, 1.0), (1.0, 0.9), (2.5, 0.3)]:
        C = b.asarray(c, dtype, copy=True)
        b.fast("gemm_tn_into")(X, D, C, alpha, beta)
        np.testing.assert_allclose(h(C), beta * c + alpha * x.T @ d, **tol)
        # a row slice of a larger array (strided rows in the middle of a buffer)
        C = b.asarray(c, dtype, copy=True)
        b.fast("gemm_tn_into")(X[3:20], D[3:20], C, alpha, beta)
        np.testing.assert_allclose(h(C), beta * c + alpha * x[3:20].T @ d[3:20], **tol)
        col = b.asarray(bias, dtype, copy=True)
        b.fast("colsum_into")(D, col, alpha, beta)
        np.testing.assert_allclose(h(col), beta * bias + alpha * d.sum(axis=0), **tol)
    y = b.asarray(c, dtype, copy=True)
    b.fast("axpy")(b.asarray(W, dtype), y, -0.25)
    np.testing.assert_allclose(h(y), c - 0.25 * W, **tol)
    idx = b.asarray(np.array([4, 0, 36, 4]))
    np.testing.assert_allclose(h(b.fast("take_rows_into")(X, idx, b.asarray(np.zeros((4, 11)), dtype, copy=True))),
                               x[[4, 0, 36, 4]], **tol)


OPTIMIZERS = [lambda: mlp.SGD(0.1), lambda: mlp.SGD(0.1, weight_decay=0.01), lambda: mlp.SGD(0.05, momentum=0.9),
              lambda: mlp.SGD(0.05, momentum=0.9, weight_decay=0.01), lambda: mlp.SGD(0.05, momentum=0.9, nesterov=True),
              lambda: mlp.Adam(0.01), lambda: mlp.SGD(0.1, clip_norm=0.5)]


@pytest.mark.parametrize("make_opt", OPTIMIZERS, ids=["sgd", "sgd-wd", "momentum", "momentum-wd", "nesterov", "adam", "clip"])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_training_fast_equals_generic(fast_backend, make_opt, activation, rng):
    X, y = rng.normal(size=(103, 7)), rng.integers(0, 4, size=103)  # 103: a partial last batch

    def run(fast):
        model = mlp.MLP([7, 16, 12, 4], activation, "softmax", backend=fast_backend, dtype="float64", seed=1)
        h = mlp.train(model, X, y, optimizer=make_opt(), epochs=3, batch_size=16, seed=2, progress=False, fast=fast)
        return h.loss, model.get_weights()

    (l_fast, w_fast), (l_gen, w_gen) = run(True), run(False)
    np.testing.assert_allclose(l_fast, l_gen, rtol=1e-12)
    for a, b in zip(w_fast, w_gen):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_workspace_never_writes_user_arrays(fast_backend, rng):
    X = rng.normal(size=(20, 3))
    X_copy = X.copy()
    model = mlp.Sequential(mlp.ReLU(), mlp.Dense(3, 2), backend=fast_backend, dtype="float64")
    mlp.train(model, X, rng.normal(size=(20, 2)), loss="mse", epochs=2, batch_size=5, progress=False)
    np.testing.assert_array_equal(X, X_copy)  # ReLU applied first must not run in place on the data
    ws = Workspace.for_backend(fast_backend)
    assert ws is not None and not ws.owns(X)


def test_fast_path_gradients_equal_value_and_grad(fast_backend, rng):
    """Workspace gradients (no sinks) equal the allocating generic path."""
    X, y = rng.normal(size=(9, 5)), rng.integers(0, 3, size=9)
    model = mlp.MLP([5, 8, 3], "relu", "softmax", backend=fast_backend, dtype="float64", seed=3)
    _, ref = mlp.value_and_grad(model, "cross_entropy", X, y)
    loss = mlp.get_loss("cross_entropy")
    ws = Workspace.for_backend(fast_backend)
    _, grads = model.loss_and_grads(loss, model.check_input(X), loss.prepare(y, 3, model.backend, model.dtype), ws)
    for a, b in zip(grads, ref):
        np.testing.assert_allclose(fast_backend.to_numpy(a), fast_backend.to_numpy(b), rtol=1e-12, atol=1e-14)


class Square(mlp.Layer):
    """A user's layer with the plain signatures (no workspace, no sinks)."""

    def forward(self, params, x, training=True):
        self._x = x
        return x * x

    def backward(self, params, delta, need_input_grad=True):
        return 2 * self._x * delta, []


def test_custom_layers_train_on_the_generic_path(fast_backend, rng):
    X, y = rng.normal(size=(30, 3)), rng.normal(size=(30, 1))
    model = mlp.Sequential(mlp.Dense(3, 4), Square(), mlp.Dense(4, 1), backend=fast_backend, dtype="float64")
    h = mlp.train(model, X, y, loss="mse", optimizer=mlp.SGD(0.01, momentum=0.9), epochs=3, batch_size=8,
                  progress=False)
    assert len(h.loss) == 3 and np.all(np.isfinite(h.loss))
