"""The defaults a user meets first train a classifier."""

from __future__ import annotations

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
