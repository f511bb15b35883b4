"""Small array-API helpers the core shares: each written once, here."""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import array_namespace, device

from mlp.backends.kernels import Array, zero_like

__all__ = [
    "zero_like",
    "clip",
    "sigmoid",
    "softplus",
    "one_hot",
    "signed_labels",
    "check_same_count",
    "copy_params",
    "to_host",
]


def clip(x: Array, lo: float | None = None, hi: float | None = None) -> Array:
    """x limited to [lo, hi] with elementwise maximum/minimum against 0-d arrays of x's dtype on x's
    device (NaN stays NaN). Not ``xp.clip``: array-api-compat's CuPy clip uses boolean masks,
    whose indexing reads the device on the host (a sync per call)."""
    xp = array_namespace(x)
    if lo is not None:
        x = xp.maximum(x, zero_like(x) + lo)
    if hi is not None:
        x = xp.minimum(x, zero_like(x) + hi)
    return x


def sigmoid(s: Array) -> Array:
    """1 / (1 + e^-s), written so that no exponential overflows."""
    xp = array_namespace(s)
    e = xp.exp(-xp.abs(s))
    return xp.where(s >= 0, 1 / (1 + e), e / (1 + e))


def softplus(s: Array) -> Array:
    """log(1 + e^s) = max(s, 0) + log1p(e^-|s|), stable for any s."""
    xp = array_namespace(s)
    return xp.maximum(s, zero_like(s)) + xp.log1p(xp.exp(-xp.abs(s)))


def one_hot(labels: Array, k: int, dtype) -> Array:
    """Rows of the k-by-k identity picked by integer labels, by broadcast comparison."""
    xp = array_namespace(labels)
    classes = xp.arange(k, device=device(labels))
    return xp.astype(xp.expand_dims(xp.astype(labels, classes.dtype), axis=1) == classes, dtype)


def to_host(x) -> Any:
    """A device array's values on the host, by the explicit transfer of its backend (a JAX run
    under ``jax.transfer_guard("disallow")`` allows only those): one read, a host sync."""
    from array_api_compat import is_numpy_array

    if is_numpy_array(x) or isinstance(x, (int, float, bool)):
        return np.asarray(x)
    from mlp import backends

    return backends.infer(x).to_numpy(x)


def _signed(t):
    xp = array_namespace(t)
    zero_one = xp.all((t == 0) | (t == 1))
    plus_minus = xp.all((t == -1) | (t == 1))
    return xp.where(zero_one, 2 * t - 1, t), xp.stack([zero_one, plus_minus])


def signed_labels(t: Array, what: str, backend=None) -> Array:
    """Targets as -1/+1: labels 0/1 are mapped, -1/+1 kept, anything else is an error naming `what`.
    One pass (compiled on backends that compile) and one explicit read of two flags."""
    fn = _signed if backend is None else backend.compile_function(_signed)
    mapped, flags = fn(t)
    zero_one, plus_minus = to_host(flags).tolist()
    if not (zero_one or plus_minus):
        raise ValueError(f"{what} must hold labels -1/+1 (or 0/1); got other values")
    return mapped


def check_same_count(X: Array, T: Array, x_name: str = "X", y_name: str = "y") -> None:
    """One target per sample."""
    if T.shape[0] != X.shape[0]:
        raise ValueError(f"{y_name} must have one target per sample of {x_name} ({X.shape[0]}); got {T.shape[0]}")


def copy_params(params: list) -> list:
    """Independent copies of a parameter list (a snapshot to restore later)."""
    return [array_namespace(p).asarray(p, copy=True) for p in params]
