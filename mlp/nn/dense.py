"""Layers with weights: Dense (s = xW + b) and Maxout (the max of k affine pieces)."""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import array_namespace, device

from mlp.checks import check_positive_int
from mlp.nn.init import initial_bias, initialize
from mlp.nn.layer import EVAL, FRESH, Layer

__all__ = ["Dense", "Maxout"]


def _init_config(init):
    return init if isinstance(init, (str, float, int, type(None))) else None


class Dense(Layer):
    """Affine layer s = x W + b with W of shape (in_features, out_features); backward needs x."""

    n_params = 2

    def __init__(self, in_features: int, out_features: int, *, init: Any = None, bias: bool = True):
        self.in_features = check_positive_int(in_features, "Dense in_features")
        self.out_features = check_positive_int(out_features, "Dense out_features")
        self.init = init
        self.bias = bool(bias)
        self.n_params = 2 if bias else 1

    def build(self, rng, default_init):
        W = initialize(self.init or default_init, rng, self.in_features, self.out_features)
        if not self.bias:
            return [W]
        return [W, initial_bias(self.init or default_init, rng, self.in_features, self.out_features)]

    def param_shapes(self):
        return [(self.in_features, self.out_features), (self.out_features,)][: self.n_params]

    def forward(self, params, state, x, ctx=EVAL):
        s = ctx.kernels.affine(x, params[0], params[1] if self.bias else None, (self, "s") if ctx.keep else None)
        return s, state, x

    def backward(self, params, saved, delta, ctx=EVAL, sinks=None, need_input_grad=True):
        k = ctx.kernels
        sinks = sinks or (FRESH,) * self.n_params
        # the input gradient first: a sink may update W in place right after
        dx = k.matmul(delta, params[0].T, (self, "dx")) if need_input_grad else None
        grads = [k.accumulate_tn(saved, delta, sinks[0].target, sinks[0].alpha, sinks[0].beta)]
        if self.bias:
            grads.append(k.accumulate_colsum(delta, sinks[1].target, sinks[1].alpha, sinks[1].beta))
        return dx, grads

    def flops(self, n_in, first=False):
        macs = self.in_features * self.out_features
        return 2 * macs * (2 if first else 3)  # forward, weight gradient, input gradient

    def config(self):
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "init": _init_config(self.init),
            "bias": self.bias,
        }

    def onnx(self, graph, x, params, state):
        W = graph.const(params[0], "W")
        if not self.bias:
            return graph.node("MatMul", [x, W])
        return graph.node("Gemm", [x, W, graph.const(params[1], "b")])


class Maxout(Layer):
    """Maxout: each of `out_features` units is the max of `k` affine pieces.

    W has shape (in_features, out_features * k); piece j of unit u is column u*k + j. Backward
    needs the input and the pieces.
    """

    n_params = 2

    def __init__(self, in_features: int, out_features: int, k: int = 2, *, init: Any = None):
        self.in_features = check_positive_int(in_features, "Maxout in_features")
        self.out_features = check_positive_int(out_features, "Maxout out_features")
        self.k = check_positive_int(k, "Maxout k", minimum=2)
        self.init = init

    def build(self, rng, default_init):
        init = self.init or default_init
        W = initialize(init, rng, self.in_features, self.out_features * self.k)
        return [W, initial_bias(init, rng, self.in_features, self.out_features * self.k)]

    def param_shapes(self):
        return [(self.in_features, self.out_features * self.k), (self.out_features * self.k,)]

    def forward(self, params, state, x, ctx=EVAL):
        xp = array_namespace(x)
        s = xp.reshape(ctx.kernels.affine(x, params[0], params[1]), (x.shape[0], self.out_features, self.k))
        return xp.max(s, axis=2), state, (x, s)

    def backward(self, params, saved, delta, ctx=EVAL, sinks=None, need_input_grad=True):
        xp = array_namespace(delta)
        x, s = saved
        k = ctx.kernels
        sinks = sinks or (FRESH, FRESH)
        winner = xp.argmax(s, axis=2)  # first maximum on ties
        mask = xp.expand_dims(winner, axis=2) == xp.arange(self.k, device=device(s))  # one-hot by comparison
        ds = xp.where(mask, xp.expand_dims(delta, axis=2), xp.zeros((), dtype=delta.dtype, device=device(s)))
        ds = xp.reshape(ds, (delta.shape[0], self.out_features * self.k))
        dx = ds @ params[0].T if need_input_grad else None
        grads = [
            k.accumulate_tn(x, ds, sinks[0].target, sinks[0].alpha, sinks[0].beta),
            k.accumulate_colsum(ds, sinks[1].target, sinks[1].alpha, sinks[1].beta),
        ]
        return dx, grads

    def flops(self, n_in, first=False):
        macs = self.in_features * self.out_features * self.k
        return 2 * macs * (2 if first else 3)

    def config(self):
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "k": self.k,
            "init": _init_config(self.init),
        }

    def onnx(self, graph, x, params, state):
        s = graph.node("Gemm", [x, graph.const(params[0], "W"), graph.const(params[1], "b")])
        pieces = graph.node("Reshape", [s, graph.const([-1, self.out_features, self.k], "shape", np.int64)])
        return graph.node("ReduceMax", [pieces], axes=[2], keepdims=0)
