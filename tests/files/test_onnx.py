"""ONNX export: every architecture the tests save runs in onnxruntime and matches model(X)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import cli

import mlp

onnx = pytest.importorskip("onnx", reason="ONNX export needs onnx (pip install mlp[onnx])")


ort = pytest.importorskip("onnxruntime", reason="the exported graphs are run in onnxruntime (pip install mlp[onnx])")


ACTIVATIONS = ["identity", "relu", "leaky_relu", "abs", "tanh", "sigmoid", "softplus", "gelu", "sign", "step"]


HEADS = ["identity", "softmax", "sigmoid"]


def _run(path, X):
    """The graph on X, given in the type the graph's input declares (float64 where the model scales)."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    dtype = {"tensor(double)": np.float64, "tensor(float)": np.float32}[session.get_inputs()[0].type]
    return session.run(["Y"], {"X": np.asarray(X, dtype=dtype)})[0]


def _architectures():
    yield (
        "maxout-stack",
        lambda dt: mlp.Sequential(
            mlp.Dense(5, 8), mlp.LeakyReLU(0.1), mlp.Maxout(8, 4, k=2), mlp.Dense(4, 3), mlp.Softmax(), dtype=dt, seed=1
        ),
    )
    yield "no-bias", lambda dt: mlp.Sequential(mlp.Dense(5, 4, bias=False), mlp.Tanh(), mlp.Dense(4, 2), dtype=dt)
    for act in ACTIVATIONS:
        for head in HEADS:
            yield f"{act}-{head}", lambda dt, a=act, h=head: mlp.MLP([5, 8, 6, 3], a, h, dtype=dt, seed=2)

    for scale in ("standard", "minmax", "robust"):
        for norm in ("batch", "layer"):
            yield f"{scale}-{norm}-dropout", lambda dt, s=scale, n=norm: _stateful(dt, s, n)
    yield (
        "residual",
        lambda dt: _stateful(dt, "robust", "batch", residual=True, sizes=[5, 8, 8, 8, 3]),
    )
    yield (
        "multiplicative",
        lambda dt: _positive(
            mlp.Sequential(mlp.Multiplicative(5, 4, pieces=3), mlp.Tanh(), mlp.Dense(4, 2), dtype=dt, seed=3)
        ),
    )


def _stateful(dtype, scale, norm, residual=False, sizes=(5, 8, 3)):
    """Fitted input transform, normalization with running statistics, dropout: trained briefly on raw data."""
    rng = np.random.default_rng(5)
    X = rng.normal(3.0, 5.0, size=(64, 5))
    y = rng.integers(0, 3, size=64)
    model = mlp.MLP(
        list(sizes), "relu", "softmax", dtype=dtype, seed=2, scale=scale, norm=norm, dropout=0.3, residual=residual
    )
    mlp.train(model, X, y, optimizer="adam", epochs=3, batch_size=16, progress=False)
    return model


def _positive(model):
    model.set_weights([w if w.ndim == 2 else np.abs(w) + 3.0 for w in model.get_weights()])
    return model


ARCHS = dict(_architectures())


@pytest.mark.parametrize("dtype,tol", [("float32", 1e-5), ("float64", 1e-7)])  # onnxruntime: ~2e-9 in float64
@pytest.mark.parametrize("arch", list(ARCHS))
def test_exported_graph_matches_the_model(arch, dtype, tol, tmp_path, rng):
    model = ARCHS[arch](dtype)
    X = rng.normal(size=(17, 5)).astype(dtype)
    model.save(tmp_path / "m.npz")
    mlp.load(tmp_path / "m.npz", dtype=dtype).to_onnx(tmp_path / "m.onnx")
    np.testing.assert_allclose(_run(tmp_path / "m.onnx", X), model(X), rtol=tol, atol=tol)


def test_cli_export(tmp_path, rng):
    from mlp.cli import main

    model = mlp.MLP([4, 6, 3], "relu", "softmax", seed=0)
    model.save(tmp_path / "m.npz")
    assert main(["export", str(tmp_path / "m.npz"), str(tmp_path / "m.onnx")]) == 0
    X = rng.normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_allclose(_run(tmp_path / "m.onnx", X), model(X), rtol=1e-5, atol=1e-6)


class Cube(mlp.Activation):
    name = "test_cube_no_onnx"

    def apply(self, s):
        return s * s * s

    def derivative_times(self, delta, s, y):
        return 3 * s * s * delta


def test_a_layer_onnx_cannot_express_is_named(tmp_path):
    model = mlp.Sequential(mlp.Dense(2, 3), Cube(), mlp.Dense(3, 1))
    with pytest.raises(ValueError, match=r"layers\[1\] \(Cube\(\)\) has no ONNX form"):
        model.to_onnx(tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_the_onnx_export_takes_raw_data_too(tmp_path, capsys):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    assert cli(capsys, "train", "--json", "--epochs", "2", "--hidden", "16", "--save", str(tmp_path / "m.npz"))[0] == 0
    assert cli(capsys, "export", str(tmp_path / "m.npz"), str(tmp_path / "m.onnx"))[0] == 0
    X = mlp.data.digits().X_test.astype(np.float64)  # raw rows; the scaling runs in float64, as model(X) runs it
    got = ort.InferenceSession(str(tmp_path / "m.onnx")).run(["Y"], {"X": X})[0]
    np.testing.assert_allclose(got, mlp.load(tmp_path / "m.npz")(X), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("scale", ["standard", "robust", "minmax"])
def test_onnx_scales_large_offsets_and_huge_inputs_as_the_model_does(tmp_path, scale):
    """Features at 1.7e9 ± 30 and rows of 1e30 through a float32 model: the graph takes float64
    rows and scales them in float64 before the cast, as model(X) does."""
    rng = np.random.default_rng(0)
    X = np.c_[1.7e9 + rng.uniform(-30, 30, 300), rng.normal(size=300)]
    y = (X[:, 0] > 1.7e9).astype(int)
    model = mlp.MLP([2, 16, 2], scale=scale, seed=0)
    mlp.train(model, X, y, epochs=5, progress=False)
    model.to_onnx(tmp_path / "m.onnx")
    np.testing.assert_allclose(_run(tmp_path / "m.onnx", X), model(X), rtol=1e-5, atol=1e-5)
    if scale == "robust":  # its smooth clip bounds any row: 1e30 included
        huge = np.array([[1e30, 1.0], [-1e30, -1e30]])
        np.testing.assert_allclose(_run(tmp_path / "m.onnx", huge), model(huge), rtol=1e-5, atol=1e-5)


def test_a_model_holding_nan_or_infinity_is_not_exported(tmp_path):
    """set_state and set_weights refuse non-finite values; an array changed in place is caught at
    export (the graph would compute NaN where model(X) refuses), and no file is written."""
    model = mlp.MLP([2, 3, 2], norm="batch", seed=0)
    mlp.train(model, np.eye(2)[[0, 1] * 5], [0, 1] * 5, epochs=1, progress=False)
    model.state[1][0] = np.inf
    with pytest.raises(ValueError, match=r"the model's state\[1\] holds NaN or infinity; it cannot be exported"):
        model.to_onnx(tmp_path / "m.onnx")
    model.state[1][0] = 1.0
    model.params[0][0, 0] = np.nan
    with pytest.raises(ValueError, match=r"the model's weights\[0\] holds NaN or infinity"):
        model.to_onnx(tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "sizes,output,loss,y",
    [
        ([3, 8, 4], "identity", None, np.arange(40) % 4),  # logits of 4 classes
        ([3, 8, 4], "softmax", None, np.arange(40) % 4),  # probabilities already
        ([3, 8, 1], "identity", "bce_logits", np.arange(40) % 2),  # one binary logit: (n, 2)
        ([3, 8, 3], "sigmoid", "bce", (np.arange(120).reshape(40, 3) % 2)),  # multilabel
    ],
    ids=["logits", "softmax", "binary", "multilabel"],
)
def test_the_probability_output_equals_predict_proba(tmp_path, sizes, output, loss, y):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    model = mlp.MLP(sizes, output=output, scale="standard", seed=0)
    mlp.train(model, X, y, loss=loss, epochs=2, progress=False)
    model.to_onnx(tmp_path / "m.onnx", probabilities=True)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    Y, P = session.run(["Y", "P"], {"X": X})
    np.testing.assert_allclose(Y, model(X), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(P, model.predict_proba(X), rtol=1e-5, atol=1e-6)


def test_a_model_without_probabilities_is_not_exported_with_them(tmp_path, capsys):
    model = mlp.MLP([3, 4, 1], seed=0)
    mlp.train(model, np.eye(3)[[0, 1, 2] * 4], np.arange(12.0), loss="mse", epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"probabilities=True: this model's outputs \(values regression\)"):
        model.to_onnx(tmp_path / "m.onnx", probabilities=True)
    model.save(tmp_path / "m.npz")
    clf = mlp.MLP([3, 4, 3], seed=0)
    mlp.train(clf, np.eye(3)[[0, 1, 2] * 4], [0, 1, 2] * 4, epochs=1, progress=False)
    clf.save(tmp_path / "c.npz")
    assert cli(capsys, "export", str(tmp_path / "c.npz"), str(tmp_path / "c.onnx"), "--probabilities")[0] == 0
    assert [o.name for o in ort.InferenceSession(str(tmp_path / "c.onnx")).get_outputs()] == ["Y", "P"]
