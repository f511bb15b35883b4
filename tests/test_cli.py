"""The command line says what it did: usage from a bare `mlp`, `--version`, `python -m mlp`, the
closing summary and the per-epoch lines of `mlp train`, and `mlp bench --help` true to the bench."""

from __future__ import annotations

import argparse
import subprocess
import sys

from helpers import has

import mlp
from mlp import cli
from mlp.bench import study


def _run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "mlp", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_bare_mlp_prints_usage_and_the_commands():
    r = _run()
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: mlp")
    for command in ("train", "predict", "export", "bench"):
        assert command in r.stdout


def test_version_from_the_command_and_from_python_m():
    r = _run("--version")
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
    r = _run(*args, cwd=tmp_path)
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
