"""The Backend interface: namespace, device, transfers, synchronization, fast paths."""
from __future__ import annotations

import numpy as np

_FLOATS = ("float32", "float64")


class Backend:
    """What the core needs to know about one array library on one device.

    Subclasses set ``name`` and ``xp`` (an array-API namespace) and ``device``; they
    override ``to_numpy``/``synchronize`` where the default does not fit, and register
    fast paths (callables the core asks for by name, with a generic fallback) in
    ``_fast``.
    """

    name = "?"
    xp = None
    device = None

    def __init__(self, device=None):
        self._fast = {}

    # -- dtypes and arrays -------------------------------------------------
    def dtype(self, dtype):
        """The namespace's dtype for 'float32' / 'float64' (or a dtype object already)."""
        if isinstance(dtype, str):
            if dtype not in _FLOATS:
                raise ValueError(f"dtype must be one of {list(_FLOATS)}; got {dtype!r}")
            return getattr(self.xp, dtype)
        for name in _FLOATS:
            if dtype == getattr(self.xp, name):
                return dtype
        raise ValueError(f"dtype must be one of {list(_FLOATS)}; got {dtype!r}")

    def dtype_name(self, dtype) -> str:
        for name in _FLOATS:
            if dtype == getattr(self.xp, name):
                return name
        return str(dtype)

    def asarray(self, host, dtype=None, copy=False):
        """A host (NumPy) array or scalar on this backend's device. Off the host it is
        always a copy; on the host only with ``copy=True`` (or a dtype change)."""
        host = np.asarray(host)
        if dtype is not None:
            host = host.astype(self.dtype_name(dtype) if not isinstance(dtype, str) else dtype, copy=False)
        return self.xp.asarray(host, device=self.device, copy=True if copy else None)

    def to_numpy(self, x) -> np.ndarray:
        """A NumPy copy (or view, on the host) of array `x`."""
        return np.asarray(x)

    def synchronize(self) -> None:
        """Wait until queued device work is done (no-op on the host)."""

    def owns(self, x) -> bool:
        """True when `x` is an array of this namespace on this device."""
        from array_api_compat import array_namespace, device

        try:
            xp = array_namespace(x)
        except TypeError:
            return False
        return xp is self.xp and device(x) == self.device

    # -- fast paths --------------------------------------------------------
    def fast(self, name):
        """The fast path called `name`, or None where this backend has none."""
        return self._fast.get(name)

    def __repr__(self):
        return f"<backend {self.name} on {self.device}>"
