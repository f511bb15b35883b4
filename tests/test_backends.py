"""The backend registry: listing, lookup, inference and transfers."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from mlp import backends


def test_import_mlp_imports_no_heavy_array_library():
    code = "import sys, mlp; print(sorted(m for m in ('cupy', 'torch', 'jax') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_available_lists_numpy_first():
    names = backends.available()
    assert names[0] == "numpy"
    assert set(names) <= set(backends.NAMES)


def test_unknown_backend():
    with pytest.raises(ValueError, match=r"backend must be one of \[.*\]; got 'mxnet'"):
        backends.get("mxnet")
    with pytest.raises(TypeError, match="backend must be a backend name"):
        backends.get(3)


def test_round_trip_and_inference(backend, rng):
    host = rng.normal(size=(3, 2))
    x = backend.backend.asarray(host, "float64")
    assert backend.backend.owns(x)
    assert backends.infer(x) is backend.backend
    np.testing.assert_array_equal(backend.host(x), host)
    backend.backend.synchronize()
    assert backend.backend.dtype("float32") == backend.backend.xp.float32
