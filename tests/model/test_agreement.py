"""One model, four ways to ask it: ``model(X)``, the model ``mlp.load`` reads back, its ONNX graph
and ``mlp predict`` give the same answers (or training refuses the data with a named error), and
the metrics ``model.evaluate`` reports equal scikit-learn's on the same rows. Hypothesis draws the
models, the data's scale (1e-300 to 1e300), its offset (to 1e12), the dtype, the task and the
backend (every one installed: NumPy, array-api-strict, PyTorch, JAX). On the backend that trained
it, the loaded model gives the very same outputs; the NumPy copy, ``mlp predict`` and ONNX agree
with those to the dtype's rounding (other BLAS, other summation order)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import has
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import backends
import mlp

SCALES = [None, "standard", "robust", "minmax"]
BACKENDS = [name for name in ("numpy", "array_api_strict", "torch", "jax") if name in backends.available()]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(
    d=st.integers(1, 4),
    width=st.integers(2, 8),
    scale=st.sampled_from(SCALES),
    dtype=st.sampled_from(["float32", "float64"]),
    exponent=st.sampled_from([-300, -30, -3, 0, 3, 30, 300]),
    offset=st.sampled_from([0.0, 1e3, 1e9, 1e12]),
    task=st.sampled_from(["classes", "regression"]),
    seed=st.integers(0, 2**16),
    backend=st.sampled_from(BACKENDS),
)
def test_every_way_of_asking_a_model_agrees(
    tmp_path_factory, d, width, scale, dtype, exponent, offset, task, seed, backend
):
    from sklearn.metrics import accuracy_score, mean_squared_error, r2_score

    tmp = tmp_path_factory.mktemp("agree")
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(60, d))
    X = Z * 10.0**exponent + offset
    k = 3 if task == "classes" else 1
    y = np.digitize(Z[:, 0], [-0.4, 0.4]) if task == "classes" else Z[:, 0] - 0.5 * Z[:, -1]
    model = mlp.MLP([d, width, k], scale=scale, dtype=dtype, seed=seed, backend=backend)
    try:
        mlp.train(model, X, y, epochs=2, batch_size=16, progress=False, loss=None if task == "classes" else "mse")
    except ValueError as exc:  # refused: data beyond the dtype without a scaler, or a diverged run; named
        assert str(exc) and ("X" in str(exc) or "diverg" in str(exc).lower() or "finite" in str(exc)), exc
        return
    out = np.asarray(model.backend.to_numpy(model(X)))
    model.save(tmp / "m.npz")
    same = mlp.load(tmp / "m.npz", backend=backend)
    np.testing.assert_array_equal(same.backend.to_numpy(same(X)), out, err_msg=f"{backend}: loaded != trained")
    if not np.all(np.isfinite(out)):
        if task == "classes":
            with pytest.raises(ValueError, match="NaN or infinity"):
                model.predict_labels(X)
        return
    tol = 1e-4 if dtype == "float32" else 1e-9
    atol = tol * max(1.0, float(np.max(np.abs(out))))
    host = mlp.load(tmp / "m.npz")  # NumPy: what mlp predict runs
    host_out = np.asarray(host(X))
    np.testing.assert_allclose(host_out, out, rtol=tol, atol=atol, err_msg=f"numpy copy of a {backend} model")
    np.save(tmp / "X.npy", X)
    what = "labels" if task == "classes" else "values"
    assert cli_predict(tmp, "X.npy") is not None
    predicted = np.load(tmp / "p.npy")
    expect = np.asarray(host.predict_labels(X)) if task == "classes" else host_out[:, 0]
    np.testing.assert_array_equal(predicted, expect, err_msg=f"mlp predict {what}")
    metrics = host.evaluate(X, y)
    if task == "classes":
        assert metrics["accuracy"] == accuracy_score(y, expect)
    else:
        assert metrics["mse"] == pytest.approx(mean_squared_error(y, expect), rel=1e-9)
        assert metrics["r2"] == pytest.approx(r2_score(y, expect), rel=1e-9, abs=1e-9)
    if has("onnxruntime") and has("onnx"):
        import onnxruntime as ort

        model.to_onnx(tmp / "m.onnx")
        session = ort.InferenceSession(str(tmp / "m.onnx"), providers=["CPUExecutionProvider"])
        kind = session.get_inputs()[0].type
        rows = X.astype(np.float64 if kind == "tensor(double)" else dtype)
        got = session.run(["Y"], {"X": rows})[0]
        np.testing.assert_allclose(got, out, rtol=tol, atol=atol)
    own = model.evaluate(X, y)  # the trained model's own metrics: those of its own outputs
    if task == "classes":
        assert own["accuracy"] == accuracy_score(y, np.asarray(model.predict_labels(X)))
    else:
        assert own["mse"] == pytest.approx(mean_squared_error(y, out[:, 0]), rel=1e-6 if dtype == "float32" else 1e-9)


def cli_predict(tmp, name):
    import contextlib
    import io

    from mlp.cli import main

    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        code = main(["predict", str(tmp / "m.npz"), str(tmp / name), "--out", str(tmp / "p.npy")])
    assert code == 0
    return code
