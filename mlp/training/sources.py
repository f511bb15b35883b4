"""The door: training data enters once, and leaves as row sources.

``training_data`` asks once what X is (device arrays, host arrays, data read from disk batch by
batch), checks and casts it, prepares the targets (class labels through the model's classes),
combines sample and class weights, splits off validation rows, fits the model's input stage on the
training rows where it is not fitted yet, and returns row sources (``mlp.training.rows``) that the
loop, validation and checkpoints read without asking again.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from mlp import backends
from mlp.checks import check_positive_float, host_array, is_host_data
from mlp.metrics import encode_labels
from mlp.model.sequential import check_classes
from mlp.numerics import check_same_count
from mlp.training.errors import DataWarning
from mlp.training.rows import DeviceRows, HostRows, is_streamed
from mlp.training.weights import sample_weights

__all__ = ["TrainingData", "training_data"]


@dataclass
class TrainingData:
    """The training rows (every process's, before sharding), the held-out rows (or None) and the
    training rows' host sample weights (or None)."""

    rows: DeviceRows | HostRows
    held_out: DeviceRows | HostRows | None
    weights: np.ndarray | None

    @property
    def n(self) -> int:
        return self.rows.n


@dataclass(frozen=True)
class _Form:
    """What a run's X is, asked once: host data (NumPy, lists, pandas) or a device array, and
    whether it is read batch by batch."""

    host: bool
    streamed: bool

    @classmethod
    def of(cls, X, stream, name) -> _Form:
        streamed = _streamed(X, stream, name)
        return cls(streamed or is_host_data(X), streamed)


def training_data(
    model, loss, X, y, *, validation, validation_fraction, rng, stream, prefetch, kernels, sample_weight, class_weight
) -> TrainingData:
    """The run's row sources (module docstring)."""
    X = model.inputs.encode(X)
    form = _Form.of(X, stream, "X")
    y = _targets(model, loss, y)
    n = _count(X)
    w = _weights(model, loss, y, n, sample_weight, class_weight)
    train_rows, val_rows = _split(n, validation_fraction, rng)
    if model.inputs.unfitted():
        model.adapt(X if train_rows is None else _fitting_rows(model, X, train_rows, form))
    if not model.net.n_input and form.host and not form.streamed:
        _warn_if_unscaled(model, X)
    if model.net.target_scale is not None:
        _fit_target_scale(model, loss, y, train_rows)
    w_train = w if w is None or train_rows is None else w[train_rows]
    reuse = kernels.buffered and model.backend.shares_host_memory
    if form.streamed:
        rows = _host_rows(model, loss, X, y, prefetch, reuse, "X", w)
        held = None
        if train_rows is not None:
            rows, held = rows.subset(train_rows, "X"), rows.subset(val_rows, "validation X")
            held.w = None  # validation losses are not weighted
    else:
        rows, held = _device_rows(model, loss, X, y, form, train_rows, val_rows, w_train)
    if validation is not None:
        held = _validation(model, loss, validation, stream, prefetch)
    return TrainingData(rows, held, w_train)


def _device_rows(model, loss, X, y, form, train_rows, val_rows, w_train):
    """Data in memory on the device whole: (training rows, held-out rows or None)."""
    Xd = model.inputs.prepare_host(X) if form.host else model.inputs.prepare_device(X)
    Xd = model.backend.asarray(Xd) if form.host else Xd
    T = loss.prepare(y, model.n_outputs, model.backend, model.dtype)
    check_same_count(Xd, T)
    held = None
    b, ids = model.backend, model.net.needs_rows
    if train_rows is not None:
        tr, va = b.asarray(train_rows), b.asarray(val_rows)
        held = DeviceRows(b.xp.take(Xd, va, axis=0), b.xp.take(T, va, axis=0), b)
        Xd, T = b.xp.take(Xd, tr, axis=0), b.xp.take(T, tr, axis=0)
    W = None if w_train is None else b.asarray(w_train, model.dtype)
    return DeviceRows(Xd, T, b, ids=ids, W=W), held


def _validation(model, loss, validation, stream, prefetch):
    """The held-out rows of ``validation=(X_val, y_val)``."""
    if not (isinstance(validation, (tuple, list)) and len(validation) == 2):
        raise TypeError("validation must be a pair (X_val, y_val)")
    Xv, yv = model.inputs.encode(validation[0], "validation X"), _targets(model, loss, validation[1], "validation y")
    form = _Form.of(Xv, stream, "validation X")
    if form.streamed:
        return _host_rows(model, loss, Xv, yv, prefetch, False, "validation X")
    Xd = model.inputs.prepare_host(Xv, "validation X") if form.host else model.inputs.prepare_device(Xv, "validation X")
    Xd = model.backend.asarray(Xd) if form.host else Xd
    Tv = loss.prepare(yv, model.n_outputs, model.backend, model.dtype, "validation y")
    check_same_count(Xd, Tv, "validation X", "validation y")
    return DeviceRows(Xd, Tv, model.backend)


def _split(n, validation_fraction, rng):
    """(training rows, validation rows), each in row order, or (None, None)."""
    if validation_fraction is None:
        return None, None
    fraction = check_positive_float(validation_fraction, "validation_fraction")
    n_val = int(round(n * fraction))
    if not 1 <= n_val < n:
        raise ValueError(
            f"validation_fraction={fraction} leaves {n_val} of {n} samples for validation; "
            "it must leave at least one sample on each side"
        )
    perm = rng.permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


class _RowView:
    """Rows `rows` of host data or an array-like, read by row ranges (for fitting transforms)."""

    def __init__(self, X, rows):
        self.X, self.rows = X, rows
        self.shape = (int(rows.shape[0]), *X.shape[1:])

    def __getitem__(self, sl):
        return np.asarray(self.X[np.sort(self.rows[sl])])


def _fitting_rows(model, X, rows, form):
    """The training rows of X, for fitting the input stage: read by ranges where X can be (host arrays
    and array-likes), taken otherwise (device arrays, tables)."""
    if form.host and hasattr(X, "shape") and hasattr(X, "__getitem__") and not hasattr(X, "iloc"):
        return _RowView(X, rows)
    if form.host:
        return host_array(X, "X")[rows]
    return model.xp.take(X, model.backend.asarray(rows), axis=0)


def _targets(model, loss, y, name="y"):
    """Host labels through the model's classes; string labels set the model's classes."""
    if not loss.classification or not (hasattr(y, "shape") or isinstance(y, (list, tuple))):
        return y
    if not is_host_data(y) or is_streamed(y):
        return y
    y = host_array(y, name, numeric=False)
    if y.dtype == object:
        missing = np.flatnonzero([v is None or (isinstance(v, float) and v != v) for v in y.reshape(-1)])
        if missing.size:
            raise ValueError(
                f"{name} holds {missing.size} missing labels (None or NaN), first at rows {missing[:5].tolist()}: "
                "drop those rows or give them a label"
            )
    if y.ndim == 1 and model.classes is None and y.dtype.kind in "USOb" and y.dtype.kind != "b":
        model.classes = check_classes(np.unique(y), model.n_outputs)
    return encode_labels(model, y, name) if model.classes is not None and y.ndim == 1 else y


def _weights(model, loss, y, n, sample_weight, class_weight):
    """The host sample weights of the run (sample_weight × class_weight), or None."""
    if sample_weight is None and class_weight is None:
        return None
    labels = None
    if class_weight is not None:
        if not loss.classification:
            raise ValueError(f"class_weight applies to classification losses; loss {loss.name!r} is a regression loss")
        labels = np.asarray(host_array(y, "y", numeric=False))
        if loss.head(model.n_outputs).kind == "multilabel":
            raise ValueError(
                f"class_weight weights a sample by its one class; loss {loss.name!r} trains {model.n_outputs} "
                "independent labels (multilabel), where a sample has several: pass sample_weight instead"
            )
        if labels.ndim == 2 and labels.shape[1] > 1:
            labels = labels.argmax(axis=1)
        labels = labels.reshape(-1)
    classes = model.classes
    if classes is None and model.n_outputs > 1 and labels is not None:  # the model's classes: its outputs
        classes = np.arange(model.n_outputs)
    return sample_weights(sample_weight, class_weight, n, labels, classes)


def _count(X) -> int:
    """The number of rows of X (an error naming X where it is not 2-D)."""
    shape = getattr(X, "shape", None)
    if shape is None:
        shape = np.shape(host_array(X, "X"))
    if len(shape) != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features); got {len(shape)}-D shape {tuple(shape)}")
    return int(shape[0])


def _streamed(X, stream, name) -> bool:
    """Whether X is read batch by batch from the host: memory maps and array-likes by default,
    any host data with stream=True, never with stream=False."""
    if stream is None:
        return is_streamed(X)
    if not isinstance(stream, (bool, np.bool_)):
        raise TypeError(f"stream must be True, False or None; got {type(stream).__name__} {stream!r}")
    if stream and not (is_streamed(X) or isinstance(X, np.ndarray)):
        raise TypeError(
            f"stream=True reads host data batch by batch (NumPy arrays, memory maps, array-likes); {name} is a "
            f"{type(X).__module__}.{type(X).__name__}"
        )
    return bool(stream)


def _host_rows(model, loss, X, y, prefetch, reuse, name, w=None) -> HostRows:
    """Rows of host data read batch by batch: each batch checked, through the input stage and cast on
    the host, then copied over."""
    host = backends.get("numpy")
    dtype = np.dtype(model.backend.dtype_name(model.dtype))

    def prepare_t(yb, where):
        return loss.prepare(encode_labels(model, yb, where), model.n_outputs, host, dtype, where)

    return HostRows(
        X,
        y,
        model.inputs.prepare_host,
        prepare_t,
        model.backend.upload,
        prefetch=prefetch,
        reuse=reuse,
        name=name,
        ids=model.net.needs_rows,
        w=w,
    )


def fingerprint(rows, n: int) -> str:
    """A digest of the training data: up to 16 rows chosen by a fixed seed (inputs as training sees
    them, and targets), so that a resumed run or another MPI rank can tell it has other data."""
    import hashlib

    pick = np.sort(np.random.default_rng(0).choice(n, size=min(n, 16), replace=False))  # the same rows for any seed
    xs, ts = rows.sample(pick)
    h = hashlib.sha256()
    for a in (np.asarray(xs, dtype=np.float64), np.asarray(ts, dtype=np.float64)):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


UNIT_SCALE_LIMIT = 1e3  # features beyond this magnitude, into a model with no input scaling, are warned of


def _warn_if_unscaled(model, X) -> None:
    """A DataWarning where the model has no input scaling and a feature of X's first 10,000 rows
    reaches beyond ``UNIT_SCALE_LIMIT`` in magnitude: the initial weights assume features
    near unit scale, and such a feature saturates the first layer or dominates it."""
    from mlp.checks import callers_stacklevel

    try:  # in-memory host data only; anything it cannot read is the main path's to report
        chunk = np.asarray(host_array(X[:10_000] if hasattr(X, "shape") else X, "X"), dtype=np.float64)
        if chunk.ndim != 2 or not chunk.size or not np.all(np.isfinite(chunk)):
            return
    except (TypeError, ValueError, IndexError, KeyError):
        return
    top = np.max(np.abs(chunk), axis=0)
    j = int(np.argmax(top))
    if top[j] <= UNIT_SCALE_LIMIT:
        return
    name = f" ({model.feature_names[j]!r})" if getattr(model, "feature_names", None) is not None else ""
    warnings.warn(
        f"X's feature {j}{name} reaches {top[j]:.3g}, far from the unit scale the initial weights assume, and the "
        "model has no input scaling: build it with scale='robust' (or 'standard'), as mlp train does, or scale X",
        DataWarning,
        stacklevel=callers_stacklevel(),
    )


def _fit_target_scale(model, loss, y, train_rows) -> None:
    """Fit the model's TargetScale (its last layer) on the training targets where it has seen no
    rows; a classification loss is refused (labels are not standardized)."""
    from mlp.model.inputs import device_copy

    net = model.net
    k = net.target_scale
    if loss.classification:
        raise ValueError(
            f"the model ends in a TargetScale (regression targets standardized), but loss {loss.name!r} takes "
            "class labels: build the model without scale_targets, or train it with a regression loss ('mse', ...)"
        )
    sl = net.state_slices[k]
    if float(model.backend.to_numpy(model.state[sl][2])[0]) > 0:
        return
    host = np.asarray(y if is_host_data(y) else model.backend.to_numpy(y), dtype=np.float64)
    if train_rows is not None:
        host = host[train_rows]
    if host.ndim == 1:
        host = host.reshape(-1, 1)
    if not np.all(np.isfinite(host)):
        raise ValueError("y must be finite to standardize the targets; it holds NaN or infinity")
    for i, s in zip(range(sl.start, sl.stop), net.layers[k].fit(host)):
        model.state[i] = device_copy(model, s)
