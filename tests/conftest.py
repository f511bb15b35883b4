"""The `backend` fixture: every test runs on each array library this machine has.

Variants: numpy, numpy with read-only inputs, array_api_strict (default device and a
second fake device, which catches arrays created on the wrong device the way a GPU
would), torch CPU, jax CPU, and cupy / torch-cuda where a CUDA device exists.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pytest

import mlp
from mlp import backends

# The suite checks float64 on every backend: it switches JAX's 64-bit mode on itself, as a user would.
os.environ.setdefault("JAX_ENABLE_X64", "1")
# float32 products in full float32 on every backend (GPUs included): the tolerances assume it
backends.set_tf32(False)

# every backend in the registry, plus numpy with read-only inputs and array_api_strict on a second device
VARIANTS = [*backends.NAMES, "numpy-readonly", "array_api_strict-device1"]


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
    names = {e.name: e for e in backends.BACKENDS}
    entry = names.get(variant) or names[variant.split("-")[0]]  # "numpy-readonly" is a numpy variant
    if not entry.installed():
        return f"{entry.library} is not installed"
    if entry.needs_cuda and not entry.usable():
        return f"{entry.name}: no CUDA device on this machine"
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
