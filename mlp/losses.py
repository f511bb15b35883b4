"""Losses: value (averaged over the batch) and gradient with respect to the model output.

``prepare(y, n_outputs, ...)`` validates targets once and turns them into an array of
the output's shape (labels become one-hot, label smoothing is applied). A loss that
names ``fused_with`` an activation computes value and gradient from that activation's
input (the logits) when the model ends with it: the gradient is then simply
(prediction - target) / n, and the value is computed stably from the logits.
"""
from __future__ import annotations

from array_api_compat import array_namespace, device

from . import activations as act

__all__ = [
    "Loss", "SquaredError", "BinaryCrossEntropy", "CrossEntropy", "KLDivergence",
    "PerceptronCriterion", "Hinge", "LOSSES", "get_loss",
]

_EPS = {"float32": 1e-7, "float64": 1e-15}


def _eps(x):
    return _EPS["float32"] if x.dtype == array_namespace(x).float32 else _EPS["float64"]


def _n(x):
    return x.shape[0]


class Loss:
    name = "?"
    fused_with = None  # Activation class whose input the fused path takes

    def fuses(self, layer) -> bool:
        return self.fused_with is not None and type(layer) is self.fused_with

    # -- targets -----------------------------------------------------------
    def prepare(self, y, n_outputs, backend, dtype, name="y"):
        """Targets as an array of shape (n, n_outputs) in `dtype` on `backend`."""
        from ._validation import to_backend

        y = to_backend(y, backend, name)
        xp = backend.xp
        if not (xp.isdtype(y.dtype, "real floating") or xp.isdtype(y.dtype, "integral") or y.dtype == xp.bool):
            raise TypeError(f"{name} must hold real numbers; got dtype {y.dtype}")
        if y.ndim == 1 and n_outputs == 1:
            y = xp.reshape(y, (y.shape[0], 1))
        if y.ndim != 2 or y.shape[1] != n_outputs:
            raise ValueError(f"{name} for loss {self.name!r} must have shape (n_samples, {n_outputs})"
                             f"{' or (n_samples,)' if n_outputs == 1 else ''} to match the model's {n_outputs} "
                             f"outputs; got shape {tuple(y.shape)}")
        y = xp.astype(y, dtype)
        if not bool(xp.all(xp.isfinite(y))):
            raise ValueError(f"{name} must be finite; it holds NaN or infinity")
        return y

    # -- value and gradient --------------------------------------------------
    def value(self, out, t):
        raise NotImplementedError

    def gradient(self, out, t):
        raise NotImplementedError

    def value_and_gradient(self, out, t):
        return self.value(out, t), self.gradient(out, t)

    def fused_value_and_gradient(self, logits, t):
        """Value and gradient w.r.t. the logits, for a model ending in ``fused_with``."""
        raise NotImplementedError

    def config(self):
        return {}

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.config().items())})"


class SquaredError(Loss):
    """1/2 ||y - d||^2 summed over outputs, averaged over the batch."""

    name = "mse"
    fused_with = act.Identity

    def value(self, out, t):
        xp = array_namespace(out)
        r = out - t
        return 0.5 * xp.sum(r * r) / _n(out)

    def gradient(self, out, t):
        return (out - t) / _n(out)

    def fused_value_and_gradient(self, logits, t):
        return self.value_and_gradient(logits, t)


def _check_range(xp, t, lo, hi, name, what):
    if not bool(xp.all((t >= lo) & (t <= hi))):
        raise ValueError(f"{name} must hold {what} in [{lo}, {hi}]; got values from "
                         f"{float(xp.min(t))} to {float(xp.max(t))}")


class BinaryCrossEntropy(Loss):
    """-[d log p + (1 - d) log(1 - p)], summed over outputs, averaged over the batch.

    ``from_logits=True``: the model output is the logit s and p = sigmoid(s). Otherwise
    the output is p, and a model ending in Sigmoid takes the fused path from its logits.
    """

    name = "bce"
    fused_with = act.Sigmoid

    def __init__(self, from_logits=False):
        self.from_logits = bool(from_logits)

    def fuses(self, layer):
        return not self.from_logits and super().fuses(layer)

    def prepare(self, y, n_outputs, backend, dtype, name="y"):
        t = super().prepare(y, n_outputs, backend, dtype, name)
        _check_range(backend.xp, t, 0, 1, f"{name} for loss {self.name!r}", "targets (labels 0/1 or probabilities)")
        return t

    def value(self, out, t):
        xp = array_namespace(out)
        if self.from_logits:
            return self.fused_value_and_gradient(out, t)[0]
        eps = _eps(out)
        p = xp.clip(out, eps, 1 - eps)
        return -xp.sum(t * xp.log(p) + (1 - t) * xp.log(1 - p)) / _n(out)

    def gradient(self, out, t):
        xp = array_namespace(out)
        if self.from_logits:
            return self.fused_value_and_gradient(out, t)[1]
        eps = _eps(out)
        p = xp.clip(out, eps, 1 - eps)
        return (p - t) / (p * (1 - p)) / _n(out)

    def fused_value_and_gradient(self, s, t):
        xp = array_namespace(s)
        zero = xp.zeros((), dtype=s.dtype, device=device(s))
        # log(1 + e^s) - s d, written so that no exponential can overflow
        value = xp.sum(xp.maximum(s, zero) - s * t + xp.log1p(xp.exp(-xp.abs(s)))) / _n(s)
        return value, (act._sigmoid(xp, s) - t) / _n(s)

    def config(self):
        return {"from_logits": self.from_logits}


class CrossEntropy(Loss):
    """-Σ_k d_k log p_k averaged over the batch, p = softmax(s).

    Targets are integer labels (n,) or distributions (n, K). ``label_smoothing`` ε
    replaces a target d by (1 - ε) d + ε / K. ``from_logits=True``: the model output
    is s; otherwise it is p, and a model ending in Softmax takes the fused path.
    """

    name = "cross_entropy"
    fused_with = act.Softmax

    def __init__(self, label_smoothing=0.0, from_logits=False):
        if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) \
                or not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be a number in [0, 1); got {label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)
        self.from_logits = bool(from_logits)

    def fuses(self, layer):
        return not self.from_logits and super().fuses(layer)

    def prepare(self, y, n_outputs, backend, dtype, name="y"):
        from ._validation import to_backend

        xp = backend.xp
        if n_outputs < 2:
            raise ValueError(f"loss {self.name!r} needs a model with at least 2 outputs (one per class); "
                             f"got {n_outputs}; use 'bce' for one output")
        y = to_backend(y, backend, name)
        if y.ndim == 1:
            if not (xp.isdtype(y.dtype, "integral") or xp.isdtype(y.dtype, "real floating")):
                raise TypeError(f"{name} labels must be integers; got dtype {y.dtype}")
            if not bool(xp.all(xp.isfinite(xp.astype(y, xp.float64) if xp.isdtype(y.dtype, "integral") else y))):
                raise ValueError(f"{name} must be finite; it holds NaN or infinity")
            if xp.isdtype(y.dtype, "real floating") and not bool(xp.all(xp.round(y) == y)):
                raise ValueError(f"{name} labels must be whole numbers 0..{n_outputs - 1}; got fractional values")
            lo, hi = int(xp.min(y)), int(xp.max(y))
            if lo < 0 or hi >= n_outputs:
                raise ValueError(f"{name} labels must be in [0, {n_outputs}) for a model with {n_outputs} "
                                 f"outputs; got labels from {lo} to {hi}")
            classes = xp.arange(n_outputs, device=backend.device)
            labels = xp.astype(y, classes.dtype)
            t = xp.astype(xp.expand_dims(labels, axis=1) == classes, dtype)  # one-hot by comparison
        else:
            t = super().prepare(y, n_outputs, backend, dtype, name)
            _check_range(xp, t, 0, 1, f"{name} for loss {self.name!r}", "class probabilities")
            if not bool(xp.all(xp.abs(xp.sum(t, axis=1) - 1) < 1e-3)):
                raise ValueError(f"{name} rows must be distributions that sum to 1 for loss {self.name!r}")
        if self.label_smoothing:
            t = (1 - self.label_smoothing) * t + self.label_smoothing / n_outputs
        return t

    def value(self, out, t):
        if self.from_logits:
            return self.fused_value_and_gradient(out, t)[0]
        xp = array_namespace(out)
        return -xp.sum(t * xp.log(xp.clip(out, _eps(out), 1.0))) / _n(out)

    def gradient(self, out, t):
        if self.from_logits:
            return self.fused_value_and_gradient(out, t)[1]
        xp = array_namespace(out)
        return -t / xp.clip(out, _eps(out), 1.0) / _n(out)

    def fused_value_and_gradient(self, s, t):
        xp = array_namespace(s)
        shifted = s - xp.max(s, axis=1, keepdims=True)
        e = xp.exp(shifted)
        z = xp.sum(e, axis=1, keepdims=True)
        log_p = shifted - xp.log(z)
        value = -xp.sum(t * log_p) / _n(s)
        return value, (e / z - t) / _n(s)

    def config(self):
        return {"label_smoothing": self.label_smoothing, "from_logits": self.from_logits}


class KLDivergence(CrossEntropy):
    """KL(d || p) = Σ d log(d / p): cross-entropy minus the targets' entropy (same gradient)."""

    name = "kl_divergence"

    def _entropy(self, t):
        xp = array_namespace(t)
        safe = xp.where(t > 0, t, xp.ones((), dtype=t.dtype, device=device(t)))
        return -xp.sum(t * xp.log(safe)) / _n(t)

    def value(self, out, t):
        return super().value(out, t) - self._entropy(t)

    def fused_value_and_gradient(self, s, t):
        value, grad = super().fused_value_and_gradient(s, t)
        return value - self._entropy(t), grad


class _SignedTargets(Loss):
    """Targets in {-1, +1} (0/1 labels are read as -1/+1)."""

    def prepare(self, y, n_outputs, backend, dtype, name="y"):
        t = super().prepare(y, n_outputs, backend, dtype, name)
        xp = backend.xp
        if bool(xp.all((t == 0) | (t == 1))):
            return 2 * t - 1
        if not bool(xp.all((t == -1) | (t == 1))):
            raise ValueError(f"{name} for loss {self.name!r} must hold labels -1/+1 (or 0/1); got other values")
        return t


class PerceptronCriterion(_SignedTargets):
    """max(0, -d s) averaged over the batch: zero for correct signs, the margin otherwise.
    Its (sub)gradient -d on mistakes (d s <= 0) gives the perceptron rule."""

    name = "perceptron"

    def value(self, out, t):
        xp = array_namespace(out)
        return xp.sum(xp.maximum(-t * out, xp.zeros((), dtype=out.dtype, device=device(out)))) / _n(out)

    def gradient(self, out, t):
        xp = array_namespace(out)
        return xp.where(t * out <= 0, -t, xp.zeros((), dtype=out.dtype, device=device(out))) / _n(out)


class Hinge(_SignedTargets):
    """max(0, 1 - d s) averaged over the batch (the SVM loss)."""

    name = "hinge"

    def value(self, out, t):
        xp = array_namespace(out)
        return xp.sum(xp.maximum(1 - t * out, xp.zeros((), dtype=out.dtype, device=device(out)))) / _n(out)

    def gradient(self, out, t):
        xp = array_namespace(out)
        return xp.where(t * out < 1, -t, xp.zeros((), dtype=out.dtype, device=device(out))) / _n(out)


LOSSES = {
    "mse": SquaredError, "squared_error": SquaredError,
    "bce": BinaryCrossEntropy, "binary_cross_entropy": BinaryCrossEntropy,
    "bce_logits": lambda: BinaryCrossEntropy(from_logits=True),
    "cross_entropy": CrossEntropy,
    "softmax_cross_entropy": lambda: CrossEntropy(from_logits=True),
    "kl_divergence": KLDivergence, "kl": KLDivergence,
    "perceptron": PerceptronCriterion, "hinge": Hinge,
}


def get_loss(loss, name="loss") -> Loss:
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss in LOSSES:
        return LOSSES[loss]()
    raise ValueError(f"{name} must be one of {sorted(LOSSES)} or a Loss; got {loss!r}")

