"""Models: a Sequential stack of layers, MLP from an architecture vector, value_and_grad,
and saving/loading them.

The model owns the flat parameter list ``params = [W1, b1, W2, b2, ...]`` on its
backend and device, and hands each layer its slice. Forward runs left to right,
backward right to left; the first layer's input gradient is never computed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import backends as _backends
from . import io
from ._validation import check_seed, check_X
from .activations import Activation, get_activation
from .backends.kernels import GENERIC, Kernels
from .layers import LAYERS, Dense, GradSink, Layer
from .losses import Loss, get_loss
from .numerics import check_same_count

__all__ = ["Sequential", "MLP", "value_and_grad", "load"]

FORMAT = "mlp-model"


class Sequential:
    """A stack of layers on one backend.

    ``Sequential(Dense(2, 8), Tanh(), Dense(8, 1), backend="numpy", dtype="float64", seed=0)``.
    Parameters are drawn on the host from `seed` (``init`` is the default for layers that
    name none) and copied to the backend's device. `backend` is a name, a Backend, or an
    array: the model then lives on that array's backend and device.
    """

    def __init__(
        self,
        *layers: Layer,
        backend: str | _backends.Backend | Any = "numpy",
        dtype: str = "float32",
        seed: int | None = 0,
        init: str | float | Any = "glorot_uniform",
        device: Any = None,
    ):
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        if not layers:
            raise ValueError("layers must hold at least one layer; got none")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layers[{i}] must be an mlp Layer; got {type(layer).__name__}")
        self.layers = list(layers)
        self.backend = _resolve_backend(backend, device)
        self.dtype = self.backend.dtype(dtype)
        self.init = init
        self.seed = seed
        dims = [(i, layer) for i, layer in enumerate(layers) if layer.in_features is not None]
        if not dims:
            raise ValueError("layers must include a layer with parameters (Dense or Maxout)")
        for (i, a), (j, b) in zip(dims, dims[1:]):
            if a.out_features != b.in_features:
                raise ValueError(
                    f"layers[{j}] expects {b.in_features} input features but layers[{i}] gives {a.out_features}"
                )
        self.n_features = dims[0][1].in_features
        self.n_outputs = dims[-1][1].out_features
        rng = np.random.default_rng(check_seed(seed))
        self.params = []
        self._slices = []
        for layer in self.layers:
            start = len(self.params)
            self.params += [self.backend.asarray(p, self.dtype, copy=True) for p in layer.build(rng, init)]
            self._slices.append(slice(start, len(self.params)))
        self._first_param_layer = dims[0][0]

    # -- forward and backward ------------------------------------------------
    @property
    def xp(self):
        return self.backend.xp

    def forward(self, X, training: bool = True, stop: int | None = None, kernels: Kernels = GENERIC):
        """Run layers[:stop] on a validated array; keep what backward needs if training."""
        out = X
        for layer, sl in zip(self.layers[:stop], self._slices[:stop]):
            out = layer.forward(self.params[sl], out, kernels, training)
        return out

    def backward(
        self, delta, stop: int | None = None, kernels: Kernels = GENERIC, sinks: list[GradSink] | None = None
    ) -> list:
        """Backpropagate δ through layers[:stop] (right to left). Per parameter, what backward
        put in its sink (``sinks``, from the optimizer), or without sinks the gradient itself."""
        grads = [None] * len(self.params)
        n = len(self.layers) if stop is None else stop
        for i in range(n - 1, -1, -1):
            sl = self._slices[i]
            delta, grads[sl] = self.layers[i].backward(
                self.params[sl], delta, kernels, None if sinks is None else sinks[sl], i > self._first_param_layer
            )
            if delta is None:
                break
        return grads

    def loss_and_grads(self, loss: Loss, X, T, kernels: Kernels = GENERIC, sinks: list[GradSink] | None = None):
        """Loss (a 0-d device array) and gradients (or sink contents) for validated X and prepared targets T."""
        fused = loss.fuses(self.layers[-1])
        stop = len(self.layers) - 1 if fused else None
        out = self.forward(X, True, stop, kernels)
        value, delta = (loss.fused_value_and_gradient if fused else loss.value_and_gradient)(out, T)
        return value, self.backward(delta, stop, kernels, sinks)

    def predict_with_logits(self, X, loss: Loss):
        """(output, logits or None) for validated X: one forward pass, stopping before the last
        layer where `loss` takes the logits."""
        if not loss.fuses(self.layers[-1]):
            return self.forward(X, training=False), None
        logits = self.forward(X, False, len(self.layers) - 1)
        return self.layers[-1].apply(logits), logits

    def check_input(self, X, name="X"):
        return check_X(X, self.backend, self.dtype, self.n_features, name)

    def __call__(self, X):
        """The model's output for X (host or backend data), without keeping activations."""
        return self.forward(self.check_input(X), training=False)

    predict = __call__

    # -- conveniences ------------------------------------------------------------
    @property
    def n_params(self) -> int:
        """|W|: the number of weights and biases."""
        return int(sum(int(np.prod(p.shape)) for p in self.params))

    def get_weights(self):
        """The parameters as NumPy arrays (copies on the host)."""
        return [np.array(self.backend.to_numpy(p)) for p in self.params]

    def set_weights(self, weights):
        """Replace the parameters by host arrays of the same shapes (written through the slots)."""
        weights = list(weights)
        if len(weights) != len(self.params):
            raise ValueError(f"weights must hold {len(self.params)} arrays; got {len(weights)}")
        for i, (w, p) in enumerate(zip(weights, self.params)):
            w = np.asarray(w)
            if tuple(w.shape) != tuple(p.shape):
                raise ValueError(f"weights[{i}] must have shape {tuple(p.shape)}; got {tuple(w.shape)}")
            self.params[i] = self.backend.asarray(w, self.dtype, copy=True)

    def config(self) -> dict:
        """The architecture: layer types and settings, dtype and parameter shapes."""
        return {
            "layers": [{"type": type(layer).__name__, "config": layer.config()} for layer in self.layers],
            "dtype": self.backend.dtype_name(self.dtype),
            "n_params": len(self.params),
            "shapes": [list(p.shape) for p in self.params],
        }

    def finite_weights(self, what: str = "model") -> dict:
        """The parameters as host arrays named param_0, param_1, ...; refuses NaN or infinity in
        the weights, and weights whose outputs overflow on unit-scale inputs (0 and ±1)."""
        weights = self.get_weights()
        for i, w in enumerate(weights):
            if not np.all(np.isfinite(w)):
                raise ValueError(f"{what} parameter {i} holds NaN or infinity; refusing to save it")
        probe = np.stack([np.zeros(self.n_features), np.ones(self.n_features), -np.ones(self.n_features)])
        if not np.all(np.isfinite(self.backend.to_numpy(self(probe)))):
            raise ValueError(
                f"{what}'s outputs overflow to NaN or infinity on unit-scale inputs (0 and ±1): its weights are "
                f"too large for {self.backend.dtype_name(self.dtype)}; refusing to save it"
            )
        return {f"param_{i}": w for i, w in enumerate(weights)}

    def to_onnx(self, path) -> str:
        """Write the model as a standard ONNX graph (needs ``pip install mlp[onnx]``)."""
        from .export import to_onnx

        return to_onnx(self, path)

    def save(self, path):
        """Write the architecture and weights to `path` (.npz), atomically."""
        io.write_npz(path, {"format": FORMAT, "version": io.VERSION, **self.config()}, self.finite_weights())

    @classmethod
    def from_config(cls, header: dict, arrays: dict, backend="numpy", device=None, dtype=None, path="file"):
        """A Sequential from a saved architecture (checked by ``saved_members``) and its parameter arrays."""
        where = repr(os.fspath(path))
        try:
            layers = [LAYERS[spec["type"]](**spec["config"]) for spec in header["layers"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where} holds an invalid architecture: {type(exc).__name__}: {exc}") from None
        declared = [tuple(s) for s in header["shapes"]]
        built = [tuple(s) for layer in layers for s in layer.param_shapes()]
        if built != declared:  # before anything is allocated
            raise ValueError(f"{where} holds weights whose shapes {declared} do not match its architecture {built}")
        weights = [arrays[f"param_{i}"] for i in range(len(declared))]
        if not all(np.all(np.isfinite(w)) for w in weights):
            raise ValueError(f"{where} holds weights with NaN or infinity")
        try:
            model = Sequential(*layers, backend=backend, dtype=dtype or header["dtype"], device=device, init="zeros")
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where} holds an invalid architecture: {exc}") from None
        model.set_weights(weights)
        return model

    def to(self, backend, device=None):
        """A copy of this model on another backend (same weights)."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.layers = [type(layer).__new__(type(layer)) for layer in self.layers]
        for new, old in zip(clone.layers, self.layers):
            new.__dict__.update({k: v for k, v in old.__dict__.items() if not k.startswith("_")})
        clone.backend = _backends.get(backend, device)
        clone.dtype = clone.backend.dtype(self.backend.dtype_name(self.dtype))
        clone.params = [clone.backend.asarray(w, clone.dtype, copy=True) for w in self.get_weights()]
        return clone

    def __repr__(self):
        inner = ", ".join(map(repr, self.layers))
        return (
            f"{type(self).__name__}({inner}; backend={self.backend.name}, dtype={self.backend.dtype_name(self.dtype)})"
        )


def _resolve_backend(backend, device):
    """A backend from its name, a Backend, or an array (whose backend and device it takes)."""
    if isinstance(backend, (str, _backends.Backend)):
        return _backends.get(backend, device)
    try:
        inferred = _backends.infer(backend)
    except TypeError:
        raise TypeError(
            f"backend must be a backend name, a Backend or an array to infer it from; got {type(backend).__name__}"
        ) from None
    if device is not None:
        raise ValueError("device must be None when the backend is inferred from an array (it has its device)")
    return inferred


class MLP(Sequential):
    """A multi-layer perceptron from its architecture vector [d0, d1, ..., dL].

    Hidden layers use `activation`, the last layer `output` (default identity).
    ``init`` defaults to He for the ReLU family and Glorot uniform otherwise.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str | Activation = "relu",
        output: str | Activation = "identity",
        *,
        backend: str | _backends.Backend | Any = "numpy",
        dtype: str = "float32",
        seed: int | None = 0,
        init: str | float | Any = None,
        device: Any = None,
    ):
        if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__"):
            raise TypeError(f"sizes must be a list of layer widths [d0, ..., dL]; got {type(sizes).__name__}")
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"sizes must list at least the input and output widths [d0, d1]; got {sizes}")
        hidden = get_activation(activation, "activation")
        out = get_activation(output, "output")
        layers = []
        for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
            layers.append(Dense(a, b))
            last = i == len(sizes) - 2
            layers.append(
                get_activation(output if last else activation)
                if isinstance(output if last else activation, str)
                else _copy_activation(out if last else hidden)
            )
        self.sizes = sizes
        self.activation = hidden.name
        self.output = out.name
        super().__init__(
            *layers,
            backend=backend,
            dtype=dtype,
            seed=seed,
            init=init if init is not None else hidden.default_init,
            device=device,
        )


def _copy_activation(a: Activation) -> Activation:
    new = type(a).__new__(type(a))
    new.__dict__.update(a.__dict__)
    return new


def value_and_grad(model: Sequential, loss: Loss | str, X: Any, y: Any) -> tuple[float, list]:
    """(loss as a Python float, gradients aligned with ``model.params``) on the batch (X, y).

    `loss` is a Loss or its name. The canonical pairs (softmax + cross-entropy, sigmoid +
    binary cross-entropy, identity + squared error) use the fused gradient from the logits.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be an mlp model (Sequential or MLP); got {type(model).__name__}")
    loss = get_loss(loss)
    loss.check_model(model)
    X = model.check_input(X)
    T = loss.prepare(y, model.n_outputs, model.backend, model.dtype)
    check_same_count(X, T)
    value, grads = model.loss_and_grads(loss, X, T)
    return float(value), grads


_SCALARS = (str, int, float, bool, type(None))


def saved_members(header: dict) -> dict[str, tuple]:
    """The parameter members a saved model's header declares, after checking that header:
    known layer types with flat settings, a float dtype, and parameter shapes of positive
    integers (nothing is allocated here)."""
    layers = header.get("layers")
    if not isinstance(layers, list) or not 1 <= len(layers) <= 100_000:
        raise ValueError("its 'layers' must be a non-empty list")
    for spec in layers:
        ok = isinstance(spec, dict) and isinstance(spec.get("type"), str) and isinstance(spec.get("config"), dict)
        if not ok or spec["type"] not in LAYERS:
            raise ValueError(f"its layer {str(spec)[:80]} is not a known layer type with settings")
        if not all(isinstance(k, str) and isinstance(v, _SCALARS) for k, v in spec["config"].items()):
            raise ValueError(f"its layer {spec['type']} has settings that are not plain values")
    if header.get("dtype") not in ("float32", "float64"):
        raise ValueError(f"its dtype must be 'float32' or 'float64'; got {str(header.get('dtype'))[:40]!r}")
    shapes, n = header.get("shapes"), header.get("n_params")
    if not (isinstance(n, int) and isinstance(shapes, list) and len(shapes) == n):
        raise ValueError("its 'shapes' must list one shape per parameter ('n_params')")
    for s in shapes:
        if not (isinstance(s, list) and 1 <= len(s) <= 2 and all(type(d) is int and d >= 1 for d in s)):
            raise ValueError(f"its parameter shape {str(s)[:40]} is not a list of one or two positive integers")
    return {f"param_{i}": tuple(s) for i, s in enumerate(shapes)}


def load(
    path: str | os.PathLike, backend: str | _backends.Backend = "numpy", device: Any = None, dtype: str | None = None
) -> Sequential:
    """The model saved at `path`, on `backend` (any backend, whichever saved it). Files are
    checked before anything is allocated: a damaged or foreign file is a ValueError naming it."""
    header, arrays = io.read_npz(path, FORMAT, saved_members)
    return Sequential.from_config(header, arrays, backend, device, dtype, path)
