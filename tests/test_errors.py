"""Bad input gets a ValueError/TypeError whose message names the argument, expected and got."""

from __future__ import annotations

import numpy as np
import pytest

import mlp
from mlp import backends


def test_wrong_feature_dimension(backend, rng):
    model = backend.model([4, 3, 2])
    with pytest.raises(ValueError, match=r"X must have 4 features .* got 5"):
        model(backend.data(rng.normal(size=(3, 5))))
    with pytest.raises(ValueError, match=r"X must be 2-D .* got 1-D"):
        model(backend.data(rng.normal(size=4)))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs(backend, bad, rng):
    model = backend.model([3, 2])
    X = rng.normal(size=(4, 3))
    X[1, 2] = bad
    with pytest.raises(ValueError, match="X must be finite"):
        mlp.value_and_grad(model, "mse", backend.data(X), backend.data(np.zeros((4, 2))))
    y = np.zeros((4, 2))
    y[0, 0] = bad
    with pytest.raises(ValueError, match="y must be finite"):
        mlp.value_and_grad(model, "mse", backend.data(np.zeros((4, 3))), backend.data(y))


def test_labels_out_of_range(backend):
    model = backend.model([3, 4], output="softmax")
    X = backend.data(np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"y labels must be in \[0, 4\) .* got labels from 0 to 4"):
        mlp.value_and_grad(model, "cross_entropy", X, backend.data(np.array([0, 1, 4])))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 4\).*from -1"):
        mlp.value_and_grad(model, "cross_entropy", X, backend.data(np.array([0, -1, 2])))
    with pytest.raises(ValueError, match="y for loss 'bce' must hold targets"):
        mlp.value_and_grad(backend.model([3, 1], output="sigmoid"), "bce", X, backend.data(np.array([0.0, 2.0, 1.0])))
    with pytest.raises(ValueError, match="y for loss 'hinge' must hold labels -1/\\+1"):
        mlp.value_and_grad(backend.model([3, 1]), "hinge", X, backend.data(np.array([0.0, 2.0, 1.0])))


def test_target_shape_and_count(backend):
    model = backend.model([3, 2])
    with pytest.raises(ValueError, match=r"y for loss 'mse' must have shape \(n_samples, 2\)"):
        mlp.value_and_grad(model, "mse", backend.data(np.zeros((3, 3))), backend.data(np.zeros((3, 5))))
    with pytest.raises(ValueError, match=r"y must have one target per sample of X \(3\); got 2"):
        mlp.value_and_grad(model, "mse", backend.data(np.zeros((3, 3))), backend.data(np.zeros((2, 2))))


def test_mixed_backends_are_refused(backend):
    others = [n for n in backends.available() if n != backend.name and n in ("numpy", "array_api_strict", "torch")]
    model = backend.model([3, 2])
    for other in others:
        if other == "numpy":
            continue  # host NumPy data is accepted by every model (copied to its device once)
        X = backends.get(other).asarray(np.zeros((2, 3)))
        with pytest.raises(
            TypeError, match=rf"X is an array of backend '{other}'.*model lives on backend '{backend.name}'"
        ):
            model(X)


def test_mixed_devices_are_refused():
    pytest.importorskip("array_api_strict")
    model = mlp.MLP([3, 2], backend=backends.get("array_api_strict", "device1"))
    X = backends.get("array_api_strict").asarray(np.zeros((2, 3)))
    with pytest.raises(TypeError, match=r"X is an array of backend 'array_api_strict' on device .*CPU_DEVICE.*device1"):
        model(X)


def test_unknown_names(backend):
    with pytest.raises(ValueError, match=r"activation must be one of .* got 'relux'"):
        backend.model([3, 2], activation="relux")
    with pytest.raises(ValueError, match=r"output must be one of .* got 'softmin'"):
        backend.model([3, 2], output="softmin")
    with pytest.raises(ValueError, match=r"loss must be one of .* got 'crossentropy'"):
        mlp.value_and_grad(
            backend.model([3, 2]), "crossentropy", backend.data(np.zeros((1, 3))), backend.data(np.zeros((1, 2)))
        )
    with pytest.raises(ValueError, match=r"init must be one of .* got 'kaiming'"):
        backend.model([3, 2], init="kaiming")
    with pytest.raises(ValueError, match=r"dtype must be one of \['float32', 'float64'\]; got 'float16'"):
        backend.model([3, 2], dtype="float16")


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="backend must be one of"):
        mlp.MLP([3, 2], backend="tensorflow")
    with pytest.raises(TypeError, match="sizes must be a list"):
        mlp.MLP(3)
    with pytest.raises(ValueError, match="sizes must list at least"):
        mlp.MLP([3])
    with pytest.raises(ValueError, match="Dense in_features must be an integer >= 1; got 0"):
        mlp.MLP([0, 2])
    with pytest.raises(ValueError, match=r"layers\[2\] expects 5 input features but layers\[0\] gives 4"):
        mlp.Sequential(mlp.Dense(3, 4), mlp.ReLU(), mlp.Dense(5, 1))
    with pytest.raises(TypeError, match=r"layers\[1\] must be an mlp Layer"):
        mlp.Sequential(mlp.Dense(3, 4), "relu")
    with pytest.raises(ValueError, match="label_smoothing must be a number in"):
        mlp.CrossEntropy(label_smoothing=1.5)


@pytest.mark.parametrize("name", ["sign", "step"])
def test_sign_backward_raises(backend, name):
    model = backend.model([2, 1], output=name)
    out = backend.host(model(backend.data(np.array([[1.0, 2.0], [-3.0, -1.0]]))))
    assert set(np.unique(out)) <= {-1.0, 0.0, 1.0}
    with pytest.raises(mlp.NotDifferentiableError, match=f"the {name} activation has zero derivative"):
        mlp.value_and_grad(model, "mse", backend.data(np.ones((2, 2))), backend.data(np.ones(2)))


def test_non_numeric_inputs():
    model = mlp.MLP([2, 1])
    with pytest.raises(TypeError, match="X must hold"):
        model(np.array([["a", "b"]]))
    with pytest.raises(TypeError, match="X must hold numbers; got dtype object"):
        model(np.array([[object(), 1]], dtype=object))
    with pytest.raises(ValueError, match="X must hold at least one sample"):
        model(np.zeros((0, 2)))
    with pytest.raises(TypeError, match="model must be an mlp model"):
        mlp.value_and_grad("model", "mse", np.zeros((1, 2)), np.zeros(1))
