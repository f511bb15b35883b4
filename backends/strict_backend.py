"""array-api-strict: the standard and nothing else; its fake devices catch arrays
created on the wrong device the way a GPU would."""

from __future__ import annotations

import numpy as np

from .base import Backend


class ArrayApiStrictBackend(Backend):
    name = "array_api_strict"

    def __init__(self, device=None):
        import array_api_strict as xp

        self.xp = xp
        self.device = self.canonical_device(device)
        self._cpu = xp.Device("CPU_DEVICE")

    @staticmethod
    def canonical_device(device):
        """The Device object for None (the CPU device), a name or a Device."""
        import array_api_strict as xp

        if device is None:
            return xp.Device("CPU_DEVICE")
        return xp.Device(device) if isinstance(device, str) else device

    @staticmethod
    def device_of(x):
        import array_api_strict as xp

        dev = x.device
        if dev == xp.Device("CPU_DEVICE"):
            return None
        return next((n for n in ("device1", "device2") if xp.Device(n) == dev), dev)

    def to_numpy(self, x):
        return np.from_dlpack(x.to_device(self._cpu)).copy()
