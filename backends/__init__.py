"""Array backends: everything that differs per array library.

``available()`` lists the backends usable on this machine, ``get(name)`` returns a
:class:`~mlp.backends.base.Backend`, ``infer(x)`` the backend that owns an array. Which
backends exist is one table, ``BACKENDS``: adding a backend is one module and one row.
Backend modules are imported lazily: importing this package never imports cupy, torch or jax.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .base import Backend
from .kernels import GENERIC, Kernels

__all__ = [
    "Backend",
    "Kernels",
    "GENERIC",
    "BACKENDS",
    "NAMES",
    "available",
    "unavailable",
    "get",
    "infer",
    "best",
    "set_tf32",
    "tf32",
]


def _namespace_is(name: str) -> Callable[[Any], bool]:
    def recognizes(x: Any) -> bool:
        return type(x).__module__.split(".")[0] == name

    return recognizes


def _torch_on(kind: str) -> Callable[[Any], bool]:
    def recognizes(x: Any) -> bool:
        from array_api_compat import is_torch_array

        return is_torch_array(x) and x.device.type == kind

    return recognizes


def _is_numpy(x: Any) -> bool:
    from array_api_compat import is_numpy_array

    return is_numpy_array(x)


def _is_jax(x: Any) -> bool:
    from array_api_compat import is_jax_array

    return is_jax_array(x)


@dataclass(frozen=True)
class BackendEntry:
    """One row of the registry: where the backend lives and what it needs."""

    name: str
    module: str  # module in this package
    cls: str  # Backend subclass in that module
    library: str  # the array library it imports
    pip: str  # what to install for it
    needs_cuda: bool
    recognizes: Callable[[Any], bool]  # is x an array of this backend (any device)
    compute_dtypes: tuple = ()  # 16-bit compute dtypes it offers for mixed precision

    def backend_class(self) -> type[Backend]:
        return getattr(importlib.import_module(f"{__name__}.{self.module}"), self.cls)

    def installed(self) -> bool:
        return importlib.util.find_spec(self.library) is not None

    def unusable_reason(self) -> str | None:
        """None where the backend runs here; else why not: not installed, or (for a CUDA backend)
        no device, no driver, or CUDA libraries that do not load (checked once per process)."""
        if not self.installed():
            return f"{self.library} is not installed (pip install {self.pip})"
        if not self.needs_cuda:
            return None
        if self.name not in _PROBED:
            try:
                _PROBED[self.name] = self.backend_class().probe()
            except Exception as exc:  # a broken install: not usable, and why
                _PROBED[self.name] = f"{self.library} cannot be used ({type(exc).__name__}: {str(exc)[:160]})"
        return _PROBED[self.name]

    def usable(self) -> bool:
        """Installed, and (for a CUDA backend) with a CUDA device and the libraries it loads."""
        return self.unusable_reason() is None


_PROBED: dict = {}  # CUDA backends' probe results: devices and libraries do not change in a process


BACKENDS = (
    BackendEntry("numpy", "numpy_backend", "NumPyBackend", "numpy", "numpy", False, _is_numpy),
    BackendEntry(
        "array_api_strict",
        "strict_backend",
        "ArrayApiStrictBackend",
        "array_api_strict",
        "array-api-strict",
        False,
        _namespace_is("array_api_strict"),
    ),
    BackendEntry(
        "torch", "torch_backend", "TorchBackend", "torch", "torch", False, _torch_on("cpu"), ("bfloat16", "float16")
    ),
    BackendEntry("jax", "jax_backend", "JaxBackend", "jax", "jax", False, _is_jax, ("bfloat16", "float16")),
    BackendEntry(
        "cupy",
        "cupy_backend",
        "CuPyBackend",
        "cupy",
        "mlp[cuda12] or mlp[cuda13]",
        True,
        _namespace_is("cupy"),
        ("bfloat16", "float16"),  # CuPy 14: bfloat16 is ml_dtypes'; cuBLAS gemmEx; the kernels NVRTC-compiled in CI
    ),
    BackendEntry(
        "torch-cuda",
        "torch_backend",
        "TorchCudaBackend",
        "torch",
        "torch (a CUDA build)",
        True,
        _torch_on("cuda"),
        ("bfloat16", "float16"),
    ),
)
NAMES = tuple(e.name for e in BACKENDS)
_ENTRIES = {e.name: e for e in BACKENDS}


def available() -> list[str]:
    """Names of the backends usable here, numpy first."""
    return [e.name for e in BACKENDS if e.usable()]


def unavailable() -> dict[str, str]:
    """The backends that cannot run here, each with the reason (what to install, what is missing)."""
    return {e.name: r for e in BACKENDS if (r := e.unusable_reason()) is not None}


def best() -> str:
    """The fastest backend here for training: CuPy where a GPU, cuBLAS and NVRTC are usable, else NumPy."""
    return "cupy" if _ENTRIES["cupy"].usable() else "numpy"


_TF32 = [False]


def set_tf32(enabled: bool = True) -> None:
    """One switch for TF32 tensor cores in every float32 product on the GPU backends (CuPy's
    matmul and cuBLAS GEMMs, PyTorch's matmul and addmm on CUDA, JAX's products through
    ``jax_default_matmul_precision`` inside the model's calls), off by default; applied to the
    backends made so far and to those made later. No effect on CPUs."""
    _TF32[0] = bool(enabled)
    for b in _CACHE.values():
        b.set_tf32(_TF32[0])


def tf32() -> bool:
    """Whether TF32 is switched on (``set_tf32``)."""
    return _TF32[0]


_CACHE: dict = {}


def get(name: str | Backend, device: Any = None) -> Backend:
    """The backend called `name` (a Backend passes through), on `device` (None: its default)."""
    if isinstance(name, Backend):
        return name
    if not isinstance(name, str):
        raise TypeError(f"backend must be a backend name (str), one of {list(NAMES)}; got {type(name).__name__}")
    entry = _ENTRIES.get(name)
    if entry is None:
        raise ValueError(f"backend must be one of {list(NAMES)}; got {name!r}")
    if not entry.installed():
        raise ValueError(
            f"backend {name!r} needs {entry.library}, which is not installed here "
            f"(pip install {entry.pip}); available: {available()}"
        )
    try:
        cls = entry.backend_class()
    except ImportError as exc:
        raise ValueError(f"backend {name!r} cannot be imported here ({exc}); available: {available()}") from None
    key = (name, _key(cls.canonical_device(device)))  # every spelling of a device: one backend object
    if key not in _CACHE:
        reason = entry.unusable_reason() if entry.needs_cuda else None
        if reason is not None:
            raise ValueError(f"backend {name!r} cannot run here: {reason}; available: {available()}")
        try:
            made = cls(device)
        except ImportError as exc:
            raise ValueError(f"backend {name!r} cannot be imported here ({exc}); available: {available()}") from None
        if _TF32[0]:
            made.set_tf32(True)
        _CACHE[key] = made
    return _CACHE[key]


def _key(device: Any) -> Any:
    try:
        hash(device)
        return device
    except TypeError:
        return str(device)


def infer(x: Any) -> Backend:
    """The backend (and device) that owns array `x`."""
    for entry in BACKENDS:
        if entry.recognizes(x):
            return get(entry.name, entry.backend_class().device_of(x))
    raise TypeError(
        f"expected an array of one of the backends {list(NAMES)}; got {type(x).__module__}.{type(x).__name__}"
    )
