"""The defaults a user meets first train a classifier."""

from __future__ import annotations

import numpy as np
import pytest

import mlp


@pytest.fixture(scope="module")
def digits():
    ds = mlp.data.digits()
    return ds.X_train / 16, ds.y_train, ds.X_test / 16, ds.y_test


def test_defaults_train_a_classifier(digits):
    """mlp.MLP's default head (scores, as PyTorch's nn.Linear) with train's default loss."""
    X, y, Xt, yt = digits
    model = mlp.MLP([64, 64, 10])
    h = mlp.train(model, X, y, epochs=10, progress=False)
    assert h.loss[-1] > 0 and mlp.metrics.accuracy(yt, model(Xt)) > 0.8  # chance is 0.1


def test_a_model_without_input_scaling_says_so_and_warns_of_features_far_from_unit_scale():
    """mlp.MLP takes the features as given (as scikit-learn's and Keras' do); its summary says so,
    and training on a feature beyond 1e3 warns, pointing at the user's line; a scaled model and
    unit-scale features train without a word."""
    import warnings

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] > 0).astype(int)
    model = mlp.MLP([3, 8, 2], seed=0)
    assert "no input scaling" in model.summary() and "no input scaling" in model.summary(compact=True)
    assert "no input scaling" not in mlp.MLP([3, 8, 2], scale="robust").summary(compact=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mlp.train(model, X, y, epochs=1, progress=False)
        mlp.train(mlp.MLP([3, 8, 2], scale="robust", seed=0), X * 1e4, y, epochs=1, progress=False)
    X[:, 2] *= 5000
    match = r"X's feature 2 reaches .*no input scaling: build it with scale='robust'"
    with pytest.warns(mlp.DataWarning, match=match) as w:
        mlp.train(mlp.MLP([3, 8, 2], seed=0), X, y, epochs=1, progress=False)
    assert w[0].filename == __file__
