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


def test_jax_never_switches_64_bit_mode_on_behind_the_users_back():
    pytest.importorskip("jax")
    import subprocess
    import sys

    code = (
        "import jax, mlp, numpy as np\n"
        "m = mlp.MLP([2, 2], backend='jax', dtype='float32'); m(np.zeros((1, 2)))\n"
        "print(jax.config.jax_enable_x64)\n"
        "try:\n    mlp.MLP([2, 2], backend='jax', dtype='float64')\n"
        "except ValueError as e:\n    print(e)\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "JAX_ENABLE_X64"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    first, second = r.stdout.strip().splitlines()
    assert first == "False"
    assert "dtype 'float64' on the jax backend needs JAX's 64-bit mode" in second and "JAX_ENABLE_X64=1" in second
