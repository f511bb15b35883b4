"""The Layer contract, and what a pass through layers carries.

A layer does not own its arrays: the model holds the flat lists ``params = [W1, b1, W2, b2,
...]`` (trainable) and ``state`` (non-trainable: running statistics, a fitted scaler's mean
and scale), and hands each layer its slices. Nothing is written onto a layer during a pass:

- ``forward(params, state, x, ctx) -> (out, new_state, saved)``: state in, state out, and
  ``saved``, what ``backward`` needs (the layer's input, its output, a mask; None where it needs
  nothing or ``ctx.keep`` is False). The caller decides whether the new state is kept (a
  training step keeps it; ``value_and_grad`` and finite differences do not), so a compiled step
  (JAX) carries it in and out like the parameters. ``ctx`` (a :class:`Context`) says the mode
  (``training``: batch statistics, dropout), whether to keep what ``backward`` needs
  (``keep``), and gives the kernels.
- ``backward(params, saved, delta, ctx, sinks, need_input_grad) -> (input gradient, sunk)``:
  the gradient for the layer's input (None when not asked for) and, per parameter, what it
  put in that parameter's :class:`GradSink`: G = xᵀδ for W and Σδ over the batch for b.

Every Layer subclass registers itself by class name in ``LAYERS``, which is where saving and
loading find it: a new layer is one class, nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from mlp.backends.kernels import GENERIC, Array, Kernels

__all__ = ["Layer", "GradSink", "Context", "FRESH", "LAYERS", "EVAL", "LocalStats", "LayerContractError", "Sinks"]


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


class Sinks(list):
    """One step's sinks, one per parameter, with ``targets``: the list their targets were taken from
    (the optimizer's packed buffers), or None."""

    def __init__(self, sinks, targets=None):
        super().__init__(sinks)
        self.targets = targets

    def received(self, sunk: list) -> list:
        """What backward left in the sinks: the targets list itself where every gradient went into its
        target in place (the kernels then update the packed buffers at once), else `sunk`."""
        t = self.targets
        if t is not None and len(t) == len(sunk) and all(a is b for a, b in zip(sunk, t)):
            return t
        return list(sunk)


class LocalStats:
    """Sums over the samples of a batch, for layers that need batch statistics (BatchNorm).
    One process: the batch is all here, the sum is the local sum. ``mlp.training.distributed``'s
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


class LayerContractError(TypeError):
    """A layer's forward did not return (output, new state, saved)."""


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
    # settings saved as lists of integers (the rest are plain values)
    list_settings: ClassVar[tuple[str, ...]] = ()

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

    def forward(self, params: list, state: list, x: Array, ctx: Context = EVAL) -> tuple[Array, list, Any]:
        """(output, new state, what backward needs) for input x."""
        raise NotImplementedError

    def backward(
        self,
        params: list,
        saved: Any,
        delta: Array,
        ctx: Context = EVAL,
        sinks: list | None = None,
        need_input_grad: bool = True,
    ) -> tuple[Array | None, list]:
        """(input gradient, per parameter what was put in its sink), from what forward saved.
        Without `sinks`, every gradient comes back in a fresh array."""
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
        """Add this layer's ONNX nodes (inference) to `graph` (an ``mlp.model.onnx.Graph``) reading the
        tensor named `x`; returns the output's name. NotImplementedError where ONNX cannot express it."""
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"
