"""Models: a Sequential stack of layers, MLP from an architecture vector, value_and_grad.

The model owns two flat lists on its backend and device: the trainable ``params = [W1, b1,
W2, b2, ...]`` and the non-trainable ``state`` (running statistics, a fitted input
transform's shift and scale), and hands each layer its slices. Forward runs left to right
and returns the new state beside the output (the caller keeps it or not); backward runs
right to left, and the first layer's input gradient is never computed.

A model also knows what its outputs mean (``head``, from the loss it is trained with), its
class labels (``classes``: any values, returned by ``predict_labels``) and, where it was
trained from named columns, their names (``feature_names``); all are saved with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import backends as _backends
from . import defaults as _defaults
from ._validation import cast_host, check_host_rows, check_host_X, check_seed, check_X, is_host_data
from .activations import Activation, get_activation
from .backends.kernels import GENERIC, Kernels
from .heads import Head, as_head
from .layers import Context, Dense, GradSink, Layer
from .losses import Loss, get_loss
from .numerics import check_same_count
from .transforms import Transform, get_transform

__all__ = ["Sequential", "MLP", "value_and_grad"]


class Sequential:
    """A stack of layers on one backend.

    ``Sequential(Dense(2, 8), Tanh(), Dense(8, 1), backend="numpy", dtype="float64", seed=0)``.
    Parameters are drawn on the host from `seed` (``init`` is the default for layers that
    name none) and copied to the backend's device. `backend` is a name, a Backend, or an
    array: the model then lives on that array's backend and device. ``compute_dtype``
    ('bfloat16', 'float16') runs products and activations in that type while the weights
    and optimizer state stay in ``dtype`` (mixed precision). ``classes``: the class labels
    (any values) that output indices 0..K-1 stand for. ``head``: what the outputs mean
    (default: from the loss the model is trained with).
    """

    def __init__(
        self,
        *layers: Layer,
        backend: str | _backends.Backend | Any = "numpy",
        dtype: str = "float32",
        seed: int | None = 0,
        init: str | float | Any = _defaults.INIT,
        device: Any = None,
        compute_dtype: str | None = None,
        classes: Sequence | None = None,
        head: Head | str | None = None,
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
        self.compute_dtype = self.dtype if compute_dtype is None else self.backend.compute_dtype(compute_dtype)
        self.init = init
        self.seed = seed
        self.n_features, self.n_outputs, self._widths = _chain(self.layers)
        if not any(layer.n_params for layer in self.layers):
            raise ValueError("layers must include a layer with parameters (Dense, Maxout, ...)")
        rng = np.random.default_rng(check_seed(seed))
        self.params, self.state = [], []
        self._slices, self._state_slices = [], []
        for layer in self.layers:
            start, s0 = len(self.params), len(self.state)
            self.params += [self.backend.asarray(p, self.dtype, copy=True) for p in layer.build(rng, init)]
            self.state += [self.backend.asarray(s, self.dtype, copy=True) for s in layer.build_state()]
            self._slices.append(slice(start, len(self.params)))
            self._state_slices.append(slice(s0, len(self.state)))
        self._first_param_layer = next(i for i, layer in enumerate(self.layers) if layer.n_params)
        self._n_input = next((i for i, layer in enumerate(self.layers) if not isinstance(layer, Transform)), 0)
        self._input_host = None  # float64 host copies of the input stage's state
        self.needs_rows = any(layer.needs_rows for layer in self.layers)
        self.batch_statistics = any(layer.batch_statistics for layer in self.layers)
        self.classes = None if classes is None else _check_classes(classes, self.n_outputs)
        self.head = None if head is None else as_head(head)
        self.feature_names = None

    # -- forward and backward ------------------------------------------------
    @property
    def xp(self):
        return self.backend.xp

    @property
    def mixed_precision(self) -> bool:
        return self.compute_dtype != self.dtype

    def compute_params(self, params: list | None = None) -> list:
        """The parameters in the compute dtype (the parameters themselves without mixed precision)."""
        params = self.params if params is None else params
        if not self.mixed_precision:
            return params
        return [self.xp.astype(p, self.compute_dtype) for p in params]

    def apply(self, X, ctx: Context | None = None, stop: int | None = None, params: list | None = None):
        """(output, new state) of layers[input stage:stop] on prepared rows X (``prepare_input``).
        The model's state is not changed: the caller keeps the new state or not."""
        ctx = Context() if ctx is None else ctx
        ctx.dtype = self.dtype
        params = self.compute_params() if params is None else params
        state = self.state
        new_state = list(state)
        out = X
        if self.mixed_precision and out.dtype != self.compute_dtype:
            out = self.xp.astype(out, self.compute_dtype)
        stop = len(self.layers) if stop is None else stop
        for i in range(self._n_input, stop):
            ctx.layer = i
            ss = self._state_slices[i]
            out, new_state[ss] = self.layers[i].forward(params[self._slices[i]], state[ss], out, ctx)
        return out, new_state

    def backward(self, delta, ctx: Context, stop: int | None = None, sinks: list | None = None, params=None) -> list:
        """Backpropagate δ through layers[:stop] (right to left), after a forward pass with
        ``ctx.keep``. Per parameter, what backward put in its sink (``sinks``, from the optimizer),
        or without sinks the gradient itself."""
        params = self.params if params is None else params
        grads = [None] * len(self.params)
        n = len(self.layers) if stop is None else stop
        for i in range(n - 1, self._first_param_layer - 1, -1):
            ctx.layer = i
            sl = self._slices[i]
            delta, grads[sl] = self.layers[i].backward(
                params[sl], delta, ctx, None if sinks is None else sinks[sl], i > self._first_param_layer
            )
        return grads

    def loss_and_grads(
        self, loss: Loss, X, T, ctx: Context | None = None, sinks: list[GradSink] | None = None, scale=None, w=None
    ):
        """(loss as a 0-d device array, gradients or sink contents, new state) for prepared X and
        targets T, in training mode unless `ctx` says otherwise. With mixed precision the loss
        is computed in the variable dtype, and the gradients come back in it (sinks unused);
        ``scale`` (float16 loss scaling) multiplies δ before the 16-bit backward pass and divides
        the gradients after it; ``w``: per-sample weights (the weighted mean loss)."""
        ctx = Context(training=True, keep=True) if ctx is None else ctx
        fused = loss.fuses(self.layers[-1])
        stop = len(self.layers) - 1 if fused else None
        params = self.compute_params()
        out, new_state = self.apply(X, ctx, stop, params)
        mixed = self.mixed_precision
        if mixed:
            out = self.xp.astype(out, self.dtype)  # the loss in float32: a precision island
        fn = loss.fused_value_and_gradient if fused else loss.value_and_gradient
        value, delta = fn(out, T) if w is None else fn(out, T, w)
        if mixed:
            if scale is not None:
                delta = delta * scale
            grads = self.backward(self.xp.astype(delta, self.compute_dtype), ctx, stop, None, params)
            grads = [self.xp.astype(g, self.dtype) for g in grads]
            if scale is not None:
                grads = [g / scale for g in grads]
            return value, grads, new_state
        return value, self.backward(delta, ctx, stop, sinks, params), new_state

    def predict_with_logits(self, X, loss: Loss):
        """(output, logits or None) for prepared X in inference mode: one forward pass, stopping
        before the last layer where `loss` takes the logits; in the variable dtype."""
        fused = loss.fuses(self.layers[-1])
        out, _ = self.apply(X, Context(), len(self.layers) - 1 if fused else None)
        if self.mixed_precision:
            out = self.xp.astype(out, self.dtype)
        if not fused:
            return out, None
        return self.layers[-1].apply(out), out

    # -- compiled evaluation ---------------------------------------------------------------------
    def compiled(self, key: Any, make):
        """A function of arrays run with the model's current parameters and state, compiled once per
        `key` on backends that compile (JAX: evaluation then makes no implicit transfer and no eager
        dispatch per operation); `make()` builds it the first time."""
        cache = self.__dict__.setdefault("_compiled_fns", {})
        pure = cache.get(key)
        if pure is None:
            fn = make()

            def run(params, state, *args):
                saved = list(self.params), list(self.state)
                self.params[:], self.state[:] = params, state
                try:
                    return fn(*args)
                finally:
                    self.params[:], self.state[:] = saved

            pure = cache[key] = self.backend.compile_function(run)
        return lambda *args: pure(list(self.params), list(self.state), *args)

    def evaluator(self, loss: Loss):
        """f(X, T) -> (loss, exact matches, per-label matches, outputs finite) on prepared rows in
        inference mode, as device scalars (read them once): validation, the loss before and after
        training, the output check."""

        def make():
            head = self.head

            def evaluate(X, T):
                xp = self.xp
                out, logits = self.predict_with_logits(X, loss)
                value = loss.fused_value(logits, T) if logits is not None else loss.value(out, T)
                finite = xp.all(xp.isfinite(out))
                if head is None or not head.classification:
                    return value, None, None, finite
                exact, labels = head.correct(out, T)
                return value, exact, labels, finite

            return evaluate

        head = None if self.head is None else tuple(sorted(self.head.config().items()))
        return self.compiled(("evaluate", type(loss).__name__, repr(sorted(loss.config().items())), head), make)

    def forward_fn(self):
        """f(X) -> outputs (inference mode) on prepared rows, compiled on backends that compile."""

        def make():
            def forward(X):
                out, _ = self.apply(X)
                return self.xp.astype(out, self.dtype) if self.mixed_precision else out

            return forward

        return self.compiled(("forward",), make)

    # -- inputs: validation and the input stage ----------------------------------------------
    def prepare_input(self, X, name: str = "X"):
        """X checked (2-D, finite, ``n_features`` columns), through the input stage (the leading
        fitted transforms), in the model's dtype on its device. Host data goes through the input
        stage on the host in float64, then is cast and copied over; device data is transformed
        on the device."""
        if is_host_data(X):
            return self.backend.asarray(self.prepare_host(X, name))
        Xd = check_X(X, self.backend, self.dtype, self.n_features, name)
        for i in range(self._n_input):
            Xd, _ = self.layers[i].forward([], self.state[self._state_slices[i]], Xd)
        return Xd

    check_input = prepare_input

    def prepare_host(self, X, name: str = "X") -> np.ndarray:
        """Host rows checked, through the input stage (in float64), cast to the model's dtype on
        the host: what ``prepare_input`` copies to the device."""
        if self._n_input:
            host = self.input_stage_host(check_host_X(X, self.n_features, name))
        else:
            host = check_host_rows(X, self.n_features, name)
        return cast_host(host, self.backend, self.dtype, name)

    def input_stage_host(self, X: np.ndarray) -> np.ndarray:
        """Host float64 rows through the input stage, in float64."""
        if not self._n_input:
            return X
        if self._input_host is None:
            self._input_host = [
                [np.asarray(self.backend.to_numpy(s), dtype=np.float64) for s in self.state[self._state_slices[i]]]
                for i in range(self._n_input)
            ]
        for i in range(self._n_input):
            X, _ = self.layers[i].forward([], self._input_host[i], X)
        return X

    def unfitted_transforms(self) -> list[int]:
        """Indices of the input stage's transforms that have not been fitted (no rows seen)."""
        self.input_stage_host(np.zeros((0, self.n_features)))  # fills the host copies
        return [i for i in range(self._n_input) if self._input_host[i][2][0] == 0]

    def adapt(self, X, seed: int = 0):
        """Fit the input stage's transforms on X (host or device rows, read in chunks): each on
        the output of the transforms before it. Returns the model."""
        from .data import host_chunks

        if not self._n_input:
            return self
        n = int(X.shape[0])
        if n == 0:
            raise ValueError("X must hold at least one sample to fit the model's input transforms")
        for i in range(self._n_input):
            layer = self.layers[i]

            def chunks(i=i):
                for c in host_chunks(X, self.backend, self.n_features):
                    for j in range(i):
                        c, _ = self.layers[j].forward([], self._input_host[j], c)
                    yield c

            self.input_stage_host(np.zeros((0, self.n_features)))
            fitted = layer.fit(chunks(), n, seed)
            for k, s in enumerate(fitted):
                self.state[self._state_slices[i].start + k] = self.backend.asarray(s, self.dtype, copy=True)
            self._input_host[i] = [np.asarray(s, dtype=np.float64) for s in fitted]
        return self

    def __call__(self, X):
        """The model's output for X (host or backend data), in inference mode (on the backend's
        device: inside its device context, for libraries that ignore ``device=``)."""
        with self.backend.context():
            out, _ = self.apply(self.prepare_input(X))
            return self.xp.astype(out, self.dtype) if self.mixed_precision else out

    predict = __call__

    # -- what the outputs mean -----------------------------------------------------------------
    def output_head(self) -> Head:
        """The head that reads this model's outputs: the one set by training (or given), else the
        one its last layer implies (softmax: classes; sigmoid: binary or multilabel; several
        scores: classes by argmax). One unbounded output needs a trained or given head."""
        if self.head is not None:
            return self.head
        kind = getattr(self.layers[-1], "outputs", "real")
        if kind == "distribution":
            return Head("classes", "distribution")
        if kind == "probability":
            return Head("binary" if self.n_outputs == 1 else "multilabel", "probability")
        if self.n_outputs >= 2:
            return Head("classes", "logits")
        raise ValueError(
            "this model has one unbounded output, which can be a regression value or a logit: train it with a "
            "loss (mlp.train sets model.head), or set model.head (e.g. mlp.Head('binary', 'logits'))"
        )

    def predict_labels(self, X) -> np.ndarray:
        """Predicted labels on the host: ``classes[i]`` for the predicted index i where the model
        has class labels, else the indices (a 0/1 indicator matrix for multilabel heads)."""
        head = self.output_head()
        if not head.classification:
            raise ValueError("this model is a regressor (its head is 'regression'): use model(X) for its values")
        labels = self.backend.to_numpy(head.labels(self(X)))
        if self.classes is not None and head.kind != "multilabel":
            return self.classes[labels]
        return labels

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities on the host: (n, K), (n, 2) for one binary output (label 0, label 1),
        (n, k) per label for a multilabel head."""
        head = self.output_head()
        p = head.proba(self(X))
        if p is None:
            raise ValueError(f"this model's outputs ({head.output} {head.kind}) are not probabilities or logits")
        return np.asarray(self.backend.to_numpy(p))

    def evaluate(self, X, y) -> dict:
        """Metrics of the model's predictions on (X, y) as its head reads them: accuracy (and for
        multilabel heads the mean per-label accuracy) for classifiers, MSE and R² for regressors."""
        from .metrics import evaluate

        return evaluate(self, X, y)

    # -- conveniences ------------------------------------------------------------
    @property
    def n_params(self) -> int:
        """|W|: the number of weights and biases (trainable parameters)."""
        return int(sum(int(np.prod(p.shape)) for p in self.params))

    def get_weights(self):
        """The parameters as NumPy arrays (copies on the host)."""
        return [np.array(self.backend.to_numpy(p)) for p in self.params]

    def get_state(self):
        """The state (running statistics, fitted transforms) as NumPy arrays (host copies)."""
        return [np.array(self.backend.to_numpy(s)) for s in self.state]

    def set_weights(self, weights):
        """Replace the parameters by host arrays of the same shapes (written through the slots).
        Refuses NaN, infinity, complex values, other shapes, and values beyond the model dtype."""
        self.params[:] = _checked_arrays(weights, self.params, self.backend, self.dtype, "weights")

    def set_state(self, state):
        """Replace the state by host arrays of the same shapes (checked like ``set_weights``)."""
        self.state[:] = _checked_arrays(state, self.state, self.backend, self.dtype, "state")
        self._input_host = None

    def summary(self, compact: bool = False) -> str:
        """Each layer with its output shape and parameter count, the total |W|, the floating-point
        operations per sample of a training step, dtype, backend and device."""
        from .summary import summary

        return summary(self, compact)

    def config(self) -> dict:
        """The architecture: layer types and settings, dtypes and array shapes."""
        return {
            "layers": [{"type": type(layer).__name__, "config": layer.config()} for layer in self.layers],
            "dtype": self.backend.dtype_name(self.dtype),
            "compute_dtype": self.backend.dtype_name(self.compute_dtype),
            "n_params": len(self.params),
            "shapes": [list(p.shape) for p in self.params],
            "state_shapes": [list(s.shape) for s in self.state],
        }

    def save(self, path):
        """Write the architecture, weights, state, head, class labels and feature names to `path`
        (.npz), atomically."""
        from .saving import save

        save(self, path)

    def to_onnx(self, path) -> str:
        """Write the model as a standard ONNX graph (needs ``pip install mlp[onnx]``)."""
        from .export import to_onnx

        return to_onnx(self, path)

    def to(self, backend, device=None):
        """A copy of this model on another backend (same weights and state)."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.layers = [type(layer).__new__(type(layer)) for layer in self.layers]
        for new, old in zip(clone.layers, self.layers):
            new.__dict__.update({k: v for k, v in old.__dict__.items() if not k.startswith("_")})
        clone.backend = _backends.get(backend, device)
        clone.dtype = clone.backend.dtype(self.backend.dtype_name(self.dtype))
        cdt = self.backend.dtype_name(self.compute_dtype)
        clone.compute_dtype = (
            clone.dtype if cdt == self.backend.dtype_name(self.dtype) else clone.backend.compute_dtype(cdt)
        )
        clone.params = [clone.backend.asarray(w, clone.dtype, copy=True) for w in self.get_weights()]
        clone.state = [clone.backend.asarray(s, clone.dtype, copy=True) for s in self.get_state()]
        clone._input_host = None
        clone.__dict__.pop("_compiled_fns", None)  # they are bound to this model
        clone.__dict__.pop("_compiled_steps", None)
        return clone

    def __repr__(self):
        inner = ", ".join(map(repr, self.layers))
        return (
            f"{type(self).__name__}({inner}; backend={self.backend.name}, dtype={self.backend.dtype_name(self.dtype)})"
        )


def _chain(layers) -> tuple[int, int, list[int]]:
    """(input width, output width, each layer's output width): widths must agree along the stack."""
    first = next((i for i, layer in enumerate(layers) if layer.in_features is not None), None)
    if first is None:
        raise ValueError("layers must include a layer with a known input width (Dense, Maxout, a transform, ...)")
    n_in = layers[first].in_features
    n, widths, previous = n_in, [], None
    for i, layer in enumerate(layers):
        if layer.in_features is not None and layer.in_features != n:
            where = f"layers[{previous}] gives {n}" if previous is not None else f"the input has {n}"
            raise ValueError(f"layers[{i}] expects {layer.in_features} input features but {where}")
        n = layer.output_features(n)
        widths.append(n)
        if layer.out_features is not None or layer.in_features is not None:
            previous = i
    return n_in, n, widths


def _checked_arrays(arrays, current, backend, dtype, what):
    """Host arrays for the slots of `current`: same count and shapes, real and finite, and finite
    in `dtype` (no overflow when cast); on the backend's device."""
    arrays = list(arrays)
    if len(arrays) != len(current):
        raise ValueError(f"{what} must hold {len(current)} arrays; got {len(arrays)}")
    out = []
    name = backend.dtype_name(dtype)
    for i, (w, p) in enumerate(zip(arrays, current)):
        if not (hasattr(w, "shape") and hasattr(w, "dtype")):
            w = np.asarray(w)
        w = np.asarray(backend.to_numpy(w) if not isinstance(w, np.ndarray) else w)
        if w.dtype.kind == "c":
            raise TypeError(f"{what}[{i}] holds complex values ({w.dtype}); expected real numbers")
        if w.dtype.kind not in "fiub":
            raise TypeError(f"{what}[{i}] must hold real numbers; got dtype {w.dtype}")
        if tuple(w.shape) != tuple(p.shape):
            raise ValueError(f"{what}[{i}] must have shape {tuple(p.shape)}; got {tuple(w.shape)}")
        if not np.all(np.isfinite(w)):
            raise ValueError(f"{what}[{i}] holds NaN or infinity")
        with np.errstate(over="ignore"):
            cast = w.astype(name)
        if not np.all(np.isfinite(cast)):
            raise ValueError(
                f"{what}[{i}] holds values beyond the range of {name} (largest {float(np.max(np.abs(w))):.3g}): they "
                f"would overflow to infinity; keep the model in float64"
            )
        out.append(backend.asarray(cast, dtype, copy=True))
    return out


def _check_classes(classes, n_outputs) -> np.ndarray:
    """Class labels as a 1-D NumPy array of distinct plain values (str, int, float or bool)."""
    values = list(classes)
    if not values or not all(isinstance(v, (str, int, float, bool, np.generic)) for v in values):
        raise TypeError("classes must be a non-empty sequence of plain labels (strings, integers, floats or bools)")
    arr = np.asarray(values)
    if arr.dtype == object or arr.ndim != 1:
        raise TypeError(f"classes must all be of one kind (all strings, or all numbers); got {values[:5]!r}")
    unique, counts = np.unique(arr, return_counts=True)
    if len(unique) != len(arr):
        repeated = [v.item() for v in unique[counts > 1][:5]]
        raise ValueError(
            f"classes must be distinct labels, one per output (e.g. np.unique(y)); got {len(arr)} values with "
            f"{len(unique)} distinct, repeated: {repeated}"
        )
    k = 2 if n_outputs == 1 else n_outputs
    if len(arr) != k:
        raise ValueError(f"classes must name {k} labels for a model with {n_outputs} outputs; got {len(arr)}")
    return arr


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

    Hidden layers: Dense, then ``norm`` ("batch": BatchNorm, "layer": LayerNorm), then
    `activation`, then ``Dropout(dropout)`` where dropout > 0; the last layer is Dense and
    `output` (default identity). ``scale`` ("standard", "minmax", "robust") puts a fitted input
    transform in front, so that the model takes raw data. ``init`` defaults to the hidden
    activation's ``default_init``: ``mlp.defaults.INIT`` ("torch", PyTorch's nn.Linear) for the
    built-in ones.
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
        dropout: float = 0.0,
        norm: str | None = None,
        scale: str | Transform | None = None,
        compute_dtype: str | None = None,
        classes: Sequence | None = None,
        head: Head | str | None = None,
    ):
        from .dropout import Dropout
        from .norm import get_norm

        if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__"):
            raise TypeError(f"sizes must be a list of layer widths [d0, ..., dL]; got {type(sizes).__name__}")
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"sizes must list at least the input and output widths [d0, d1]; got {sizes}")
        hidden = get_activation(activation, "activation")
        out = get_activation(output, "output")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"dropout must be a rate in [0, 1); got {dropout!r}")
        if norm is not None:
            get_norm(norm, 1)  # an unknown norm is an error whatever the depth
        layers = []
        if scale is not None:
            layers.append(get_transform(scale, sizes[0]) if isinstance(scale, str) else scale)
        for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
            layers.append(Dense(a, b))
            last = i == len(sizes) - 2
            if not last and norm is not None:
                layers.append(get_norm(norm, b))
            layers.append(
                get_activation(output if last else activation)
                if isinstance(output if last else activation, str)
                else _copy_activation(out if last else hidden)
            )
            if not last and dropout:
                layers.append(Dropout(dropout))
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
            compute_dtype=compute_dtype,
            classes=classes,
            head=head,
        )


def _copy_activation(a: Activation) -> Activation:
    new = type(a).__new__(type(a))
    new.__dict__.update(a.__dict__)
    return new


def value_and_grad(
    model: Sequential, loss: Loss | str, X: Any, y: Any, training: bool = True, sample_weight: Any = None
) -> tuple[float, list]:
    """(loss as a Python float, gradients aligned with ``model.params``) on the batch (X, y).

    `loss` is a Loss or its name. The canonical pairs (softmax + cross-entropy, sigmoid +
    binary cross-entropy, identity + squared error) use the fused gradient from the logits.
    ``training``: batch statistics and dropout (with step 0 and seed 0) as in a training step;
    the model's state (running statistics) is never changed. ``sample_weight``: the weighted mean loss.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be an mlp model (Sequential or MLP); got {type(model).__name__}")
    loss = get_loss(loss)
    loss.check_model(model)
    X = model.prepare_input(X)
    T = loss.prepare(y, model.n_outputs, model.backend, model.dtype)
    check_same_count(X, T)
    ctx = Context(training=bool(training), keep=True, kernels=GENERIC, count=X.shape[0], total=X.shape[0])
    if model.needs_rows:
        ctx.rows = model.backend.asarray(np.arange(X.shape[0], dtype=np.int32))
    w = None
    if sample_weight is not None:
        from .weights import check_sample_weight

        w = model.backend.asarray(check_sample_weight(sample_weight, X.shape[0]), model.dtype)
    with model.backend.context():
        value, grads, _ = model.loss_and_grads(loss, X, T, ctx, w=w)
    return float(model.backend.to_numpy(value)), grads


def kernels_context(kernels: Kernels, training: bool = True) -> Context:
    """A training-step context with these kernels (for tests and custom loops)."""
    return Context(training=training, keep=True, kernels=kernels)
