"""A run watches itself: a diverging last update is caught, training that made things worse warns, good training does
not."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import cli

import mlp


# -- training that did not train ---------------------------------------------------------------
def test_training_that_made_things_worse_warns(capsys):
    ds = mlp.data.digits()
    model = mlp.MLP([64, 64, 10], scale="standard")
    with pytest.warns(mlp.TrainingWarning, match=r"training made the loss worse.*x the initial weights'.*lr=1e\+06"):
        h = mlp.train(model, ds.X_train, ds.y_train, optimizer=mlp.Adam(1e6), epochs=3, progress=False)
    assert h.warnings and h.final_loss > h.initial_loss
    code, out, _ = cli(capsys, "train", "--lr", "1e6", "--epochs", "2", "--hidden", "32", "--no-progress")
    assert code == 0 and "warning: training made the loss worse" in out


def test_good_training_does_not_warn(recwarn):
    ds = mlp.data.digits()
    mlp.train(
        mlp.MLP([64, 32, 10], scale="standard"), ds.X_train, ds.y_train, optimizer="adam", epochs=2, progress=False
    )
    assert not [w for w in recwarn if issubclass(w.category, mlp.TrainingWarning)]


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("lr", [1.0, 1e12], ids=["outputs-overflow", "weights-overflow"])
def test_the_last_update_of_an_epoch_is_checked(backend, lr):
    """One full-batch step whose loss is finite but whose update overflows float32."""
    model = mlp.Sequential(mlp.Dense(1, 1, bias=False), backend=backend.backend, dtype="float32", init=1.0)
    model.set_weights([np.ones((1, 1))])
    X, y = np.array([[1e18]]), np.array([0.0])
    with pytest.raises(mlp.DivergenceError, match="training diverged"):
        mlp.train(
            model,
            backend.data(X),
            backend.data(y),
            loss="mse",
            optimizer="sgd",
            lr=lr,
            batch_size=None,
            epochs=1,
            progress=False,
        )
    np.testing.assert_array_equal(model.get_weights()[0], [[1.0]])  # the weights whose loss was finite
    assert np.all(np.isfinite(backend.host(model(backend.data(X)))))
