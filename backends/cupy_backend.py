"""CuPy on a CUDA GPU."""
from __future__ import annotations

from .base import Backend


class CuPyBackend(Backend):
    name = "cupy"

    def __init__(self, device=None):
        super().__init__(device)
        import cupy
        from array_api_compat import cupy as xp

        self.cupy = cupy
        self.xp = xp
        self.device = cupy.cuda.Device(0 if device is None else getattr(device, "id", device))

    def asarray(self, host, dtype=None, copy=False):
        with self.device:
            return super().asarray(host, dtype, copy)

    def to_numpy(self, x):
        return self.cupy.asnumpy(x)

    def synchronize(self):
        self.device.synchronize()
