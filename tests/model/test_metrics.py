"""mlp.metrics and model.evaluate: equal to scikit-learn's on the same rows, one column read by the head."""

from __future__ import annotations

import numpy as np
import pytest

import mlp
from mlp import metrics


def test_metrics_read_one_column_by_the_head_never_by_the_values():
    y = np.array([0, 1, 1, 0])
    logits = np.array([[-2.0], [3.0], [0.5], [-0.1]])
    assert mlp.metrics.accuracy(y, logits, head="logits") == 1.0
    assert mlp.metrics.accuracy(y, 1 / (1 + np.exp(-logits)), head="probability") == 1.0
    assert mlp.metrics.accuracy(np.array([-1, 1, 1, -1]), logits, head="signed") == 1.0
    with pytest.raises(ValueError, match="one score per sample.*head='logits', 'probability' or 'signed'"):
        mlp.metrics.accuracy(y, logits)


def test_multilabel_heads_report_subset_and_per_label_accuracy(rng):
    X = rng.normal(size=(300, 4))
    Y = np.stack([X[:, 0] > 0, X[:, 1] > 0, X[:, 0] + X[:, 2] > 0], axis=1).astype(float)
    model = mlp.MLP([4, 32, 3], "relu", "sigmoid", seed=0)
    h = mlp.train(
        model, X, Y, loss="bce", optimizer="adam", lr=0.01, epochs=30, validation_fraction=0.2, progress=False
    )
    assert model.head == mlp.Head("multilabel", "probability")
    m = model.evaluate(X, Y)
    pred = model.predict_labels(X)
    assert pred.shape == (300, 3)
    assert m["accuracy"] == np.mean(np.all(pred == Y, axis=1)) < m["label_accuracy"] == np.mean(pred == Y)
    assert h.val_label_accuracy and h.val_accuracy[-1] <= h.val_label_accuracy[-1]


def test_metrics_match_scikit_learn(backend, rng):
    sk = pytest.importorskip("sklearn.metrics")
    y = rng.integers(0, 3, size=30)
    p = rng.dirichlet(np.ones(3), size=30)
    assert metrics.accuracy(backend.data(y), backend.data(p)) == pytest.approx(sk.accuracy_score(y, p.argmax(1)))
    assert metrics.log_loss(backend.data(y), backend.data(p)) == pytest.approx(sk.log_loss(y, p))
    t, q = rng.normal(size=(30, 2)), rng.normal(size=(30, 2))
    assert metrics.mean_squared_error(backend.data(t), backend.data(q)) == pytest.approx(sk.mean_squared_error(t, q))
    assert metrics.r2_score(backend.data(t), backend.data(q)) == pytest.approx(sk.r2_score(t, q))


def test_regression_metrics_keep_targets_of_large_magnitude():
    """A constant prediction of targets near 1e8 is not a perfect fit: targets are not cast to
    the predictions' float32 first (model.evaluate, so the CLI's test MSE and R², included)."""
    from sklearn.metrics import mean_squared_error, r2_score

    y = 1e8 + np.arange(8.0)
    pred = np.full(8, 1e8 + 3.5, dtype=np.float32)
    assert metrics.mean_squared_error(y, pred) == pytest.approx(mean_squared_error(y, pred), rel=1e-12)
    assert metrics.r2_score(y, pred) == pytest.approx(r2_score(y, pred), abs=1e-12)
    assert metrics.r2_score(y, pred) < 0.01

    class Constant(mlp.Sequential):
        def __call__(self, X):
            return np.full((X.shape[0], 1), 1e8 + 3.5, dtype=np.float32)

    model = Constant(mlp.Dense(2, 1))
    model.head = mlp.Head("regression", "values")
    result = model.evaluate(np.zeros((8, 2)), y)
    assert result["r2"] < 0.01 and result["mse"] == pytest.approx(mean_squared_error(y, pred), rel=1e-12)


def test_integer_metrics_do_not_overflow():
    t, p = np.array([100_000, 0], np.int32), np.array([-100_000, 0], np.int32)
    assert metrics.mean_squared_error(t, p) == 2e10
    assert metrics.r2_score(t, p) == -7.0  # 1 - 4e10 / 5e9
