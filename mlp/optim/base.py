"""The optimizer contract: settings on the object, the state a value.

``init(params, kernels) -> opt_state`` makes the state (a dict of per-parameter array lists: the
momentum, Adam's moments); a step asks ``sinks(opt_state, params, lr, kernels)`` where backward
should put each gradient (its gradient buffers, or for SGD its momentum with β = μ, or the weights
themselves), lets backward put them there, and finishes with ``apply(opt_state, params, grads,
lr, t, kernels) -> (params, opt_state)``. The update rule is written once per optimizer, array by
array (``update_arrays``: the specification); kernels that keep the arrays as views of flat buffers
apply it to the flat buffers at once (``update_flat``, where the optimizer has one). Regularization:
L2 weight decay and an L1 penalty added to the gradient (biases, the 1-D parameters, are excluded
unless ``decay_bias=True``), and gradient clipping by global norm. The update rules and their
defaults follow PyTorch's optimizers of the same name.

Between training runs an optimizer object is where its state is parked (``state``, ``t``), so that
a second ``mlp.train`` call (``partial_fit``) continues it; ``step(params, grads)`` updates a list
of parameters by raw gradients, for loops of one's own.
"""

from __future__ import annotations

import inspect
from typing import Any, NamedTuple

from array_api_compat import array_namespace

from mlp.backends.kernels import GENERIC, Kernels
from mlp.checks import check_fraction, check_positive_float
from mlp.nn.layer import GradSink, Sinks
from mlp.numerics import clip, copy_params, to_host
from mlp.optim.schedules import Constant, get_schedule
from mlp.registry import register

__all__ = ["Optimizer", "Hyper", "OPTIMIZERS", "get_optimizer", "accepts", "clip_by_global_norm"]

# name -> factory: each optimizer class registers its name and its presets (aliases with settings)
OPTIMIZERS: dict = {}


class Hyper(NamedTuple):
    """The numbers of one update: the learning rate, the step count t (after this step) and the
    L2 decay λ this step applies (``weight_decay``, or over the batch's weight sum)."""

    lr: Any
    t: Any
    decay: Any


class Optimizer:
    """Base: regularization, clipping and the learning-rate schedule; a subclass names its state
    (``state_keys``) and writes its rule for one array (``rule``), or ``update_arrays`` whole."""

    name = "?"
    aliases: dict = {}  # preset name -> settings
    state_keys: tuple = ()  # the per-parameter state lists ("m", "v", ...)
    couples_decay = True  # weight decay added to the gradient (AdamW decays the weights directly)

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
        ema=None,
        ema_final=True,
    ):
        self.lr = check_positive_float(lr, "lr")
        # an exponential moving average of the parameters, ema ← ema·decay + p·(1 − decay) after each
        # update (Keras' use_ema); ema_final: the model ends a run holding it
        self.ema = None if ema is None else check_fraction(ema, "ema")
        if not isinstance(ema_final, bool):
            raise TypeError(f"ema_final must be True or False; got {ema_final!r}")
        self.ema_final = ema_final
        self.weight_decay = check_positive_float(weight_decay, "weight_decay", allow_zero=True)
        if not isinstance(decay_over_batch, bool):
            raise TypeError(f"decay_over_batch must be True or False; got {decay_over_batch!r}")
        # weight_decay divided by each batch's weight sum (its rows where unweighted): λ/2·‖W‖² added to
        # the batch's summed loss rather than to its mean, as scikit-learn's alpha
        self.decay_over_batch = decay_over_batch
        self.l1 = check_positive_float(l1, "l1", allow_zero=True)
        self.decay_bias = bool(decay_bias)
        self.clip_norm = None if clip_norm is None else check_positive_float(clip_norm, "clip_norm")
        self.schedule = get_schedule(schedule) if schedule is not None else Constant()
        self.state = None  # the state parked here between runs (None: none yet)
        self.t = 0  # steps taken
        self.scaler = None  # a LossScaler, for float16 compute (mlp.train sets one up)

    # -- the contract --------------------------------------------------------------------------
    @property
    def all_state_keys(self) -> tuple:
        """The state lists a run carries: ``state_keys`` and, with an EMA, "ema"."""
        return (*self.state_keys, "ema") if self.ema is not None else tuple(self.state_keys)

    def init(self, params: list, kernels: Kernels = GENERIC) -> dict:
        """The state before the first step: zeros per parameter for each of ``state_keys``; the
        EMA (where asked for) starts at the parameters."""
        state = {k: kernels.zeros_like(params) for k in self.state_keys}
        if self.ema is not None:
            state["ema"] = kernels.pack(copy_params(params))
        return state

    def sinks(self, opt_state: dict, params: list, lr, kernels: Kernels = GENERIC, batch_weight=1.0) -> Sinks:
        """Where backward should put each parameter's gradient: here, raw gradients into the kernels'
        gradient buffers (fresh arrays with the generic kernels), for ``apply`` to read."""
        buffers = kernels.gradient_buffers(params)
        if buffers is None:
            return Sinks([GradSink() for _ in params])
        return Sinks([GradSink(g) for g in buffers], buffers)

    def apply(self, opt_state: dict, params: list, grads: list, lr, t, kernels: Kernels = GENERIC, batch_weight=1.0):
        """(params, opt_state) after one update; `grads[i]` is what backward left in
        ``sinks(...)[i]``; `t` the step count after this step."""
        if self.ema is None:
            return kernels.optimizer_update(self, opt_state, params, grads, self.hyper(lr, t, batch_weight))
        own = {k: v for k, v in opt_state.items() if k != "ema"}
        params, own = kernels.optimizer_update(self, own, params, grads, self.hyper(lr, t, batch_weight))
        return params, {**own, "ema": kernels.ema_update(opt_state["ema"], params, self.ema)}

    def ema_weights(self) -> list | None:
        """Host copies of the parked EMA of the parameters (None without one, or before a run)."""
        if self.ema is None or self.state is None or "ema" not in self.state:
            return None
        return [to_host(a) for a in self.state["ema"]]

    def hyper(self, lr, t, batch_weight=1.0) -> Hyper:
        decay = self.weight_decay / batch_weight if self.decay_over_batch else self.weight_decay
        return Hyper(lr, t, decay)

    # -- the rule, array by array (the specification) --------------------------------------------
    def update_arrays(self, state: dict, params: list, grads: list, hp: Hyper, kernels: Kernels) -> tuple[list, dict]:
        """Clipping, the coupled penalties, then ``rule`` on each parameter."""
        if self.clip_norm is not None:
            grads = clip_by_global_norm(grads, self.clip_norm)
        params, state = list(params), {k: list(v) for k, v in state.items()}
        for i, g in enumerate(grads):
            p = params[i]
            if self.couples_decay and self.decays(p):
                if self.weight_decay:
                    g = g + hp.decay * p
                if self.l1:
                    g = g + self.l1 * array_namespace(p).sign(p)
            params[i], arrays = self.rule(p, g, [state[k][i] for k in self.state_keys], hp, kernels)
            for k, a in zip(self.state_keys, arrays):
                state[k][i] = a
        return params, state

    def rule(self, p, g, arrays: list, hp: Hyper, kernels: Kernels) -> tuple[Any, list]:
        """(new p, new state arrays) for one parameter and its (penalized, clipped) gradient."""
        raise NotImplementedError

    def penalize_flat(self, params, grads, hp: Hyper, kernels: Kernels) -> None:
        """Clipping and the coupled penalties in place on packed gradients (decay and L1 per weight
        matrix, in its gradient's view): ``update_flat``'s first part."""
        if self.clip_norm is not None:
            kernels.copy_into(grads.flat, clip_by_global_norm([grads.flat], self.clip_norm)[0])
        if not (self.couples_decay and (self.weight_decay or self.l1)):
            return
        for i, p in enumerate(params):
            if self.decays(p):
                if self.weight_decay:
                    kernels.axpy(hp.decay, p, grads[i])
                if self.l1:
                    kernels.axpy(self.l1, array_namespace(p).sign(p), grads[i])

    def decays(self, p) -> bool:
        """Whether penalties apply to parameter p (weight matrices; biases with decay_bias)."""
        return self.decay_bias or p.ndim > 1

    # -- conveniences ----------------------------------------------------------------------------
    def step(self, params: list, grads: list, lr: float | None = None) -> None:
        """One update of `params` (a list, updated through its slots) by raw gradients `grads`, with
        the state parked on this optimizer."""
        lr = self.lr if lr is None else lr
        state = self.init(params) if self.state is None else self.state
        sinks = self.sinks(state, params, lr)
        sunk = sinks.received([sink.receive(g) for sink, g in zip(sinks, grads)])
        self.t += 1
        params[:], self.state = self.apply(state, params, sunk, lr, self.t)

    def reset(self):
        """Forget the parked state (the next run starts from zeros, at step 0)."""
        self.state = None
        self.t = 0

    def lr_at(self, epoch):
        return self.schedule(epoch, self.lr)

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
            **({"ema": self.ema, "ema_final": self.ema_final} if self.ema is not None else {}),
            **self._settings(),
        }

    def _settings(self) -> dict:
        return {}

    def __repr__(self):
        return f"{type(self).__name__}(lr={self.lr})"


def clip_by_global_norm(grads, max_norm):
    """Scale all gradients by min(1, max_norm / ||g||), computed on the device (no sync)."""
    xp = array_namespace(grads[0])
    norm = xp.sqrt(sum(xp.sum(g * g) for g in grads))
    scale = clip(max_norm / (norm + 1e-6), hi=1.0)
    return [g * scale for g in grads]


def accepts(name: str, setting: str) -> bool:
    """Whether the optimizer called `name` has a setting `setting` that its name leaves open (a
    preset such as 'nesterov' fixes its own)."""
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
