"""Ensembles in one model: ``mlp.MLP(..., ensemble=k)`` trains k members side by side in one batched
step; each member learns exactly as the same network trained alone on the same batches, and
model(X), saved files and ONNX give their average."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import cli, has, last_json

import mlp
from mlp import backends

SIZES = [5, 8, 6, 3]


def _member(weights, m, k, sizes=SIZES):
    """Member m's weights, as a plain MLP of `sizes` holds them."""
    h1 = sizes[1]
    out = [weights[0][:, m * h1 : (m + 1) * h1], weights[1][m * h1 : (m + 1) * h1]]
    for i, b in enumerate(sizes[2:]):
        W, bias = weights[2 + 2 * i], weights[3 + 2 * i]
        out += [W[m], bias[m * b : (m + 1) * b]]
    return out


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    return X, np.digitize(X[:, 0] + X[:, 1] * X[:, 2], [-0.5, 0.5])


@pytest.mark.parametrize("name", backends.available())
def test_each_member_learns_as_it_would_alone(name):
    X, y = _data()
    k = 3
    ens = mlp.MLP(SIZES, ensemble=k, dtype="float64", seed=0, backend=name)
    alone = []
    for m in range(k):
        model = mlp.MLP(SIZES, dtype="float64", seed=0, backend=name)
        model.set_weights(_member(ens.get_weights(), m, k))
        alone.append(model)

    def opt():  # plain SGD with momentum: a gradient scaled by k (a mean over members) would show
        return mlp.SGD(0.05, momentum=0.9)

    h = mlp.train(ens, X, y, optimizer=opt(), epochs=3, batch_size=16, seed=1, progress=False)
    losses = [mlp.train(a, X, y, optimizer=opt(), epochs=3, batch_size=16, seed=1, progress=False).loss for a in alone]
    for m, model in enumerate(alone):
        for got, want in zip(_member(ens.get_weights(), m, k), model.get_weights()):
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(h.loss, np.sum(losses, axis=0), rtol=1e-9)  # the sum of the members' losses
    b = ens.backend
    mean = np.mean([a.backend.to_numpy(a(X)) for a in alone], axis=0)
    np.testing.assert_allclose(b.to_numpy(ens(X)), mean, rtol=1e-9, atol=1e-12)  # their average


def test_an_ensemble_is_one_file_and_one_onnx_graph(tmp_path):
    X, y = _data()
    ens = mlp.MLP(SIZES, ensemble=4, scale="robust", norm="batch", dropout=0.1, seed=0)
    mlp.train(ens, X, y, epochs=3, validation_fraction=0.2, progress=False)
    ens.save(tmp_path / "e.npz")
    loaded = mlp.load(tmp_path / "e.npz")
    np.testing.assert_array_equal(loaded(X), ens(X))
    np.testing.assert_array_equal(loaded.predict_labels(X), ens.predict_labels(X))
    if has("onnx") and has("onnxruntime"):
        import onnxruntime as ort

        ens.to_onnx(tmp_path / "e.onnx", probabilities=True)
        Y, P = ort.InferenceSession(str(tmp_path / "e.onnx")).run(["Y", "P"], {"X": X})
        np.testing.assert_allclose(Y, ens(X), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(P, ens.predict_proba(X), rtol=1e-5, atol=1e-6)


def test_a_regression_ensemble_with_standardized_targets():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = 1000 * X[:, 0] + 50
    ens = mlp.MLP([4, 16, 1], ensemble=3, scale_targets=True, seed=0, dtype="float64")
    mlp.train(ens, X, y, loss="mse", epochs=60, progress=False)
    assert ens.evaluate(X, y)["r2"] > 0.9


def test_what_would_mix_the_members_is_refused_and_the_cli_flag(capsys):
    with pytest.raises(ValueError, match="LayerNorm's statistics"):
        mlp.MLP(SIZES, ensemble=2, norm="layer")
    with pytest.raises(ValueError, match="share a softmax"):
        mlp.MLP(SIZES, "relu", "softmax", ensemble=2)
    with pytest.raises(ValueError, match="ensemble and residual=True do not combine yet"):
        mlp.MLP([5, 8, 8, 3], ensemble=2, residual=True)
    with pytest.raises(ValueError, match="ensemble must be an integer >= 1; got 0"):
        mlp.MLP(SIZES, ensemble=0)
    code, out, _ = cli(capsys, "train", "--epochs", "3", "--ensemble", "4", "--hidden", "64", "--json")
    assert code == 0 and last_json(out)["test_accuracy"] > 0.8
