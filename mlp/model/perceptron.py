"""The perceptron: h(x) = sign(w·x + b), trained by the mistake-driven rule
w ← w + η y x, b ← b + η y on each misclassified sample, visited in random order.

The update is branch-free (``where(y s <= 0, η y, 0)``), so the loop never asks the
device whether a sample was a mistake; the mistakes are counted on the device and read
once per epoch to test convergence.
"""

from __future__ import annotations

import numpy as np

from mlp import backends as _backends
from mlp.checks import check_positive_float, check_positive_int, check_seed, check_X
from mlp.numerics import signed_labels

__all__ = ["Perceptron", "GATES"]

# Hand-set weights for the Boolean gates on inputs in {0, 1}: (w, b).
GATES = {"and": ([1.0, 1.0], -1.5), "or": ([1.0, 1.0], -0.5), "nand": ([-1.0, -1.0], 1.5)}


class Perceptron:
    def __init__(self, n_features, *, lr=1.0, backend="numpy", dtype="float64", seed=0, device=None):
        self.n_features = check_positive_int(n_features, "n_features")
        self.lr = check_positive_float(lr, "lr")
        self.backend = _backends.get(backend, device)
        self.dtype = self.backend.dtype(dtype)
        self.seed = check_seed(seed)
        self.w = self.backend.asarray(np.zeros(self.n_features), self.dtype)
        self.b = self.backend.asarray(np.zeros(1), self.dtype)
        self.mistakes_ = []
        self.converged_ = False

    @classmethod
    def gate(cls, name, **kw):
        """A two-input perceptron with the textbook weights of gate `name` (and, or, nand)."""
        if name not in GATES:
            raise ValueError(f"gate must be one of {sorted(GATES)}; got {name!r}")
        p = cls(2, **kw)
        w, b = GATES[name]
        p.w = p.backend.asarray(np.array(w), p.dtype)
        p.b = p.backend.asarray(np.array([b]), p.dtype)
        return p

    def _targets(self, y, n):
        xp = self.backend.xp
        from mlp.checks import to_backend

        y = to_backend(y, self.backend, "y")
        if y.ndim != 1 or y.shape[0] != n:
            raise ValueError(f"y must have shape ({n},); got {tuple(y.shape)}")
        return signed_labels(xp.astype(y, self.dtype), "y")

    def decision_function(self, X):
        X = check_X(X, self.backend, self.dtype, self.n_features)
        return X @ self.w + self.b

    def predict(self, X):
        """Labels in {-1, +1} (a score of exactly 0 counts as +1)."""
        xp = self.backend.xp
        s = self.decision_function(X)
        return xp.where(s >= 0, xp.ones_like(s), -xp.ones_like(s))

    def fit(self, X, y, epochs=100):
        """Run the perceptron rule until an epoch makes no mistake, or `epochs` epochs."""
        xp = self.backend.xp
        epochs = check_positive_int(epochs, "epochs")
        X = check_X(X, self.backend, self.dtype, self.n_features)
        n = X.shape[0]
        Y = self._targets(y, n)
        rng = np.random.default_rng(self.seed)
        zero = xp.zeros((1,), dtype=self.dtype, device=self.backend.device)
        w, b = self.w, self.b
        self.mistakes_ = []
        self.converged_ = False
        for _ in range(epochs):
            mistakes = zero
            for i in rng.permutation(n).tolist():
                x, t = X[i, :], Y[i : i + 1]
                wrong = t * (xp.sum(x * w) + b) <= 0
                step = xp.where(wrong, self.lr * t, zero)
                w = w + step * x
                b = b + step
                mistakes = mistakes + xp.astype(wrong, self.dtype)
            count = int(mistakes[0])  # one read per epoch
            self.mistakes_.append(count)
            if count == 0:
                self.converged_ = True
                break
        self.w, self.b = w, b
        return self

    def score(self, X, y):
        xp = self.backend.xp
        Y = self._targets(y, X.shape[0])
        return float(xp.mean(xp.astype(self.predict(X) == Y, xp.float64)))
