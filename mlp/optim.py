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

import numpy as np
from array_api_compat import array_namespace

from ._validation import check_fraction, check_positive_float
from .backends.kernels import GENERIC, Kernels
from .layers import GradSink
from .numerics import clip
from .registry import register
from .schedules import Constant, get_schedule

__all__ = [
    "Optimizer",
    "SGD",
    "GradientDescent",
    "Adam",
    "AdamW",
    "RMSProp",
    "LossScaler",
    "OPTIMIZERS",
    "get_optimizer",
    "accepts",
]


# name -> factory: each optimizer class registers its name and its presets (aliases with settings)
OPTIMIZERS: dict = {}


class FlatList(list):
    """Arrays that are views of one flat buffer, ``flat``: an update of all of them is one call."""

    def __init__(self, views, flat):
        super().__init__(views)
        self.flat = flat

    def aliases(self, arrays) -> bool:
        """Whether `arrays` are these very views (nothing rebound them since)."""
        return len(arrays) == len(self) and all(a is v for a, v in zip(arrays, self))


class Optimizer:
    """Base: regularization, clipping and the learning-rate schedule; subclasses implement
    ``_update(i, param_slot_list, g, lr, kernels)``."""

    name = "?"
    aliases: dict = {}  # preset name -> settings

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        register(OPTIMIZERS, cls)

    def __init__(
        self,
        lr=0.01,
        *,
        weight_decay=0.0,
        l1=0.0,
        decay_bias=False,
        clip_norm=None,
        schedule=None,
        decay_over_batch=False,
    ):
        self.lr = check_positive_float(lr, "lr")
        self.weight_decay = check_positive_float(weight_decay, "weight_decay", allow_zero=True)
        if not isinstance(decay_over_batch, bool):
            raise TypeError(f"decay_over_batch must be True or False; got {decay_over_batch!r}")
        # weight_decay divided by each batch's weight sum (its rows where unweighted): λ/2·‖W‖² added to
        # the batch's summed loss rather than to its mean, as scikit-learn's alpha
        self.decay_over_batch = decay_over_batch
        self._batch_weight = 1.0
        self.l1 = check_positive_float(l1, "l1", allow_zero=True)
        self.decay_bias = bool(decay_bias)
        self.clip_norm = None if clip_norm is None else check_positive_float(clip_norm, "clip_norm")
        self.schedule = get_schedule(schedule) if schedule is not None else Constant()
        self.state = None
        self.t = 0  # steps taken
        self._grads = None  # gradient buffers backward writes into (not state: never saved)
        self._kernels = None  # set by bind(): with kernels that have views, the flat mode
        self._params = None  # FlatList of the parameters' views (flat mode)
        self.scaler = None  # a LossScaler, for float16 compute (mlp.train sets one up)

    def guarded_update(self, params: list, sunk: list, lr: float, kernels: Kernels = GENERIC) -> None:
        """``update`` under loss scaling: where the step's gradients are not all finite, the step is
        skipped (the weights, this optimizer's state and step count are kept), and the scale is
        halved; no host read. Mixed precision takes this unfused path: a gradient fused into the
        weights inside backward could not be unscaled."""
        ok = self.scaler.finite(sunk)
        if self.state is None:
            self.state = self._init_state(params)
        before = _copies(params), _copies(_state_arrays(self.state))
        self.update(params, sunk, lr, kernels)
        params[:] = _keep_if(ok, params, before[0])
        if before[1]:
            _set_state_arrays(self, _keep_if(ok, _state_arrays(self.state), before[1]))
        self.scaler.observe(ok)  # the step count t counts skipped steps too
        return ok

    def bind(self, kernels: Kernels) -> None:
        """Use these kernels' flat buffers where they have views (NumPy, CuPy, PyTorch): parameters,
        gradients and state become views of one buffer each, and an update is one call for all of
        them (torch.optim's multi-tensor pattern), equal to the per-array update within rounding."""
        self._kernels = kernels if getattr(kernels, "views", False) else None

    def _decays(self, p):
        return self.decay_bias or p.ndim > 1

    @property
    def _lam(self):
        """The decay this step applies: weight_decay, or weight_decay over the batch's weight sum."""
        return self.weight_decay / self._batch_weight if self.decay_over_batch else self.weight_decay

    def for_batch(self, total_weight) -> None:
        """The coming step's batch weight sum (a number, or a traced scalar in a compiled step)."""
        self._batch_weight = total_weight

    def reset(self):
        self.state = None
        self.t = 0
        self._grads = None
        self._params = None

    def lr_at(self, epoch):
        return self.schedule(epoch, self.lr)

    # -- one step: where gradients go, then the update -----------------------------------------
    def sinks(self, params: list, lr: float) -> list[GradSink]:
        """Where backward should put each parameter's gradient. Here: the optimizer's own
        gradient buffers (beta 0), so that ``update`` sees raw gradients."""
        self._bind_params(params)
        if self._grads is None:
            self._grads = self._zeros_like(params)
        return [GradSink(g) for g in self._grads]

    # -- the flat mode ---------------------------------------------------------------------
    def _bind_params(self, params: list) -> None:
        """In flat mode, make the parameters views of one buffer (again, where something rebound
        them: a restore, set_weights, a broadcast), copying their values in."""
        k = self._kernels
        if k is None or (self._params is not None and self._params.aliases(params)):
            return
        flat, views = k.flat_views(params)
        for i, (v, p) in enumerate(zip(views, params)):
            k.copy_into(v, p)
            params[i] = v
        self._params = FlatList(views, flat)

    def _as_flat(self, arrays: list) -> FlatList:
        """`arrays` (state restored from a checkpoint, say) as views of one buffer."""
        if isinstance(arrays, FlatList) or self._kernels is None or not arrays:
            return arrays
        flat, views = self._kernels.flat_views(arrays)
        for v, a in zip(views, arrays):
            self._kernels.copy_into(v, a)
        return FlatList(views, flat)

    def _flat_ready(self, params: list, sunk: list) -> bool:
        """Whether this step can update everything at once: parameters and gradients still the views."""
        return (
            self._kernels is not None
            and self._params is not None
            and self._params.aliases(params)
            and isinstance(self._grads, FlatList)
            and self._grads.aliases(sunk)
        )

    def _flat_update(self, lr: float, kernels: Kernels) -> None:
        """The update on the flat buffers, for a subclass that has one (else: per array)."""
        raise NotImplementedError

    def _has_flat_update(self) -> bool:
        return type(self)._flat_update is not Optimizer._flat_update

    def update(self, params: list, sunk: list, lr: float, kernels: Kernels = GENERIC) -> None:
        """Finish a step: `sunk[i]` is what backward left in ``sinks(params, lr)[i]``."""
        if self.state is None:
            self.state = self._init_state(params)
        self.t += 1
        if self._has_flat_update() and self._flat_ready(params, sunk):
            self._flat_step(params, lr, kernels)
            return
        grads = sunk
        if self.clip_norm is not None:
            grads = _clip_by_global_norm(grads, self.clip_norm)
        for i, g in enumerate(grads):
            p = params[i]
            if self._decays(p) and (self.weight_decay or self.l1) and self._couples_decay():
                if self.weight_decay:
                    g = g + self._lam * p
                if self.l1:
                    g = g + self.l1 * array_namespace(p).sign(p)
            self._update(i, params, g, lr, kernels)

    def _flat_step(self, params, lr, kernels) -> None:
        """Clipping, coupled decay and the update on the flat buffers (decay and L1 per weight matrix,
        in place in its gradient's view)."""
        g = self._grads
        if self.clip_norm is not None:
            kernels.copy_into(g.flat, _clip_by_global_norm([g.flat], self.clip_norm)[0])
        if (self.weight_decay or self.l1) and self._couples_decay():
            for i, p in enumerate(params):
                if not self._decays(p):
                    continue
                if self.weight_decay:
                    kernels.axpy(self._lam, p, g[i])
                if self.l1:
                    kernels.axpy(self.l1, array_namespace(p).sign(p), g[i])
        self._flat_update(lr, kernels)

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
        if self._kernels is not None and params:
            return FlatList(*reversed(self._kernels.flat_views(params)))
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
            **({"decay_over_batch": True} if self.decay_over_batch else {}),
            **self._settings(),
        }

    def _settings(self) -> dict:
        return {}

    def __repr__(self):
        return f"{type(self).__name__}(lr={self.lr})"


class LossScaler:
    """Dynamic loss scaling for float16 compute (PyTorch's GradScaler rule): δ is multiplied by
    ``scale`` before the 16-bit backward pass, so that small gradients do not flush to zero; a step
    whose gradients overflow (inf or NaN) is skipped (weights and state kept) and the scale halved;
    after ``interval`` good steps in a row the scale doubles. All on the device (no host read per
    step); ``skipped`` counts the skipped steps, read once per epoch."""

    def __init__(self, scale: float = 2.0**16, growth: float = 2.0, backoff: float = 0.5, interval: int = 2000):
        self.initial = check_positive_float(scale, "LossScaler scale")
        self.growth = check_positive_float(growth, "LossScaler growth")
        self.backoff = check_fraction(backoff, "LossScaler backoff")
        from ._validation import check_positive_int

        self.interval = check_positive_int(interval, "LossScaler interval")
        self.state = None  # [scale, good steps in a row, skipped steps] on the device

    def start(self, backend, dtype) -> None:
        if self.state is None:
            self.state = [
                backend.asarray(np.asarray(self.initial), dtype),
                backend.asarray(np.asarray(0, dtype=np.int32)),
                backend.asarray(np.asarray(0, dtype=np.int32)),
            ]

    @property
    def scale(self):
        return self.state[0]

    def finite(self, grads):
        """Whether every gradient is finite: a device boolean."""
        xp = array_namespace(grads[0])
        ok = xp.all(xp.isfinite(grads[0]))
        for g in grads[1:]:
            ok = ok & xp.all(xp.isfinite(g))
        return ok

    def observe(self, ok) -> None:
        """The scale after a step whose gradients were finite (ok) or not."""
        xp = array_namespace(self.state[0])
        scale, good, skipped = self.state
        one = xp.astype(ok, good.dtype)
        grown = good + 1 >= self.interval
        scale = xp.where(ok, xp.where(grown, scale * self.growth, scale), scale * self.backoff)
        good = xp.where(ok & ~grown, good + 1, good * 0)
        self.state = [scale, good, skipped + (1 - one)]


def _copies(arrays):
    return [array_namespace(a).asarray(a, copy=True) for a in arrays]


def _state_arrays(state) -> list:
    if state is None:
        return []
    if isinstance(state, dict):
        return [a for k in sorted(state) for a in state[k]]
    return list(state)


def _set_state_arrays(opt, arrays):
    if arrays is None or opt.state is None:
        return
    if isinstance(opt.state, dict):
        at, out = 0, {}
        for k in sorted(opt.state):
            n = len(opt.state[k])
            out[k] = arrays[at : at + n]
            at += n
        opt.state = out
    else:
        opt.state = list(arrays)


def _keep_if(ok, new, old):
    """new where ok (a device boolean), else old, for matching lists of arrays."""
    xp = array_namespace(ok)
    return [xp.where(ok, a, b) for a, b in zip(new, old)]


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

    def _sinks(self, params, lr):
        if not self._fused():
            return Optimizer.sinks(self, params, lr)
        if not self.momentum:  # p ← (1 - lr·λ) p - lr·g, straight from the product
            return [GradSink(p, -lr, 1 - lr * self._lam if self._decays(p) else 1.0) for p in params]
        if self.state is None:
            self.state = self._init_state(params)
        return [GradSink(v, 1.0, self.momentum) for v in self.state]  # v ← μ v + g

    def sinks(self, params, lr):
        if self._fused():
            self._bind_params(params)
            if self.momentum and self.state is not None:
                self.state = self._as_flat(self.state)
        return self._sinks(params, lr)

    def update(self, params, sunk, lr, kernels=GENERIC):
        if not self._fused():
            return super().update(params, sunk, lr, kernels)
        self.t += 1
        v = self.state
        flat = self.momentum and isinstance(v, FlatList) and v.aliases(sunk) and self._params is not None
        if flat and self._params.aliases(params):  # v += λ p per weight matrix, then p -= lr v at once
            if self.weight_decay:
                for i, p in enumerate(params):
                    if self._decays(p):
                        kernels.axpy(self._lam, p, v[i])
            kernels.axpy(-lr, v.flat, self._params.flat)
            return
        for i, new in enumerate(sunk):
            if not self.momentum:
                params[i] = new
                continue
            if self.weight_decay and self._decays(params[i]):
                new = kernels.axpy(self._lam, params[i], new)  # v += λ p
            self.state[i] = new
            params[i] = kernels.axpy(-lr, new, params[i])  # p -= lr v

    def _settings(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov}

    def __repr__(self):
        return f"SGD(lr={self.lr}, momentum={self.momentum}, nesterov={self.nesterov})"


GradientDescent = SGD  # full-batch gradient descent is SGD with batch_size=None


class Adam(Optimizer):
    """Adam (Kingma & Ba): bias-corrected first and second moment estimates,
    p ← p − lr · m̂ / (√v̂ + eps) as PyTorch has it. With ``eps_hat=True`` eps is the paper's ε̂ of its
    efficient form, p ← p − lr·√(1 − b2^t)/(1 − b1^t) · m / (√v + eps), as Keras and scikit-learn have
    it: the same step where gradients are large, a larger eps early on where they are tiny."""

    name = "adam"

    def __init__(self, lr=0.001, betas=(0.9, 0.999), eps=1e-8, *, eps_hat=False, **kw):
        super().__init__(lr, **kw)
        if not isinstance(eps_hat, bool):
            raise TypeError(f"eps_hat must be True or False; got {eps_hat!r}")
        self.eps_hat = eps_hat
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
            raise TypeError(f"betas must be a pair (beta1, beta2) of numbers in [0, 1); got {betas!r}")
        self.betas = (
            check_fraction(betas[0], "betas[0]", low_closed=True),
            check_fraction(betas[1], "betas[1]", low_closed=True),
        )
        self.eps = check_positive_float(eps, "eps")

    def _init_state(self, params):
        return {"m": self._zeros_like(params), "v": self._zeros_like(params)}

    def _corrections(self, like):
        """(1 − b1^t, 1 − b2^t): Python numbers, or arrays of the parameters' dtype when t is a traced
        counter (an int32 power would promote float32 weights to float64 in JAX's 64-bit mode)."""
        b1, b2 = self.betas
        t = self.t if isinstance(self.t, int) else array_namespace(like).astype(self.t, like.dtype)
        return 1 - b1**t, 1 - b2**t

    def _update(self, i, params, g, lr, kernels=GENERIC):
        b1, b2 = self.betas
        m, v = self.state["m"], self.state["v"]
        c1, c2 = self._corrections(params[i])
        root = c2**0.5
        params[i], m[i], v[i] = kernels.adam_update(params[i], g, m[i], v[i], lr / c1, b1, b2, root, self._eps(root))

    def _flat_update(self, lr, kernels):
        b1, b2 = self.betas
        m, v = (self._as_flat(self.state[k]) for k in ("m", "v"))
        self.state = {"m": m, "v": v}
        self._decouple(lr, kernels)
        c1, c2 = self._corrections(self._params.flat)
        root = c2**0.5
        kernels.adam_update(self._params.flat, self._grads.flat, m.flat, v.flat, lr / c1, b1, b2, root, self._eps(root))

    def _eps(self, root_c2):
        """The eps added to √v̂: eps itself, or ε̂ / √(1 − b2^t) (ε̂ added to √v)."""
        return self.eps / root_c2 if self.eps_hat else self.eps

    def _decouple(self, lr, kernels):
        """AdamW's decoupled decay (nothing here)."""

    def _settings(self):
        return {"betas": list(self.betas), "eps": self.eps, "eps_hat": self.eps_hat}


class AdamW(Adam):
    """Adam with decoupled weight decay: p ← p (1 - lr·λ) before the Adam step."""

    name = "adamw"

    def __init__(self, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, **kw):
        super().__init__(lr, betas, eps, weight_decay=weight_decay, **kw)

    def _couples_decay(self):
        return False

    def _update(self, i, params, g, lr, kernels=GENERIC):
        if self.weight_decay and self._decays(params[i]):
            params[i] *= 1 - lr * self._lam
        super()._update(i, params, g, lr, kernels)

    def _decouple(self, lr, kernels):
        if self.weight_decay:
            for p in self._params:
                if self._decays(p):
                    kernels.axpy(-lr * self._lam, p, p)  # p ← (1 − lr·λ) p, in its view


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

    def _flat_update(self, lr, kernels):
        v = self.state = self._as_flat(self.state)
        kernels.rmsprop_update(self._params.flat, self._grads.flat, v.flat, lr, self.alpha, self.eps)


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
