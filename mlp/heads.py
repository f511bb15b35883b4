"""Output heads: what a model's outputs mean, decided when the model and its loss are known,
never from the values (which would also cost a host read).

- ``classes``: K >= 2 scores or probabilities, one per class: the label is the argmax.
- ``binary``: one output per sample: the label is 1 where the output reaches the head's
  threshold (0 on a logit or a ±1 score, 0.5 on a probability), else 0.
- ``multilabel``: k independent 0/1 labels, each thresholded like ``binary``; accuracy is the
  exact-match (subset) accuracy, beside the mean per-label accuracy.
- ``regression``: real values; no labels, scored by MSE and R².

``kind`` and ``output`` (``logits``, ``probability``, ``distribution``, ``signed``, ``values``)
are all a head is: it is saved with the model. Losses say which head they train
(``Loss.head``), so ``metrics``, validation, the CLI, the estimators and ``model.evaluate``
all read a prediction the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from array_api_compat import array_namespace

from mlp.numerics import sigmoid

__all__ = ["Head", "HEAD_KINDS", "as_head"]

HEAD_KINDS = ("classes", "binary", "multilabel", "regression")
OUTPUTS = ("logits", "probability", "distribution", "signed", "values")


@dataclass(frozen=True)
class Head:
    kind: str
    output: str

    def __post_init__(self):
        if self.kind not in HEAD_KINDS:
            raise ValueError(f"head kind must be one of {list(HEAD_KINDS)}; got {self.kind!r}")
        if self.output not in OUTPUTS:
            raise ValueError(f"head output must be one of {list(OUTPUTS)}; got {self.output!r}")

    @property
    def classification(self) -> bool:
        return self.kind != "regression"

    @property
    def threshold(self) -> float:
        """Where a one-output score turns into label 1 (binary and multilabel heads)."""
        return 0.5 if self.output == "probability" else 0.0

    def labels(self, out):
        """Class indices (n,) for classes/binary heads, a 0/1 indicator (n, k) for multilabel
        heads, on the outputs' device; None for regression."""
        xp = array_namespace(out)
        if self.kind == "classes":
            return xp.argmax(out, axis=1)
        if self.kind == "binary":
            return xp.astype(xp.reshape(out, (-1,)) >= self.threshold, xp.int32)
        if self.kind == "multilabel":
            return xp.astype(out >= self.threshold, xp.int32)
        return None

    def proba(self, out):
        """Probabilities: (n, K) for classes, (n, 2) for binary (columns: label 0, label 1),
        (n, k) per label for multilabel; None where the outputs are not probabilities or logits
        (±1 scores, regression)."""
        xp = array_namespace(out)
        if self.output == "signed" or self.kind == "regression":
            return None
        if self.kind == "classes":
            if self.output == "distribution":
                return out
            e = xp.exp(out - xp.max(out, axis=1, keepdims=True))
            return e / xp.sum(e, axis=1, keepdims=True)
        p = out if self.output == "probability" else sigmoid(out)
        if self.kind == "binary":
            p = xp.reshape(p, (-1, 1))
            return xp.concat([1 - p, p], axis=1)
        return p

    def target_labels(self, T):
        """The labels a prepared target array (what ``Loss.prepare`` returns) encodes."""
        xp = array_namespace(T)
        if self.kind == "classes":
            return xp.argmax(T, axis=1)
        if self.kind == "binary":
            return xp.astype(xp.reshape(T, (-1,)) > (0.0 if self.output == "signed" else 0.5), xp.int32)
        if self.kind == "multilabel":
            return xp.astype((0.0 if self.output == "signed" else 0.5) < T, xp.int32)
        return None

    def correct(self, out, T):
        """(exact matches, per-label matches) of outputs against prepared targets, on the device:
        per-label matches are counted for multilabel heads only (else None)."""
        xp = array_namespace(out)
        pred, true = self.labels(out), self.target_labels(T)
        if self.kind == "multilabel":
            same = pred == true
            return xp.sum(xp.astype(xp.all(same, axis=1), xp.int32)), xp.sum(xp.astype(same, xp.int32))
        return xp.sum(xp.astype(pred == true, xp.int32)), None

    def config(self) -> dict:
        return {"kind": self.kind, "output": self.output}


def as_head(head) -> Head:
    """A Head from a Head, its config dict, or a short name: 'logits', 'probability', 'signed'
    (one-output binary heads), 'classes', 'regression'."""
    if isinstance(head, Head):
        return head
    if isinstance(head, dict):
        return Head(**head)
    names = {
        "logits": Head("binary", "logits"),
        "probability": Head("binary", "probability"),
        "signed": Head("binary", "signed"),
        "classes": Head("classes", "logits"),
        "regression": Head("regression", "values"),
    }
    if isinstance(head, str) and head in names:
        return names[head]
    raise ValueError(f"head must be an mlp Head or one of {sorted(names)}; got {head!r}")
