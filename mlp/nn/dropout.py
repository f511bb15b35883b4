"""Dropout: inverted dropout (kept units scaled by 1/(1 - rate) in training), the identity at
inference.

Masks are drawn where the data lives, with no host-to-device copy, from a counter-based hash of
(the run's seed, the layer's index, the optimizer's step, the sample's index, the unit): the
same seed gives the same masks on every backend, streamed or in memory, in one process or
several (a sample's mask follows the sample, not its place in the batch), and in a compiled
step (the step counter is traced). ``Kernels.dropout_mask`` is the generic specification.
"""

from __future__ import annotations

from array_api_compat import array_namespace, device

from mlp.backends.kernels import dropout_salt
from mlp.nn.layer import EVAL, Layer

__all__ = ["Dropout"]


class Dropout(Layer):
    """Each unit is zeroed with probability `rate` in training and the kept ones are scaled by
    1/(1 - rate), so that the expected output equals the input; at inference, the identity."""

    needs_rows = True

    def __init__(self, rate: float = 0.5):
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError(f"Dropout rate must be a probability in [0, 1); got {rate!r}")
        self.rate = float(rate)

    def forward(self, params, state, x, ctx=EVAL):
        if not ctx.training or self.rate == 0:
            return x, state, None
        rows = ctx.rows
        if rows is None:  # a training pass without sample indices: the batch's positions
            xp = array_namespace(x)
            rows = xp.arange(x.shape[0], dtype=xp.int32, device=device(x))
        salt = dropout_salt(ctx.seed, ctx.layer, ctx.step)
        mask = ctx.kernels.dropout_mask(
            rows, x.shape[1], salt, self.rate, x.dtype, (self, "mask") if ctx.keep else None
        )
        return ctx.kernels.multiply(x, mask, (self, "out") if ctx.keep else None), state, mask

    def backward(self, params, saved, delta, ctx=EVAL, sinks=None, need_input_grad=True):
        if saved is None:  # the identity: inference, or rate 0
            return delta, []
        return ctx.kernels.multiply(delta, saved, (self, "dx")), []

    def flops(self, n_in, first=False):
        return 3 * n_in  # the mask's comparison and two products (forward, backward)

    def config(self):
        return {"rate": self.rate}

    def onnx(self, graph, x, params, state):
        return x  # the identity at inference
