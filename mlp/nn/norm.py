"""Normalization layers: BatchNorm (over the batch) and LayerNorm (over the features), each with
a learnable scale γ and shift β, following ``torch.nn.BatchNorm1d`` / ``torch.nn.LayerNorm``.

BatchNorm in training normalizes with the batch's mean and (biased) variance and updates its
running statistics, its state: ``running ← (1 − momentum)·running + momentum·batch``, with the
unbiased variance (n/(n − 1)) in the running one, momentum 0.1 and eps 1e-5 as in PyTorch. At
inference it uses the running statistics. Over several processes the statistics are those of
the global batch (sums over every process, ``ctx.stats``), in the forward and the backward
pass, so that P processes compute what one does. Statistics are computed in the variable dtype
(float32 under a bfloat16/float16 compute dtype).
"""

from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace

from mlp.checks import check_fraction, check_positive_float, check_positive_int
from mlp.nn.layer import EVAL, FRESH, Layer

__all__ = ["BatchNorm", "LayerNorm", "NORMS", "get_norm"]


def _island(x, dtype):
    """x in `dtype` (the variable dtype) where it differs: a float32 island under a 16-bit
    compute dtype."""
    return x if x.dtype == dtype else array_namespace(x).astype(x, dtype)


def _sink(k, g, sink):
    return k.accumulate_colsum(g, sink.target, sink.alpha, sink.beta)


class _AffineNorm(Layer):
    n_params = 2

    def __init__(self, num_features: int, eps: float = 1e-5):
        self.in_features = check_positive_int(num_features, f"{type(self).__name__} num_features")
        self.eps = check_positive_float(eps, f"{type(self).__name__} eps")

    def build(self, rng, default_init):
        return [np.ones(self.in_features), np.zeros(self.in_features)]

    def param_shapes(self):
        return [(self.in_features,), (self.in_features,)]

    def _affine_grads(self, k, delta, xhat, sinks):
        """dγ = Σ δ·x̂ and dβ = Σ δ over the batch, into their sinks."""
        sinks = sinks or (FRESH, FRESH)
        return [_sink(k, delta * xhat, sinks[0]), _sink(k, delta, sinks[1])]

    def flops(self, n_in, first=False):
        return 12 * n_in


class BatchNorm(_AffineNorm):
    """y = γ (x − μ_B) / sqrt(σ²_B + eps) + β over the batch B in training; with the running
    statistics at inference. State: [running mean, running variance]."""

    n_state = 2
    batch_statistics = True

    def __init__(self, num_features: int, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__(num_features, eps)
        self.momentum = check_fraction(momentum, "BatchNorm momentum", high_closed=True)

    def build_state(self):
        return [np.zeros(self.in_features), np.ones(self.in_features)]

    def forward(self, params, state, x, ctx=EVAL):
        xp = array_namespace(x)
        mean, var = state
        gamma, beta = _island(params[0], mean.dtype), _island(params[1], mean.dtype)
        xf = _island(x, mean.dtype)
        if not ctx.training:
            y = (xf - mean) / xp.sqrt(var + self.eps) * gamma + beta
            return _island(y, x.dtype), state, None
        n = ctx.total if ctx.total is not None else x.shape[0]
        mu = ctx.stats.allsum(xp.sum(xf, axis=0)) / n
        xc = xf - mu
        batch_var = ctx.stats.allsum(xp.sum(xc * xc, axis=0)) / n
        inv = 1.0 / xp.sqrt(batch_var + self.eps)
        xhat = xc * inv
        m = self.momentum
        new = [(1 - m) * mean + m * mu, (1 - m) * var + m * batch_var * (n / max(n - 1, 1))]
        return _island(xhat * gamma + beta, x.dtype), new, (xhat, inv, gamma)

    def backward(self, params, saved, delta, ctx=EVAL, sinks=None, need_input_grad=True):
        xp = array_namespace(delta)
        xhat, inv, gamma = saved
        d = _island(delta, xhat.dtype)
        dx = None
        if need_input_grad:  # first: a sink may update γ in place right after
            # δ here is d(this process's mean loss)/dy; the batch's sums are weighted by each
            # process's count, so that the input gradient is the one-process gradient's share
            count = ctx.count if ctx.count is not None else d.shape[0]
            n = ctx.total if ctx.total is not None else d.shape[0]
            g = d * gamma
            scale = 1.0 / (max(count, 1) * n)
            a = ctx.stats.allsum(count * xp.sum(g, axis=0)) * scale
            b = ctx.stats.allsum(count * xp.sum(g * xhat, axis=0)) * scale
            dx = _island(inv * (g - a - xhat * b), delta.dtype)
        return dx, self._affine_grads(ctx.kernels, d, xhat, sinks)

    def config(self):
        return {"num_features": self.in_features, "momentum": self.momentum, "eps": self.eps}

    def onnx(self, graph, x, params, state):
        scale = params[0] / np.sqrt(state[1] + self.eps)
        shift = params[1] - state[0] * scale
        return graph.node(
            "Add", [graph.node("Mul", [x, graph.const(scale, "bn_scale")]), graph.const(shift, "bn_shift")]
        )


class LayerNorm(_AffineNorm):
    """y = γ (x − μ) / sqrt(σ² + eps) + β with the mean and (biased) variance of each sample's
    features; the same in training and at inference; no state."""

    def forward(self, params, state, x, ctx=EVAL):
        xp = array_namespace(x)
        vd = x.dtype if ctx.dtype is None else ctx.dtype
        gamma, beta, xf = _island(params[0], vd), _island(params[1], vd), _island(x, vd)
        mu = xp.mean(xf, axis=1, keepdims=True)
        xc = xf - mu
        inv = 1.0 / xp.sqrt(xp.mean(xc * xc, axis=1, keepdims=True) + self.eps)
        xhat = xc * inv
        return _island(xhat * gamma + beta, x.dtype), state, (xhat, inv, gamma)

    def backward(self, params, saved, delta, ctx=EVAL, sinks=None, need_input_grad=True):
        xp = array_namespace(delta)
        xhat, inv, gamma = saved
        d = _island(delta, xhat.dtype)
        dx = None
        if need_input_grad:  # first: a sink may update γ in place right after
            g = d * gamma
            dx = inv * (g - xp.mean(g, axis=1, keepdims=True) - xhat * xp.mean(g * xhat, axis=1, keepdims=True))
            dx = _island(dx, delta.dtype)
        return dx, self._affine_grads(ctx.kernels, d, xhat, sinks)

    def config(self):
        return {"num_features": self.in_features, "eps": self.eps}

    def onnx(self, graph, x, params, state):
        return graph.node(
            "LayerNormalization",
            [x, graph.const(params[0], "ln_scale"), graph.const(params[1], "ln_bias")],
            axis=-1,
            epsilon=self.eps,
        )


NORMS = {"batch": BatchNorm, "layer": LayerNorm}


def get_norm(norm: str, num_features: int) -> Layer:
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {sorted(NORMS)} or None; got {norm!r}")
    return NORMS[norm](num_features)
