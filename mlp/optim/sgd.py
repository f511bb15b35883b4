"""SGD: gradient descent, with momentum and Nesterov's variant, fused into backward where it can be."""

from __future__ import annotations

from mlp.backends.kernels import GENERIC
from mlp.checks import check_positive_float
from mlp.nn.layer import GradSink, Sinks
from mlp.optim.base import Optimizer

__all__ = ["SGD", "GradientDescent"]


class SGD(Optimizer):
    """p ← p - lr·g; with momentum μ: v ← μ v + g, p ← p - lr·v; Nesterov: p ← p - lr·(g + μ v).

    With a constant rate this is the lectures' v ← μ v - η g, w ← w + v scaled by 1/η.

    Without Nesterov, L1 or clipping, the update's arithmetic happens inside backward: the
    momentum is the weight gradient's sink (v ← μ v + xᵀδ in one product), or without momentum
    the weights are (p ← (1 - lr·λ) p - lr·xᵀδ)."""

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

    @property
    def state_keys(self) -> tuple:
        return ("velocity",) if self.momentum else ()

    def fused(self) -> bool:
        """Whether backward can do the update's arithmetic (not with Nesterov, L1 or clipping)."""
        return not (self.nesterov or self.l1 or self.clip_norm is not None)

    def sinks(self, opt_state, params, lr, kernels=GENERIC, batch_weight=1.0):
        if not self.fused():
            return super().sinks(opt_state, params, lr, kernels, batch_weight)
        if self.momentum:  # v ← μ v + g
            v = opt_state["velocity"]
            return Sinks([GradSink(a, 1.0, self.momentum) for a in v], v)
        decay = self.hyper(lr, 0, batch_weight).decay  # p ← (1 - lr·λ) p - lr·g, straight from the product
        return Sinks([GradSink(p, -lr, 1 - lr * decay if self.decays(p) else 1.0) for p in params], params)

    def update_arrays(self, state, params, grads, hp, kernels):
        if not self.fused():
            return super().update_arrays(state, params, grads, hp, kernels)
        if not self.momentum:  # backward left the updated weights
            return list(grads), state
        params, velocity = list(params), list(grads)
        for i, new in enumerate(velocity):
            if self.weight_decay and self.decays(params[i]):
                velocity[i] = new = kernels.axpy(hp.decay, params[i], new)  # v += λ p
            params[i] = kernels.axpy(-hp.lr, new, params[i])  # p -= lr v
        return params, {"velocity": velocity}

    def update_flat(self, state, params, grads, hp, kernels):
        """Fused, on the flat buffers: v += λ p per weight matrix, then p -= lr v at once."""
        if not self.fused():
            return self.update_arrays(state, params, grads, hp, kernels)
        if not self.momentum:
            return params, state
        if self.weight_decay:
            for i, p in enumerate(params):
                if self.decays(p):
                    kernels.axpy(hp.decay, p, grads[i])
        kernels.axpy(-hp.lr, grads.flat, params.flat)
        return params, {"velocity": grads}

    def rule(self, p, g, arrays, hp, kernels):
        """The unfused update (Nesterov, L1, clipping)."""
        if not self.momentum:
            return p - hp.lr * g, []
        v = arrays[0] * self.momentum + g
        return p - hp.lr * (g + self.momentum * v) if self.nesterov else p - hp.lr * v, [v]

    def _settings(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov}

    def __repr__(self):
        return f"SGD(lr={self.lr}, momentum={self.momentum}, nesterov={self.nesterov})"


GradientDescent = SGD  # full-batch gradient descent is SGD with batch_size=None
