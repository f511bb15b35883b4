"""The Backend interface: namespace, device, transfers, synchronization, kernels."""

from __future__ import annotations

from typing import Any

import numpy as np

from .kernels import GENERIC, Kernels

_FLOATS = ("float32", "float64")


class Backend:
    """What the core needs to know about one array library on one device.

    Subclasses set ``name``, ``xp`` (an array-API namespace) and ``device``; they override
    ``to_numpy``/``synchronize`` where the default does not fit, and ``kernels()`` where the
    library has faster kernels than the generic array-API ones.
    """

    name = "?"
    xp: Any = None
    device: Any = None

    def __init__(self, device: Any = None):
        pass

    @staticmethod
    def device_of(x: Any) -> Any:
        """The device spec for ``get(name, device)`` that owns array `x` (None: the default)."""
        return None

    # -- dtypes and arrays -------------------------------------------------
    def dtype(self, dtype: Any) -> Any:
        """The namespace's dtype for 'float32' / 'float64' (or a dtype object already)."""
        if isinstance(dtype, str):
            if dtype not in _FLOATS:
                raise ValueError(f"dtype must be one of {list(_FLOATS)}; got {dtype!r}")
            return getattr(self.xp, dtype)
        for name in _FLOATS:
            if dtype == getattr(self.xp, name):
                return dtype
        raise ValueError(f"dtype must be one of {list(_FLOATS)}; got {dtype!r}")

    def dtype_name(self, dtype: Any) -> str:
        for name in _FLOATS:
            if dtype == getattr(self.xp, name):
                return name
        return str(dtype)

    def asarray(self, host: Any, dtype: Any = None, copy: bool = False) -> Any:
        """A host (NumPy) array or scalar on this backend's device. Off the host it is
        always a copy; on the host only with ``copy=True`` (or a dtype change)."""
        host = np.asarray(host)
        if dtype is not None:
            host = host.astype(self.dtype_name(dtype) if not isinstance(dtype, str) else dtype, copy=False)
        return self.xp.asarray(host, device=self.device, copy=True if copy else None)

    def upload(self, host: np.ndarray) -> Any:
        """A host batch on the device, for streamed training (called from the prefetch thread).
        The host array is not used again after the call returns, unless this backend shares
        host memory (NumPy), where the caller keeps it until the step has used it."""
        return self.asarray(host)

    def zeros(self, shape: tuple, dtype: Any) -> Any:
        return self.xp.zeros(shape, dtype=self.dtype(dtype), device=self.device)

    def to_numpy(self, x: Any) -> np.ndarray:
        """A NumPy copy (or view, on the host) of array `x`."""
        return np.asarray(x)

    def synchronize(self) -> None:
        """Wait until queued device work is done (no-op on the host)."""

    def owns(self, x: Any) -> bool:
        """True when `x` is an array of this namespace on this device."""
        from array_api_compat import array_namespace, device

        try:
            xp = array_namespace(x)
        except TypeError:
            return False
        return xp is self.xp and device(x) == self.device

    # -- kernels -------------------------------------------------------------
    def kernels(self) -> Kernels:
        """A kernels object for one training run (its buffers live as long as it does)."""
        return GENERIC

    def compile_step(self, step: Any, model: Any, opt: Any) -> Any:
        """The training step as this backend runs it fastest; here, as it is. A backend that
        compiles (JAX) returns the same step traced and compiled whole."""
        return step

    def __repr__(self) -> str:
        return f"<backend {self.name} on {self.device}>"
