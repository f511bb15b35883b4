"""Each initializer against the moments it promises (mlp.nn.init's table), on large draws."""

from __future__ import annotations

import math

import numpy as np
import pytest

import mlp
from mlp.nn.init import INITIALIZERS, TRUNCATED_VARIANCE, initial_bias, initialize

FAN_IN, FAN_OUT = 500, 400


VARIANCE = {
    "normal": 0.01**2,
    "glorot_uniform": 2 / (FAN_IN + FAN_OUT),
    "glorot_normal": 2 / (FAN_IN + FAN_OUT),
    "he_normal": 2 / FAN_IN,
    "he_uniform": 2 / FAN_IN,
    "lecun_normal": 1 / FAN_IN,
    "lecun_uniform": 1 / FAN_IN,
    "truncated_normal": 0.05**2 * TRUNCATED_VARIANCE,
    "torch": 1 / (3 * FAN_IN),
    "zeros": 0.0,
}


BOUND = {  # the largest |w| a draw may reach
    "glorot_uniform": math.sqrt(6 / (FAN_IN + FAN_OUT)),
    "he_uniform": math.sqrt(6 / FAN_IN),
    "lecun_uniform": math.sqrt(3 / FAN_IN),
    "torch": 1 / math.sqrt(FAN_IN),
    "truncated_normal": 2 * 0.05,
    "lecun_normal": 2 * math.sqrt(1 / FAN_IN / TRUNCATED_VARIANCE),
}


def test_the_truncated_variance_constant():
    z = np.random.default_rng(0).normal(size=4_000_000)
    assert np.var(z[np.abs(z) <= 2]) == pytest.approx(TRUNCATED_VARIANCE, rel=2e-3)


@pytest.mark.parametrize("name", sorted(VARIANCE))
def test_variance_mean_and_bounds(name):
    W = initialize(name, np.random.default_rng(0), FAN_IN, FAN_OUT)
    assert W.shape == (FAN_IN, FAN_OUT) and W.dtype == np.float64
    if VARIANCE[name] == 0:
        assert not W.any()
        return
    # 200,000 draws: the sample variance is within 1.5% (about 5 standard errors) of the promise
    assert W.var() == pytest.approx(VARIANCE[name], rel=0.015)
    assert abs(W.mean()) < 5 * math.sqrt(VARIANCE[name] / W.size)
    if name in BOUND:
        assert np.abs(W).max() <= BOUND[name]
        assert np.abs(W).max() > 0.99 * BOUND[name]  # the whole range is used


def test_every_registered_initializer_is_checked():
    aliases = {"xavier_uniform", "xavier_normal", "he", "kaiming_normal", "kaiming_uniform", "orthogonal"}
    assert set(INITIALIZERS) - aliases == set(VARIANCE)


@pytest.mark.parametrize("shape", [(300, 200), (200, 300), (64, 64)])
def test_orthogonal_has_orthonormal_columns_or_rows(shape):
    W = initialize("orthogonal", np.random.default_rng(0), *shape)
    small = W.T @ W if shape[0] >= shape[1] else W @ W.T
    np.testing.assert_allclose(small, np.eye(min(shape)), atol=1e-12)


def test_orthogonal_is_haar_distributed():
    """With R's signs folded in, Q's entries have no preferred sign: the diagonal of many draws
    averages to 0 (an unfixed QR gives a positive-biased diagonal)."""
    rng = np.random.default_rng(0)
    diag = np.concatenate([np.diag(initialize("orthogonal", rng, 8, 8)) for _ in range(4000)])
    assert abs(diag.mean()) < 5 * diag.std() / math.sqrt(diag.size)


def test_torch_draws_the_biases_like_nn_linear():
    torch = pytest.importorskip("torch")
    b = initial_bias("torch", np.random.default_rng(0), FAN_IN, 200_000)
    assert np.abs(b).max() <= 1 / math.sqrt(FAN_IN) and b.var() == pytest.approx(1 / (3 * FAN_IN), rel=0.015)
    assert not initial_bias("he_normal", np.random.default_rng(0), FAN_IN, 10).any()  # the others: zeros
    # PyTorch's own nn.Linear draws from the same distributions (its bounds and variances)
    torch.manual_seed(0)
    lin = torch.nn.Linear(FAN_IN, FAN_OUT)
    w, bias = lin.weight.detach().double().numpy(), lin.bias.detach().double().numpy()
    assert np.abs(w).max() <= 1 / math.sqrt(FAN_IN) + 1e-7 and np.abs(bias).max() <= 1 / math.sqrt(FAN_IN) + 1e-7
    assert w.var() == pytest.approx(VARIANCE["torch"], rel=0.015)


def test_a_model_built_with_torch_init_has_drawn_biases():
    model = mlp.MLP([20, 30, 3], init="torch", seed=0, dtype="float64")
    weights = model.get_weights()
    assert all(np.abs(b).max() <= 1 / math.sqrt(fan) for b, fan in ((weights[1], 20), (weights[3], 30)))
    assert all(np.any(b != 0) for b in (weights[1], weights[3]))
