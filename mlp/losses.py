"""Losses: value (averaged over the batch) and gradient with respect to the model output.

``prepare(y, n_outputs, ...)`` validates targets once and turns them into an array of
the output's shape (labels become one-hot, label smoothing is applied). A loss that
names ``fused_with`` an activation computes value and gradient from that activation's
input (the logits) when the model ends with it: the gradient is then simply
(prediction - target) / n, and the value is computed stably from the logits.

A loss class declares itself once: its ``name`` and ``aliases`` (alias -> constructor
arguments) make it known to ``get_loss`` and the command line; ``output`` is the activation
the model's last layer pairs with, ``classification`` whether targets are class labels.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from array_api_compat import array_namespace

from mlp.backends.kernels import GENERIC
from mlp.backends.kernels import per_sample as _per
from mlp.backends.kernels import sample_mean as _mean
from mlp.checks import cast_finite
from mlp.heads import Head
from mlp.nn import activations as act
from mlp.numerics import clip, one_hot, sigmoid, signed_labels, softplus, to_host, zero_like
from mlp.registry import register

__all__ = [
    "Loss",
    "SquaredError",
    "PoissonDeviance",
    "BinaryCrossEntropy",
    "CrossEntropy",
    "KLDivergence",
    "PerceptronCriterion",
    "Hinge",
    "LOSSES",
    "get_loss",
]

# name -> factory (a class, or a class with fixed settings for an alias)
LOSSES: dict = {}


def _eps(x):
    """The clipping bound of probabilities: the dtype's machine epsilon (never a constant)."""
    return float(array_namespace(x).finfo(x.dtype).eps)


def _call(fn, out, t, w):
    """fn(out, t), with the weights only where there are some (a user's loss may take no w)."""
    return fn(out, t) if w is None else fn(out, t, w)


class Loss:
    name: ClassVar[str] = "?"
    aliases: ClassVar[dict] = {}
    fused_with: ClassVar[type | None] = None  # Activation class whose input the fused path takes
    classification: ClassVar[bool] = False
    from_logits = True  # the model's outputs are taken as they are

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        register(LOSSES, cls)

    @property
    def output(self) -> str:
        """The activation the model's last layer should have for this loss."""
        return self.fused_with.name if self.fused_with is not None and not self.from_logits else "identity"

    def n_outputs(self, n_classes: int | None, n_targets: int = 1) -> int:
        """How many outputs the model needs: for labels of `n_classes` classes, or for
        real targets of width `n_targets` (n_classes None)."""
        return n_targets if n_classes is None else n_classes

    def head(self, n_outputs: int) -> Head:
        """What the outputs of a model trained with this loss mean (labels, probabilities)."""
        return Head("regression", "values")

    def fuses(self, layer) -> bool:
        return not self.from_logits and self.fused_with is not None and type(layer) is self.fused_with

    # what the model's outputs must be: None (any), "probability" or "distribution"
    probabilities: ClassVar[str | None] = None
    logits_form: ClassVar[str | None] = None  # the name of this loss taking scores (logits)

    def check_model(self, model) -> None:
        """Refuse a model whose last layer does not give what this loss reads: probabilities
        for a probability loss, scores (logits) for a logits loss."""
        if self.probabilities is None:
            return
        last = model.layers[-1]
        kind = getattr(last, "outputs", "real")
        ok = ("distribution",) if self.probabilities == "distribution" else ("probability", "distribution")
        if not self.from_logits and kind not in ok:
            head = "softmax" if self.probabilities == "distribution" else "sigmoid"
            logits = f"loss={self.logits_form!r}" if self.logits_form else f"{type(self).__name__}(from_logits=True)"
            raise ValueError(
                f"loss {self.name!r} expects probabilities, but the model's last layer is {type(last).__name__}, whose "
                f"outputs are not probabilities; build the model with output={head!r}, or use {logits}, which takes "
                "the scores (logits) as they are"
            )
        if self.from_logits and kind != "real":
            raise ValueError(
                f"loss {self.logits_form or self.name!r} takes scores (logits), but the model's last layer is "
                f"{type(last).__name__}, which already outputs probabilities; use loss={self.name!r}, or build the "
                "model with output='identity'"
            )

    # -- targets -----------------------------------------------------------
    def prepare(self, y, n_outputs, backend, dtype, name="y"):
        """Targets as an array of shape (n, n_outputs) in `dtype` on `backend`."""
        from mlp.checks import to_backend

        y = to_backend(y, backend, name)
        xp = backend.xp
        if not (xp.isdtype(y.dtype, "real floating") or xp.isdtype(y.dtype, "integral") or y.dtype == xp.bool):
            raise TypeError(f"{name} must hold real numbers; got dtype {y.dtype}")
        if y.ndim == 1 and n_outputs == 1:
            y = xp.reshape(y, (y.shape[0], 1))
        if y.ndim != 2 or y.shape[1] != n_outputs:
            raise ValueError(
                f"{name} for loss {self.name!r} must have shape (n_samples, {n_outputs})"
                f"{' or (n_samples,)' if n_outputs == 1 else ''} to match the model's {n_outputs} "
                f"outputs; got shape {tuple(y.shape)}"
            )
        return cast_finite(y, dtype, name, backend)

    # -- value and gradient --------------------------------------------------
    def value(self, out, t, w=None):
        raise NotImplementedError

    def gradient(self, out, t, w=None):
        raise NotImplementedError

    def value_and_gradient(self, out, t, w=None):
        return _call(self.value, out, t, w), _call(self.gradient, out, t, w)

    def step_value_and_gradient(self, out, t, w, fused: bool, kernels):
        """What a training step computes: (value, gradient) from the model's outputs, or from the
        logits where the step takes the fused path; a loss whose fused pair is a kernel method
        (softmax cross-entropy) hands it to the run's `kernels`."""
        return _call(self.fused_value_and_gradient if fused else self.value_and_gradient, out, t, w)

    def fused_value_and_gradient(self, logits, t, w=None):
        """Value and gradient w.r.t. the logits, for a model ending in ``fused_with``."""
        raise NotImplementedError

    def fused_value(self, logits, t, w=None):
        """The value alone from the logits (evaluation: no gradient computed)."""
        return _call(self.fused_value_and_gradient, logits, t, w)[0]

    def config(self):
        return {}

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.config().items())})"


class SquaredError(Loss):
    """1/2 ||y - d||^2 summed over outputs, averaged over the batch; ``average_outputs``: averaged
    over the outputs too (scikit-learn's squared error for several targets)."""

    name = "mse"
    aliases = {"squared_error": {}}
    fused_with = act.Identity
    from_logits = False
    average_outputs = False  # (a subclass that does not call __init__ keeps the plain sum over outputs)

    def __init__(self, average_outputs=False):
        self.average_outputs = bool(average_outputs)

    def _k(self, out):
        return out.shape[1] if self.average_outputs and out.ndim == 2 else 1

    def value(self, out, t, w=None):
        r = out - t
        return 0.5 * _mean(r * r, w) / self._k(out)

    def gradient(self, out, t, w=None):
        return _per(out - t, w) / self._k(out)

    def config(self):
        return {"average_outputs": self.average_outputs} if self.average_outputs else {}

    def fused_value_and_gradient(self, logits, t, w=None):
        return _call(self.value_and_gradient, logits, t, w)

    def fused_value(self, logits, t, w=None):
        return _call(self.value, logits, t, w)


class PoissonDeviance(Loss):
    """Half the Poisson deviance y log(y / μ) − y + μ, summed over outputs, averaged over the batch,
    for counts y >= 0 and means μ = e^s > 0 (the exponential output, a log link). From the logits s:
    e^s − y·s + (y log y − y), with gradient e^s − y."""

    name = "poisson"
    fused_with = act.Exp
    from_logits = False

    def prepare(self, y, n_outputs, backend, dtype, name="y"):
        t = super().prepare(y, n_outputs, backend, dtype, name)
        low, _ = _extremes(backend.xp, t)
        if low < 0:
            raise ValueError(f"{name} for loss 'poisson' must hold counts or rates >= 0; got values down to {low}")
        return t

    def _constant(self, t):
        xp = array_namespace(t)
        safe = xp.where(t > 0, t, zero_like(t) + 1)
        return t * xp.log(safe) - t

    def value(self, out, t, w=None):
        xp = array_namespace(out)
        mu = clip(out, float(xp.finfo(out.dtype).smallest_normal))
        safe = xp.where(t > 0, t, zero_like(t) + 1)
        return _mean(t * xp.log(safe / mu) - t + mu, w)

    def gradient(self, out, t, w=None):
        xp = array_namespace(out)
        return _per(1 - t / clip(out, float(xp.finfo(out.dtype).smallest_normal)), w)

    def fused_value_and_gradient(self, s, t, w=None):
        mu = act.Exp().apply(s)
        return _mean(mu - t * s + self._constant(t), w), _per(mu - t, w)


def _extremes(xp, t) -> tuple[float, float]:
    """(min, max) of t: one explicit read."""
    low, high = to_host(xp.stack([xp.min(t), xp.max(t)])).tolist()
    return low, high


def _check_range(xp, t, lo, hi, name, what):
    low, high = _extremes(xp, t)
    if not (lo <= low and high <= hi):
        raise ValueError(f"{name} must hold {what} in [{lo}, {hi}]; got values from {low} to {high}")


class BinaryCrossEntropy(Loss):
    """-[d log p + (1 - d) log(1 - p)], summed over outputs, averaged over the batch.

    ``from_logits=True``: the model output is the logit s and p = sigmoid(s). Otherwise
    the output is p, and a model ending in Sigmoid takes the fused path from its logits.
    """

    name = "bce"
    aliases = {"binary_cross_entropy": {}, "bce_logits": {"from_logits": True}}
    fused_with = act.Sigmoid
    classification = True
    probabilities = "probability"
    logits_form = "bce_logits"

    def __init__(self, from_logits=False):
        self.from_logits = bool(from_logits)

    def n_outputs(self, n_classes, n_targets=1):
        if n_classes is None:
            return n_targets
        if n_classes > 2:
            raise ValueError(
                f"loss {self.name!r} takes binary labels (2 classes) or 0/1 target columns; got "
                f"{n_classes} classes: use 'cross_entropy' for more than two"
            )
        return 1

    def head(self, n_outputs):
        return Head("binary" if n_outputs == 1 else "multilabel", "logits" if self.from_logits else "probability")

    def prepare(self, y, n_outputs, backend, dtype, name="y"):
        t = super().prepare(y, n_outputs, backend, dtype, name)
        _check_range(backend.xp, t, 0, 1, f"{name} for loss {self.name!r}", "targets (labels 0/1 or probabilities)")
        return t

    def value(self, out, t, w=None):
        xp = array_namespace(out)
        if self.from_logits:
            return self.fused_value_and_gradient(out, t, w)[0]
        eps = _eps(out)
        p = clip(out, eps, 1 - eps)
        return -_mean(t * xp.log(p) + (1 - t) * xp.log(1 - p), w)

    def gradient(self, out, t, w=None):
        if self.from_logits:
            return self.fused_value_and_gradient(out, t, w)[1]
        eps = _eps(out)
        p = clip(out, eps, 1 - eps)
        return _per((p - t) / (p * (1 - p)), w)

    def value_and_gradient(self, out, t, w=None):
        if self.from_logits:  # value and gradient from one pass over the logits
            return self.fused_value_and_gradient(out, t, w)
        return super().value_and_gradient(out, t, w)

    def fused_value_and_gradient(self, s, t, w=None):
        # log(1 + e^s) - s d, written so that no exponential can overflow
        value = _mean(softplus(s) - s * t, w)
        return value, _per(sigmoid(s) - t, w)

    def config(self):
        return {"from_logits": self.from_logits}


class CrossEntropy(Loss):
    """-Σ_k d_k log p_k averaged over the batch, p = softmax(s).

    Targets are integer labels (n,) or distributions (n, K). ``label_smoothing`` ε
    replaces a target d by (1 - ε) d + ε / K. ``from_logits=True``: the model output
    is s; otherwise it is p, and a model ending in Softmax takes the fused path.
    """

    name = "cross_entropy"
    aliases = {"softmax_cross_entropy": {"from_logits": True}}
    fused_with = act.Softmax
    classification = True
    probabilities = "distribution"
    logits_form = "softmax_cross_entropy"

    def __init__(self, label_smoothing=0.0, from_logits=False):
        if (
            isinstance(label_smoothing, bool)
            or not isinstance(label_smoothing, (int, float))
            or not 0.0 <= label_smoothing < 1.0
        ):
            raise ValueError(f"label_smoothing must be a number in [0, 1); got {label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)
        self.from_logits = bool(from_logits)

    def head(self, n_outputs):
        return Head("classes", "logits" if self.from_logits else "distribution")

    def prepare(self, y, n_outputs, backend, dtype, name="y"):
        from mlp.checks import to_backend

        xp = backend.xp
        if n_outputs < 2:
            raise ValueError(
                f"loss {self.name!r} needs a model with at least 2 outputs (one per class); "
                f"got {n_outputs}; use 'bce' for one output"
            )
        y = to_backend(y, backend, name)
        if y.ndim == 1:
            if not (xp.isdtype(y.dtype, "integral") or xp.isdtype(y.dtype, "real floating")):
                raise TypeError(f"{name} labels must be integers; got dtype {y.dtype}")
            floating = xp.isdtype(y.dtype, "real floating")  # integers are always finite
            if floating:
                finite, whole = to_host(xp.stack([xp.all(xp.isfinite(y)), xp.all(xp.round(y) == y)])).tolist()
                if not finite:
                    raise ValueError(f"{name} must be finite; it holds NaN or infinity")
                if not whole:
                    raise ValueError(f"{name} labels must be whole numbers 0..{n_outputs - 1}; got fractional values")
            lo, hi = (int(v) for v in _extremes(xp, y))
            if lo < 0 or hi >= n_outputs:
                raise ValueError(
                    f"{name} labels must be in [0, {n_outputs}) for a model with {n_outputs} "
                    f"outputs; got labels from {lo} to {hi}"
                )
            t = one_hot(y, n_outputs, dtype)
        else:
            t = super().prepare(y, n_outputs, backend, dtype, name)
            _check_range(xp, t, 0, 1, f"{name} for loss {self.name!r}", "class probabilities")
            if not np.all(np.abs(to_host(xp.sum(t, axis=1)) - 1) < 1e-3):
                raise ValueError(f"{name} rows must be distributions that sum to 1 for loss {self.name!r}")
        if self.label_smoothing:  # with device scalars: no implicit transfer of Python numbers
            keep = backend.asarray(np.asarray(1 - self.label_smoothing), dtype)
            spread = backend.asarray(np.asarray(self.label_smoothing / n_outputs), dtype)
            t = t * keep + spread
        return t

    def value(self, out, t, w=None):
        if self.from_logits:
            return self.fused_value_and_gradient(out, t, w)[0]
        xp = array_namespace(out)
        return -_mean(t * xp.log(clip(out, _eps(out), 1.0)), w)

    def gradient(self, out, t, w=None):
        if self.from_logits:
            return self.fused_value_and_gradient(out, t, w)[1]
        return _per(-t / clip(out, _eps(out), 1.0), w)

    def value_and_gradient(self, out, t, w=None):
        if self.from_logits:  # value and gradient from one pass over the logits
            return self.fused_value_and_gradient(out, t, w)
        return super().value_and_gradient(out, t, w)

    def fused_value_and_gradient(self, s, t, w=None):
        return GENERIC.softmax_cross_entropy(s, t, w)

    def step_value_and_gradient(self, out, t, w, fused, kernels):
        own = type(self).fused_value_and_gradient is CrossEntropy.fused_value_and_gradient  # not a subclass's
        if own and (fused or self.from_logits):  # one kernel call: a backend may fuse it (torch, CuPy)
            return kernels.softmax_cross_entropy(out, t, w)
        return super().step_value_and_gradient(out, t, w, fused, kernels)

    def config(self):
        return {"label_smoothing": self.label_smoothing, "from_logits": self.from_logits}


class KLDivergence(CrossEntropy):
    """KL(d || p) = Σ d log(d / p): cross-entropy minus the targets' entropy (same gradient)."""

    name = "kl_divergence"
    aliases = {"kl": {}}
    logits_form = None

    def _entropy(self, t, w=None):
        xp = array_namespace(t)
        safe = xp.where(t > 0, t, zero_like(t) + 1)
        return -_mean(t * xp.log(safe), w)

    def value(self, out, t, w=None):
        if self.from_logits:  # the fused form subtracts the entropy itself
            return self.fused_value_and_gradient(out, t, w)[0]
        return super().value(out, t, w) - self._entropy(t, w)

    def fused_value_and_gradient(self, s, t, w=None):
        value, grad = super().fused_value_and_gradient(s, t, w)
        return value - self._entropy(t, w), grad


class _SignedTargets(Loss):
    """Targets in {-1, +1} (0/1 labels are read as -1/+1)."""

    classification = True

    def head(self, n_outputs):
        return Head("binary" if n_outputs == 1 else "multilabel", "signed")

    def n_outputs(self, n_classes, n_targets=1):
        if n_classes is not None and n_classes > 2:
            raise ValueError(f"loss {self.name!r} takes two classes (labels -1/+1 or 0/1); got {n_classes} classes")
        return 1 if n_classes is not None else n_targets

    def prepare(self, y, n_outputs, backend, dtype, name="y"):
        t = super().prepare(y, n_outputs, backend, dtype, name)
        return signed_labels(t, f"{name} for loss {self.name!r}", backend)


class PerceptronCriterion(_SignedTargets):
    """max(0, -d s) averaged over the batch: zero for correct signs, the margin otherwise.
    Its (sub)gradient -d on mistakes (d s <= 0) gives the perceptron rule."""

    name = "perceptron"

    def value(self, out, t, w=None):
        xp = array_namespace(out)
        return _mean(xp.maximum(-t * out, zero_like(out)), w)

    def gradient(self, out, t, w=None):
        xp = array_namespace(out)
        return _per(xp.where(t * out <= 0, -t, zero_like(out)), w)


class Hinge(_SignedTargets):
    """max(0, 1 - d s) averaged over the batch (the SVM loss)."""

    name = "hinge"

    def value(self, out, t, w=None):
        xp = array_namespace(out)
        return _mean(xp.maximum(1 - t * out, zero_like(out)), w)

    def gradient(self, out, t, w=None):
        xp = array_namespace(out)
        return _per(xp.where(t * out < 1, -t, zero_like(out)), w)


def default_loss(model) -> Loss:
    """The cross-entropy that fits a model's last layer (``train``'s default loss): on a
    softmax, cross_entropy; on a sigmoid, bce; on scores with several outputs,
    softmax_cross_entropy (PyTorch's convention: the loss takes the logits)."""
    kind = getattr(model.layers[-1], "outputs", "real")
    if kind == "distribution":
        return CrossEntropy()
    if kind == "probability":
        return BinaryCrossEntropy()
    if model.n_outputs >= 2:
        return CrossEntropy(from_logits=True)
    raise ValueError(
        "loss must be named for a model with one unbounded output: loss='mse' for regression, or "
        "loss='bce_logits' for binary labels (or build the model with output='sigmoid')"
    )


def get_loss(loss: Loss | str, name: str = "loss") -> Loss:
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss in LOSSES:
        return LOSSES[loss]()
    raise ValueError(f"{name} must be one of {sorted(LOSSES)} or a Loss; got {loss!r}")
