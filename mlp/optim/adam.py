"""Adam and AdamW (decoupled weight decay), as PyTorch has them; ``eps_hat`` for the paper's efficient form."""

from __future__ import annotations

from array_api_compat import array_namespace

from mlp.checks import check_fraction, check_positive_float
from mlp.optim.base import Optimizer

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam (Kingma & Ba): bias-corrected first and second moment estimates,
    p ← p − lr · m̂ / (√v̂ + eps) as PyTorch has it. With ``eps_hat=True`` eps is the paper's ε̂ of its
    efficient form, p ← p − lr·√(1 − b2^t)/(1 − b1^t) · m / (√v + eps), as Keras and scikit-learn have
    it: the same step where gradients are large, a larger eps early on where they are tiny."""

    name = "adam"
    state_keys = ("m", "v")

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

    def _scalars(self, hp, like) -> tuple:
        """(step, root_c2, eps) of the kernels' adam_update: step = lr / (1 − b1^t), root_c2 =
        √(1 − b2^t), and the eps added to √v̂. A traced t (a compiled step's counter) is cast to the
        parameters' dtype first (an int32 power would promote float32 weights to float64 in JAX's
        64-bit mode)."""
        b1, b2 = self.betas
        t = hp.t if isinstance(hp.t, int) else array_namespace(like).astype(hp.t, like.dtype)
        c1, c2 = 1 - b1**t, 1 - b2**t
        root = c2**0.5
        return hp.lr / c1, root, self.eps / root if self.eps_hat else self.eps

    def rule(self, p, g, arrays, hp, kernels):
        m, v = arrays
        step, root, eps = self._scalars(hp, p)
        p, m, v = kernels.adam_update(p, g, m, v, step, *self.betas, root, eps)
        return p, [m, v]

    def update_flat(self, state, params, grads, hp, kernels):
        self.penalize_flat(params, grads, hp, kernels)
        self.decouple_flat(params, hp, kernels)
        m, v = state["m"], state["v"]
        step, root, eps = self._scalars(hp, params.flat)
        kernels.adam_update(params.flat, grads.flat, m.flat, v.flat, step, *self.betas, root, eps)
        return params, state

    def decouple_flat(self, params, hp, kernels):
        """AdamW's decoupled decay (nothing here)."""

    def _settings(self):
        return {"betas": list(self.betas), "eps": self.eps, "eps_hat": self.eps_hat}


class AdamW(Adam):
    """Adam with decoupled weight decay: p ← p (1 - lr·λ) before the Adam step."""

    name = "adamw"
    couples_decay = False

    def __init__(self, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, **kw):
        super().__init__(lr, betas, eps, weight_decay=weight_decay, **kw)

    def rule(self, p, g, arrays, hp, kernels):
        if self.weight_decay and self.decays(p):
            p = p * (1 - hp.lr * hp.decay)
        return super().rule(p, g, arrays, hp, kernels)

    def decouple_flat(self, params, hp, kernels):
        if self.weight_decay:
            for p in params:
                if self.decays(p):
                    kernels.axpy(-hp.lr * hp.decay, p, p)  # p ← (1 − lr·λ) p, in its view
