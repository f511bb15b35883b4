"""The Backend interface: namespace, device, transfers, synchronization, kernels."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import numpy as np

from .kernels import GENERIC, Kernels

_FLOATS = ("float32", "float64")
LOW_PRECISION = ("bfloat16", "float16")


class Backend:
    """What the core needs to know about one array library on one device.

    Subclasses set ``name``, ``xp`` (an array-API namespace) and ``device``; they override
    ``to_numpy``/``synchronize`` where the default does not fit, and ``kernels()`` where the
    library has faster kernels than the generic array-API ones.
    """

    name = "?"
    xp: Any = None
    device: Any = None
    # capabilities the core asks for (never the backend's name)
    shares_host_memory = False  # arrays live in host memory: host batches are used in place
    prefetch_default = False  # gather the next streamed batch in a thread while the step runs
    cuda_memory = False  # arrays in CUDA memory (a CUDA-aware MPI reads them through __cuda_array_interface__)
    on_gpu = False  # computes on a GPU

    @property
    def compute_dtypes(self) -> tuple:
        """16-bit compute dtypes this backend multiplies in (mixed precision): its registry row's."""
        from . import BACKENDS

        return next((e.compute_dtypes for e in BACKENDS if e.name == self.name), ())

    def __init__(self, device: Any = None):
        pass

    @staticmethod
    def device_of(x: Any) -> Any:
        """The device spec for ``get(name, device)`` that owns array `x` (None: the default)."""
        return None

    @staticmethod
    def canonical_device(device: Any) -> Any:
        """One spelling for every way of naming the same device (the registry's cache key): a
        backend with several spellings ('cuda' and 'cuda:0', 'cpu' and 'cpu:0') maps them to one."""
        return device

    @staticmethod
    def probe() -> str | None:
        """None where this backend can run here, else the reason it cannot (asked only of backends
        that need CUDA)."""
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
        for name in self.compute_dtypes:
            if dtype == self.native_dtype(name):
                return name
        return str(dtype)

    def native_dtype(self, name: str) -> Any:
        """The library's own dtype called `name` (bfloat16 is not in the array API standard)."""
        return getattr(self.xp, name)

    def compute_dtype(self, name: Any) -> Any:
        """The dtype products and activations run in: 'float32'/'float64' (the variable dtype
        itself) or a 16-bit type this backend offers ('bfloat16', 'float16')."""
        if not isinstance(name, str):
            name = self.dtype_name(name)
        if name in _FLOATS:
            return self.dtype(name)
        if name not in LOW_PRECISION:
            raise ValueError(f"compute_dtype must be one of {[*_FLOATS, *LOW_PRECISION]}; got {name!r}")
        if name not in self.compute_dtypes:
            from . import BACKENDS

            have = [e.name for e in BACKENDS if name in e.compute_dtypes]
            raise ValueError(
                f"compute_dtype {name!r} is not offered by backend {self.name!r}; backends that have it: {have}"
            )
        return self.native_dtype(name)

    def compile_function(self, fn: Any) -> Any:
        """`fn` as this backend runs array functions fastest: as it is here; JAX compiles it (and then
        Python numbers in it are constants, not transfers)."""
        return fn

    def split(self, x: Any, sizes: list[int]) -> list:
        """x cut along its first axis into consecutive pieces of `sizes` rows."""
        out, at = [], 0
        for s in sizes:
            out.append(x[at : at + s])
            at += s
        return out

    def context(self):
        """A context in which arrays are created on this backend's device, for libraries whose
        creation functions ignore ``device=`` (CuPy's current device); nothing elsewhere."""
        return nullcontext()

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

    def synchronize(self, *arrays: Any) -> None:
        """Wait until queued device work is done (no-op on the host); where a library can only wait
        for given results (JAX), until `arrays` are computed."""

    def set_tf32(self, enabled: bool) -> None:
        """Let float32 products use TF32 tensor cores (GPU backends); nothing elsewhere."""

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

    def __repr__(self) -> str:
        return f"<backend {self.name} on {self.device}>"
