"""Embedding: category codes become learned vectors (the model's first layer on a table with
categories of high cardinality, after ``Columns`` and the scaler)."""

from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace, device

from mlp.checks import check_positive_int
from mlp.nn.layer import EVAL, FRESH, Layer

__all__ = ["Embedding", "embedding_dim"]


def embedding_dim(cardinality: int) -> int:
    """A category column's embedding width: fastai's rule 1.6·K^0.56, at most 16."""
    return int(min(16, max(2, round(1.6 * cardinality**0.56))))


class Embedding(Layer):
    """x = [features (in_features − m) | m category codes] -> [features | E_1[code_1] | ... | E_m[code_m]].

    Table E_j has ``cardinalities[j]`` rows (slot 0: "unknown"; a code outside 0..K−1 reads slot 0)
    of ``dims[j]`` values, drawn N(0, 1) as PyTorch's nn.Embedding. The gradient of E_j is
    onehot(code_j)ᵀ δ_j (one GEMM, as a Dense layer's G = xᵀδ on one-hot rows); no gradient flows
    into the codes. Codes are exact in the model's dtype (float32 up to 2^24); under a bfloat16
    compute dtype a column of more than 256 categories is refused."""

    list_settings = ("cardinalities", "dims")

    def __init__(self, in_features: int, cardinalities: list[int], dims: list[int] | None = None):
        self.in_features = check_positive_int(in_features, "Embedding in_features")
        self.cardinalities = [check_positive_int(k, "Embedding cardinality") for k in cardinalities]
        m = len(self.cardinalities)
        if not 1 <= m <= self.in_features:
            raise ValueError(f"Embedding needs 1..{self.in_features} code columns; got {m}")
        dims = [embedding_dim(k) for k in self.cardinalities] if dims is None else list(dims)
        if len(dims) != m:
            raise ValueError(f"Embedding dims must give one width per code column ({m}); got {len(dims)}")
        self.dims = [check_positive_int(d, "Embedding dim") for d in dims]
        self.n_params = m
        self.dense = self.in_features - m
        self.out_features = self.dense + sum(self.dims)

    def build(self, rng, default_init):
        return [rng.normal(size=(k, d)) for k, d in zip(self.cardinalities, self.dims)]

    def param_shapes(self):
        return [(k, d) for k, d in zip(self.cardinalities, self.dims)]

    def _codes(self, x, j, K):
        xp = array_namespace(x)
        if "bfloat16" in str(x.dtype) and K > 256:
            raise ValueError(
                f"an Embedding column of {K} categories needs codes above 256, which bfloat16 does not hold "
                "exactly: train in float32 or float16"
            )
        c = xp.astype(x[:, self.dense + j], xp.int32)  # codes < 2^24: exact in float32
        return xp.where((c >= 0) & (c < K), c, xp.zeros_like(c))

    def forward(self, params, state, x, ctx=EVAL):
        xp = array_namespace(x)
        codes = [self._codes(x, j, K) for j, K in enumerate(self.cardinalities)]
        parts = [x[:, : self.dense]] + [xp.take(E, c, axis=0) for E, c in zip(params, codes)]
        return xp.concat(parts, axis=1), state, codes  # the tables are in the compute dtype, as x

    def backward(self, params, saved, delta, ctx=EVAL, sinks=None, need_input_grad=True):
        xp = array_namespace(delta)
        k = ctx.kernels
        sinks = sinks or (FRESH,) * self.n_params
        grads, at = [], self.dense
        for j, (c, K, d) in enumerate(zip(saved, self.cardinalities, self.dims)):
            onehot = xp.astype(xp.expand_dims(c, axis=1) == xp.arange(K, device=device(delta)), delta.dtype)
            grads.append(k.accumulate_tn(onehot, delta[:, at : at + d], sinks[j].target, sinks[j].alpha, sinks[j].beta))
            at += d
        dx = None
        if need_input_grad:
            zeros = xp.zeros((delta.shape[0], len(self.dims)), dtype=delta.dtype, device=device(delta))
            dx = xp.concat([delta[:, : self.dense], zeros], axis=1)
        return dx, grads

    def flops(self, n_in, first=False):
        return 2 * sum(k * d for k, d in zip(self.cardinalities, self.dims))  # per row: the gradient's GEMM

    def config(self):
        return {"in_features": self.in_features, "cardinalities": self.cardinalities, "dims": self.dims}

    def onnx(self, graph, x, params, state):
        i64 = np.int64
        axis = graph.const([1], "axis", i64)
        parts = [graph.node("Slice", [x, graph.const([0], "start", i64), graph.const([self.dense], "stop", i64), axis])]
        for j, E in enumerate(params):
            at = self.dense + j
            col = graph.node("Slice", [x, graph.const([at], "start", i64), graph.const([at + 1], "stop", i64), axis])
            code = graph.node("Cast", [graph.node("Reshape", [col, graph.const([-1], "shape", i64)])], to=7)  # int64
            K = graph.const([self.cardinalities[j]], "k", i64)
            low = graph.node("GreaterOrEqual", [code, graph.const(0, "zero", i64)])
            inside = graph.node("And", [low, graph.node("Less", [code, K])])
            code = graph.node("Where", [inside, code, graph.const(0, "zero", i64)])
            parts.append(graph.node("Gather", [graph.const(E, "embedding"), code], axis=0))
        return graph.node("Concat", parts, axis=1)
