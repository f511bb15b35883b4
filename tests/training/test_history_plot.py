"""Plotting a history leaves matplotlib's backend as the user set it."""

from __future__ import annotations

from helpers import needs


def test_plotting_leaves_matplotlib_backend_alone(tmp_path):
    needs("matplotlib", "plot")
    import subprocess
    import sys

    code = (
        "import matplotlib; matplotlib.use('svg')\n"
        "import mlp\nfrom mlp.plotting import plot_history\n"
        f"plot_history(mlp.History(loss=[1.0, 0.5]), {str(tmp_path / 'p.png')!r})\n"
        "print(matplotlib.get_backend())\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "svg" and (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
