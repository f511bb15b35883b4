"""Sample and class weights: the weighted mean loss Σ wᵢ·lᵢ / Σ wᵢ (scikit-learn's MLP definition).

``sample_weight`` (n,) and ``class_weight`` (a dict label → weight, or ``"balanced"``: n / (K ·
count of the label), scikit-learn's rule) multiply into one host array of weights per sample, kept
beside the data (8 bytes per row) and gathered with each batch. An integer weight k trains as if the
sample were repeated k times (exactly so for full-batch steps)."""

from __future__ import annotations

import numbers

import numpy as np

from mlp.checks import check_sample_weight

__all__ = ["class_weights", "sample_weights"]


def class_weights(class_weight, labels: np.ndarray, classes: np.ndarray | None) -> np.ndarray:
    """Per-sample weights from `class_weight` for host `labels` (output indices 0..K-1, or 0/1/±1 for
    one-output heads); dict keys are the model's class labels (``classes``) or the indices."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError("class_weight needs one class label per sample (not a multi-label indicator matrix)")
    index = labels.astype(np.int64) if labels.dtype.kind in "iub" else np.round(labels).astype(np.int64)
    index = np.where(index < 0, 0, index)  # -1/+1 labels: -1 is class 0
    k = int(max(index.max() + 1, 0 if classes is None else len(classes), 2))
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(f"class_weight must be 'balanced', a dict or None; got {class_weight!r}")
        counts = np.bincount(index, minlength=k).astype(np.float64)
        present = counts > 0
        table = np.zeros(k)
        table[present] = labels.shape[0] / (present.sum() * counts[present])
        return table[index]
    if not isinstance(class_weight, dict):
        raise TypeError(
            f"class_weight must be 'balanced', a dict {{label: weight}} or None; got {type(class_weight).__name__}"
        )
    table = np.ones(k)
    names = np.asarray(classes).tolist() if classes is not None else list(range(k))
    for key, value in class_weight.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value < 0:
            raise ValueError(f"class_weight[{key!r}] must be a finite number >= 0; got {value!r}")
        matches = [i for i, c in enumerate(names) if c == key]
        if not matches and isinstance(key, numbers.Integral) and classes is None and 0 <= key < k:
            matches = [int(key)]
        if not matches:
            raise ValueError(f"class_weight names the label {key!r}, which is not among the classes {names[:20]}")
        table[matches[0]] = float(value)
    return table[index]


def sample_weights(sample_weight, class_weight, n, labels=None, classes=None) -> np.ndarray | None:
    """The per-sample weights of a run (None: unweighted)."""
    w = None if sample_weight is None else check_sample_weight(sample_weight, n)
    if class_weight is not None:
        if labels is None:
            raise ValueError("class_weight needs class labels: it applies to classification losses")
        cw = class_weights(class_weight, labels, classes)
        w = cw if w is None else w * cw
        if not np.any(w > 0):
            raise ValueError("the sample and class weights give every sample weight 0")
    return w
