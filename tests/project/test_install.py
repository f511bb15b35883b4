"""What `import mlp` says from the checkout's root when the package is installed elsewhere, or not at all."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _python(code, cwd, pythonpath=None, isolated=False):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath:
        env["PYTHONPATH"] = str(pythonpath)
    args = [sys.executable, *(["-S"] if isolated else []), "-c", code]
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _installed_copy(tmp_path):
    """The package as a non-editable install lays it out: mlp/ with the backends inside it."""
    site = tmp_path / "site"
    shutil.copytree(ROOT / "mlp", site / "mlp", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "backends", site / "mlp" / "backends", ignore=shutil.ignore_patterns("__pycache__"))
    return site


def test_the_checkout_shadowing_an_installed_mlp_says_so(tmp_path):
    site = _installed_copy(tmp_path)
    run = _python("import mlp", cwd=ROOT, pythonpath=site, isolated=True)
    assert run.returncode != 0
    message = run.stderr.strip().splitlines()[-1]
    assert "shadows the mlp installed in" in message and str(site / "mlp") in message
    assert "Run from another folder, or install the checkout editable (pip install -e .)" in message
    elsewhere = tmp_path / "work"
    elsewhere.mkdir()
    code = "import sys; sys.path.insert(0, ''); import mlp.backends; print(mlp.__file__)"
    ok = _python(code, cwd=elsewhere, pythonpath=f"{site}{os.pathsep}{os.pathsep.join(sys.path[1:])}")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == str(site / "mlp" / "__init__.py")


def test_the_checkout_without_any_install_says_how_to_install(tmp_path):
    run = _python("import mlp", cwd=ROOT, isolated=True)
    assert run.returncode != 0
    assert "mlp is not installed" in run.stderr and "pip install -e ." in run.stderr
