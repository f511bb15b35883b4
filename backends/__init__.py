"""Array backends: everything that differs per array library.

``available()`` lists the backends usable on this machine, ``get(name)`` returns a
:class:`~mlp.backends.base.Backend`, ``infer(x)`` the backend that owns an array.
Backend modules are imported lazily: importing this package never imports cupy,
torch or jax.
"""
from __future__ import annotations

import importlib
import importlib.util

from .base import Backend

__all__ = ["Backend", "NAMES", "available", "get", "infer", "best"]

# name -> (module, class); a backend module imports its array library on construction.
_REGISTRY = {
    "numpy": ("numpy_backend", "NumPyBackend"),
    "array_api_strict": ("strict_backend", "ArrayApiStrictBackend"),
    "torch": ("torch_backend", "TorchBackend"),
    "jax": ("jax_backend", "JaxBackend"),
    "cupy": ("cupy_backend", "CuPyBackend"),
    "torch-cuda": ("torch_backend", "TorchCudaBackend"),
}
NAMES = tuple(_REGISTRY)


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _cuda_ok(name: str) -> bool:
    """True when `name` ('cupy' or 'torch-cuda') can reach a CUDA device."""
    try:
        if name == "cupy":
            if not _importable("cupy"):
                return False
            import cupy

            return cupy.cuda.runtime.getDeviceCount() > 0
        if not _importable("torch"):
            return False
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # no driver, no device, broken install: not available
        return False


def available() -> list[str]:
    """Names of the backends usable here, numpy first."""
    names = ["numpy"]
    for name, module in (("array_api_strict", "array_api_strict"), ("torch", "torch"), ("jax", "jax")):
        if _importable(module):
            names.append(name)
    names += [n for n in ("cupy", "torch-cuda") if _cuda_ok(n)]
    return names


def best() -> str:
    """The fastest backend here for training: CuPy on a GPU, else NumPy."""
    return "cupy" if _cuda_ok("cupy") else "numpy"


_CACHE: dict = {}


def get(name, device=None) -> Backend:
    """The backend called `name` (a Backend passes through), on `device` (None: its default)."""
    if isinstance(name, Backend):
        return name
    if not isinstance(name, str):
        raise TypeError(f"backend must be a backend name (str), one of {list(NAMES)}; got {type(name).__name__}")
    if name not in _REGISTRY:
        raise ValueError(f"backend must be one of {list(NAMES)}; got {name!r}")
    key = (name, str(device))
    if key not in _CACHE:
        module, cls = _REGISTRY[name]
        if name in ("cupy", "torch-cuda") and not _cuda_ok(name):
            raise ValueError(f"backend {name!r} needs a CUDA device and none is usable here; available: {available()}")
        mod = importlib.import_module(f"{__name__}.{module}")
        try:
            _CACHE[key] = getattr(mod, cls)(device)
        except ImportError as exc:
            raise ValueError(f"backend {name!r} is not installed here ({exc}); available: {available()}") from None
    return _CACHE[key]


def infer(x) -> Backend:
    """The backend (and device) that owns array `x`."""
    from array_api_compat import array_namespace, device, is_numpy_array

    if is_numpy_array(x):
        return get("numpy")
    try:
        xp = array_namespace(x)
    except TypeError:
        raise TypeError(f"expected an array (numpy, cupy, torch, jax or array_api_strict); got {type(x).__name__}") from None
    name = xp.__name__.rsplit(".", 1)[-1]
    dev = device(x)
    if name == "array_api_strict":
        if dev == xp.Device("CPU_DEVICE"):
            return get("array_api_strict")
        names = [n for n in ("device1", "device2") if xp.Device(n) == dev]
        return get("array_api_strict", names[0] if names else dev)
    if name == "torch":
        return get("torch-cuda", dev) if dev.type == "cuda" else get("torch")
    if name == "cupy":
        return get("cupy", dev)
    if name in ("jax", "numpy"):
        return get("jax" if "jax" in xp.__name__ else "numpy")
    raise TypeError(f"arrays of {xp.__name__} are not supported; supported backends: {list(NAMES)}")
