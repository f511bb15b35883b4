"""The README's Python examples run as written, each in a fresh process in an empty folder. A block
whose first line is ``# needs: NAME[, NAME]`` runs where those modules are installed (the README says
which extra gives them) and is skipped, naming them, elsewhere; with CI=true nothing may be missing."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_python_examples():
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, tmp_path):
    code = BLOCKS[index]
    first = code.splitlines()[0]
    needs = [n.strip() for n in first.split(":", 1)[1].split(",")] if first.startswith("# needs:") else []
    missing = [n for n in needs if importlib.util.find_spec(n) is None]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"README example {index + 1} needs {missing}, which CI installs")
        pytest.skip(f"README example {index + 1} needs {', '.join(missing)}")
    env = {**os.environ, "MPLBACKEND": "Agg"}
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, f"README example {index + 1} failed:\n{code}\n{run.stdout[-2000:]}{run.stderr[-4000:]}"
