"""The study behind ``mlp bench``: epoch cost on every available backend, each beside the GEMM-only
time of the same epoch on that backend and PyTorch's eager loop on its device, scikit-learn in the
same run, small-model step costs, and the O(n·|W|) scaling study.

Every timing synchronizes the device before reading the clock (the epoch loss is read on the host at
the end of each epoch; GEMM loops end with ``backend.synchronize()``), excludes a warm-up epoch (whose
excess over the steady epoch is reported as the compile time), and reports the median over repeats.
"""

from __future__ import annotations

import contextlib
import statistics

import numpy as np

import mlp
from mlp import backends as _backends
from mlp.bench.peers import gemm_epoch, sklearn_epoch, torch_epoch, torch_small_epoch
from mlp.bench.timing import (
    HEADLINE,
    PRECISIONS,
    SMALL,
    Timed,
    between_epochs,
    epoch_flops,
    loglog_fit,
    make_data,
    n_weights,
    spread,
    threads,
    versions,
)

# -- our framework -------------------------------------------------------------------


def time_mlp_epoch(
    backend,
    sizes,
    X,
    y,
    batch,
    repeats,
    lr=0.01,
    momentum=0.9,
    dtype="float32",
    precision="fp32",
    between=(),
    again=False,
):
    """Median seconds of one training epoch (warm-up epoch excluded), the steady epochs, and
    the first epoch (which includes tracing and compiling where the backend compiles). Each
    callable in `between` runs once after every epoch (outside its time): peers timed interleaved.
    ``again``: also the first epoch of a second train() call on the same model (a compiled step
    reused: no new compilation), as a fourth value."""

    b = _backends.get(backend)
    model = mlp.MLP(sizes, "relu", "softmax", backend=b, dtype=dtype, seed=0, compute_dtype=PRECISIONS[precision])
    Xb, yb = b.asarray(X, dtype), b.asarray(y)
    h = mlp.train(
        model,
        Xb,
        yb,
        loss="cross_entropy",
        optimizer=mlp.SGD(lr, momentum=momentum),
        epochs=1 + repeats,
        batch_size=batch,
        seed=0,
        progress=False,
        callbacks=[between_epochs(between)],
    )
    out = statistics.median(h.seconds[1:]), h.seconds[1:], h.seconds[0]
    if not again:
        return out
    h2 = mlp.train(
        model,
        Xb,
        yb,
        loss="cross_entropy",
        optimizer=mlp.SGD(lr, momentum=momentum),
        epochs=1,
        batch_size=batch,
        seed=0,
        progress=False,
    )
    return (*out, h2.seconds[0])


# -- small models: time per step -------------------------------------------------------------


def small_model_steps(backend, repeats=3, log=print):
    """Microseconds per training step of a 26-256-256-1 regression network at batch 32 (where
    per-call overhead, not arithmetic, costs): Adam and SGD with momentum on `backend`, and
    PyTorch eager's Adam on the same device; interleaved, best of `repeats` epochs each."""

    rng = np.random.default_rng(0)
    X = rng.standard_normal((SMALL["n"], 26), dtype=np.float32)
    y = rng.standard_normal(SMALL["n"]).astype(np.float32)
    steps = -(-SMALL["n"] // SMALL["batch"])
    b = _backends.get(backend)
    Xb, yb = b.asarray(X), b.asarray(y)
    out = {}
    peers = []
    on_gpu = "cuda" in str(b.device).lower() or backend == "cupy"
    with contextlib.suppress(ImportError):
        peers.append(("torch_adam_us", Timed(torch_small_epoch(("cuda" if on_gpu else "cpu"), X, y))))
    for name, opt in (("adam_us", lambda: mlp.Adam(1e-3)), ("sgd_momentum_us", lambda: mlp.SGD(0.01, momentum=0.9))):
        model = mlp.MLP(SMALL["sizes"], backend=b, seed=0)
        h = mlp.train(
            model,
            Xb,
            yb,
            loss="mse",
            optimizer=opt(),
            epochs=1 + repeats,
            batch_size=SMALL["batch"],
            progress=False,
            callbacks=[between_epochs([p for _, p in peers])],
        )
        out[name] = min(h.seconds[1:]) / steps * 1e6
    for name, p in peers:
        out[name] = min(p.times[1:] or p.times) / steps * 1e6
    out["adam_over_sgd"] = out["adam_us"] / out["sgd_momentum_us"]
    if "torch_adam_us" in out:
        out["adam_over_torch"] = out["adam_us"] / out["torch_adam_us"]
    log("  small model " + ", ".join(f"{k}={v:.2f}" for k, v in out.items()))
    return out


def scaling_study(backend, grid, batch, repeats, log):
    """Epoch time over a grid of n (fixed widths) and of |W| (widths and depths)."""
    rows_n, rows_w = [], []
    sizes0 = grid["sizes"]
    for n in grid["ns"]:
        X, y = make_data(n, sizes0[0], sizes0[-1])
        t = time_mlp_epoch(backend, sizes0, X, y, batch, repeats)[0]
        rows_n.append({"n": n, "W": n_weights(sizes0), "seconds": t})
        log(f"  scaling n={n:>7} |W|={n_weights(sizes0):>9,}  {t * 1e3:8.1f} ms")
    X, y = make_data(grid["n"], sizes0[0], sizes0[-1])
    for sizes in grid["architectures"]:
        t = time_mlp_epoch(backend, sizes, X, y, batch, repeats)[0]
        rows_w.append({"n": grid["n"], "sizes": sizes, "W": n_weights(sizes), "seconds": t})
        log(f"  scaling sizes={sizes} |W|={n_weights(sizes):>9,}  {t * 1e3:8.1f} ms")
    fit_n = loglog_fit([r["n"] for r in rows_n], [r["seconds"] for r in rows_n])
    big = [r for r in rows_w if r["W"] >= grid["gemm_regime_W"]]
    fit_w = loglog_fit([r["W"] for r in rows_w], [r["seconds"] for r in rows_w])
    fit_w_big = loglog_fit([r["W"] for r in big], [r["seconds"] for r in big]) if len(big) >= 3 else None
    small = [r for r in rows_w if r["W"] < grid["gemm_regime_W"]]
    return {
        "vs_n": rows_n,
        "vs_W": rows_w,
        "fit_n": fit_n,
        "fit_W": fit_w,
        "fit_W_gemm_regime": fit_w_big,
        "small_layers": small,
    }


GRIDS = {
    "smoke": {
        "headline": {"sizes": [32, 16, 16, 4], "n": 512},
        "batches": [32, 128],
        "repeats": 1,
        "scaling": {
            "sizes": [32, 16, 4],
            "ns": [256, 512, 1024],
            "n": 512,
            "gemm_regime_W": 600,
            "architectures": [[32, 8, 4], [32, 16, 4], [32, 32, 4], [32, 64, 4]],
        },
    },
    "quick": {
        "headline": HEADLINE,
        "batches": [128, 1024],
        "repeats": 3,
        "scaling": {
            "sizes": [784, 256, 256, 10],
            "ns": [5000, 10000, 20000, 40000],
            "n": 10000,
            "gemm_regime_W": 200_000,
            "architectures": [
                [784, 16, 10],
                [784, 64, 10],
                [784, 256, 256, 10],
                [784, 512, 512, 10],
                [784, 1024, 1024, 10],
                [784, 512, 512, 512, 512, 10],
            ],
        },
    },
    "full": {
        "headline": HEADLINE,
        "batches": [128, 1024],
        "repeats": 5,
        "scaling": {
            "sizes": [784, 512, 512, 10],
            "ns": [7500, 15000, 30000, 60000],
            "n": 20000,
            "gemm_regime_W": 200_000,
            "architectures": [
                [784, 16, 10],
                [784, 64, 10],
                [784, 128, 128, 10],
                [784, 256, 256, 10],
                [784, 512, 512, 10],
                [784, 1024, 1024, 10],
                [784, 2048, 2048, 10],
                [784, 512, 512, 512, 10],
                [784, 512, 512, 512, 512, 10],
            ],
        },
    },
}


def default_backends():
    """Every backend that runs here, but the array-API conformance one (array_api_strict)."""
    return [b for b in _backends.available() if b != "array_api_strict"]


def run_study(
    mode="quick",
    backends=None,
    batches=None,
    n=None,
    repeats=None,
    peers=True,
    log=print,
    sizes=None,
    scaling=True,
    precisions=("fp32",),
    small=True,
):
    """Every backend at every batch size and precision: our epoch, the GEMM-only epoch and PyTorch's
    eager loop (autocast in bf16/fp16) timed interleaved in one process (ours, then one epoch of each
    peer, after each of our epochs); a row whose repeats spread by more than 10% is measured again
    and marked noisy if it still does."""
    grid = GRIDS[mode]
    backends = backends or default_backends()
    batches = batches or grid["batches"]
    repeats = repeats or grid["repeats"]
    head = dict(grid["headline"])
    if n:
        head["n"] = n
    if sizes:
        if len(sizes) < 2:
            raise ValueError(f"sizes must list at least input and output widths; got {sizes}")
        head["sizes"] = sizes
    sizes, n = head["sizes"], head["n"]
    X, y = make_data(n, sizes[0], sizes[-1])
    flops = epoch_flops(sizes, n)
    result = {
        "mode": mode,
        "versions": versions(),
        "threads": threads(),
        "headline": {"sizes": sizes, "n": n},
        "epoch_flops": flops,
        "n_weights": n_weights(sizes),
        "rows": [],
        "small": {},
        "scaling": {},
        "skipped": [],
    }
    for backend in backends:
        b = _backends.get(backend)
        on_gpu = backend in ("cupy", "torch-cuda") or "cuda" in str(b.device).lower() or "gpu" in str(b.device).lower()
        for precision in precisions:
            if precision != "fp32" and PRECISIONS[precision] not in b.compute_dtypes:
                result["skipped"].append(f"{backend} {precision}: the backend has no {PRECISIONS[precision]}")
                continue
            for batch in batches:
                row = _measure_row(backend, b, on_gpu, sizes, X, y, n, batch, repeats, precision, peers, flops)
                if max(spread(row["mlp_all"]), spread(row.get("torch_all", [0])), spread(row["gemm_all"])) > 0.10:
                    again = _measure_row(backend, b, on_gpu, sizes, X, y, n, batch, repeats, precision, peers, flops)
                    row = min((row, again), key=lambda r: spread(r["mlp_all"]))
                    row["remeasured"] = True
                    row["noisy"] = max(spread(row["mlp_all"]), spread(row.get("torch_all", [0]))) > 0.10
                log(
                    "  "
                    + ", ".join(
                        f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in row.items()
                        if not k.endswith("_all")
                    )
                )
                result["rows"].append(row)
        if small:
            result["small"][backend] = small_model_steps(backend, repeats, log)
    if scaling:  # on the first backend: the law does not depend on the backend, the constant does
        result["scaling"][backends[0]] = scaling_study(backends[0], grid["scaling"], batches[0], repeats, log)
    return result


def _measure_row(backend, b, on_gpu, sizes, X, y, n, batch, repeats, precision, peers, flops):
    row = {"backend": backend, "device": str(b.device), "batch": batch, "precision": precision}
    between = [Timed(gemm_epoch(backend, sizes, n, batch, precision=precision))]
    names = ["gemm"]
    if peers:
        try:
            between.append(Timed(torch_epoch("cuda" if on_gpu else "cpu", sizes, X, y, batch, precision=precision)))
            names.append("torch")
        except ImportError:
            pass
        if not on_gpu and precision == "fp32":
            between.append(Timed(sklearn_epoch(sizes, X, y, batch)))
            names.append("sklearn")
    row["mlp_s"], row["mlp_all"], row["first_epoch_s"], row["second_call_first_epoch_s"] = time_mlp_epoch(
        backend, sizes, X, y, batch, repeats, precision=precision, between=between, again=True
    )
    row["second_call_over_steady"] = row["second_call_first_epoch_s"] / row["mlp_s"]
    for name, timed in zip(names, between):
        row[f"{name}_s"], row[f"{name}_all"] = timed.result()
    row["compile_s"] = max(0.0, row["first_epoch_s"] - row["mlp_s"])  # the first epoch's excess
    row["gflops"] = flops / row["mlp_s"] / 1e9
    row["gemm_gflops"] = flops / row["gemm_s"] / 1e9
    row["mlp_over_gemm"] = row["mlp_s"] / row["gemm_s"]
    if "torch_s" in row:
        row["mlp_over_torch"] = row["mlp_s"] / row["torch_s"]
    if "sklearn_s" in row:
        row["sklearn_over_mlp"] = row["sklearn_s"] / row["mlp_s"]
    return row
