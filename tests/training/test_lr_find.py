"""The learning-rate range test: rates rising exponentially step by step, the batch losses recorded,
a suggestion where the loss falls fastest, the model and optimizer left as they were; the plot and
the CLI's --find-lr."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import cli, has

import mlp


def _digits():
    ds = mlp.data.digits()
    return ds.X_train, ds.y_train


def test_the_range_test_records_rising_rates_and_leaves_the_model_as_it_was(tmp_path):
    X, y = _digits()
    model = mlp.MLP([64, 64, 10], scale="robust", norm="batch", seed=0)
    opt = mlp.Adam(1e-3)
    mlp.train(model, X, y, optimizer=opt, epochs=1, progress=False)
    before = (model.get_weights(), model.get_state(), opt.t, [np.array(a) for a in opt.state["m"]], model.head)
    r = mlp.lr_find(model, X, y, optimizer=opt, start=1e-6, end=1.0, steps=60)
    assert 5 <= len(r.lrs) <= 60 and r.lrs[0] == pytest.approx(1e-6)
    ratios = np.diff(np.log(r.lrs))
    np.testing.assert_allclose(ratios, math.log(1e6) / 59, rtol=1e-9)  # exponential, one rate per step
    assert len(r.losses) == len(r.smoothed) == len(r.lrs)
    assert r.suggestion is not None and 1e-6 < r.suggestion < 1.0
    i = r.lrs.index(r.suggestion)
    assert r.smoothed[min(i + 3, len(r.smoothed) - 1)] < r.smoothed[max(i - 3, 0)]  # falling there
    for a, b in zip(model.get_weights(), before[0]):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(model.get_state(), before[1]):
        np.testing.assert_array_equal(a, b)
    assert opt.t == before[2] and opt.lr == 1e-3 and model.head == before[4]
    np.testing.assert_array_equal(np.array(opt.state["m"][0]), before[3][0])
    if has("matplotlib"):
        assert r.plot(tmp_path / "lr.png") and (tmp_path / "lr.png").stat().st_size > 1000


def test_bad_settings_are_refused_by_name():
    X, y = _digits()
    with pytest.raises(ValueError, match="end must be above start"):
        mlp.lr_find(mlp.MLP([64, 10]), X, y, start=1.0, end=0.1)
    with pytest.raises(ValueError, match="lr_find sets epochs itself"):
        mlp.lr_find(mlp.MLP([64, 10]), X, y, epochs=3)


def test_the_cli_trains_with_the_suggested_rate(capsys, tmp_path):
    code, out, _ = cli(capsys, "train", "--epochs", "2", "--find-lr")
    assert code == 0 and "learning rate: " in out and "the steepest fall of the loss" in out
    code, _, err = cli(capsys, "train", "--epochs", "1", "--find-lr", "--lr", "0.1")
    assert code != 0 and "--find-lr chooses the learning rate; --lr gives one" in err
