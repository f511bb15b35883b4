"""Layers with parameters: Dense (s = xW + b) and Maxout, and the Layer contract.

A layer does not own its arrays: the model holds the flat lists ``params = [W1, b1, W2, b2,
...]`` (trainable) and ``state`` (non-trainable: running statistics, a fitted scaler's mean
and scale), and hands each layer its slices.

- ``forward(params, state, x, ctx) -> (out, new_state)``: state in, state out. The caller
  decides whether the new state is kept (a training step keeps it; ``value_and_grad`` and
  finite differences do not), so a compiled step (JAX) carries it in and out like the
  parameters. ``ctx`` (a :class:`Context`) says the mode (``training``: batch statistics,
  dropout), whether to keep what ``backward`` needs (``keep``), and gives the kernels.
- ``backward(params, delta, ctx, sinks, need_input_grad) -> (input gradient, sunk)``: the
  gradient for the layer's input (None when not asked for) and, per parameter, what it put
  in that parameter's :class:`GradSink`: G = xᵀδ for W and Σδ over the batch for b.

Every Layer subclass registers itself by class name in ``LAYERS``, which is where saving and
loading find it: a new layer is one class, nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from array_api_compat import array_namespace, device

from ._validation import check_positive_int
from .backends.kernels import GENERIC, Array, Kernels
from .init import initial_bias, initialize

__all__ = ["Layer", "Dense", "Maxout", "GradSink", "Context", "FRESH", "LAYERS", "EVAL", "LocalStats"]


@dataclass(frozen=True)
class GradSink:
    """Where backward puts one parameter's gradient g: ``target ← beta·target + alpha·g``.

    The optimizer chooses: its gradient buffer (beta 0), its momentum (beta μ), or the
    weights themselves (alpha −lr). With no target (``FRESH``) g comes back in a new array.
    """

    target: Array | None = None
    alpha: float = 1.0
    beta: float = 0.0

    def receive(self, g: Array, kernels: Kernels = GENERIC) -> Array:
        """The sink's new contents given a raw gradient g (the kernels' ``scale_add``: written into
        the target in place by kernels that keep the optimizer's flat buffers)."""
        return kernels.scale_add(g, self.target, self.alpha, self.beta)


FRESH = GradSink()


class LocalStats:
    """Sums over the samples of a batch, for layers that need batch statistics (BatchNorm).
    One process: the batch is all here, the sum is the local sum. ``mlp.distributed``'s
    communicator has the same method summing over every process, so that statistics are
    those of the global batch and two processes compute what one does."""

    def allsum(self, x: Array) -> Array:
        return x


LOCAL_STATS = LocalStats()


@dataclass
class Context:
    """How a forward (and backward) pass runs.

    ``training``: the mode (batch statistics in normalization layers, dropout on);
    ``keep``: keep what backward needs (False at inference); ``kernels``: the array kernels;
    ``step`` and ``seed``: the optimizer's step count and the run's seed, from which dropout
    masks are drawn; ``rows``: the batch's sample indices (a device int32 array, for dropout
    masks that follow the sample, not its position); ``count``/``total``: this process's and
    the global batch's sample counts; ``stats``: sums across processes; ``layer``: the index
    of the layer being run and ``dtype`` the variable dtype (both set by the model)."""

    training: bool = False
    keep: bool = False
    kernels: Kernels = GENERIC
    step: Any = 0
    seed: int = 0
    rows: Array | None = None
    count: int | None = None
    total: int | None = None
    stats: Any = field(default=LOCAL_STATS)
    layer: int = 0
    dtype: Any = None  # the model's variable dtype (statistics are computed in it)


EVAL = Context()  # inference: no batch statistics, no dropout, nothing kept

LAYERS: dict[str, type] = {}


class Layer:
    """Base class. ``n_params`` parameters and ``n_state`` state arrays; ``in_features``/
    ``out_features`` when known (``out_features`` None: same as the input)."""

    n_params: int = 0
    n_state: int = 0
    in_features: int | None = None
    out_features: int | None = None
    # the initializer a preceding layer with weights defaults to (activations set it)
    default_init: ClassVar[str | None] = None
    # a pass needs the batch's sample indices (ctx.rows: dropout masks that follow the sample)
    needs_rows: ClassVar[bool] = False
    # a training pass computes statistics over the batch (ctx.stats: summed over processes)
    batch_statistics: ClassVar[bool] = False

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if cls.__name__.startswith("_") or cls.__dict__.get("abstract", False):
            return  # a private or abstract base class is not a layer files can name
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

    def build_state(self) -> list[np.ndarray]:
        """Initial state as host arrays (running statistics at their start, a scaler's identity)."""
        return []

    def state_shapes(self) -> list[tuple]:
        return [tuple(s.shape) for s in self.build_state()]

    def forward(self, params: list, state: list, x: Array, ctx: Context = EVAL) -> tuple[Array, list]:
        """(output, new state) for input x."""
        raise NotImplementedError

    def backward(
        self,
        params: list,
        delta: Array,
        ctx: Context = EVAL,
        sinks: list | None = None,
        need_input_grad: bool = True,
    ) -> tuple[Array | None, list]:
        """(input gradient, per parameter what was put in its sink). Without `sinks`,
        every gradient comes back in a fresh array."""
        raise NotImplementedError

    def output_features(self, n_in: int) -> int:
        """The width of the output for an input of width `n_in`."""
        return n_in if self.out_features is None else self.out_features

    def flops(self, n_in: int, first: bool = False) -> int:
        """Floating-point operations per sample of a training step (forward and backward) through
        this layer for inputs of width `n_in`; `first`: no input gradient is computed."""
        return 0

    def config(self) -> dict:
        """Constructor arguments, for saving the architecture."""
        return {}

    def onnx(self, graph, x: str, params: list[np.ndarray], state: list[np.ndarray]) -> str:
        """Add this layer's ONNX nodes (inference) to `graph` (an ``mlp.export.Graph``) reading the
        tensor named `x`; returns the output's name. NotImplementedError where ONNX cannot express it."""
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
        if not self.bias:
            return [W]
        return [W, initial_bias(self.init or default_init, rng, self.in_features, self.out_features)]

    def param_shapes(self):
        return [(self.in_features, self.out_features), (self.out_features,)][: self.n_params]

    def forward(self, params, state, x, ctx=EVAL):
        if ctx.keep:
            self._x = x
        s = ctx.kernels.affine(x, params[0], params[1] if self.bias else None, (self, "s") if ctx.keep else None)
        return s, state

    def backward(self, params, delta, ctx=EVAL, sinks=None, need_input_grad=True):
        x, self._x = self._x, None
        k = ctx.kernels
        sinks = sinks or (FRESH,) * self.n_params
        # the input gradient first: a sink may update W in place right after
        dx = k.matmul(delta, params[0].T, (self, "dx")) if need_input_grad else None
        grads = [k.accumulate_tn(x, delta, sinks[0].target, sinks[0].alpha, sinks[0].beta)]
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

    W has shape (in_features, out_features * k); piece j of unit u is column u*k + j.
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
        if ctx.keep:
            self._x, self._s = x, s
        return xp.max(s, axis=2), state

    def backward(self, params, delta, ctx=EVAL, sinks=None, need_input_grad=True):
        xp = array_namespace(delta)
        x, s = self._x, self._s
        self._x = self._s = None
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
