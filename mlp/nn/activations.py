"""Activations θ: elementwise (and softmax, a vector activation), forward and backward.

Each activation is a parameter-free layer: ``forward`` computes x' = θ(s) and returns (s, x')
for ``backward``, which gives δ · θ'(s) (for softmax, the Jacobian-vector product).
``apply(s)`` is the bare function.

An activation class declares itself once: its ``name`` (and ``aliases``) make it known to
``get_activation``, ``mlp.MLP`` and the command line; ``default_init`` is the initializer of
the weights that feed it (``mlp.defaults.INIT`` unless it names one); ``outputs`` says whether
it produces probabilities.
"""

from __future__ import annotations

import math
from typing import ClassVar

from array_api_compat import array_namespace

from mlp import defaults as _defaults
from mlp.backends.kernels import GENERIC
from mlp.nn.layer import EVAL, Layer
from mlp.numerics import sigmoid, softplus, zero_like
from mlp.registry import register

__all__ = [
    "Activation",
    "Identity",
    "Sign",
    "Step",
    "Sigmoid",
    "Exp",
    "Tanh",
    "ReLU",
    "LeakyReLU",
    "GeneralizedReLU",
    "Softplus",
    "Softmax",
    "GELU",
    "ACTIVATIONS",
    "get_activation",
    "NotDifferentiableError",
]

# name -> factory (a class, or a class with fixed settings for an alias)
ACTIVATIONS: dict = {}


class NotDifferentiableError(TypeError):
    """Backward through an activation with no useful derivative (sign, step)."""


class Activation(Layer):
    """Base: subclasses set ``name`` and implement ``apply`` and ``derivative_times``."""

    abstract = True  # not a layer of its own: its subclasses are

    name: ClassVar[str] = "?"
    aliases: ClassVar[dict] = {}  # alias -> constructor arguments
    default_init: ClassVar[str] = _defaults.INIT  # an activation may name its own
    outputs: ClassVar[str] = "real"  # "probability" (each in (0, 1)) or "distribution" (rows sum to 1)
    onnx_op: ClassVar[str | None] = None  # the ONNX operator computing it, where there is one

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        register(ACTIVATIONS, cls)

    def forward(self, params, state, x, ctx=EVAL):
        y = self.apply(x)
        return y, state, (x, y)

    def backward(self, params, saved, delta, ctx=EVAL, sinks=None, need_input_grad=True):
        s, y = saved
        return self.derivative_times(delta, s, y), []

    def flops(self, n_in, first=False):
        return 4 * n_in  # the function, its derivative and the product with δ, about one op each per element

    def onnx(self, graph, x, params, state):
        if self.onnx_op is None:
            raise NotImplementedError
        return graph.node(self.onnx_op, [x])

    def apply(self, s):
        raise NotImplementedError

    def derivative_times(self, delta, s, y):
        """δ · θ'(s), given the input s and output y of the forward pass."""
        raise NotImplementedError


class Identity(Activation):
    name = "identity"
    onnx_op = "Identity"
    aliases = {"linear": {}}

    def apply(self, s):
        return s

    def derivative_times(self, delta, s, y):
        return delta


class Sign(Activation):
    """sign(s) in {-1, 0, +1}: the perceptron's output. Forward only."""

    name = "sign"
    onnx_op = "Sign"

    def apply(self, s):
        return array_namespace(s).sign(s)

    def derivative_times(self, delta, s, y):
        raise NotDifferentiableError(
            f"the {self.name} activation has zero derivative almost everywhere, so backprop cannot train it; "
            "train a perceptron with mlp.Perceptron, or use 'tanh'/'sigmoid' for a differentiable unit"
        )


class Step(Sign):
    """Heaviside step: 1 where s >= 0, else 0. Forward only."""

    name = "step"
    onnx_op = None

    def onnx(self, graph, x, params, state):
        return graph.node("Cast", [graph.node("GreaterOrEqual", [x, graph.const(0.0)])], to=_onnx_elem(graph))

    def apply(self, s):
        xp = array_namespace(s)
        return xp.astype(s >= 0, s.dtype)


class Sigmoid(Activation):
    name = "sigmoid"
    onnx_op = "Sigmoid"
    aliases = {"logistic": {}}
    outputs = "probability"

    def apply(self, s):
        return sigmoid(s)

    def derivative_times(self, delta, s, y):
        return delta * y * (1 - y)


class Exp(Activation):
    """e^s: a positive output (the mean of a Poisson target under a log link). Clipped at the
    dtype's largest exponent, so that it never overflows to infinity."""

    name = "exp"
    aliases = {"exponential": {}}
    onnx_op = "Exp"

    def apply(self, s):
        xp = array_namespace(s)
        return xp.exp(xp.minimum(s, zero_like(s) + math.log(float(xp.finfo(s.dtype).max)) - 1.0))

    def derivative_times(self, delta, s, y):
        return delta * y


class Tanh(Activation):
    name = "tanh"
    onnx_op = "Tanh"

    def apply(self, s):
        return array_namespace(s).tanh(s)

    def derivative_times(self, delta, s, y):
        return delta * (1 - y * y)


class GeneralizedReLU(Activation):
    """max(0, s) + alpha * min(0, s): ReLU (alpha=0), leaky ReLU (small alpha),
    absolute value (alpha=-1). The derivative at 0 is taken as alpha."""

    name = "generalized_relu"

    def onnx(self, graph, x, params, state):
        return graph.node("LeakyRelu", [x], alpha=self.alpha)  # x where x >= 0, else alpha·x: the same

    aliases = {"abs": {"alpha": -1.0}}

    def __init__(self, alpha=0.0):
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha):
            raise ValueError(f"alpha must be a finite real number; got {alpha!r}")
        self.alpha = float(alpha)

    def apply(self, s):
        xp = array_namespace(s)
        return xp.where(s > 0, s, self.alpha * s)

    def derivative_times(self, delta, s, y):
        xp = array_namespace(s)
        return xp.where(s > 0, delta, self.alpha * delta)

    def config(self):
        return {"alpha": self.alpha}


class ReLU(GeneralizedReLU):
    """max(0, s), through the backend's kernels: in place on buffers they own (its backward
    reads only the output y, which is > 0 exactly where s > 0)."""

    name = "relu"
    onnx_op = "Relu"
    aliases = {}
    onnx = Activation.onnx  # Relu, not the LeakyRelu of its parent

    def __init__(self):
        super().__init__(0.0)

    def apply(self, s):
        return GENERIC.relu(s)

    def derivative_times(self, delta, s, y):
        return GENERIC.relu_backward(delta, y)

    def forward(self, params, state, x, ctx=EVAL):
        y = ctx.kernels.relu(x)
        return y, state, y

    def backward(self, params, saved, delta, ctx=EVAL, sinks=None, need_input_grad=True):
        return ctx.kernels.relu_backward(delta, saved), []

    def config(self):
        return {}


class LeakyReLU(GeneralizedReLU):
    name = "leaky_relu"

    def __init__(self, alpha=0.01):
        super().__init__(alpha)


class Softplus(Activation):
    """log(1 + e^s), computed stably; its derivative is the sigmoid."""

    name = "softplus"

    def onnx(self, graph, x, params, state):  # max(s, 0) + log(1 + e^-|s|): stable, and in float64 too
        tail = graph.node("Exp", [graph.node("Neg", [graph.node("Abs", [x])])])
        return graph.node(
            "Add", [graph.node("Relu", [x]), graph.node("Log", [graph.node("Add", [graph.const(1.0), tail])])]
        )

    def apply(self, s):
        return softplus(s)

    def derivative_times(self, delta, s, y):
        return delta * sigmoid(s)


class Softmax(Activation):
    """softmax over the last axis; backward is y * (δ - Σ_j δ_j y_j)."""

    name = "softmax"

    def onnx(self, graph, x, params, state):
        return graph.node("Softmax", [x], axis=-1)

    outputs = "distribution"

    def apply(self, s):
        xp = array_namespace(s)
        e = xp.exp(s - xp.max(s, axis=-1, keepdims=True))
        return e / xp.sum(e, axis=-1, keepdims=True)

    def derivative_times(self, delta, s, y):
        xp = array_namespace(y)
        return y * (delta - xp.sum(delta * y, axis=-1, keepdims=True))


_GELU_C = math.sqrt(2.0 / math.pi)


class GELU(Activation):
    """GELU, tanh form: 0.5 s (1 + tanh(sqrt(2/π)(s + 0.044715 s^3))).

    The array API standard has no erf, so the exact form is not portable; the tanh
    form is the one GPT-2 and BERT use and is within 1e-3 of it.
    """

    name = "gelu"

    def onnx(self, graph, x, params, state):  # the tanh form from primitives (ONNX's Gelu needs opset 20)
        cube = graph.node("Mul", [graph.node("Mul", [x, x]), x])
        inner = graph.node(
            "Mul", [graph.const(_GELU_C), graph.node("Add", [x, graph.node("Mul", [graph.const(0.044715), cube])])]
        )
        half = graph.node("Mul", [graph.const(0.5), x])
        return graph.node("Mul", [half, graph.node("Add", [graph.const(1.0), graph.node("Tanh", [inner])])])

    def apply(self, s):
        xp = array_namespace(s)
        return 0.5 * s * (1 + xp.tanh(_GELU_C * (s + 0.044715 * s * s * s)))

    def derivative_times(self, delta, s, y):
        xp = array_namespace(s)
        t = xp.tanh(_GELU_C * (s + 0.044715 * s * s * s))
        dt = (1 - t * t) * _GELU_C * (1 + 3 * 0.044715 * s * s)
        return delta * (0.5 * (1 + t) + 0.5 * s * dt)


def _onnx_elem(graph):
    from onnx import helper

    return helper.np_dtype_to_tensor_dtype(graph.dtype)


def get_activation(activation: Activation | str, name: str = "activation") -> Activation:
    """An Activation from a name in ACTIVATIONS or an Activation instance."""
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, str) and activation in ACTIVATIONS:
        return ACTIVATIONS[activation]()
    raise ValueError(f"{name} must be one of {sorted(ACTIVATIONS)} or an Activation; got {activation!r}")
