"""Smoke test of `mlp bench`: the report, the JSON fields and the slope fits are produced
(tiny sizes; no timing assertions)."""

from __future__ import annotations

import json

import numpy as np
from helpers import has

from mlp import cli
from mlp.bench import timing


def test_loglog_fit_recovers_a_power_law():
    x = np.array([1e3, 2e3, 4e3, 8e3])
    fit = timing.loglog_fit(x, 3e-6 * x**1.5)
    assert abs(fit["slope"] - 1.5) < 1e-9 and fit["r2"] > 0.999999


def test_epoch_flops_counts_the_skipped_product():
    # two layers: 3 products each, minus the first layer's input gradient
    assert timing.epoch_flops([4, 3, 2], 10) == 2 * 10 * (3 * (12 + 6) - 12)


def test_bench_smoke_writes_report_json_and_plots(tmp_path, capsys):
    assert cli.main(["bench", "--smoke", "--out", str(tmp_path), "--repeats", "1"]) == 0
    result = json.loads((tmp_path / "results.json").read_text())
    assert {"versions", "threads", "rows", "scaling", "epoch_flops", "headline"} <= set(result)
    row = result["rows"][0]
    peers = ("torch_s", "mlp_over_torch") if has("torch") else ()  # an optional peer
    for key in ("mlp_s", "gemm_s", "mlp_over_gemm", "gflops", "sklearn_s", *peers):
        assert key in row and np.isfinite(row[key]) and row[key] > 0, key
    if not peers:
        assert "torch_s" not in row
    fits = result["scaling"]["numpy"]
    for fit in (fits["fit_n"], fits["fit_W"]):
        assert np.isfinite(fit["slope"]) and fit["r2"] <= 1
    assert len(fits["vs_n"]) == 3 and len(fits["vs_W"]) == 4
    report = (tmp_path / "report.md").read_text()
    assert "| numpy | cpu |" in report and "slope vs n" in report
    if has("matplotlib"):
        assert (tmp_path / "scaling-numpy.png").read_bytes()[:4] == b"\x89PNG"
    else:  # the core install: the numbers, and a word on the plots
        assert not (tmp_path / "scaling-numpy.png").exists()
        assert "no plots: matplotlib is not installed; pip install mlp[plot]" in capsys.readouterr().out


def test_bench_rejects_unknown_backend(tmp_path, capsys):
    assert cli.main(["bench", "--smoke", "--out", str(tmp_path), "--backends", "tpu"]) == 2
    assert "backend must be one of" in capsys.readouterr().err


def test_a_scaling_fit_that_says_nothing_is_flagged():
    from mlp.bench.report import fit_doubt

    assert fit_doubt({"slope": 0.98, "r2": 0.999}, "n") is None
    doubt = fit_doubt({"slope": -0.2, "r2": 0.24}, "n")
    assert "slope of -0.20 against n" in doubt and "R² 0.24" in doubt and "without --quick" in doubt
    assert "R² 0.50" in fit_doubt({"slope": 0.9, "r2": 0.5}, "n")
