"""train's settings and validation data are checked before the first step."""

from __future__ import annotations

import numpy as np
import pytest

import mlp


# -- settings that conflict or do not apply are errors naming both ------------------------------
@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(optimizer=mlp.SGD(0.05), lr=1e-9), r"optimizer is an Optimizer object .* so lr=1e-09 would be ignored"),
        (dict(optimizer=mlp.SGD(0.05), momentum=0.9), r"so momentum=0.9 would be ignored"),
        (dict(optimizer="adam", momentum=0.9), r"optimizer 'adam' has no momentum setting, so momentum=0.9"),
        (dict(validation=(np.zeros((2, 2)), [0, 1]), validation_fraction=0.2), r"validation and validation_fraction"),
        (
            dict(callbacks=print),
            r"callbacks must be a list of Callback objects or callables .* got builtin_function_or_method",
        ),
        (dict(checkpoint="/no/such/dir/c.npz"), r"checkpoint must be in an existing folder"),
    ],
)
def test_conflicting_settings_are_refused_before_training(kw, match):
    model = mlp.MLP([2, 4, 2], output="softmax")
    before = model.get_weights()
    with pytest.raises((ValueError, TypeError), match=match):
        mlp.train(model, np.zeros((8, 2)), np.array([0, 1] * 4), progress=False, **kw)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_validation_data_is_checked_up_front(rng):
    model = mlp.MLP([3, 4, 2], output="softmax")
    X, y = rng.normal(size=(10, 3)), rng.integers(0, 2, size=10)
    seen = []
    cb = [lambda e, logs, m: seen.append(e)]
    with pytest.raises(ValueError, match=r"validation y must have one target per sample of validation X \(4\); got 3"):
        mlp.train(model, X, y, validation=(X[:4], y[:3]), callbacks=cb, progress=False)
    with pytest.raises(ValueError, match=r"validation y labels must be in \[0, 2\)"):
        mlp.train(model, X, y, validation=(X[:3], np.array([0, 1, 5])), callbacks=cb, progress=False)
    with pytest.raises(TypeError, match="validation X must hold real numbers"):
        mlp.train(model, X, y, validation=(np.array([["a", "b", "c"]]), [0]), callbacks=cb, progress=False)
    with pytest.raises(ValueError, match="validation X must have 3 features"):
        mlp.train(model, X, y, validation=(X[:, :2], y), callbacks=cb, progress=False)
    assert seen == []  # refused before the first epoch
