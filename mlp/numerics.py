"""Small array-API helpers the core shares: each written once, here."""

from __future__ import annotations

from array_api_compat import array_namespace, device

from .backends.kernels import Array, zero_like

__all__ = ["zero_like", "sigmoid", "softplus", "one_hot", "signed_labels", "check_same_count", "copy_params"]


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


def signed_labels(t: Array, what: str) -> Array:
    """Targets as -1/+1: labels 0/1 are mapped, -1/+1 kept, anything else is an error naming `what`."""
    xp = array_namespace(t)
    if bool(xp.all((t == 0) | (t == 1))):
        return 2 * t - 1
    if not bool(xp.all((t == -1) | (t == 1))):
        raise ValueError(f"{what} must hold labels -1/+1 (or 0/1); got other values")
    return t


def check_same_count(X: Array, T: Array, x_name: str = "X", y_name: str = "y") -> None:
    """One target per sample."""
    if T.shape[0] != X.shape[0]:
        raise ValueError(f"{y_name} must have one target per sample of {x_name} ({X.shape[0]}); got {T.shape[0]}")


def copy_params(params: list) -> list:
    """Independent copies of a parameter list (a snapshot to restore later)."""
    return [array_namespace(p).asarray(p, copy=True) for p in params]
