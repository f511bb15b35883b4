"""One source of truth per extension point: a new activation, layer or loss is one class,
found by the model builder, save/load and the command line; the backend registry is one
table; an uninstalled checkout says how to install."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig

import numpy as np
import pytest

import mlp
from mlp import backends
from mlp.losses import LOSSES
from mlp.nn.activations import ACTIVATIONS
from mlp.nn.layer import LAYERS


class Swish(mlp.Activation):
    """s·sigmoid(s): an activation added outside the library, in one class."""

    name = "test_swish"
    default_init = "he_normal"

    def apply(self, s):
        return s * mlp.numerics.sigmoid(s)

    def derivative_times(self, delta, s, y):
        g = mlp.numerics.sigmoid(s)
        return delta * (g + s * g * (1 - g))


def test_a_new_activation_trains_saves_and_loads(tmp_path, rng):
    assert ACTIVATIONS["test_swish"] is Swish and LAYERS["Swish"] is Swish
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 2, size=40)
    model = mlp.MLP([3, 8, 2], "test_swish", "softmax", dtype="float64", seed=0)
    assert model.init == "he_normal"  # the activation's own default initializer
    mlp.train(model, X, y, loss="cross_entropy", epochs=2, batch_size=8, progress=False)
    model.save(tmp_path / "m.npz")
    again = mlp.load(tmp_path / "m.npz")
    assert type(again.layers[1]) is Swish
    np.testing.assert_array_equal(again(X), model(X))


def test_a_new_activation_on_the_command_line(tmp_path, capsys):
    from mlp.cli import main

    code = main(
        [
            "train",
            "--json",
            "--no-progress",
            "--epochs",
            "1",
            "--hidden",
            "8",
            "--activation",
            "test_swish",
            "--backend",
            "numpy",
            "--save",
            str(tmp_path / "m.npz"),
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["epochs"] == 1
    assert type(mlp.load(tmp_path / "m.npz").layers[2]) is Swish  # after the input scaling and the first Dense


def test_a_layer_name_cannot_shadow_another_module():
    with pytest.raises(TypeError, match="a layer class named 'Dense' is already registered by mlp.nn.dense"):
        type("Dense", (mlp.Layer,), {"__module__": "somewhere_else"})


def test_losses_know_their_output_and_task():
    assert mlp.get_loss("binary_cross_entropy").output == mlp.get_loss("bce").output == "sigmoid"
    assert mlp.get_loss("bce_logits").output == "identity"
    assert (
        mlp.get_loss("cross_entropy").output == "softmax" and mlp.get_loss("softmax_cross_entropy").output == "identity"
    )
    assert mlp.get_loss("mse").output == "identity" and not mlp.get_loss("mse").classification
    assert all(LOSSES[n]().classification for n in ("cross_entropy", "bce", "kl", "hinge", "perceptron"))


def test_the_backend_table_is_the_only_list():
    assert tuple(e.name for e in backends.BACKENDS) == backends.NAMES
    assert backends.available()[0] == "numpy" and set(backends.available()) <= set(backends.NAMES)
    for entry in backends.BACKENDS:
        if entry.usable():
            b = backends.get(entry.name)
            assert backends.infer(b.asarray(np.zeros(2))) is b


def test_import_from_an_uninstalled_checkout_says_to_install(tmp_path):
    shutil.copytree(os.path.join(os.path.dirname(mlp.__file__)), tmp_path / "mlp")
    site = sysconfig.get_paths()["purelib"]  # numpy and the rest, but not the editable install's finder
    r = subprocess.run(
        [sys.executable, "-S", "-c", "import mlp"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": site},
    )
    assert r.returncode != 0
    assert "mlp is not installed" in r.stderr and "pip install -e ." in r.stderr
