"""k networks in one: members laid side by side in the columns (member m owns columns m·w .. (m+1)·w
of every layer of width w), trained in one batched step, their outputs averaged.

- the first layer is a plain ``Dense(d, k·h)``: every member reads the same input;
- ``BlockDense(k, h_in, h_out)``: each member's own weights (k, h_in, h_out), applied as one batched
  product, so members never mix; elementwise layers (activations, dropout, BatchNorm) keep them apart;
- ``EnsembleMean(k)``: the average of the members' outputs, what ``model(X)``, files and ONNX give.

Training stops the forward pass before ``EnsembleMean`` and takes each member's loss on its own
outputs (the batch's targets for every member): the ensemble's loss is the sum of its members'
(as Keras sums the losses of a multi-output model), so each member learns exactly as it would alone
(tested), whatever the optimizer.
"""

from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace

from mlp.checks import check_positive_int
from mlp.nn.init import initial_bias, initialize
from mlp.nn.layer import EVAL, FRESH, Layer

__all__ = ["BlockDense", "EnsembleMean"]


class BlockDense(Layer):
    """k affine maps side by side: member m's columns of the input times its own W_m (h_in, h_out)
    plus b_m. Parameters: W (k, h_in, h_out), b (k·h_out,)."""

    n_params = 2

    def __init__(self, k: int, in_width: int, out_width: int, *, init=None):
        self.k = check_positive_int(k, "BlockDense k")
        self.in_width = check_positive_int(in_width, "BlockDense in_width")
        self.out_width = check_positive_int(out_width, "BlockDense out_width")
        self.init = init if isinstance(init, (str, float, int, type(None))) else None
        self.in_features, self.out_features = self.k * self.in_width, self.k * self.out_width

    def build(self, rng, default_init):
        init = self.init or default_init
        W = np.stack([initialize(init, rng, self.in_width, self.out_width) for _ in range(self.k)])
        b = np.concatenate([initial_bias(init, rng, self.in_width, self.out_width) for _ in range(self.k)])
        return [W, b]

    def param_shapes(self):
        return [(self.k, self.in_width, self.out_width), (self.out_features,)]

    def _members(self, a, width):
        """(n, k·width) as (k, n, width)."""
        xp = array_namespace(a)
        return xp.permute_dims(xp.reshape(a, (a.shape[0], self.k, width)), (1, 0, 2))

    def _columns(self, a):
        """(k, n, width) as (n, k·width)."""
        xp = array_namespace(a)
        return xp.reshape(xp.permute_dims(a, (1, 0, 2)), (a.shape[1], self.k * a.shape[2]))

    def forward(self, params, state, x, ctx=EVAL):
        s = self._columns(self._members(x, self.in_width) @ params[0])
        return s + params[1], state, x

    def backward(self, params, saved, delta, ctx=EVAL, sinks=None, need_input_grad=True):
        xp = array_namespace(delta)
        sinks = sinks or (FRESH, FRESH)
        d = self._members(delta, self.out_width)
        dx = self._columns(d @ xp.permute_dims(params[0], (0, 2, 1))) if need_input_grad else None
        gW = xp.permute_dims(self._members(saved, self.in_width), (0, 2, 1)) @ d
        gb = xp.sum(delta, axis=0)
        return dx, [sinks[0].receive(gW, ctx.kernels), sinks[1].receive(gb, ctx.kernels)]

    def flops(self, n_in, first=False):
        macs = self.k * self.in_width * self.out_width
        return 2 * macs * (2 if first else 3)

    def config(self):
        return {"k": self.k, "in_width": self.in_width, "out_width": self.out_width, "init": self.init}

    def onnx(self, graph, x, params, state):
        shape = graph.const(np.array([0, self.k, self.in_width], dtype=np.int64), "shape", np.int64)
        xs = graph.node("Transpose", [graph.node("Reshape", [x, shape])], perm=[1, 0, 2])
        s = graph.node("Transpose", [graph.node("MatMul", [xs, graph.const(params[0], "W")])], perm=[1, 0, 2])
        flat = graph.const(np.array([0, self.out_features], dtype=np.int64), "shape", np.int64)
        return graph.node("Add", [graph.node("Reshape", [s, flat]), graph.const(params[1], "b")])


class EnsembleMean(Layer):
    """The average of k members' outputs: (n, k·w) → (n, w)."""

    def __init__(self, k: int, width: int):
        self.k = check_positive_int(k, "EnsembleMean k")
        self.width = check_positive_int(width, "EnsembleMean width")
        self.in_features, self.out_features = self.k * self.width, self.width

    def forward(self, params, state, x, ctx=EVAL):
        xp = array_namespace(x)
        return xp.mean(xp.reshape(x, (x.shape[0], self.k, self.width)), axis=1), state, None

    def backward(self, params, saved, delta, ctx=EVAL, sinks=None, need_input_grad=True):
        raise NotImplementedError("EnsembleMean averages the members at inference; training stops before it")

    def member_rows(self, out):
        """Outputs (n, k·w) as one row per (sample, member): (n·k, w)."""
        xp = array_namespace(out)
        return xp.reshape(out, (out.shape[0] * self.k, self.width))

    def repeat(self, a):
        """Per-sample targets or weights, (n, ...) → (n·k, ...): each sample once per member."""
        xp = array_namespace(a)
        tail = tuple(a.shape[1:])
        wide = xp.broadcast_to(xp.reshape(a, (a.shape[0], 1, *tail)), (a.shape[0], self.k, *tail))
        return xp.reshape(wide, (a.shape[0] * self.k, *tail))

    def config(self):
        return {"k": self.k, "width": self.width}

    def onnx(self, graph, x, params, state):
        shape = graph.const(np.array([0, self.k, self.width], dtype=np.int64), "shape", np.int64)
        return graph.node("ReduceMean", [graph.node("Reshape", [x, shape])], axes=[1], keepdims=0)
