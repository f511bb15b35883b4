"""The bench's report (markdown) and plots."""

from __future__ import annotations

import json
import os

import numpy as np

from mlp.bench.timing import spread


# -- reporting ------------------------------------------------------------------------------
def report_markdown(result):
    h = result["headline"]
    lines = [
        f"# mlp bench ({result['mode']})",
        "",
        f"One epoch of mini-batch SGD with momentum, {h['n']:,} samples, sizes {h['sizes']} ReLU, "
        f"softmax cross-entropy, float32 weights (bf16/fp16 rows: products and activations in 16 bits); "
        f"|W| = {result['n_weights']:,}; "
        f"matrix-product work {result['epoch_flops'] / 1e9:.1f} GFLOP per epoch. Medians of repeats, "
        "warm-up excluded; compile = the first epoch's excess over the steady one (tracing and XLA "
        "compilation on jax; allocation and warm-up elsewhere). GEMM-only: the epoch's matrix products alone "
        "on the same backend; PyTorch: its eager loop (autograd, torch.optim.SGD; torch.autocast in bf16/fp16) on "
        "the same device. Timed interleaved: after each of our epochs, one epoch of each peer. 2nd call: the first "
        "epoch of a second train() call on the same model, over a steady epoch (a compiled step reused). Spread: "
        "(max - min) / median of our repeats; a row above 10% was measured again, and is marked noisy if it stayed "
        "above.",
        "",
        "| backend | device | precision | batch | mlp epoch (s) | compile (s) | GEMM-only (s) | mlp / GEMM | GFLOP/s "
        "| PyTorch (s) | mlp / PyTorch | scikit-learn (s) | sklearn / mlp | 2nd call / steady | spread |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in result["rows"]:

        def f(k, fmt="{:.3f}", r=r):
            return fmt.format(r[k]) if k in r else "-"

        noise = (
            f"{spread(r['mlp_all']):.0%}"
            + (" noisy" if r.get("noisy") else "")
            + (" (re-measured)" if r.get("remeasured") else "")
        )
        lines.append(
            f"| {r['backend']} | {r['device']} | {r.get('precision', 'fp32')} | {r['batch']} | {f('mlp_s')} | "
            f"{f('compile_s', '{:.2f}')} | {f('gemm_s')} | "
            f"{f('mlp_over_gemm', '{:.2f}x')} | {f('gflops', '{:.1f}')} | {f('torch_s')} | "
            f"{f('mlp_over_torch', '{:.2f}x')} | {f('sklearn_s')} | {f('sklearn_over_mlp', '{:.2f}x')} | "
            f"{f('second_call_over_steady', '{:.2f}x')} | {noise} |"
        )
    if result.get("skipped"):
        lines += ["", "Not measured: " + "; ".join(result["skipped"]) + "."]
    lines += _small_and_scaling(result)
    t = result["threads"]
    lines += ["", "## Machine", "", f"- versions: {json.dumps(result['versions'])}", f"- threads: {json.dumps(t)}"]
    return "\n".join(lines) + "\n"


def _small_and_scaling(result) -> list[str]:
    """The report's small-model table and its scaling fits."""
    lines = []
    if result.get("small"):
        lines += [
            "",
            "## Small model: 26-256-256-1 regression, batch 32 (microseconds per step)",
            "",
            "| backend | Adam | SGD+momentum | Adam / SGD | PyTorch eager Adam | Adam / PyTorch |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for backend, m in result["small"].items():
            torch_us = f"{m['torch_adam_us']:.0f}" if "torch_adam_us" in m else "-"
            ratio = f"{m['adam_over_torch']:.2f}x" if "adam_over_torch" in m else "-"
            lines.append(
                f"| {backend} | {m['adam_us']:.0f} | {m['sgd_momentum_us']:.0f} | {m['adam_over_sgd']:.2f}x | "
                f"{torch_us} | {ratio} |"
            )
    lines += ["", "## Scaling: epoch time ~ n^a · |W|^b", ""]
    for backend, s in result["scaling"].items():
        fn, fw, fb = s["fit_n"], s["fit_W"], s["fit_W_gemm_regime"]
        lines.append(
            f"- **{backend}**: slope vs n = {fn['slope']:.3f} (R² {fn['r2']:.4f}); slope vs |W| over all "
            f"architectures = {fw['slope']:.3f} (R² {fw['r2']:.4f})"
            + (f"; in the GEMM-dominated regime = {fb['slope']:.3f} (R² {fb['r2']:.4f})" if fb else "")
        )
        doubt = fit_doubt(fn, "n")
        if doubt:
            lines.append(f"  - **not a measurement of scaling**: {doubt}")
        if s["small_layers"]:
            per_w = [r["seconds"] / r["W"] for r in s["vs_W"]]
            lines.append(
                f"  - where it breaks: the smallest layers ({', '.join(str(r['sizes']) for r in s['small_layers'])}) "
                f"cost {max(per_w) / min(per_w):.1f}x more per weight than the cheapest: per-call overhead, "
                "not arithmetic, dominates there."
            )
    return lines


NO_MATPLOTLIB = "matplotlib is not installed; pip install mlp[plot] for the plots"


def has_matplotlib() -> bool:
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def plot_scaling(result, folder):
    from matplotlib.figure import Figure  # no pyplot: matplotlib's global backend stays as the user set it

    paths = []
    for backend, s in result["scaling"].items():
        fig = Figure(figsize=(10, 4), dpi=100)
        axes = fig.subplots(1, 2)
        for ax, key, xk, fit, label in (
            (axes[0], "vs_n", "n", s["fit_n"], "n (samples)"),
            (axes[1], "vs_W", "W", s["fit_W_gemm_regime"] or s["fit_W"], "|W| (weights)"),
        ):
            xs = np.array([r[xk] for r in s[key]], float)
            ts = np.array([r["seconds"] for r in s[key]])
            ax.loglog(xs, ts, "o", label="measured")
            grid = np.geomspace(xs.min(), xs.max(), 50)
            ax.loglog(
                grid,
                np.exp(fit["intercept"]) * grid ** fit["slope"],
                "-",
                label=f"fit: slope {fit['slope']:.2f}, R² {fit['r2']:.3f}",
            )
            ax.set_xlabel(label)
            ax.set_ylabel("epoch seconds")
            ax.grid(alpha=0.3, which="both")
            ax.legend()
        fig.suptitle(f"epoch cost scaling on {backend}")
        fig.tight_layout()
        path = os.path.join(folder, f"scaling-{backend}.png")
        fig.savefig(path)
        paths.append(path)
    return paths


def fit_doubt(fit: dict, against: str) -> str | None:
    """Why a fit of epoch time against `against` says nothing (None where it may be read): an epoch
    cannot get cheaper as n grows, and a fit with R² below 0.9 explains little of the times."""
    reasons = []
    if against == "n" and fit["slope"] < 0.5:
        reasons.append(f"a slope of {fit['slope']:.2f} against n (an epoch's work grows linearly with n)")
    if fit["r2"] < 0.9:
        reasons.append(f"R² {fit['r2']:.2f}")
    if not reasons:
        return None
    return (
        " and ".join(reasons) + ": the epochs were too short for this machine's noise and per-call overhead "
        "(rerun without --quick, or with larger n)"
    )
