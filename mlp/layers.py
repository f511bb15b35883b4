"""Layers with parameters: Dense (s = xW + b) and Maxout.

A layer does not own its parameters: the model holds the flat list
``[W1, b1, W2, b2, ...]`` and hands each layer its slice. ``forward(params, x)``
keeps what ``backward`` needs; ``backward(params, delta)`` returns the gradient for
the layer's input (None when not asked for) and the parameter gradients, in the order
of ``params``: G = x^T delta for W and sum(delta) over the batch for b.
"""
from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace

from .init import initialize

__all__ = ["Layer", "Dense", "Maxout"]


class Layer:
    """Base class. ``n_params`` parameters; ``in_features``/``out_features`` when known."""

    n_params = 0
    in_features = None
    out_features = None
    # True when forward/backward accept the workspace (ws) and gradient sinks of the fast
    # paths; a model uses the fast paths only when every layer does.
    fast_paths = False

    def build(self, rng, default_init):
        """Initial parameters as float64 host arrays (drawn from `rng`)."""
        return []

    def forward(self, params, x, training=True, ws=None):
        raise NotImplementedError

    def backward(self, params, delta, need_input_grad=True, ws=None, sinks=None):
        """(input gradient, parameter gradients). With `sinks` (one (buffer, α, β) per
        parameter, from the optimizer) each gradient g is applied as buffer ← β·buffer + α·g
        instead of being returned."""
        raise NotImplementedError

    def config(self) -> dict:
        """Constructor arguments, for saving the architecture."""
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


def _check_dims(d_in, d_out, name):
    from ._validation import check_positive_int

    return check_positive_int(d_in, f"{name} in_features"), check_positive_int(d_out, f"{name} out_features")


class Dense(Layer):
    """Affine layer s = x W + b with W of shape (in_features, out_features)."""

    n_params = 2
    fast_paths = True

    def __init__(self, in_features, out_features, *, init=None, bias=True):
        self.in_features, self.out_features = _check_dims(in_features, out_features, "Dense")
        self.init = init
        self.bias = bias
        self.n_params = 2 if bias else 1

    def build(self, rng, default_init):
        W = initialize(self.init or default_init, rng, self.in_features, self.out_features)
        return [W, np.zeros(self.out_features)] if self.bias else [W]

    def forward(self, params, x, training=True, ws=None):
        if training:
            self._x = x
        if ws is not None:  # fast path: product into a reused buffer, bias added in place
            s = ws.matmul(x, params[0], (id(self), "s"))
            if self.bias:
                ws.fast["add_row_inplace"](s, params[1])
            return s
        s = x @ params[0]
        return s + params[1] if self.bias else s

    def backward(self, params, delta, need_input_grad=True, ws=None, sinks=None):
        x, self._x = self._x, None
        if ws is None:
            xp = array_namespace(delta)
            grads = [x.T @ delta]
            if self.bias:
                grads.append(xp.sum(delta, axis=0))
            dx = delta @ params[0].T if need_input_grad else None
            return dx, grads
        # the input gradient first: a sink may update W in place right after
        dx = ws.matmul(delta, params[0].T, (id(self), "dx")) if need_input_grad else None
        if sinks is None:
            grads = [ws.buffer((id(self), "gW"), params[0].shape, delta.dtype)]
            ws.fast["gemm_tn_into"](x, delta, grads[0], 1.0, 0.0)
            if self.bias:
                grads.append(ws.buffer((id(self), "gb"), params[1].shape, delta.dtype))
                ws.fast["colsum_into"](delta, grads[1], 1.0, 0.0)
            return dx, grads
        ws.fast["gemm_tn_into"](x, delta, *sinks[0])
        if self.bias:
            ws.fast["colsum_into"](delta, *sinks[1])
        return dx, [None] * self.n_params

    def config(self):
        return {"in_features": self.in_features, "out_features": self.out_features,
                "init": self.init if isinstance(self.init, (str, float, int, type(None))) else None,
                "bias": self.bias}


class Maxout(Layer):
    """Maxout: each of `out_features` units is the max of `k` affine pieces.

    W has shape (in_features, out_features * k); piece j of unit u is column u*k + j.
    """

    n_params = 2
    fast_paths = True

    def __init__(self, in_features, out_features, k=2, *, init=None):
        self.in_features, self.out_features = _check_dims(in_features, out_features, "Maxout")
        from ._validation import check_positive_int

        self.k = check_positive_int(k, "Maxout k", minimum=2)
        self.init = init

    def build(self, rng, default_init):
        W = initialize(self.init or default_init, rng, self.in_features, self.out_features * self.k)
        return [W, np.zeros(self.out_features * self.k)]

    def forward(self, params, x, training=True, ws=None):
        xp = array_namespace(x)
        s = xp.reshape(x @ params[0] + params[1], (x.shape[0], self.out_features, self.k))
        if training:
            self._x, self._s = x, s
        return xp.max(s, axis=2)

    def backward(self, params, delta, need_input_grad=True, ws=None, sinks=None):
        xp = array_namespace(delta)
        s = self._s
        winner = xp.argmax(s, axis=2)  # first maximum on ties
        pieces = xp.arange(self.k, device=_device(s))
        mask = xp.expand_dims(winner, axis=2) == pieces  # one-hot by broadcast comparison
        ds = xp.where(mask, xp.expand_dims(delta, axis=2), xp.zeros((), dtype=delta.dtype, device=_device(s)))
        ds = xp.reshape(ds, (delta.shape[0], self.out_features * self.k))
        grads = [self._x.T @ ds, xp.sum(ds, axis=0)]
        dx = ds @ params[0].T if need_input_grad else None
        self._x = self._s = None
        if sinks is not None:  # Maxout has no fast path: apply the sinks generically
            for i, g in enumerate(grads):
                buf, alpha, beta = sinks[i]
                buf *= beta
                buf += alpha * g
            return dx, [None, None]
        return dx, grads

    def config(self):
        return {"in_features": self.in_features, "out_features": self.out_features, "k": self.k,
                "init": self.init if isinstance(self.init, (str, float, int, type(None))) else None}


def _device(x):
    from array_api_compat import device

    return device(x)
