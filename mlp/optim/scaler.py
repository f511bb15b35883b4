"""Dynamic loss scaling for float16 compute: settings on the object, the scale a value."""

from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace

from mlp.checks import check_fraction, check_positive_float, check_positive_int

__all__ = ["LossScaler", "keep_if"]


class LossScaler:
    """Dynamic loss scaling for float16 compute (PyTorch's GradScaler rule): δ is multiplied by the
    scale before the 16-bit backward pass, so that small gradients do not flush to zero; a step
    whose gradients overflow (inf or NaN) is skipped (weights and state kept) and the scale halved;
    after ``interval`` good steps in a row the scale doubles. All on the device (no host read per
    step). The value a run carries is ``(scale, good steps in a row, skipped steps)``
    (``TrainState.loss_scale``); ``state`` is where it is parked between runs."""

    def __init__(self, scale: float = 2.0**16, growth: float = 2.0, backoff: float = 0.5, interval: int = 2000):
        self.initial = check_positive_float(scale, "LossScaler scale")
        self.growth = check_positive_float(growth, "LossScaler growth")
        self.backoff = check_fraction(backoff, "LossScaler backoff")
        self.interval = check_positive_int(interval, "LossScaler interval")
        self.state = None

    def init(self, backend, dtype) -> tuple:
        """The value at the start: the parked one, or the initial scale with no step counted."""
        if self.state is not None:
            return tuple(self.state)
        return (
            backend.asarray(np.asarray(self.initial), dtype),
            backend.asarray(np.asarray(0, dtype=np.int32)),
            backend.asarray(np.asarray(0, dtype=np.int32)),
        )

    @staticmethod
    def finite(grads):
        """Whether every gradient is finite: a device boolean."""
        xp = array_namespace(grads[0])
        ok = xp.all(xp.isfinite(grads[0]))
        for g in grads[1:]:
            ok = ok & xp.all(xp.isfinite(g))
        return ok

    def observe(self, value: tuple, ok) -> tuple:
        """The value after a step whose gradients were finite (ok) or not."""
        xp = array_namespace(value[0])
        scale, good, skipped = value
        one = xp.astype(ok, good.dtype)
        grown = good + 1 >= self.interval
        scale = xp.where(ok, xp.where(grown, scale * self.growth, scale), scale * self.backoff)
        good = xp.where(ok & ~grown, good + 1, good * 0)
        return scale, good, skipped + (1 - one)

    def config(self) -> dict:
        return {"scale": self.initial, "growth": self.growth, "backoff": self.backoff, "interval": self.interval}


def keep_if(ok, new: list, old: list) -> list:
    """new where ok (a device boolean), else old, for matching lists of arrays."""
    xp = array_namespace(ok)
    return [xp.where(ok, a, b) for a, b in zip(new, old)]
