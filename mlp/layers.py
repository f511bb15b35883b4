"""Layers with parameters: Dense (s = xW + b) and Maxout, and the Layer contract.

A layer does not own its parameters: the model holds the flat list ``[W1, b1, W2, b2, ...]``
and hands each layer its slice. ``forward(params, x, kernels, training)`` keeps what
``backward`` needs; ``backward(params, delta, kernels, sinks, need_input_grad)`` returns the
gradient for the layer's input (None when not asked for) and, per parameter, what it put in
that parameter's :class:`GradSink`: G = xᵀδ for W and Σδ over the batch for b.

Every Layer subclass registers itself by class name in ``LAYERS``, which is where saving and
loading find it: a new layer is one class, nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from array_api_compat import array_namespace, device

from ._validation import check_positive_int
from .backends.kernels import GENERIC, Array, Kernels, scale_add
from .init import initialize

__all__ = ["Layer", "Dense", "Maxout", "GradSink", "FRESH", "LAYERS"]


@dataclass(frozen=True)
class GradSink:
    """Where backward puts one parameter's gradient g: ``target ← beta·target + alpha·g``.

    The optimizer chooses: its gradient buffer (beta 0), its momentum (beta μ), or the
    weights themselves (alpha −lr). With no target (``FRESH``) g comes back in a new array.
    """

    target: Array | None = None
    alpha: float = 1.0
    beta: float = 0.0

    def receive(self, g: Array) -> Array:
        """The sink's new contents given the gradient g (the generic rule, for raw gradients)."""
        return scale_add(g, self.target, self.alpha, self.beta)


FRESH = GradSink()

LAYERS: dict[str, type] = {}


class Layer:
    """Base class. ``n_params`` parameters; ``in_features``/``out_features`` when known."""

    n_params: int = 0
    in_features: int | None = None
    out_features: int | None = None
    # the initializer a preceding layer with weights defaults to (activations set it)
    default_init: ClassVar[str | None] = None

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        previous = LAYERS.get(cls.__name__)
        if previous is not None and previous.__module__ != cls.__module__:
            raise TypeError(
                f"a layer class named {cls.__name__!r} is already registered by {previous.__module__}; "
                "give your class another name (saved files refer to layers by class name)"
            )
        LAYERS[cls.__name__] = cls

    def build(self, rng: np.random.Generator, default_init: Any) -> list[np.ndarray]:
        """Initial parameters as float64 host arrays (drawn from `rng`)."""
        return []

    def param_shapes(self) -> list[tuple]:
        """The shapes of the parameters ``build`` makes (layers with parameters say it without building)."""
        return [tuple(p.shape) for p in self.build(np.random.default_rng(0), "zeros")]

    def forward(self, params: list, x: Array, kernels: Kernels = GENERIC, training: bool = True) -> Array:
        raise NotImplementedError

    def backward(
        self,
        params: list,
        delta: Array,
        kernels: Kernels = GENERIC,
        sinks: list | None = None,
        need_input_grad: bool = True,
    ) -> tuple[Array | None, list]:
        """(input gradient, per parameter what was put in its sink). Without `sinks`,
        every gradient comes back in a fresh array."""
        raise NotImplementedError

    def config(self) -> dict:
        """Constructor arguments, for saving the architecture."""
        return {}

    def onnx(self, graph, x: str, params: list[np.ndarray]) -> str:
        """Add this layer's ONNX nodes to `graph` (an ``mlp.export.Graph``) reading the tensor
        named `x`; returns the output's name. NotImplementedError where ONNX cannot express it."""
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


def _init_config(init):
    return init if isinstance(init, (str, float, int, type(None))) else None


class Dense(Layer):
    """Affine layer s = x W + b with W of shape (in_features, out_features)."""

    n_params = 2

    def __init__(self, in_features: int, out_features: int, *, init: Any = None, bias: bool = True):
        self.in_features = check_positive_int(in_features, "Dense in_features")
        self.out_features = check_positive_int(out_features, "Dense out_features")
        self.init = init
        self.bias = bool(bias)
        self.n_params = 2 if bias else 1

    def build(self, rng, default_init):
        W = initialize(self.init or default_init, rng, self.in_features, self.out_features)
        return [W, np.zeros(self.out_features)] if self.bias else [W]

    def param_shapes(self):
        return [(self.in_features, self.out_features), (self.out_features,)][: self.n_params]

    def forward(self, params, x, kernels=GENERIC, training=True):
        if training:
            self._x = x
        return kernels.affine(x, params[0], params[1] if self.bias else None, (self, "s") if training else None)

    def backward(self, params, delta, kernels=GENERIC, sinks=None, need_input_grad=True):
        x, self._x = self._x, None
        sinks = sinks or (FRESH,) * self.n_params
        # the input gradient first: a sink may update W in place right after
        dx = kernels.matmul(delta, params[0].T, (self, "dx")) if need_input_grad else None
        grads = [kernels.accumulate_tn(x, delta, sinks[0].target, sinks[0].alpha, sinks[0].beta)]
        if self.bias:
            grads.append(kernels.accumulate_colsum(delta, sinks[1].target, sinks[1].alpha, sinks[1].beta))
        return dx, grads

    def config(self):
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "init": _init_config(self.init),
            "bias": self.bias,
        }

    def onnx(self, graph, x, params):
        W = graph.const(params[0], "W")
        if not self.bias:
            return graph.node("MatMul", [x, W])
        return graph.node("Gemm", [x, W, graph.const(params[1], "b")])


class Maxout(Layer):
    """Maxout: each of `out_features` units is the max of `k` affine pieces.

    W has shape (in_features, out_features * k); piece j of unit u is column u*k + j.
    """

    n_params = 2

    def __init__(self, in_features: int, out_features: int, k: int = 2, *, init: Any = None):
        self.in_features = check_positive_int(in_features, "Maxout in_features")
        self.out_features = check_positive_int(out_features, "Maxout out_features")
        self.k = check_positive_int(k, "Maxout k", minimum=2)
        self.init = init

    def build(self, rng, default_init):
        W = initialize(self.init or default_init, rng, self.in_features, self.out_features * self.k)
        return [W, np.zeros(self.out_features * self.k)]

    def param_shapes(self):
        return [(self.in_features, self.out_features * self.k), (self.out_features * self.k,)]

    def forward(self, params, x, kernels=GENERIC, training=True):
        xp = array_namespace(x)
        s = xp.reshape(kernels.affine(x, params[0], params[1]), (x.shape[0], self.out_features, self.k))
        if training:
            self._x, self._s = x, s
        return xp.max(s, axis=2)

    def backward(self, params, delta, kernels=GENERIC, sinks=None, need_input_grad=True):
        xp = array_namespace(delta)
        x, s = self._x, self._s
        self._x = self._s = None
        sinks = sinks or (FRESH, FRESH)
        winner = xp.argmax(s, axis=2)  # first maximum on ties
        mask = xp.expand_dims(winner, axis=2) == xp.arange(self.k, device=device(s))  # one-hot by comparison
        ds = xp.where(mask, xp.expand_dims(delta, axis=2), xp.zeros((), dtype=delta.dtype, device=device(s)))
        ds = xp.reshape(ds, (delta.shape[0], self.out_features * self.k))
        dx = ds @ params[0].T if need_input_grad else None
        grads = [
            kernels.accumulate_tn(x, ds, sinks[0].target, sinks[0].alpha, sinks[0].beta),
            kernels.accumulate_colsum(ds, sinks[1].target, sinks[1].alpha, sinks[1].beta),
        ]
        return dx, grads

    def config(self):
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "k": self.k,
            "init": _init_config(self.init),
        }

    def onnx(self, graph, x, params):
        s = graph.node("Gemm", [x, graph.const(params[0], "W"), graph.const(params[1], "b")])
        pieces = graph.node("Reshape", [s, graph.const([-1, self.out_features, self.k], "shape", np.int64)])
        return graph.node("ReduceMax", [pieces], axes=[2], keepdims=0)
