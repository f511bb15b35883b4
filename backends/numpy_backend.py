"""NumPy on the host CPU."""
from __future__ import annotations

import numpy as np
from array_api_compat import numpy as xp_numpy

from .base import Backend


class NumPyBackend(Backend):
    name = "numpy"

    def __init__(self, device=None):
        super().__init__(device)
        if device not in (None, "cpu"):
            raise ValueError(f"device for backend 'numpy' must be 'cpu'; got {device!r}")
        self.xp = xp_numpy
        self.device = "cpu"

    def to_numpy(self, x):
        return np.asarray(x)
