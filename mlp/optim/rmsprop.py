"""RMSProp, as PyTorch has it."""

from __future__ import annotations

from mlp.checks import check_positive_float
from mlp.optim.base import Optimizer

__all__ = ["RMSProp"]


class RMSProp(Optimizer):
    """RMSProp: v ← α v + (1 - α) g², p ← p - lr·g / (sqrt(v) + eps)."""

    name = "rmsprop"
    state_keys = ("v",)

    def __init__(self, lr=0.01, alpha=0.99, eps=1e-8, **kw):
        super().__init__(lr, **kw)
        if not 0 <= alpha < 1:
            raise ValueError(f"alpha must be in [0, 1); got {alpha}")
        self.alpha = float(alpha)
        self.eps = check_positive_float(eps, "eps")

    def rule(self, p, g, arrays, hp, kernels):
        p, v = kernels.rmsprop_update(p, g, arrays[0], hp.lr, self.alpha, self.eps)
        return p, [v]

    def update_flat(self, state, params, grads, hp, kernels):
        self.penalize_flat(params, grads, hp, kernels)
        kernels.rmsprop_update(params.flat, grads.flat, state["v"].flat, hp.lr, self.alpha, self.eps)
        return params, state

    def _settings(self):
        return {"alpha": self.alpha, "eps": self.eps}
