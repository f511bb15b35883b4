"""Input checks shared by every public entry point: clear errors, never silent NaNs."""

from __future__ import annotations

import numbers

import numpy as np
from array_api_compat import array_namespace, is_numpy_array

from mlp import backends as _backends


class DataWarning(UserWarning):
    """The data, as given, is likely to train badly or was read with a fix-up worth hearing (features
    far from the unit scale the initial weights assume into a model with no input scaling; categories
    a model never saw in training)."""


def check_positive_int(value, name, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}; got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value}")
    return int(value)


def check_positive_float(value, name, allow_zero=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__} {value!r}")
    value = float(value)
    ok = value >= 0 if allow_zero else value > 0
    if not ok or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number {'>= 0' if allow_zero else '> 0'}; got {value}")
    return value


def check_fraction(value, name, low_closed=False, high_closed=False):
    """A real number in the interval (0, 1), ends included where asked."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__} {value!r}")
    value = float(value)
    ok = (value >= 0 if low_closed else value > 0) and (value <= 1 if high_closed else value < 1)
    if not ok:
        raise ValueError(
            f"{name} must be in {'[' if low_closed else '('}0, 1{']' if high_closed else ')'}; got {value}"
        )
    return value


def check_seed(seed, name="seed"):
    """None (fresh entropy) or an integer >= 0, as numpy.random.default_rng takes."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= 0 or None; got {type(seed).__name__} {seed!r}")
    if seed < 0:
        raise ValueError(f"{name} must be an integer >= 0 or None; got {seed}")
    return int(seed)


def _is_array(x):
    try:
        array_namespace(x)
        return True
    except TypeError:
        return False


def is_host_data(x) -> bool:
    """True for data on the host (NumPy arrays, lists, pandas objects, ...), False for an array
    of a device library (CuPy, PyTorch, JAX, array-api-strict)."""
    return not _is_array(x) or is_numpy_array(x)


def host_array(x, name, numeric=True):
    """`x` as a NumPy array: pandas objects by position (their index is ignored), nullable
    columns with missing values as NaN; errors name the argument (and a column that is not numeric)."""
    if type(x).__module__.split(".")[0] == "pandas":
        _refuse_dates(x, name)
        if numeric:
            try:
                return x.to_numpy(dtype=np.float64, na_value=np.nan)
            except (TypeError, ValueError):
                columns = getattr(x, "dtypes", None)
                if columns is not None and hasattr(columns, "items"):
                    for col, dt in columns.items():
                        if not (
                            np.issubdtype(np.dtype(getattr(dt, "numpy_dtype", object)), np.number) or str(dt) == "bool"
                        ):
                            raise TypeError(f"{name} column {col!r} holds {dt} values; expected numbers") from None
                raise TypeError(f"{name} must hold numbers; got dtype {getattr(x, 'dtype', 'mixed')}") from None
        return x.to_numpy()
    if type(x).__module__.startswith("scipy.sparse"):
        raise TypeError(
            f"{name} is a scipy sparse {type(x).__name__}; mlp trains on dense arrays: pass {name}.toarray() "
            "(or a dense array)"
        )
    if not is_numpy_array(x):
        try:
            x = np.asarray(x)
        except Exception as exc:
            raise TypeError(f"{name} must be an array; got {type(x).__name__} ({exc})") from None
    if numeric and x.dtype == object:
        raise TypeError(f"{name} must hold numbers; got dtype object")
    return x


def _refuse_dates(x, name) -> None:
    """pandas datetime and timedelta columns are not numbers: refused, naming the column."""
    dtypes = x.dtypes.items() if hasattr(x, "dtypes") and hasattr(x.dtypes, "items") else [(None, x.dtype)]
    for col, dt in dtypes:
        text = str(dt)
        if text.startswith(("datetime64", "timedelta64", "period")):
            where = name if col is None else f"{name} column {col!r}"
            raise TypeError(
                f"{where} holds {text} values, which mlp does not read as numbers: convert them to numbers "
                "that mean something for the task (e.g. days since a date, or year, month and weekday columns)"
            )


def to_backend(x, backend, name):
    """`x` as an array of `backend`: host data (NumPy arrays, lists) is copied over;
    an array of another backend or device is an error, never a silent copy."""
    if _is_array(x) and not is_numpy_array(x):
        if not backend.owns(x):
            other = _backends.infer(x)
            raise TypeError(
                f"{name} is an array of backend {other.name!r} on device {other.device}, but the model "
                f"lives on backend {backend.name!r} on device {backend.device}; move it with "
                f"mlp.backends.get({backend.name!r}).asarray(...) or pass host (NumPy) data"
            )
        return x
    return backend.asarray(host_array(x, name))


def _check_shape(X, n_features, name):
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features); got {X.ndim}-D shape {tuple(X.shape)}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one sample; got shape {tuple(X.shape)}")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} must have {n_features} features (columns) for this model; got {X.shape[1]}")


def check_host_rows(X, n_features=None, name="X") -> np.ndarray:
    """Host data as a finite 2-D real NumPy array with `n_features` columns (its dtype kept)."""
    X = host_array(X, name)
    if X.dtype.kind not in "fiub":
        raise TypeError(f"{name} must hold real numbers; got dtype {X.dtype}")
    _check_shape(X, n_features, name)
    if X.dtype.kind == "f" and not np.all(np.isfinite(X)):
        raise ValueError(f"{name} must be finite; it holds NaN or infinity")
    return X


def check_host_X(X, n_features=None, name="X") -> np.ndarray:
    """Host data as a finite 2-D float64 NumPy array with `n_features` columns."""
    return check_host_rows(X, n_features, name).astype(np.float64, copy=False)


def cast_host(host: np.ndarray, backend, dtype, name) -> np.ndarray:
    """Finite host data cast to `dtype` on the host (so only the bytes the model needs cross to
    the device), refusing values that overflow it."""
    target = np.dtype(backend.dtype_name(dtype))
    if host.dtype == target:
        return host
    with np.errstate(over="ignore"):
        cast = host.astype(target)
    if not np.all(np.isfinite(cast)):
        big = float(np.finfo(target).max)
        raise ValueError(
            f"{name} holds values beyond the range of {target.name} (largest {big:.3g}): they "
            "overflow to infinity; scale the data, or build the model with dtype='float64'"
        )
    return cast


def check_X(X, backend, dtype, n_features=None, name="X"):
    """A 2-D finite floating array of `backend`/`dtype` with `n_features` columns. Host data is
    checked and cast on the host, then copied to the device once."""
    if is_host_data(X):
        return backend.asarray(cast_host(check_host_rows(X, n_features, name), backend, dtype, name))
    X = to_backend(X, backend, name)
    xp = backend.xp
    if not (xp.isdtype(X.dtype, "real floating") or xp.isdtype(X.dtype, "integral")):
        raise TypeError(f"{name} must hold real numbers; got dtype {X.dtype}")
    _check_shape(X, n_features, name)
    return cast_finite(X, dtype, name, backend)


def cast_finite(x, dtype, name, backend):
    """`x` in `dtype`, finite: NaN or infinity in the data, or values beyond the range of
    `dtype` (float64 data for a float32 model), are errors that say which."""
    from mlp.numerics import to_host

    xp = backend.xp
    if xp.isdtype(x.dtype, "real floating") and not to_host(xp.all(xp.isfinite(x))):
        raise ValueError(f"{name} must be finite; it holds NaN or infinity")
    if x.dtype != dtype:
        with np.errstate(over="ignore"):  # an overflow is reported below, naming the argument
            x = xp.astype(x, dtype)
        if not to_host(xp.all(xp.isfinite(x))):
            big = float(xp.finfo(dtype).max)
            raise ValueError(
                f"{name} holds values beyond the range of {backend.dtype_name(dtype)} (largest {big:.3g}): they "
                "overflow to infinity; scale the data, or build the model with dtype='float64'"
            )
    return x


def check_sample_weight(sample_weight, n: int, name: str = "sample_weight") -> np.ndarray:
    """A finite, non-negative float64 vector of `n` weights, not all zero."""
    w = host_array(sample_weight, name)
    if w.dtype.kind not in "iufb":
        raise TypeError(f"{name} must hold numbers; got dtype {w.dtype}")
    w = w.astype(np.float64).reshape(-1) if w.ndim <= 1 else w
    if w.ndim != 1 or w.shape[0] != n:
        raise ValueError(f"{name} must have one weight per sample ({n}); got shape {tuple(np.shape(sample_weight))}")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{name} must be finite; it holds NaN or infinity")
    if np.any(w < 0):
        raise ValueError(f"{name} must be >= 0; got {float(w.min())}")
    if not np.any(w > 0):
        raise ValueError(f"{name} must have at least one positive weight; they are all 0")
    return w


def callers_stacklevel() -> int:
    """The stacklevel of the first frame outside the mlp package: a warning points at the user's
    line (a fit, a train call), wherever inside the package it is raised."""
    import os
    import sys

    package = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package + os.sep):
        frame, level = frame.f_back, level + 1
    return level
