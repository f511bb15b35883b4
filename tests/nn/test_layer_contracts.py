"""Every registered layer has a contract case, and every case runs the shared checks: gradients
by finite differences with the state frozen, training vs inference, its state arrays, save and
load with its state, the compiled JAX step equal to the eager one (state included), and the
output dtype under a mixed-precision policy. A new layer gets every check by adding one case."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from helpers import numeric_grad

import mlp
from mlp.nn.layer import LAYERS


@dataclass
class Case:
    make: Callable[[int], Any]  # the layer for inputs of width d (or features d for a front layer)
    front: bool = False  # an input transform: first in the model
    back: bool = False  # an output stage: last in the model, made for the model's 2 outputs
    variable_dtype_out: bool = False  # maps back to the targets' units in the variable dtype (not the compute dtype)
    train_differs: bool = False  # training and inference outputs differ (batch statistics, dropout)
    loss: str = "mse"
    smooth: bool = True  # differentiable almost everywhere (finite differences apply)
    kw: dict = field(default_factory=dict)


ACT = lambda name, **kw: Case(lambda d, name=name: mlp.get_activation(name), **kw)


CASES = {
    "Dense": Case(lambda d: mlp.Dense(d, 5)),
    "Maxout": Case(lambda d: mlp.Maxout(d, 4, k=3)),
    "Multiplicative": Case(lambda d: mlp.Multiplicative(d, 3, pieces=4)),
    "Dropout": Case(lambda d: mlp.Dropout(0.3), train_differs=True),
    "BatchNorm": Case(lambda d: mlp.BatchNorm(d), train_differs=True),
    "LayerNorm": Case(lambda d: mlp.LayerNorm(d)),
    "Transform": Case(lambda d: mlp.Transform(d), front=True),
    "Standardize": Case(lambda d: mlp.Standardize(d), front=True),
    "MinMax": Case(lambda d: mlp.MinMax(d), front=True),
    "RobustScale": Case(lambda d: mlp.RobustScale(d), front=True),
    "TargetScale": Case(lambda k: mlp.TargetScale(k), back=True, variable_dtype_out=True),
    "EnsembleMean": Case(lambda k: mlp.EnsembleMean(2, k), back=True),
    "BlockDense": Case(lambda d: mlp.BlockDense(2, 3, 4)),
    "Embedding": Case(lambda d: mlp.Embedding(d, [3], dims=[2])),  # the last input column holds codes
    "Residual": Case(
        lambda d: mlp.Residual([mlp.LayerNorm(d), mlp.Dense(d, d), mlp.Tanh(), mlp.Dropout(0.2)]), train_differs=True
    ),
    "Identity": ACT("identity"),
    "Sign": ACT("sign", smooth=False),
    "Step": ACT("step", smooth=False),
    "Sigmoid": ACT("sigmoid"),
    "Exp": ACT("exp"),
    "Tanh": ACT("tanh"),
    "GeneralizedReLU": Case(lambda d: mlp.GeneralizedReLU(0.2)),
    "ReLU": ACT("relu"),
    "LeakyReLU": ACT("leaky_relu"),
    "Softplus": ACT("softplus"),
    "Softmax": ACT("softmax"),
    "GELU": ACT("gelu"),
}


def test_every_registered_layer_has_a_case():
    ours = sorted(name for name, cls in LAYERS.items() if cls.__module__.startswith("mlp."))
    assert sorted(CASES) == ours


def _model(case, backend="numpy", dtype="float64", compute_dtype=None, d=4):
    layer = case.make(2 if case.back else d)
    if case.back:
        layers = [mlp.Dense(d, 6), mlp.Tanh(), mlp.Dense(6, layer.in_features), layer]
    elif case.front:
        layers = [layer, mlp.Dense(d, 6), mlp.Tanh(), mlp.Dense(6, 2)]
    else:
        layers = [mlp.Dense(d, 6), mlp.Tanh(), layer]
        width = layer.output_features(6) if layer.in_features is None else layer.output_features(layer.in_features)
        if layer.in_features is not None and layer.in_features != 6:  # a layer that fixes its own input width
            layers = [mlp.Dense(d, layer.in_features), mlp.Tanh(), layer]
        layers.append(mlp.Dense(width, 2))
    model = mlp.Sequential(
        *layers, backend=backend, dtype=dtype, seed=1, init="glorot_normal", compute_dtype=compute_dtype
    )
    rng = np.random.default_rng(7)
    # non-trivial state and parameters: a fitted transform, running statistics away from 0 and 1
    state = [rng.uniform(0.5, 1.5, size=s.shape) for s in model.get_state()]
    model.set_state(state)
    if any(isinstance(lay, mlp.Multiplicative) for lay in model.layers):  # positive bases: its smooth domain
        model.set_weights([w if w.ndim == 2 else np.abs(w) + 2.0 for w in model.get_weights()])
    return model


def _data(n=9, d=4, seed=3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(n, 2))


@pytest.mark.parametrize("name", sorted(CASES))
def test_state_arrays_are_declared(name):
    layer = CASES[name].make(4)
    assert len(layer.build_state()) == layer.n_state
    assert [tuple(s.shape) for s in layer.build_state()] == layer.state_shapes()
    assert len(layer.build(np.random.default_rng(0), "glorot_uniform")) == layer.n_params


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c.smooth))
def test_gradients_by_finite_differences_with_state_frozen(name):
    case = CASES[name]
    model = _model(case)
    X, y = _data()
    state = model.get_state()
    value, grads = mlp.value_and_grad(model, "mse", X, y)
    for s, t in zip(model.get_state(), state):
        np.testing.assert_array_equal(s, t)  # value_and_grad never changes the state
    for i, w in enumerate(model.get_weights()):

        def f(wi, i=i):
            model.params[i] = model.backend.asarray(wi, model.dtype)
            return mlp.value_and_grad(model, "mse", X, y)[0]

        idx, num = numeric_grad(f, w.copy())
        model.params[i] = model.backend.asarray(w, model.dtype)
        np.testing.assert_allclose(grads[i].reshape(-1)[idx], num, rtol=1e-5, atol=1e-7, err_msg=f"{name} param {i}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_training_and_inference_modes(name):
    case = CASES[name]
    model = _model(case)
    X, _ = _data()
    Xp = model.prepare_input(X)
    train = mlp.Context(training=True, keep=False, rows=model.backend.asarray(np.arange(9, dtype=np.int32)))
    out_train, new_state = model.apply(Xp, train)
    out_eval, same_state = model.apply(Xp)
    assert all(a is b for a, b in zip(same_state, model.state))  # inference returns the state untouched
    if case.train_differs:
        assert not np.allclose(out_train, out_eval)
    else:
        np.testing.assert_allclose(out_train, out_eval, rtol=1e-12)
    changed = [not np.array_equal(a, b) for a, b in zip(new_state, model.state)]
    assert any(changed) == isinstance(model.layers[2], mlp.BatchNorm)  # only running statistics move


@pytest.mark.parametrize("name", sorted(CASES))
def test_saved_and_loaded_with_its_state(name, tmp_path):
    case = CASES[name]
    model = _model(case)
    X, y = _data()
    if case.smooth:
        mlp.train(model, X, y, loss="mse", optimizer=mlp.SGD(0.01), epochs=2, batch_size=3, progress=False)
    model.save(tmp_path / "m.npz")
    again = mlp.load(tmp_path / "m.npz")
    for a, b in zip(again.get_state(), model.get_state()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(again(X), model(X))


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c.smooth))
def test_compiled_step_equals_eager_with_state(name):
    pytest.importorskip("jax")
    import jax

    if not jax.config.jax_enable_x64:
        pytest.skip("needs JAX's 64-bit mode (the suite switches it on)")
    case = CASES[name]
    X, y = _data(23)

    def run(fast):
        model = _model(case, backend="jax")
        h = mlp.train(
            model, X, y, loss="mse", optimizer=mlp.Adam(0.01), epochs=3, batch_size=8, progress=False, fast=fast
        )
        return h.loss, model.get_weights(), model.get_state()

    (l_c, w_c, s_c), (l_e, w_e, s_e) = run(True), run(False)
    np.testing.assert_allclose(l_c, l_e, rtol=1e-10)
    for a, b in [*zip(w_c, w_e), *zip(s_c, s_e)]:
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c.smooth))
def test_output_dtype_under_mixed_precision(name):
    torch = pytest.importorskip("torch")
    case = CASES[name]
    model = _model(case, backend="torch", dtype="float32", compute_dtype="bfloat16")
    X, y = _data()
    assert model(X).dtype == torch.float32  # outputs in the variable dtype
    assert all(p.dtype == torch.float32 for p in model.params) and all(s.dtype == torch.float32 for s in model.state)
    Xp = model.prepare_input(X)
    out, _ = model.apply(Xp, mlp.Context(training=False))
    # the layers compute in the compute dtype; an output stage maps back in the variable dtype (targets'
    # units need its precision)
    assert out.dtype == (torch.float32 if case.variable_dtype_out else torch.bfloat16)
    value, grads = mlp.value_and_grad(model, "mse", X, y)
    assert np.isfinite(value) and all(g.dtype == torch.float32 for g in grads)


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c.smooth))
@pytest.mark.parametrize("make_opt", [lambda: mlp.SGD(0.05), lambda: mlp.SGD(0.05, momentum=0.9, weight_decay=0.01)])
def test_in_place_updates_inside_backward_equal_the_generic_step(name, make_opt):
    """NumPy's kernels update weights (or momentum) in place inside backward (fused SGD): a layer
    must read its parameters before its sinks change them."""
    case = CASES[name]
    X, y = _data(23)

    def run(fast):
        model = _model(case)
        h = mlp.train(model, X, y, loss="mse", optimizer=make_opt(), epochs=2, batch_size=8, progress=False, fast=fast)
        return h.loss, model.get_weights(), model.get_state()

    (l_f, w_f, s_f), (l_g, w_g, s_g) = run(True), run(False)
    np.testing.assert_allclose(l_f, l_g, rtol=1e-12)
    for a, b in [*zip(w_f, w_g), *zip(s_f, s_g)]:
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
