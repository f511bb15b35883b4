"""The command line says what it did: usage from a bare `mlp`, `--version`, `python -m mlp`, the
closing summary and the per-epoch lines of `mlp train`, and `mlp bench --help` true to the bench."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np
import pytest
from helpers import has, mlp_process, needs

import mlp
from mlp import cli
from mlp.bench import study


def test_bare_mlp_prints_usage_and_the_commands():
    r = mlp_process()
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: mlp")
    for command in ("train", "predict", "export", "bench"):
        assert command in r.stdout


def test_version_from_the_command_and_from_python_m():
    r = mlp_process("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"mlp {mlp.__version__}"
    console = subprocess.run(
        [sys.executable, "-c", "import sys; from mlp.cli import main; sys.exit(main(['--version']))"],
        capture_output=True,
        text=True,
    )
    assert console.stdout.strip() == r.stdout.strip()


def test_train_closing_summary_and_verbose_epoch_lines(tmp_path):
    model, plot = tmp_path / "m.npz", tmp_path / "curves.svg"
    args = ["train", "--dataset", "moons", "--hidden", "16", "--epochs", "60", "--early-stopping", "--verbose"]
    args += ["--no-progress", "--save", str(model), "--seed", "0"]
    has_plot = has("matplotlib")
    if has_plot:
        args += ["--plot", str(plot)]
    r = mlp_process(*args, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("task: classification (the built-in moons dataset")
    epochs = [line for line in lines if line.startswith("Epoch ")]
    assert epochs[0].startswith("Epoch 1/60 - ") and "loss: " in epochs[0] and "val_accuracy: " in epochs[0]
    trained = next(line for line in lines if line.startswith("trained "))
    ran = int(trained.split()[1])
    assert len(epochs) == ran  # one line per epoch run
    if ran < 60:
        assert "(early stopping: the validation loss stopped improving)" in trained
    else:
        assert "(ran every epoch asked for)" in trained
    best = next(line for line in lines if line.startswith("validation loss "))
    assert "accuracy" in best and 1 <= int(best.rsplit("best epoch ", 1)[1]) <= ran
    assert any(line.startswith("test accuracy: ") for line in lines)
    wrote = lines[-1]
    assert wrote.startswith("wrote ") and f"model {model}" in wrote and model.exists()
    if has_plot:
        assert f"plot {plot}" in wrote and plot.exists()


def test_every_bench_flag_has_help_and_quick_says_what_it_does():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    b = sub.choices["bench"]
    for action in b._actions:
        if action.dest != "help":
            assert action.help and action.help.strip(), f"mlp bench {action.option_strings} has no help"
    quick = next(a for a in b._actions if "--quick" in a.option_strings)
    # --quick runs a scaling study (unless --no-scaling), as its help says
    assert study.GRIDS["quick"]["scaling"] and "--no-scaling" in quick.help and "scaling" in quick.help
    assert "implies --no-scaling" not in quick.help


def test_cli_save_checkpoint_resume(tmp_path):
    import json
    import subprocess
    import sys

    def run(*args):
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "mlp",
                "train",
                "--json",
                "--hidden",
                "16",
                "--dtype",
                "float64",
                "--backend",
                "numpy",
                *args,
            ],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout.strip().splitlines()[-1])

    full = run("--epochs", "4", "--save", str(tmp_path / "full.npz"))
    run("--epochs", "2", "--checkpoint", str(tmp_path / "c.npz"))
    resumed = run("--epochs", "4", "--resume", str(tmp_path / "c.npz"), "--save", str(tmp_path / "resumed.npz"))
    assert resumed["train_loss"] == full["train_loss"]
    a, b = mlp.load(tmp_path / "full.npz"), mlp.load(tmp_path / "resumed.npz")
    for x, y in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(x, y)


def _mlp(*args):
    return subprocess.run([sys.executable, "-m", "mlp", *args], capture_output=True, text=True)


def test_cli_train_json_and_plot(tmp_path):
    needs("matplotlib", "plot")
    png = tmp_path / "curves.png"
    r = _mlp(
        "train", "--json", "--epochs", "3", "--hidden", "32", "--plot", str(png), "--save", str(tmp_path / "m.npz")
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert {"backend", "device", "epochs", "train_loss", "seconds", "test_accuracy"} <= set(out)
    assert out["backend"] == mlp.backends.best() and out["epochs"] == 3 and 0.5 < out["test_accuracy"] <= 1
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model = mlp.load(tmp_path / "m.npz")
    assert model.n_features == 64 and model.n_outputs == 10


def test_cli_regression_reports_mse():
    r = _mlp("train", "--json", "--dataset", "regression", "--epochs", "2", "--hidden", "8", "--lr", "0.01")
    assert r.returncode == 0, r.stderr
    assert "test_mse" in json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "args,match",
    [
        (["train", "--epochs", "0"], "--epochs: must be > 0"),
        (["train", "--hidden", "a,b"], "--hidden: expected comma-separated integers"),
        (["train", "--backend", "tpu"], "--backend: invalid choice"),
        (["train", "--data", "/no/such/file.npz"], "does not exist"),
        (["train", "--lr", "-1"], "--lr: must be > 0"),
    ],
)
def test_cli_errors_are_one_line_exit_2(args, match):
    r = _mlp(*args)
    assert r.returncode == 2
    assert match in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 3


def test_cli_bad_data_file(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    r = _mlp("train", "--data", str(tmp_path / "junk.npz"))
    assert r.returncode == 2 and "cannot read as .npz" in r.stderr and "Traceback" not in r.stderr
