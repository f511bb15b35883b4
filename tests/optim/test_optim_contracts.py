"""Every registered optimizer has a contract case, and every case runs the shared checks: its first
steps equal an independent NumPy transcription of its rule, init/sinks/apply keep the contract (state
a value: apply changes nothing it is given on the generic kernels), the flat in-place update equals
the array-by-array one, the compiled JAX step equals the eager one, a resumed run equals an
uninterrupted one, and the state is parked on the optimizer between runs. A new optimizer gets every
check by adding one case."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

import mlp
from mlp.backends.kernels import GENERIC
from mlp.optim import OPTIMIZERS


def _sgd(lr, momentum=0.0, nesterov=False, wd=0.0):
    def run(params, grads):
        v = [np.zeros_like(p) for p in params]
        for gs in grads:
            for i, (p, g) in enumerate(zip(params, gs)):
                g = g + wd * p if p.ndim > 1 else g
                if momentum:
                    v[i] = momentum * v[i] + g
                    g = g + momentum * v[i] if nesterov else v[i]
                params[i] = p - lr * g
        return params

    return run


def _adam(lr, b1=0.9, b2=0.999, eps=1e-8, wd=0.0, decoupled=False):
    def run(params, grads):
        m = [np.zeros_like(p) for p in params]
        v = [np.zeros_like(p) for p in params]
        for t, gs in enumerate(grads, start=1):
            for i, (p, g) in enumerate(zip(params, gs)):
                if wd and p.ndim > 1:
                    if decoupled:
                        p = p * (1 - lr * wd)
                    else:
                        g = g + wd * p
                m[i] = b1 * m[i] + (1 - b1) * g
                v[i] = b2 * v[i] + (1 - b2) * g * g
                mhat, vhat = m[i] / (1 - b1**t), v[i] / (1 - b2**t)
                params[i] = p - lr * mhat / (np.sqrt(vhat) + eps)
        return params

    return run


def _rmsprop(lr, alpha=0.99, eps=1e-8):
    def run(params, grads):
        v = [np.zeros_like(p) for p in params]
        for gs in grads:
            for i, (p, g) in enumerate(zip(params, gs)):
                v[i] = alpha * v[i] + (1 - alpha) * g * g
                params[i] = p - lr * g / (np.sqrt(v[i]) + eps)
        return params

    return run


def _lion(lr, b1=0.9, b2=0.99, wd=0.0):
    def run(params, grads):
        m = [np.zeros_like(p) for p in params]
        for gs in grads:
            for i, (p, g) in enumerate(zip(params, gs)):
                step = np.sign(b1 * m[i] + (1 - b1) * g) + (wd * p if p.ndim > 1 else 0)
                params[i] = p - lr * step
                m[i] = b2 * m[i] + (1 - b2) * g
        return params

    return run


@dataclass
class Case:
    make: Callable[[], mlp.Optimizer]
    reference: Callable  # (host params, [host grads per step]) -> host params after the steps


CASES = {
    "sgd": Case(lambda: mlp.SGD(0.1, weight_decay=0.01), _sgd(0.1, wd=0.01)),
    "gd": Case(lambda: mlp.get_optimizer("gd", lr=0.1), _sgd(0.1)),
    "momentum": Case(lambda: mlp.get_optimizer("momentum", lr=0.05), _sgd(0.05, 0.9)),
    "nesterov": Case(lambda: mlp.get_optimizer("nesterov", lr=0.05), _sgd(0.05, 0.9, nesterov=True)),
    "adam": Case(lambda: mlp.Adam(0.01, weight_decay=0.05), _adam(0.01, wd=0.05)),
    "adamw": Case(lambda: mlp.AdamW(0.01, weight_decay=0.1), _adam(0.01, wd=0.1, decoupled=True)),
    "rmsprop": Case(lambda: mlp.RMSProp(0.01), _rmsprop(0.01)),
    "lion": Case(lambda: mlp.Lion(1e-3, weight_decay=0.5), _lion(1e-3, wd=0.5)),
}


NAMES = sorted(CASES)


def test_every_registered_optimizer_has_a_case():
    assert sorted(OPTIMIZERS) == NAMES


def _problem(seed=0, steps=5):
    rng = np.random.default_rng(seed)
    shapes = [(4, 3), (3,)]
    params = [rng.normal(size=s) for s in shapes]
    return params, [[rng.normal(size=s) for s in shapes] for _ in range(steps)]


@pytest.mark.parametrize("name", NAMES)
def test_first_steps_equal_the_reference(backend, name):
    params, grads = _problem()
    want = CASES[name].reference([p.copy() for p in params], grads)
    opt = CASES[name].make()
    got = [backend.backend.asarray(p, "float64", copy=True) for p in params]
    for gs in grads:
        opt.step(got, [backend.backend.asarray(g, "float64") for g in gs])
    for g, w in zip(got, want):
        np.testing.assert_allclose(backend.host(g), w, rtol=1e-12, atol=1e-14)
    assert opt.t == len(grads)


@pytest.mark.parametrize("name", NAMES)
def test_init_sinks_apply_keep_the_contract(name):
    """init: zeros per parameter for each state key; sinks: one per parameter; apply returns new
    values and, on the generic kernels, leaves every array it was given as it was (a value)."""
    opt = CASES[name].make()
    params, grads = _problem(steps=1)
    state = opt.init(params)
    assert sorted(state) == sorted(opt.state_keys)
    for arrays in state.values():
        assert [a.shape for a in arrays] == [p.shape for p in params] and all(np.all(a == 0) for a in arrays)
    sinks = opt.sinks(state, params, 0.1)
    assert len(sinks) == len(params)
    sunk = sinks.received([s.receive(g) for s, g in zip(sinks, grads[0])])
    before = [p.copy() for p in params], {k: [a.copy() for a in v] for k, v in state.items()}
    new_params, new_state = opt.apply(state, params, sunk, 0.1, 1, GENERIC)
    assert [p.shape for p in new_params] == [p.shape for p in params] and sorted(new_state) == sorted(state)
    for a, b in zip(params, before[0]):
        np.testing.assert_array_equal(a, b)
    for k in state:
        for a, b in zip(state[k], before[1][k]):
            np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(new_params, params))


def _train(name, backend="numpy", fast=True, epochs=3, **kw):
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(103, 6)), rng.integers(0, 3, size=103)  # 103: a partial last batch
    model = mlp.MLP([6, 12, 3], "tanh", backend=backend, dtype="float64", seed=1)
    opt = CASES[name].make()
    h = mlp.train(model, X, y, optimizer=opt, epochs=epochs, batch_size=16, progress=False, fast=fast, **kw)
    return h, model, opt


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("name", NAMES)
def test_the_flat_in_place_update_equals_the_array_update(name, backend):
    if backend not in mlp.backends.available():
        pytest.skip(f"{backend} is not installed")
    (h_fast, m_fast, _), (h_gen, m_gen, _) = _train(name, backend), _train(name, backend, fast=False)
    np.testing.assert_allclose(h_fast.loss, h_gen.loss, rtol=1e-12)
    for a, b in zip(m_fast.get_weights(), m_gen.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_the_compiled_step_equals_the_eager_one(name):
    jax = pytest.importorskip("jax")
    if not jax.config.jax_enable_x64:
        pytest.skip("needs JAX's 64-bit mode (the suite switches it on)")
    (h_c, m_c, o_c), (h_e, m_e, o_e) = _train(name, "jax"), _train(name, "jax", fast=False)
    assert o_c.t == o_e.t == 21 and isinstance(o_c.t, int)
    np.testing.assert_allclose(h_c.loss, h_e.loss, rtol=1e-10)
    for a, b in zip(m_c.get_weights(), m_e.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_a_resumed_run_equals_an_uninterrupted_one(name, tmp_path):
    h_all, m_all, o_all = _train(name, epochs=4)
    _train(name, epochs=2, checkpoint=tmp_path / "c.npz")
    h, m, o = _train(name, epochs=4, resume=tmp_path / "c.npz")
    np.testing.assert_array_equal(h.loss, h_all.loss)
    for a, b in zip(m.get_weights(), m_all.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert o.t == o_all.t


@pytest.mark.parametrize("name", NAMES)
def test_the_state_is_parked_on_the_optimizer_between_runs(name):
    _, model, opt = _train(name, epochs=2)
    steps = 2 * math.ceil(103 / 16)
    assert opt.t == steps and sorted(opt.state) == sorted(opt.state_keys)
    for arrays in opt.state.values():
        assert [tuple(a.shape) for a in arrays] == [tuple(p.shape) for p in model.params]
    rng = np.random.default_rng(4)
    mlp.train(
        model, rng.normal(size=(32, 6)), rng.integers(0, 3, 32), optimizer=opt, epochs=1, batch_size=16, progress=False
    )
    assert opt.t == steps + 2  # the second run went on from the first's count (Adam's bias correction)
