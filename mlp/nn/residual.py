"""A residual connection around a block of layers: y = x + block(x) (He et al. 2016; the tabular
ResNet of Gorishniy et al. 2021 puts a normalization first, "pre-norm").

``Residual(block)`` is one layer to the network: it holds the block's parameters and state in
order, runs the block's forward with its own slices, and backpropagates δ through the block and
along the skip: δx = δ + block'ᵀδ. The block must give back its input's width. It is saved, loaded,
checkpointed and exported to ONNX (the block's nodes, then Add) like any layer.
"""

from __future__ import annotations

from array_api_compat import array_namespace

from mlp.nn.layer import EVAL, LAYERS, Layer

__all__ = ["Residual"]

_INNER = 64  # inner layer j of the layer at index i runs as ctx.layer = i · 64 + j + 1 (its own dropout masks)


class Residual(Layer):
    """y = x + block(x), for a list of layers whose output width equals their input width."""

    def __init__(self, block):
        if isinstance(block, Layer):
            block = [block]
        if not isinstance(block, (list, tuple)) or not block:
            raise TypeError(f"Residual block must be a non-empty list of layers; got {type(block).__name__}")
        layers = []
        for j, spec in enumerate(block):
            if isinstance(spec, dict):  # a saved file's block
                spec = LAYERS[spec["type"]](**spec["config"])
            if not isinstance(spec, Layer):
                raise TypeError(f"Residual block[{j}] must be an mlp Layer; got {type(spec).__name__}")
            layers.append(spec)
        if len(layers) >= _INNER:
            raise ValueError(f"a Residual block holds at most {_INNER - 1} layers; got {len(layers)}")
        first = next((lay.in_features for lay in layers if lay.in_features is not None), None)
        if first is None:
            raise ValueError("a Residual block needs a layer with a known input width (Dense, a norm, ...)")
        width = first
        for j, lay in enumerate(layers):
            if lay.in_features is not None and lay.in_features != width:
                raise ValueError(f"Residual block[{j}] expects {lay.in_features} inputs but gets {width}")
            width = lay.output_features(width)
        if width != first:
            raise ValueError(f"a Residual block must give back its input's width {first}; it gives {width}")
        self.block = layers
        self.in_features = first
        self.n_params = sum(lay.n_params for lay in layers)
        self.n_state = sum(lay.n_state for lay in layers)
        self.batch_statistics = any(lay.batch_statistics for lay in layers)
        self.needs_rows = any(lay.needs_rows for lay in layers)
        self._p, self._s, p, s = [], [], 0, 0
        for lay in layers:
            self._p.append(slice(p, p + lay.n_params))
            self._s.append(slice(s, s + lay.n_state))
            p, s = p + lay.n_params, s + lay.n_state

    # -- arrays ------------------------------------------------------------------------------
    def build(self, rng, default_init):
        return [a for lay in self.block for a in lay.build(rng, default_init)]

    def param_shapes(self):
        return [shape for lay in self.block for shape in lay.param_shapes()]

    def build_state(self):
        return [a for lay in self.block for a in lay.build_state()]

    # -- passes ------------------------------------------------------------------------------
    def forward(self, params, state, x, ctx=EVAL):
        outer, h, new_state, saved = ctx.layer, x, list(state), []
        if not isinstance(self.block[0], _WRITES_NOTHING):  # a first layer that might work in place on x
            h = array_namespace(x).asarray(x, copy=True)
        try:
            for j, lay in enumerate(self.block):
                ctx.layer = outer * _INNER + j + 1
                h, new_state[self._s[j]], kept = lay.forward(params[self._p[j]], state[self._s[j]], h, ctx)
                saved.append(kept)
        finally:
            ctx.layer = outer
        return x + h, new_state, saved

    def backward(self, params, saved, delta, ctx=EVAL, sinks=None, need_input_grad=True):
        outer, grads = ctx.layer, [None] * self.n_params
        d = delta if isinstance(self.block[-1], _WRITES_NOTHING) else array_namespace(delta).asarray(delta, copy=True)
        try:
            for j in range(len(self.block) - 1, -1, -1):
                ctx.layer = outer * _INNER + j + 1
                sl = self._p[j]
                d, grads[sl] = self.block[j].backward(
                    params[sl], saved[j], d, ctx, None if sinks is None else sinks[sl], need_input_grad or j > 0
                )
        finally:
            ctx.layer = outer
        return (delta + d if need_input_grad else None), grads

    def flops(self, n_in, first=False):
        total, width = 0, n_in
        for j, lay in enumerate(self.block):
            total += lay.flops(width, first and j == 0)
            width = lay.output_features(width)
        return total + 2 * n_in  # the skip's addition, forward and backward

    def config(self):
        return {"block": [{"type": type(lay).__name__, "config": lay.config()} for lay in self.block]}

    def onnx(self, graph, x, params, state):
        h = x
        for j, lay in enumerate(self.block):
            h = lay.onnx(graph, h, params[self._p[j]], state[self._s[j]])
        return graph.node("Add", [x, h])

    def __repr__(self):
        return f"Residual([{', '.join(map(repr, self.block))}])"


def _writes_nothing():
    """Layer classes whose forward never writes into its input, nor backward into its δ (they
    compute into buffers of their own): Dense, the normalizations, Dropout."""
    from mlp.nn.dense import Dense
    from mlp.nn.dropout import Dropout
    from mlp.nn.norm import BatchNorm, LayerNorm

    return (Dense, BatchNorm, LayerNorm, Dropout)


_WRITES_NOTHING = _writes_nothing()
