"""Metrics on any backend: accuracy, log-loss, mean squared error, R², and ``evaluate``.

Inputs are arrays of one namespace: targets as labels (n,) or one-hot / indicator matrices
(n, K); predictions as labels, scores or probabilities. A prediction of one score per sample
is read by a head (``mlp.heads``): ``head="logits"`` (label 1 where the score is >= 0),
``"probability"`` (>= 0.5), ``"signed"`` (a ±1 score, >= 0), or a model's ``head``; it is never
guessed from the values. Results are Python floats.
"""

from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace

from mlp.checks import is_host_data
from mlp.heads import Head, as_head
from mlp.numerics import clip, one_hot

__all__ = [
    "accuracy",
    "label_accuracy",
    "log_loss",
    "mean_squared_error",
    "r2_score",
    "predicted_labels",
    "evaluate",
    "encode_labels",
]


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


_ONE_SCORE = (
    "y_pred holds one score per sample, which may be a logit, a probability or a ±1 score: pass head='logits', "
    "'probability' or 'signed' (or the model's head, model.output_head()), or the predicted labels"
)


def predicted_labels(scores, head: Head | str | None = None):
    """Labels from predictions: integer labels as they are, the argmax of scores (n, K >= 2), or
    one score per sample read by `head` (required there)."""
    xp = array_namespace(scores)
    if head is not None:
        return as_head(head).labels(scores)
    if scores.ndim == 1 and (xp.isdtype(scores.dtype, "integral") or scores.dtype == xp.bool):
        return scores
    if scores.ndim == 2 and scores.shape[1] > 1:
        return xp.argmax(scores, axis=1)
    raise ValueError(_ONE_SCORE)


def _true_labels(xp, y, head: Head | None):
    if head is not None and head.kind == "multilabel":
        return xp.astype(y > 0, xp.int32)
    if y.ndim == 2 and y.shape[1] > 1:
        return xp.argmax(y, axis=1)
    y = xp.reshape(y, (-1,))
    if head is not None and head.kind == "binary":
        return xp.astype(y > 0, xp.int32)  # labels 0/1 or -1/+1
    return xp.astype(y, xp.int64) if not xp.isdtype(y.dtype, "integral") else y


def accuracy(y_true, y_pred, head: Head | str | None = None) -> float:
    """Fraction of samples whose predicted label equals the true one; for a multilabel head the
    exact-match (subset) accuracy: every label of the sample right."""
    xp = _check(y_true, y_pred)
    head = None if head is None else as_head(head)
    p = predicted_labels(y_pred, head)
    t = _true_labels(xp, y_true, head)
    if t.shape != p.shape:
        raise ValueError(f"y_pred must have one prediction per target (shape {tuple(t.shape)}); got {tuple(p.shape)}")
    same = t == xp.astype(p, t.dtype)
    if same.ndim == 2:
        same = xp.all(same, axis=1)
    return int(xp.count_nonzero(same)) / t.shape[0]  # exact counts on every backend


def label_accuracy(y_true, y_pred, head: Head | str = "probability") -> float:
    """Mean per-label accuracy of a multilabel prediction (n, k) read by `head`."""
    xp = _check(y_true, y_pred)
    head = as_head(head)
    head = Head("multilabel", head.output)
    p, t = head.labels(_2d(xp, y_pred)), _true_labels(xp, _2d(xp, y_true), head)
    return int(xp.count_nonzero(t == p)) / (t.shape[0] * t.shape[1])


def log_loss(y_true, proba, eps=1e-15) -> float:
    """Cross-entropy of probabilities (n, K) (or (n,)/(n, 1) for a binary positive class)."""
    xp = _check(y_true, proba)
    proba = _2d(xp, proba)
    if proba.shape[1] == 1:
        proba = xp.concat([1 - proba, proba], axis=1)
    k = proba.shape[1]
    t = y_true if y_true.ndim == 2 else one_hot(y_true, k, proba.dtype)
    return float(-xp.sum(t * xp.log(clip(proba, eps, 1.0))) / proba.shape[0])


def _wide(xp, *arrays):
    """The arrays in the widest float type among them (float64 where none is a float): targets of
    1e8 next to float32 predictions, or int32 labels, lose nothing to a cast or an overflow."""
    floats = [a.dtype for a in arrays if xp.isdtype(a.dtype, "real floating")]
    dtype = xp.result_type(*floats) if floats else xp.float64
    return [xp.astype(a, dtype) for a in arrays]


def mean_squared_error(y_true, y_pred) -> float:
    """Mean of the squared residuals over samples and outputs, computed in the wider of the two
    dtypes (float64 for integers)."""
    xp = _check(y_true, y_pred)
    t, p = _wide(xp, _2d(xp, y_true), _2d(xp, y_pred))
    r = p - t
    return float(xp.mean(r * r))


def r2_score(y_true, y_pred) -> float:
    """1 - SS_res / SS_tot, averaged uniformly over outputs (in the wider of the two dtypes)."""
    xp = _check(y_true, y_pred)
    t, p = _wide(xp, _2d(xp, y_true), _2d(xp, y_pred))
    ss_res = xp.sum((t - p) ** 2, axis=0)
    ss_tot = xp.sum((t - xp.mean(t, axis=0)) ** 2, axis=0)
    ok = ss_tot > 0
    safe = xp.where(ok, ss_tot, xp.ones_like(ss_tot))
    r2 = xp.where(ok, 1 - ss_res / safe, xp.where(ss_res == 0, xp.ones_like(ss_tot), xp.zeros_like(ss_tot)))
    return float(xp.mean(r2))


def encode_labels(model, y, name: str = "y") -> np.ndarray:
    """Host labels as output indices 0..K-1 through ``model.classes`` (labels of any kind), or as
    they are where the model has none. Labels not among the model's classes are an error naming them."""
    y = np.asarray(y)
    if model.classes is None or y.ndim != 1:
        return y
    classes = model.classes
    order = np.argsort(classes, kind="stable")
    try:
        at = np.searchsorted(classes[order], y)
    except TypeError:
        raise TypeError(f"{name} labels are {y.dtype} values; the model's classes are {classes.dtype}") from None
    at = np.minimum(at, len(classes) - 1)
    found = classes[order][at] == y
    if not np.all(found):
        unseen = sorted({str(v) for v in y[~found].tolist()})[:10]
        raise ValueError(f"{name} holds labels {unseen} that are not among the model's classes {classes.tolist()}")
    return order[at]


def evaluate(model, X, y) -> dict:
    """The metrics of ``model.evaluate``: accuracy for classifiers (with label_accuracy for
    multilabel heads), mse and r2 for regressors. X is read in chunks where it is large."""
    from mlp.data import row_chunks

    head = model.output_head()
    X = model.inputs.encode(X)  # a table, once: its encoded rows are read in chunks
    if isinstance(X, (list, tuple)):
        X = np.asarray(X)
    y = np.asarray(y) if is_host_data(y) else np.asarray(model.backend.to_numpy(y))
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"y must have one target per sample of X ({X.shape[0]}); got {y.shape[0]}")
    b = model.backend
    outs = []
    for s, e in row_chunks(X):
        outs.append(np.asarray(b.to_numpy(model(X[s:e, ...]))))
    out = np.concatenate(outs)
    if not head.classification:
        yt = y.astype(np.float64).reshape(out.shape)
        return {"mse": mean_squared_error(yt, out), "r2": r2_score(yt, out)}
    t = encode_labels(model, y)
    if t.dtype.kind not in "iub" and head.kind != "multilabel" and not (t.dtype.kind == "f" and t.ndim == 2):
        t = t.astype(np.float64)
        if not np.all(np.round(t) == t):
            raise ValueError("y must hold class labels (whole numbers, or the model's classes)")
    result = {"accuracy": accuracy(t, out, head)}
    if head.kind == "multilabel":
        result["label_accuracy"] = label_accuracy(t, out, head)
    return result
