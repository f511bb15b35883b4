"""Every registered loss has a contract case, and every case runs the shared checks: its gradient with
respect to the outputs equals central differences of its value (weighted and unweighted), integer
sample weights equal repeated rows, the fused path from the logits equals the unfused one through the
activation, evaluation's value equals training's, its head is a classifier's exactly when it trains on
labels, and targets of another shape are refused naming them. A new loss gets every check by adding
one case."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from helpers import numeric_grad

import mlp
from mlp.losses import LOSSES


@dataclass
class Case:
    output: str  # the activation of the model's last layer
    k: int  # outputs
    make_y: Callable  # (rng, n, k) -> targets


def _labels(rng, n, k):
    return rng.integers(0, k, size=n)


def _dist(rng, n, k):
    return rng.dirichlet(np.ones(k), size=n)


def _binary(rng, n, k):
    return rng.integers(0, 2, size=(n, k)).astype(float)


def _signed(rng, n, k):
    return rng.choice([-1.0, 1.0], size=(n, k))


CASES = {
    "mse": Case("identity", 2, lambda rng, n, k: rng.normal(size=(n, k))),
    "squared_error": Case("identity", 2, lambda rng, n, k: rng.normal(size=(n, k))),
    "poisson": Case("exp", 2, lambda rng, n, k: rng.poisson(2.0, size=(n, k)).astype(float)),
    "cross_entropy": Case("softmax", 3, _labels),
    "softmax_cross_entropy": Case("identity", 3, _dist),
    "kl_divergence": Case("softmax", 3, _dist),
    "kl": Case("softmax", 3, _dist),
    "bce": Case("sigmoid", 2, _binary),
    "binary_cross_entropy": Case("sigmoid", 2, _binary),
    "bce_logits": Case("identity", 2, lambda rng, n, k: rng.uniform(size=(n, k))),
    "hinge": Case("identity", 1, _signed),
    "perceptron": Case("identity", 1, _signed),
}


NAMES = sorted(CASES)


N = 7


def test_every_registered_loss_has_a_case():
    assert sorted(LOSSES) == NAMES


def _setup(name, seed=0):
    """(loss, outputs as the loss reads them, prepared targets, sample weights) on NumPy, float64."""
    case, loss = CASES[name], mlp.get_loss(name)
    rng = np.random.default_rng(seed)
    b = mlp.backends.get("numpy")
    s = rng.normal(size=(N, case.k))
    out = mlp.get_activation(case.output).apply(s)
    T = loss.prepare(case.make_y(rng, N, case.k), case.k, b, b.dtype("float64"))
    return loss, case, s, out, T, rng.uniform(0.2, 2.0, size=N)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_the_gradient_equals_central_differences_of_the_value(name, weighted):
    loss, _, _, out, T, w = _setup(name)
    w = w if weighted else None
    _, grad = loss.value_and_gradient(out, T) if w is None else loss.value_and_gradient(out, T, w)

    def f(o):
        return float(loss.value(o, T) if w is None else loss.value(o, T, w))

    smooth = name not in ("hinge", "perceptron")  # kinks: their subgradient is checked off the kinks only
    idx, num = numeric_grad(f, np.array(out, copy=True), h=1e-6)
    got = np.asarray(grad).reshape(-1)[idx]
    if not smooth:
        margin = np.abs(np.asarray(out * T)).reshape(-1)[idx]
        keep = np.abs(margin - (1.0 if name == "hinge" else 0.0)) > 1e-3
        got, num = got[keep], num[keep]
    np.testing.assert_allclose(got, num, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", NAMES)
def test_integer_weights_equal_repeated_rows(name):
    loss, _, _, out, T, _ = _setup(name)
    w = np.array([1, 2, 0, 3, 1, 1, 2], dtype=float)
    rows = np.repeat(np.arange(N), w.astype(int))
    v_w, g_w = loss.value_and_gradient(out, T, w)
    v_r, g_r = loss.value_and_gradient(out[rows], T[rows])
    np.testing.assert_allclose(float(v_w), float(v_r), rtol=1e-12)
    summed = np.zeros_like(np.asarray(g_w))
    np.add.at(summed, rows, np.asarray(g_r))  # the gradient of a row is the sum over its copies
    np.testing.assert_allclose(np.asarray(g_w), summed, rtol=1e-10, atol=1e-14)


FUSED = [n for n in NAMES if mlp.get_loss(n).fuses(mlp.get_activation(CASES[n].output))]  # not the from_logits ones


@pytest.mark.parametrize("name", FUSED)
def test_the_fused_path_from_the_logits_equals_the_unfused_one(name):
    loss, case, s, out, T, w = _setup(name)
    act = mlp.get_activation(case.output)
    for weights in (None, w):
        args = () if weights is None else (weights,)
        fused_value, fused_grad = loss.fused_value_and_gradient(s, T, *args)
        value, grad = loss.value_and_gradient(out, T, *args)
        through = act.backward([], act.forward([], [], s, mlp.Context(training=True, keep=True))[2], grad)[0]
        np.testing.assert_allclose(float(fused_value), float(value), rtol=1e-9)
        np.testing.assert_allclose(np.asarray(fused_grad), np.asarray(through), rtol=1e-7, atol=1e-12)
        np.testing.assert_allclose(float(loss.fused_value(s, T, *args)), float(fused_value), rtol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_evaluation_value_equals_training_value(name):
    loss, _, _, out, T, w = _setup(name)
    assert float(loss.value(out, T)) == pytest.approx(float(loss.value_and_gradient(out, T)[0]), rel=1e-12)
    assert float(loss.value(out, T, w)) == pytest.approx(float(loss.value_and_gradient(out, T, w)[0]), rel=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_the_head_is_a_classifiers_exactly_when_the_loss_trains_on_labels(name):
    loss, case = mlp.get_loss(name), CASES[name]
    head = loss.head(case.k)
    assert isinstance(head, mlp.Head) and head.classification == loss.classification


@pytest.mark.parametrize("name", NAMES)
def test_targets_of_another_shape_are_refused_naming_them(name):
    loss, case = mlp.get_loss(name), CASES[name]
    b = mlp.backends.get("numpy")
    bad = np.zeros((N, case.k + 1)) + 0.5
    with pytest.raises(ValueError, match="y"):
        loss.prepare(bad, case.k, b, b.dtype("float64"))
