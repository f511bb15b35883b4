"""Sequential: a network's parameters and state on one backend and device, and what its outputs mean.

The model owns two flat lists on its backend and device: the trainable ``params = [W1, b1,
W2, b2, ...]`` and the non-trainable ``state`` (running statistics, a fitted input
transform's shift and scale). Its ``net`` (a :class:`~mlp.model.network.Network`) runs the
layers as pure functions of those lists; between training runs the model is where the weights
are parked (``mlp.train`` reads them at its start and writes them back at the end of each epoch).

A model also knows what its outputs mean (``head``, from the loss it is trained with), its
class labels (``classes``: any values, returned by ``predict_labels``) and, where it was
trained from named columns, their names (``feature_names``); all are saved with it. A model
trained on a table of mixed columns holds their fitted encoding (``columns``: a
:class:`~mlp.nn.columns.Columns`), which every entry point applies to tables before the input stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mlp import backends as _backends
from mlp import defaults as _defaults
from mlp.checks import check_seed
from mlp.heads import Head, as_head
from mlp.model.inputs import InputStage, device_copy
from mlp.model.network import Network
from mlp.nn.columns import Columns
from mlp.nn.layer import Context, Layer

__all__ = ["Sequential"]


class Sequential:
    """A stack of layers on one backend.

    ``Sequential(Dense(2, 8), Tanh(), Dense(8, 1), backend="numpy", dtype="float64", seed=0)``.
    Parameters are drawn on the host from `seed` (``init`` is the default for layers that
    name none) and copied to the backend's device. `backend` is a name, a Backend, or an
    array: the model then lives on that array's backend and device. ``compute_dtype``
    ('bfloat16', 'float16') runs products and activations in that type while the weights
    and optimizer state stay in ``dtype`` (mixed precision). ``classes``: the class labels
    (any values) that output indices 0..K-1 stand for. ``head``: what the outputs mean
    (default: from the loss the model is trained with). ``columns``: a fitted
    ``mlp.Columns`` whose encoded width is the layers' input: the model then takes tables
    (DataFrames, pyarrow Tables, dicts of columns) with text, categories and missing values.
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
        columns: Columns | None = None,
    ):
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        if not layers:
            raise ValueError("layers must hold at least one layer; got none")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layers[{i}] must be an mlp Layer; got {type(layer).__name__}")
        self.net = Network(list(layers))
        self.backend = _resolve_backend(backend, device)
        self.dtype = self.backend.dtype(dtype)
        self.compute_dtype = self.dtype if compute_dtype is None else self.backend.compute_dtype(compute_dtype)
        self.init, self.seed = init, seed
        rng = np.random.default_rng(check_seed(seed))
        self.params, self.state = [], []
        for layer in self.layers:
            self.params += [self.backend.asarray(p, self.dtype, copy=True) for p in layer.build(rng, init)]
            self.state += [self.backend.asarray(s, self.dtype, copy=True) for s in layer.build_state()]
        self.inputs = InputStage(self)
        self.classes = None if classes is None else check_classes(classes, self.n_outputs)
        self.head = None if head is None else as_head(head)
        self.feature_names = None
        if columns is not None:
            if not isinstance(columns, Columns):
                raise TypeError(
                    f"columns must be a fitted mlp.Columns (Columns.fit(table)); got {type(columns).__name__}"
                )
            if columns.n_features != self.n_features:
                raise ValueError(
                    f"columns encodes a table as {columns.n_features} columns but the layers take {self.n_features}"
                )
        self.columns = columns

    # -- structure and precision ---------------------------------------------------------------
    @property
    def layers(self) -> list:
        return self.net.layers

    @property
    def n_features(self) -> int:
        return self.net.n_features

    @property
    def n_outputs(self) -> int:
        return self.net.n_outputs

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

    def compute_input(self, x):
        """Rows in the compute dtype."""
        return self.xp.astype(x, self.compute_dtype) if self.mixed_precision and x.dtype != self.compute_dtype else x

    def variable(self, out):
        """Outputs back in the variable dtype (a float32 island for losses and readers)."""
        return self.xp.astype(out, self.dtype) if self.mixed_precision else out

    # -- forward ---------------------------------------------------------------------------------
    def apply(self, X, ctx: Context | None = None, stop: int | None = None, params: list | None = None):
        """(output, new state) of the layers after the input stage on prepared rows X
        (``prepare_input``), in the compute dtype. The model's state is not changed."""
        ctx = Context() if ctx is None else ctx
        ctx.dtype = self.dtype
        params = self.compute_params() if params is None else params
        out, new_state, _ = self.net.forward(params, self.state, self.compute_input(X), ctx, stop=stop)
        return out, new_state

    def prepare_input(self, X, name: str = "X"):
        """X checked (2-D, finite, ``n_features`` columns), through the input stage (the leading
        fitted transforms), in the model's dtype on its device."""
        return self.inputs.prepare(self.inputs.encode(X, name), name)

    def adapt(self, X, seed: int = 0):
        """Fit the input stage's transforms on X (host or device rows, read in chunks). Returns the model."""
        self.inputs.adapt(X, seed)
        return self

    def __call__(self, X):
        """The model's output for X (host or backend data), in inference mode (on the backend's
        device: inside its device context, for libraries that ignore ``device=``)."""
        with self.backend.context():
            out, _ = self.apply(self.prepare_input(X))
            return self.variable(out)

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
        with self.backend.context():
            out = self._finite(self(X))
            labels = self.backend.to_numpy(head.labels(out))
        if self.classes is not None and head.kind != "multilabel":
            return self.classes[labels]
        return labels

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities on the host: (n, K), (n, 2) for one binary output (label 0, label 1),
        (n, k) per label for a multilabel head."""
        head = self.output_head()
        with self.backend.context():
            p = head.proba(self._finite(self(X)))
            if p is None:
                raise ValueError(f"this model's outputs ({head.output} {head.kind}) are not probabilities or logits")
            return np.asarray(self.backend.to_numpy(p))

    def _finite(self, out):
        """`out`, where every row is finite; else a ValueError naming the rows (a label or a
        probability read from NaN or infinity would be a silent wrong answer)."""
        xp = self.xp
        bad = np.flatnonzero(~np.asarray(self.backend.to_numpy(xp.all(xp.isfinite(out), axis=1))))
        if bad.size:
            dtype = self.backend.dtype_name(self.compute_dtype)
            raise ValueError(
                f"the model's outputs for {bad.size} rows of X (first {bad[:5].tolist()}) are NaN or infinity: their "
                f"values overflow the model's {dtype} computations (rows far outside the training data?); no label "
                "or probability can be read from them"
                + ("; computed in float32 they would not" if dtype in ("float16", "bfloat16") else "")
            )
        return out

    def evaluate(self, X, y) -> dict:
        """Metrics of the model's predictions on (X, y) as its head reads them: accuracy (and for
        multilabel heads the mean per-label accuracy) for classifiers, MSE and R² for regressors."""
        from mlp.metrics import evaluate

        return evaluate(self, X, y)

    # -- weights and state ----------------------------------------------------------------------
    @property
    def n_params(self) -> int:
        """|W|: the number of weights and biases (trainable parameters)."""
        return int(sum(int(np.prod(p.shape)) for p in self.params))

    def get_weights(self):
        """The parameters as NumPy arrays (copies on the host)."""
        return [np.array(self.backend.to_numpy(p)) for p in self.params]

    def get_state(self):
        """The state (running statistics, fitted transforms) as NumPy arrays (host copies); the input
        transforms' in float64, the values the model scales host rows with."""
        k = self.inputs.n_state
        return self.inputs.exact() + [np.array(self.backend.to_numpy(s)) for s in self.state[k:]]

    def set_weights(self, weights):
        """Replace the parameters by host arrays of the same shapes (written through the slots).
        Refuses NaN, infinity, complex values, other shapes, and values beyond the model dtype."""
        self.params[:] = _checked_arrays(weights, self.params, self.backend, self.dtype, "weights")

    def set_state(self, state):
        """Replace the state by host arrays of the same shapes (checked like ``set_weights``; the input
        transforms' kept in float64 and checked against float64's range)."""
        state, k = list(state), self.inputs.n_state
        if len(state) != len(self.state):
            raise ValueError(f"state must hold {len(self.state)} arrays; got {len(state)}")
        exact = [
            _checked(s, c, self.backend, "float64", f"state[{i}]") for i, (s, c) in enumerate(zip(state, self.state))
        ]
        rest = _checked_arrays(state[k:], self.state[k:], self.backend, self.dtype, "state", start=k)
        self.state[:] = [device_copy(self, e) for e in exact[:k]] + rest
        self.inputs.pin(exact[:k])

    def layer_params(self, i: int) -> slice:
        """Where layer i's parameters sit in ``params`` (and in ``get_weights()``)."""
        return self.net.param_slices[i]

    # -- description, files, other backends -----------------------------------------------------
    def summary(self, compact: bool = False) -> str:
        """Each layer with its output shape and parameter count, the total |W|, the floating-point
        operations per sample of a training step, dtype, backend and device."""
        from mlp.model.summary import summary

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
        from mlp.model.saving import save

        save(self, path)

    def to_onnx(self, path, probabilities: bool = False, encoded: bool = False) -> str:
        """Write the model as a standard ONNX graph (needs ``pip install mlp[onnx]``): output "Y" is
        ``model(X)``; ``probabilities=True`` adds output "P", ``predict_proba``'s probabilities. A
        model on a table takes its raw columns, one input each (``encoded=True``: the encoded rows)."""
        from mlp.model.onnx import to_onnx

        return to_onnx(self, path, probabilities, encoded)

    def to(self, backend, device=None):
        """A copy of this model on another backend (same weights and state)."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        layers = [type(layer).__new__(type(layer)) for layer in self.layers]
        for new, old in zip(layers, self.layers):
            new.__dict__.update(old.__dict__)
        clone.net = Network(layers)
        clone.backend = _backends.get(backend, device)
        clone.dtype = clone.backend.dtype(self.backend.dtype_name(self.dtype))
        cdt = self.backend.dtype_name(self.compute_dtype)
        clone.compute_dtype = (
            clone.dtype if cdt == self.backend.dtype_name(self.dtype) else clone.backend.compute_dtype(cdt)
        )
        clone.params = [clone.backend.asarray(w, clone.dtype, copy=True) for w in self.get_weights()]
        clone.state = [clone.backend.zeros(tuple(s.shape), clone.dtype) for s in self.state]
        clone.inputs = InputStage(clone)
        clone.set_state(self.get_state())
        return clone

    def __repr__(self):
        inner = ", ".join(map(repr, self.layers))
        return (
            f"{type(self).__name__}({inner}; backend={self.backend.name}, dtype={self.backend.dtype_name(self.dtype)})"
        )


def _checked_arrays(arrays, current, backend, dtype, what, start=0):
    """Host arrays for the slots of `current`: same count and shapes, real and finite, and finite
    in `dtype` (no overflow when cast); on the backend's device."""
    arrays = list(arrays)
    if len(arrays) != len(current):
        raise ValueError(f"{what} must hold {len(current)} arrays; got {len(arrays)}")
    name = backend.dtype_name(dtype)
    checked = [_checked(w, p, backend, name, f"{what}[{start + i}]") for i, (w, p) in enumerate(zip(arrays, current))]
    return [backend.asarray(w, dtype, copy=True) for w in checked]


def _checked(w, like, backend, dtype_name, what) -> np.ndarray:
    if not (hasattr(w, "shape") and hasattr(w, "dtype")):
        w = np.asarray(w)
    w = np.asarray(backend.to_numpy(w) if not isinstance(w, np.ndarray) else w)
    if w.dtype.kind == "c":
        raise TypeError(f"{what} holds complex values ({w.dtype}); expected real numbers")
    if w.dtype.kind not in "fiub":
        raise TypeError(f"{what} must hold real numbers; got dtype {w.dtype}")
    if tuple(w.shape) != tuple(like.shape):
        raise ValueError(f"{what} must have shape {tuple(like.shape)}; got {tuple(w.shape)}")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{what} holds NaN or infinity")
    with np.errstate(over="ignore"):
        cast = w.astype(dtype_name)
    if not np.all(np.isfinite(cast)):
        raise ValueError(
            f"{what} holds values beyond the range of {dtype_name} (largest {float(np.max(np.abs(w))):.3g}): they "
            f"would overflow to infinity; keep the model in float64"
        )
    return cast


def check_classes(classes, n_outputs) -> np.ndarray:
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
