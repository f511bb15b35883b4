"""Metrics on any backend: accuracy, log-loss, mean squared error, R^2.

Inputs are arrays of one namespace: targets as labels (n,) or one-hot/probabilities
(n, K); predictions as labels, scores or probabilities. Results are Python floats.
"""

from __future__ import annotations

from array_api_compat import array_namespace

from .numerics import one_hot

__all__ = ["accuracy", "log_loss", "mean_squared_error", "r2_score", "predicted_labels"]


def _check(y_true, y_pred):
    """Both arrays of one namespace, non-empty, real, finite and of equal length."""
    try:
        xp = array_namespace(y_true, y_pred)
    except TypeError as exc:
        raise TypeError(f"y_true and y_pred must be arrays of one backend ({exc})") from None
    for name, a in (("y_true", y_true), ("y_pred", y_pred)):
        if not (xp.isdtype(a.dtype, "real floating") or xp.isdtype(a.dtype, "integral") or a.dtype == xp.bool):
            raise TypeError(f"{name} must hold real numbers; got dtype {a.dtype}")
        if a.ndim not in (1, 2) or a.shape[0] == 0 or (a.ndim == 2 and a.shape[1] == 0):
            raise ValueError(f"{name} must be a non-empty 1-D or 2-D array; got shape {tuple(a.shape)}")
        if xp.isdtype(a.dtype, "real floating") and not bool(xp.all(xp.isfinite(a))):
            raise ValueError(f"{name} must be finite; it holds NaN or infinity")
    if y_true.shape[0] != y_pred.shape[0]:
        raise ValueError(f"y_pred must have one row per y_true row ({y_true.shape[0]}); got {y_pred.shape[0]}")
    return xp


def _2d(xp, a):
    return xp.reshape(a, (a.shape[0], 1)) if a.ndim == 1 else a


def predicted_labels(scores):
    """Class labels from scores of shape (n, K) (argmax), (n, 1) or (n,) (threshold 0.5 / sign)."""
    xp = array_namespace(scores)
    if scores.ndim == 2 and scores.shape[1] > 1:
        return xp.argmax(scores, axis=1)
    s = xp.reshape(scores, (-1,))
    if bool(xp.any(s < 0)):  # signed scores: ±1 labels
        return xp.where(s >= 0, 1, -1)
    return xp.astype(s >= 0.5, xp.int64)


def _true_labels(xp, y):
    if y.ndim == 2 and y.shape[1] > 1:
        return xp.argmax(y, axis=1)
    y = xp.reshape(y, (-1,))
    return xp.astype(y, xp.int64) if not xp.isdtype(y.dtype, "integral") else y


def accuracy(y_true, y_pred) -> float:
    """Fraction of samples whose predicted class (argmax / threshold) equals the true one."""
    xp = _check(y_true, y_pred)
    t = _true_labels(xp, y_true)
    p = y_pred if (y_pred.ndim == 1 and xp.isdtype(y_pred.dtype, "integral")) else predicted_labels(y_pred)
    if t.shape[0] != p.shape[0]:
        raise ValueError(f"y_pred must have one prediction per target ({t.shape[0]}); got {p.shape[0]}")
    return int(xp.count_nonzero(t == xp.astype(p, t.dtype))) / t.shape[0]  # exact counts on every backend


def log_loss(y_true, proba, eps=1e-15) -> float:
    """Cross-entropy of probabilities (n, K) (or (n,)/(n, 1) for a binary positive class)."""
    xp = _check(y_true, proba)
    proba = _2d(xp, proba)
    if proba.shape[1] == 1:
        proba = xp.concat([1 - proba, proba], axis=1)
    k = proba.shape[1]
    t = y_true if y_true.ndim == 2 else one_hot(y_true, k, proba.dtype)
    return float(-xp.sum(t * xp.log(xp.clip(proba, eps, 1.0))) / proba.shape[0])


def mean_squared_error(y_true, y_pred) -> float:
    xp = _check(y_true, y_pred)
    r = _2d(xp, y_pred) - xp.astype(_2d(xp, y_true), y_pred.dtype)
    return float(xp.mean(r * r))


def r2_score(y_true, y_pred) -> float:
    """1 - SS_res / SS_tot, averaged uniformly over outputs."""
    xp = _check(y_true, y_pred)
    t = xp.astype(_2d(xp, y_true), y_pred.dtype)
    p = _2d(xp, y_pred)
    ss_res = xp.sum((t - p) ** 2, axis=0)
    ss_tot = xp.sum((t - xp.mean(t, axis=0)) ** 2, axis=0)
    ok = ss_tot > 0
    safe = xp.where(ok, ss_tot, xp.ones_like(ss_tot))
    r2 = xp.where(ok, 1 - ss_res / safe, xp.where(ss_res == 0, xp.ones_like(ss_tot), xp.zeros_like(ss_tot)))
    return float(xp.mean(r2))
