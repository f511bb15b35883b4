"""`mlp` checks its flags before training: a flag that would be ignored, a loss that needs another output, a bad output
path or a missing backend is a one-line error."""

from __future__ import annotations

import pytest
from helpers import cli, mlp_process, needs

import mlp


@pytest.mark.parametrize(
    "flags,match",
    [
        (
            ["--loss", "bce", "--label-smoothing", "0.1", "--dataset", "moons"],
            "--label-smoothing applies to the cross-entropy",
        ),
        (["--optimizer", "adam", "--momentum", "0.9"], "--momentum applies to optimizers with momentum"),
        (
            ["--dataset", "regression", "--loss", "cross_entropy"],
            "is a classification loss, but the task is regression",
        ),
        (["--dataset", "moons", "--task", "regression", "--loss", "bce"], "is a classification loss"),
    ],
)
def test_cli_flags_that_would_be_ignored_are_errors(capsys, flags, match):
    code, _, err = cli(capsys, "train", "--epochs", "1", *flags)
    assert code == 2 and match in err


def test_a_named_optimizer_keeps_its_own_defaults(monkeypatch, capsys):
    seen = {}
    real = mlp.train

    def spy(model, X, y, **kw):
        seen["opt"] = kw["optimizer"]
        return real(model, X, y, **kw)

    monkeypatch.setattr(mlp, "train", spy)
    assert cli(capsys, "train", "--optimizer", "adamw", "--epochs", "1", "--hidden", "8", "--json")[0] == 0
    assert isinstance(seen["opt"], mlp.AdamW) and seen["opt"].weight_decay == 0.01


@pytest.mark.parametrize("flag", ["bce", "binary_cross_entropy"])
def test_cli_asks_the_loss_for_its_output(flag, capsys):
    import json

    from mlp.cli import main

    args = ["train", "--json", "--no-progress", "--dataset", "moons", "--epochs", "20", "--hidden", "8"]
    assert main([*args, "--loss", flag]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["sizes"][-1] == 1 and out["test_accuracy"] > 0.7


@pytest.mark.parametrize(
    "args,match",
    [
        (["--save", "/no/such/folder/m.npz"], "--save must be in an existing folder"),
        (["--checkpoint", "/no/such/folder/c.npz"], "--checkpoint must be in an existing folder"),
        (["--plot", "/no/such/folder/p.png"], "--plot must be in an existing folder"),
        (["--plot", "curves.txt"], "--plot 'curves.txt' must end in a picture format"),
        (["--validation-fraction", "1.5"], "argument --validation-fraction: must be in (0, 1)"),
        (["--label-smoothing", "1"], "argument --label-smoothing: must be in [0, 1)"),
        (["--momentum", "1.5"], "argument --momentum: must be in [0, 1)"),
    ],
)
def test_cli_checks_flags_and_output_paths_before_training(args, match, tmp_path):
    import time

    if "--plot" in args:
        needs("matplotlib", "plot")

    t0 = time.monotonic()
    r = mlp_process("train", "--epochs", "200", "--dataset", "digits", *args)
    assert r.returncode == 2 and r.stderr.startswith("mlp: error: ") and match in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and time.monotonic() - t0 < 30  # refused before 200 epochs ran


def test_cli_names_a_backend_that_is_not_installed():
    from mlp import backends

    missing = [e for e in backends.BACKENDS if not e.installed()]
    if not missing:
        pytest.skip("every backend's library is installed here")
    r = mlp_process("train", "--backend", missing[0].name)
    assert (
        r.returncode == 2
        and f"backend {missing[0].name!r} needs {missing[0].library}, which is not installed" in r.stderr
    )
