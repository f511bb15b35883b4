"""The `backend` fixture: every test runs on each array library this machine has.

Variants: numpy, numpy with read-only inputs, array_api_strict (default device and a
second fake device, which catches arrays created on the wrong device the way a GPU
would), torch CPU, jax CPU, and cupy / torch-cuda where a CUDA device exists.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

import numpy as np
import pytest

import mlp
from mlp import backends

# The suite checks float64 on every backend: it switches JAX's 64-bit mode on itself, as a user would.
os.environ.setdefault("JAX_ENABLE_X64", "1")

VARIANTS = [
    "numpy",
    "numpy-readonly",
    "array_api_strict",
    "array_api_strict-device1",
    "torch",
    "jax",
    "cupy",
    "torch-cuda",
]


@dataclass
class Case:
    """One backend variant: `backend` is the mlp Backend, `data(host)` makes an input."""

    variant: str
    backend: object
    readonly: bool = False

    @property
    def name(self):
        return self.backend.name

    def data(self, host):
        """Host data as this variant's users would pass it (backend array; read-only on numpy-readonly)."""
        host = np.array(host)
        if self.readonly:
            host.setflags(write=False)
            return host
        return self.backend.asarray(host)

    def host(self, x):
        return self.backend.to_numpy(x)

    def model(self, sizes, activation="tanh", output="identity", **kw):
        kw.setdefault("dtype", "float64")
        return mlp.MLP(sizes, activation, output, backend=self.backend, **kw)


def _skip_reason(variant):
    base = variant.split("-")[0] if variant != "torch-cuda" else "torch-cuda"
    if base in ("cupy", "torch-cuda"):
        if base not in backends.available():
            return f"{base}: no CUDA device on this machine"
        return None
    module = {"array_api_strict": "array_api_strict", "torch": "torch", "jax": "jax"}.get(base)
    if module and importlib.util.find_spec(module) is None:
        return f"{module} is not installed"
    return None


def make_case(variant) -> Case:
    reason = _skip_reason(variant)
    if reason:
        pytest.skip(reason)
    if variant == "numpy-readonly":
        return Case(variant, backends.get("numpy"), readonly=True)
    if variant == "array_api_strict-device1":
        return Case(variant, backends.get("array_api_strict", "device1"))
    return Case(variant, backends.get(variant))


@pytest.fixture(params=VARIANTS)
def backend(request) -> Case:
    return make_case(request.param)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
