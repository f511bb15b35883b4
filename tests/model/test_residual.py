"""Residual blocks: ``mlp.Residual(block)`` and ``mlp.MLP(..., residual=True)`` (pre-norm blocks as in
Gorishniy et al. 2021); the layer contract (gradients, state, save/load, compiled step) is in
tests/nn/test_layer_contracts.py and the ONNX export in tests/files/test_onnx.py; here the builder,
the refusals, training on every backend and the CLI."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import cli, last_json

import mlp
from mlp import backends


def test_the_builder_makes_pre_norm_blocks_of_the_hidden_layers_after_the_first():
    model = mlp.MLP([5, 16, 16, 16, 2], residual=True, dropout=0.1, norm="batch")
    blocks = [lay for lay in model.layers if isinstance(lay, mlp.Residual)]
    assert len(blocks) == 2
    assert [type(lay).__name__ for lay in blocks[0].block] == ["BatchNorm", "Dense", "ReLU", "Dropout"]
    assert [type(lay).__name__ for lay in mlp.MLP([5, 8, 8, 2], residual=True).layers[2].block] == [
        "LayerNorm",
        "Dense",
        "ReLU",
    ]
    with pytest.raises(ValueError, match="residual=True needs hidden layers of one width"):
        mlp.MLP([5, 16, 8, 2], residual=True)
    with pytest.raises(ValueError, match="must give back its input's width 4; it gives 3"):
        mlp.Residual([mlp.Dense(4, 3)])
    with pytest.raises(TypeError, match="Residual block\\[1\\] must be an mlp Layer"):
        mlp.Residual([mlp.Dense(4, 4), "relu"])


def test_the_output_is_the_input_plus_the_block():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(7, 4))
    block = [mlp.LayerNorm(4), mlp.Dense(4, 4), mlp.Tanh()]
    model = mlp.Sequential(mlp.Dense(4, 4), mlp.Residual(block), dtype="float64", seed=0)
    w = model.get_weights()
    h = X @ w[0] + w[1]  # the first Dense
    z = (h - h.mean(axis=1, keepdims=True)) / np.sqrt(h.var(axis=1, keepdims=True) + 1e-5) * w[2] + w[3]
    np.testing.assert_allclose(np.asarray(model(X)), h + np.tanh(z @ w[4] + w[5]), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", [n for n in backends.available() if n != "numpy"])
def test_a_deep_residual_model_trains_alike_on_every_backend(name):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(128, 6))
    y = (np.sin(X[:, 0]) + X[:, 1] * X[:, 2] > 0).astype(int)

    def run(backend):
        model = mlp.MLP([6, 32, 32, 32, 32, 2], residual=True, dropout=0.1, dtype="float64", seed=0, backend=backend)
        h = mlp.train(model, X, y, epochs=4, batch_size=32, seed=1, progress=False)
        return h.loss, model.get_weights()

    (l_a, w_a), (l_b, w_b) = run("numpy"), run(name)
    assert l_a[-1] < l_a[0]
    np.testing.assert_allclose(l_b, l_a, rtol=1e-8)
    for a, b in zip(w_a, w_b):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-10)


def test_the_cli_flags(capsys, tmp_path):
    code, out, _ = cli(
        capsys,
        "train",
        "--epochs",
        "2",
        "--residual",
        "--hidden",
        "32,32,32",
        "--csv-log",
        str(tmp_path / "l.csv"),
        "--save",
        str(tmp_path / "m.npz"),
        "--json",
    )
    assert code == 0 and last_json(out)["sizes"] == [64, 32, 32, 32, 10]
    assert sum(isinstance(lay, mlp.Residual) for lay in mlp.load(tmp_path / "m.npz").layers) == 2
    assert len((tmp_path / "l.csv").read_text().splitlines()) == 3
