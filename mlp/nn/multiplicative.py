"""The lectures' multiplicative combination (11-785): a vector activation over a layer's affine
outputs, y_i = Π_l z_l^{α_li}, with learnable exponents α.

Real powers need positive bases. Here a base z_l below ``floor`` (default 1e-6; z_l <= 0
included) is replaced by ``floor``: the output is then the one of that positive base and does
not change with z_l there (its gradient is 0), so the layer never produces NaN. The product is
computed as exp(Σ_l α_li log z_l), with the exponent clipped to ±(log(largest float) − 1) so
that it cannot overflow (no gradient flows through a clipped exponent). Biases start at 1, so
that the bases of standardized inputs start mostly positive.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from array_api_compat import array_namespace

from mlp.checks import check_positive_float, check_positive_int
from mlp.nn.init import initialize
from mlp.nn.layer import EVAL, FRESH, Layer
from mlp.numerics import clip, zero_like

__all__ = ["Multiplicative"]


class Multiplicative(Layer):
    """y = Π_l z_l^{α_l·} over L = `pieces` affine outputs z = xW + b. Parameters: W (in, L),
    b (L,), α (L, out)."""

    n_params = 3

    def __init__(self, in_features: int, out_features: int, pieces: int = 2, *, floor: float = 1e-6, init: Any = None):
        self.in_features = check_positive_int(in_features, "Multiplicative in_features")
        self.out_features = check_positive_int(out_features, "Multiplicative out_features")
        self.pieces = check_positive_int(pieces, "Multiplicative pieces")
        self.floor = check_positive_float(floor, "Multiplicative floor")
        self.init = init

    def build(self, rng, default_init):
        W = initialize(self.init or default_init, rng, self.in_features, self.pieces)
        alpha = initialize("glorot_uniform", rng, self.pieces, self.out_features)
        return [W, np.ones(self.pieces), alpha]

    def param_shapes(self):
        return [(self.in_features, self.pieces), (self.pieces,), (self.pieces, self.out_features)]

    def forward(self, params, state, x, ctx=EVAL):
        xp = array_namespace(x)
        W, b, alpha = params
        z = ctx.kernels.affine(x, W, b)
        zc = xp.maximum(z, zero_like(z) + self.floor)
        lz = xp.log(zc)
        u = lz @ alpha
        bound = math.log(float(xp.finfo(z.dtype).max)) - 1.0
        uc = clip(u, -bound, bound)
        y = xp.exp(uc)
        return y, state, (x, z, zc, lz, u == uc, y)

    def backward(self, params, saved, delta, ctx=EVAL, sinks=None, need_input_grad=True):
        xp = array_namespace(delta)
        W, _, alpha = params
        x, z, zc, lz, open_, y = saved
        k = ctx.kernels
        sinks = sinks or (FRESH, FRESH, FRESH)
        zero = zero_like(delta)
        du = xp.where(open_, delta * y, zero)
        dz = xp.where(z > self.floor, (du @ alpha.T) / zc, zero)  # before any sink updates α or W in place
        dx = dz @ W.T if need_input_grad else None
        grads = [
            k.accumulate_tn(x, dz, sinks[0].target, sinks[0].alpha, sinks[0].beta),
            k.accumulate_colsum(dz, sinks[1].target, sinks[1].alpha, sinks[1].beta),
            k.accumulate_tn(lz, du, sinks[2].target, sinks[2].alpha, sinks[2].beta),
        ]
        return dx, grads

    def flops(self, n_in, first=False):
        macs = self.in_features * self.pieces + self.pieces * self.out_features
        return 2 * macs * (2 if first else 3) + 8 * (self.pieces + self.out_features)

    def config(self):
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "pieces": self.pieces,
            "floor": self.floor,
            "init": self.init if isinstance(self.init, (str, float, int, type(None))) else None,
        }

    def onnx(self, graph, x, params, state):
        z = graph.node("Gemm", [x, graph.const(params[0], "W"), graph.const(params[1], "b")])
        lz = graph.node("Log", [graph.node("Max", [z, graph.const(self.floor)])])
        u = graph.node("MatMul", [lz, graph.const(params[2], "alpha")])
        bound = math.log(float(np.finfo(graph.dtype).max)) - 1.0
        return graph.node("Exp", [graph.node("Clip", [u, graph.const(-bound), graph.const(bound)])])
