"""Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"): the sign of an
interpolated momentum, with decoupled weight decay. One class: its state and its rule."""

from __future__ import annotations

from array_api_compat import array_namespace

from mlp.checks import check_fraction
from mlp.optim.base import Optimizer

__all__ = ["Lion"]


class Lion(Optimizer):
    """c = β1·m + (1 − β1)·g; p ← p − lr·(sign(c) + λ·p); m ← β2·m + (1 − β2)·g. Every step moves each
    weight by ±lr (plus the decay): use a learning rate 3-10x below Adam's (the paper's defaults:
    lr 1e-4, betas (0.9, 0.99))."""

    name = "lion"
    state_keys = ("m",)
    couples_decay = False  # λ·p is added to the step, not to the gradient

    def __init__(self, lr=1e-4, betas=(0.9, 0.99), **kw):
        super().__init__(lr, **kw)
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
            raise TypeError(f"betas must be a pair (beta1, beta2) of numbers in [0, 1); got {betas!r}")
        self.betas = (
            check_fraction(betas[0], "betas[0]", low_closed=True),
            check_fraction(betas[1], "betas[1]", low_closed=True),
        )

    def rule(self, p, g, arrays, hp, kernels):
        (m,) = arrays
        b1, b2 = self.betas
        step = array_namespace(p).sign(m * b1 + g * (1 - b1))
        if self.weight_decay and self.decays(p):
            step = step + hp.decay * p
        return p - hp.lr * step, [m * b2 + g * (1 - b2)]

    def _settings(self):
        return {"betas": list(self.betas)}
