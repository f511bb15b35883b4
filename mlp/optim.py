"""Optimizers: gradient descent / SGD with momentum and Nesterov, Adam, AdamW, RMSProp.

An optimizer updates ``params`` through their slots (``params[i] -= ...``): in place
on NumPy, CuPy, PyTorch and array-api-strict, a rebinding on JAX, with the same line
of code. Regularization: L2 weight decay and an L1 penalty added to the gradient
(biases, the 1-D parameters, are excluded unless ``decay_bias=True``; AdamW decays
weights directly), and gradient clipping by global norm. The update rules and their
defaults follow PyTorch's optimizers of the same name.

A training step asks the optimizer where each gradient should go (``sinks``: its own
gradient buffer, or for SGD its momentum with beta=μ, or the weights themselves), lets
backward put the gradients there, and finishes with ``update``. ``step(params, grads)``
takes raw gradients through the same two calls.
"""

from __future__ import annotations

from array_api_compat import array_namespace

from ._validation import check_fraction, check_positive_float
from .backends.kernels import GENERIC, Kernels
from .layers import GradSink
from .numerics import clip
from .registry import register
from .schedules import Constant, get_schedule

__all__ = ["Optimizer", "SGD", "GradientDescent", "Adam", "AdamW", "RMSProp", "OPTIMIZERS", "get_optimizer", "accepts"]


# name -> factory: each optimizer class registers its name and its presets (aliases with settings)
OPTIMIZERS: dict = {}


class Optimizer:
    """Base: regularization, clipping and the learning-rate schedule; subclasses implement
    ``_update(i, param_slot_list, g, lr, kernels)``."""

    name = "?"
    aliases: dict = {}  # preset name -> settings

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        register(OPTIMIZERS, cls)

    def __init__(self, lr=0.01, *, weight_decay=0.0, l1=0.0, decay_bias=False, clip_norm=None, schedule=None):
        self.lr = check_positive_float(lr, "lr")
        self.weight_decay = check_positive_float(weight_decay, "weight_decay", allow_zero=True)
        self.l1 = check_positive_float(l1, "l1", allow_zero=True)
        self.decay_bias = bool(decay_bias)
        self.clip_norm = None if clip_norm is None else check_positive_float(clip_norm, "clip_norm")
        self.schedule = get_schedule(schedule) if schedule is not None else Constant()
        self.state = None
        self.t = 0  # steps taken
        self._grads = None  # gradient buffers backward writes into (not state: never saved)

    def _decays(self, p):
        return self.decay_bias or p.ndim > 1

    def reset(self):
        self.state = None
        self.t = 0
        self._grads = None

    def lr_at(self, epoch):
        return self.schedule(epoch, self.lr)

    # -- one step: where gradients go, then the update -----------------------------------------
    def sinks(self, params: list, lr: float) -> list[GradSink]:
        """Where backward should put each parameter's gradient. Here: the optimizer's own
        gradient buffers (beta 0), so that ``update`` sees raw gradients."""
        if self._grads is None:
            self._grads = self._zeros_like(params)
        return [GradSink(g) for g in self._grads]

    def update(self, params: list, sunk: list, lr: float, kernels: Kernels = GENERIC) -> None:
        """Finish a step: `sunk[i]` is what backward left in ``sinks(params, lr)[i]``."""
        if self.state is None:
            self.state = self._init_state(params)
        self.t += 1
        grads = sunk
        if self.clip_norm is not None:
            grads = _clip_by_global_norm(grads, self.clip_norm)
        for i, g in enumerate(grads):
            p = params[i]
            if self._decays(p) and (self.weight_decay or self.l1) and self._couples_decay():
                if self.weight_decay:
                    g = g + self.weight_decay * p
                if self.l1:
                    g = g + self.l1 * array_namespace(p).sign(p)
            self._update(i, params, g, lr, kernels)

    def step(self, params: list, grads: list, lr: float | None = None) -> None:
        """One update of `params` (a list, updated through its slots) by raw gradients `grads`."""
        lr = self.lr if lr is None else lr
        sunk = [sink.receive(g) for sink, g in zip(self.sinks(params, lr), grads)]
        self.update(params, sunk, lr)

    def _couples_decay(self):
        return True

    def _init_state(self, params):
        return []

    def _zeros_like(self, params):
        return [array_namespace(p).zeros_like(p) for p in params]

    # state as plain host/device arrays, for checkpoints
    def state_dict(self):
        return {"t": self.t, "state": self.state}

    def load_state_dict(self, d):
        self.t = int(d["t"])
        self.state = d["state"]

    def config(self) -> dict:
        """The optimizer's settings (a resumed run must use the same)."""
        return {
            "class": type(self).__name__,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "l1": self.l1,
            "decay_bias": self.decay_bias,
            "clip_norm": self.clip_norm,
            "schedule": self.schedule.config(),
            **self._settings(),
        }

    def _settings(self) -> dict:
        return {}

    def __repr__(self):
        return f"{type(self).__name__}(lr={self.lr})"


def _clip_by_global_norm(grads, max_norm):
    """Scale all gradients by min(1, max_norm / ||g||), computed on the device (no sync)."""
    xp = array_namespace(grads[0])
    norm = xp.sqrt(sum(xp.sum(g * g) for g in grads))
    scale = clip(max_norm / (norm + 1e-6), hi=1.0)
    return [g * scale for g in grads]


class SGD(Optimizer):
    """p ← p - lr·g; with momentum μ: v ← μ v + g, p ← p - lr·v; Nesterov: p ← p - lr·(g + μ v).

    With a constant rate this is the lectures' v ← μ v - η g, w ← w + v scaled by 1/η."""

    name = "sgd"
    aliases = {"gd": {}, "momentum": {"momentum": 0.9}, "nesterov": {"momentum": 0.9, "nesterov": True}}

    def __init__(self, lr=0.01, momentum=0.0, nesterov=False, **kw):
        super().__init__(lr, **kw)
        self.momentum = check_positive_float(momentum, "momentum", allow_zero=True)
        if self.momentum >= 1:
            raise ValueError(f"momentum must be in [0, 1); got {momentum}")
        if nesterov and not self.momentum:
            raise ValueError("nesterov=True needs momentum > 0; got momentum=0")
        self.nesterov = bool(nesterov)

    def _init_state(self, params):
        return self._zeros_like(params) if self.momentum else []

    def _update(self, i, params, g, lr, kernels=GENERIC):
        if not self.momentum:
            params[i] -= lr * g
            return
        v = self.state
        v[i] *= self.momentum
        v[i] += g
        params[i] -= lr * (g + self.momentum * v[i]) if self.nesterov else lr * v[i]

    def _fused(self) -> bool:
        """Whether backward can do the update's arithmetic (not with Nesterov, L1 or clipping)."""
        return not (self.nesterov or self.l1 or self.clip_norm is not None)

    def sinks(self, params, lr):
        if not self._fused():
            return super().sinks(params, lr)
        if not self.momentum:  # p ← (1 - lr·λ) p - lr·g, straight from the product
            return [GradSink(p, -lr, 1 - lr * self.weight_decay if self._decays(p) else 1.0) for p in params]
        if self.state is None:
            self.state = self._init_state(params)
        return [GradSink(v, 1.0, self.momentum) for v in self.state]  # v ← μ v + g

    def update(self, params, sunk, lr, kernels=GENERIC):
        if not self._fused():
            return super().update(params, sunk, lr, kernels)
        self.t += 1
        for i, new in enumerate(sunk):
            if not self.momentum:
                params[i] = new
                continue
            if self.weight_decay and self._decays(params[i]):
                new = kernels.axpy(self.weight_decay, params[i], new)  # v += λ p
            self.state[i] = new
            params[i] = kernels.axpy(-lr, new, params[i])  # p -= lr v

    def _settings(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov}

    def __repr__(self):
        return f"SGD(lr={self.lr}, momentum={self.momentum}, nesterov={self.nesterov})"


GradientDescent = SGD  # full-batch gradient descent is SGD with batch_size=None


class Adam(Optimizer):
    """Adam (Kingma & Ba): bias-corrected first and second moment estimates."""

    name = "adam"

    def __init__(self, lr=0.001, betas=(0.9, 0.999), eps=1e-8, **kw):
        super().__init__(lr, **kw)
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
            raise TypeError(f"betas must be a pair (beta1, beta2) of numbers in [0, 1); got {betas!r}")
        self.betas = (
            check_fraction(betas[0], "betas[0]", low_closed=True),
            check_fraction(betas[1], "betas[1]", low_closed=True),
        )
        self.eps = check_positive_float(eps, "eps")

    def _init_state(self, params):
        return {"m": self._zeros_like(params), "v": self._zeros_like(params)}

    def _update(self, i, params, g, lr, kernels=GENERIC):
        b1, b2 = self.betas
        m, v = self.state["m"], self.state["v"]
        c1 = 1 - b1**self.t
        c2 = 1 - b2**self.t
        params[i], m[i], v[i] = kernels.adam_update(params[i], g, m[i], v[i], lr / c1, b1, b2, c2**0.5, self.eps)

    def _settings(self):
        return {"betas": list(self.betas), "eps": self.eps}


class AdamW(Adam):
    """Adam with decoupled weight decay: p ← p (1 - lr·λ) before the Adam step."""

    name = "adamw"

    def __init__(self, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, **kw):
        super().__init__(lr, betas, eps, weight_decay=weight_decay, **kw)

    def _couples_decay(self):
        return False

    def _update(self, i, params, g, lr, kernels=GENERIC):
        if self.weight_decay and self._decays(params[i]):
            params[i] *= 1 - lr * self.weight_decay
        super()._update(i, params, g, lr, kernels)


class RMSProp(Optimizer):
    """RMSProp: v ← α v + (1 - α) g², p ← p - lr·g / (sqrt(v) + eps)."""

    name = "rmsprop"

    def __init__(self, lr=0.01, alpha=0.99, eps=1e-8, **kw):
        super().__init__(lr, **kw)
        if not 0 <= alpha < 1:
            raise ValueError(f"alpha must be in [0, 1); got {alpha}")
        self.alpha = float(alpha)
        self.eps = check_positive_float(eps, "eps")

    def _settings(self):
        return {"alpha": self.alpha, "eps": self.eps}

    def _init_state(self, params):
        return self._zeros_like(params)

    def _update(self, i, params, g, lr, kernels=GENERIC):
        params[i], self.state[i] = kernels.rmsprop_update(params[i], g, self.state[i], lr, self.alpha, self.eps)


def accepts(name: str, setting: str) -> bool:
    """Whether the optimizer called `name` has a setting `setting` that its name leaves open (a
    preset such as 'nesterov' fixes its own)."""
    import inspect

    factory = OPTIMIZERS.get(name)
    if not isinstance(factory, type):
        return False
    return any(setting in inspect.signature(c.__init__).parameters for c in factory.__mro__ if "__init__" in c.__dict__)


def get_optimizer(optimizer: Optimizer | str, **kw) -> Optimizer:
    """An Optimizer from a name in OPTIMIZERS (with keyword settings) or an instance."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer in OPTIMIZERS:
        return OPTIMIZERS[optimizer](**{k: v for k, v in kw.items() if v is not None})
    raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)} or an Optimizer; got {optimizer!r}")
