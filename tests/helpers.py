"""Shared test helpers: central finite differences in float64; optional modules; the command line."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest


def has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def needs(module: str, extra: str) -> None:
    """Skip where an optional module is missing, naming the extra that installs it; with CI=true
    (whose install has every extra) fail instead, so that nothing is skipped there by accident."""
    if has(module):
        return
    message = f"needs {module}: pip install -e '.[{extra}]'"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI installs it)")
    pytest.skip(message)


def numeric_grad(f, x: np.ndarray, h=1e-6, max_coords=24, rng=None):
    """Central differences of scalar f at host array x, on up to `max_coords` coordinates.

    Returns (flat indices, derivatives)."""
    rng = rng or np.random.default_rng(0)
    flat = x.reshape(-1)
    idx = np.arange(flat.size)
    if flat.size > max_coords:
        idx = np.sort(rng.choice(flat.size, max_coords, replace=False))
    out = []
    for i in idx:
        old = flat[i]
        flat[i] = old + h
        fp = f(x)
        flat[i] = old - h
        fm = f(x)
        flat[i] = old
        out.append((fp - fm) / (2 * h))
    return idx, np.array(out)


def check_model_grads(case, model, loss, X, y, rtol=1e-5, atol=1e-7):
    """value_and_grad's gradients equal central differences for every parameter."""
    import mlp

    value, grads = mlp.value_and_grad(model, loss, case.data(X), case.data(y))
    assert np.isfinite(value)
    weights = model.get_weights()
    for i, (w, g) in enumerate(zip(weights, grads)):
        g = case.host(g).reshape(-1)

        def f(wi, i=i):
            model.params[i] = model.backend.asarray(wi, model.dtype)
            return mlp.value_and_grad(model, loss, case.data(X), case.data(y))[0]

        idx, num = numeric_grad(f, w.copy())
        model.params[i] = model.backend.asarray(w, model.dtype)
        np.testing.assert_allclose(g[idx], num, rtol=rtol, atol=atol, err_msg=f"param {i}")


def cli(capsys, *args):
    """`mlp ARGS` in this process: (exit code, stdout, stderr)."""
    from mlp.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def last_json(out):
    """The JSON object on the last line of `--json` output."""
    return json.loads(out.strip().splitlines()[-1])


def mlp_process(*args, cwd=None):
    """`python -m mlp ARGS` in a fresh process."""
    return subprocess.run([sys.executable, "-m", "mlp", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


MPI_WORKER = os.path.join(os.path.dirname(__file__), "training", "mpi_worker.py")
"""The script each MPI rank runs in the distributed tests (``mpirun -n 2 python MPI_WORKER mode out``)."""

MPI_ENV = {
    **os.environ,
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMPI_MCA_btl": "self,tcp",
    "OMPI_MCA_btl_tcp_if_include": "lo",
    "OMPI_MCA_oob_tcp_if_include": "lo",
    "OMPI_MCA_rmaps_base_oversubscribe": "1",
}
