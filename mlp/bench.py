"""Benchmarks behind ``mlp bench``: epoch cost on every available backend, each beside the
GEMM-only time of the same epoch on that backend and PyTorch's eager loop on its device,
scikit-learn in the same run, the O(n·|W|) scaling study, and (``--scaling-n``) the
epoch cost in n from 10^3 to 10^7 samples streamed from a file on disk.

Every timing synchronizes the device before reading the clock (the epoch loss is read
on the host at the end of each epoch; GEMM loops end with ``backend.synchronize()``),
excludes a warm-up epoch (whose excess over the steady epoch is reported as the compile
time), and reports the median over repeats.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import time

import numpy as np

from . import backends as _backends

HEADLINE = {"sizes": [784, 512, 512, 10], "n": 60000}


def _threads():
    info = {"cpu_count": os.cpu_count()}
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [
            {
                "api": p.get("internal_api"),
                "threads": p.get("num_threads"),
                "lib": os.path.basename(p.get("filepath") or ""),
            }
            for p in threadpool_info()
        ]
    except ImportError:
        pass
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    return info


def versions():
    import numpy

    out = {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }
    for mod in ("torch", "sklearn", "cupy", "jax", "array_api_compat"):
        with contextlib.suppress(ImportError):
            out[mod] = __import__(mod).__version__
    return out


def make_data(n, d, k, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d), dtype=np.float32), rng.integers(0, k, size=n)


def n_weights(sizes):
    return sum(a * b + b for a, b in zip(sizes, sizes[1:]))


def epoch_flops(sizes, n):
    """6·n·|W| for the matrix products, minus the first layer's skipped input gradient."""
    macs = sum(a * b for a, b in zip(sizes, sizes[1:]))
    return 2 * n * (3 * macs - sizes[0] * sizes[1])


def median_time(fn, repeats):
    """Median seconds of ``fn()`` over `repeats` calls after one warm-up call. `fn` must end
    by synchronizing the device (reading a result on the host or ``backend.synchronize()``)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


# -- our framework -------------------------------------------------------------------
PRECISIONS = {"fp32": None, "bf16": "bfloat16", "fp16": "float16"}


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
    import mlp

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
        callbacks=[_between(between)],
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


SETTLE = 0.2  # seconds of rest before each timed epoch of another library


def _between(peers):
    """A training callback running one epoch of each peer, then resting before our next epoch."""

    def callback(epoch, logs, model):
        for peer in peers:
            peer()
        if peers:
            time.sleep(SETTLE)

    return callback


class Timed:
    """One epoch of a peer per call, its seconds kept (the first call is the warm-up). Each call first
    rests SETTLE seconds: the previous library's BLAS and OpenMP threads spin-wait for a while after
    their last work, and would take the cores from this one (measured: PyTorch's epoch 10-40% slower
    right after a NumPy one)."""

    def __init__(self, epoch):
        self.epoch, self.times = epoch, []

    def __call__(self):
        time.sleep(SETTLE)
        t0 = time.perf_counter()
        self.epoch()
        self.times.append(time.perf_counter() - t0)

    def result(self):
        steady = self.times[1:] or self.times
        return statistics.median(steady), steady


def gemm_epoch(backend, sizes, n, batch, dtype="float32", precision="fp32"):
    """One epoch of only the matrix products (in the compute dtype): per batch and layer the forward
    x@W, the weight gradient xᵀ@δ, and δ@Wᵀ except for the first layer."""
    b = _backends.get(backend)
    rng = np.random.default_rng(0)
    full, rest = divmod(n, batch)
    shapes = [batch] + ([rest] if rest else [])
    cdt = dtype if precision == "fp32" else b.compute_dtype(PRECISIONS[precision])
    xp = b.xp

    def cast(a):
        return xp.astype(b.asarray(a, dtype), cdt) if precision != "fp32" else b.asarray(a, dtype)

    arrays = {m: [cast(rng.standard_normal((m, d))) for d in sizes] for m in shapes}
    Ws = [cast(rng.standard_normal((a, c)) * 0.01) for a, c in zip(sizes, sizes[1:])]

    def one_epoch():
        out = None
        for m, count in ((batch, full), (rest, 1 if rest else 0)):
            xs = arrays.get(m)
            for _ in range(count):
                for i, W in enumerate(Ws):
                    out = xs[i] @ W
                    out = xs[i].T @ xs[i + 1]
                    if i > 0:
                        out = xs[i + 1] @ W.T
        b.synchronize(out)  # JAX: wait for the last product (its queue runs in order); GPUs: the device
        return out

    return one_epoch


def time_gemm_epoch(backend, sizes, n, batch, repeats, dtype="float32"):
    """Median seconds of the GEMM-only epoch (after one warm-up)."""
    return median_time(gemm_epoch(backend, sizes, n, batch, dtype), repeats)


# -- peers ------------------------------------------------------------------------------
def torch_epoch(device, sizes, X, y, batch, lr=0.01, momentum=0.9, precision="fp32"):
    """PyTorch eager: same architecture, He-normal init, SGD with momentum, float32 weights, shuffled
    batches; bf16/fp16 through ``torch.autocast`` (and a GradScaler for fp16), as PyTorch users write it."""
    import torch

    torch.manual_seed(0)
    dev = torch.device(device)
    layers = []
    for i, (a, c) in enumerate(zip(sizes, sizes[1:])):
        lin = torch.nn.Linear(a, c)
        torch.nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
        torch.nn.init.zeros_(lin.bias)
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    lossf = torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X).to(dev), torch.from_numpy(y).to(dev)
    n = Xt.shape[0]
    gen = torch.Generator(device="cpu").manual_seed(0)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    scaler = torch.amp.GradScaler(dev.type) if precision == "fp16" else None

    def one_epoch():
        perm = torch.randperm(n, generator=gen).to(dev)
        Xe, ye = Xt[perm], yt[perm]
        total = torch.zeros((), device=dev)
        for s in range(0, n, batch):
            opt.zero_grad(set_to_none=True)
            with torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None):
                loss = lossf(model(Xe[s : s + batch]), ye[s : s + batch])
            if scaler is None:
                loss.backward()
                opt.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            total += loss.detach() * min(batch, n - s)
        return float(total) / n  # reads the device: synchronizes

    return one_epoch


def time_torch_epoch(device, sizes, X, y, batch, repeats, lr=0.01, momentum=0.9):
    return median_time(torch_epoch(device, sizes, X, y, batch, lr, momentum), repeats)


def sklearn_epoch(sizes, X, y, batch, lr=0.01, momentum=0.9):
    """scikit-learn's MLPClassifier, solver='sgd', one epoch per partial_fit call."""
    import warnings

    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(
        hidden_layer_sizes=tuple(sizes[1:-1]),
        activation="relu",
        solver="sgd",
        alpha=0.0,
        batch_size=batch,
        learning_rate_init=lr,
        momentum=momentum,
        nesterovs_momentum=False,
        shuffle=True,
        random_state=0,
    )
    classes = np.arange(sizes[-1])

    def one_epoch():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.partial_fit(X, y, classes=classes)

    return one_epoch


def time_sklearn_epoch(sizes, X, y, batch, repeats, lr=0.01, momentum=0.9):
    return median_time(sklearn_epoch(sizes, X, y, batch, lr, momentum), repeats)


# -- small models: time per step -------------------------------------------------------------
SMALL = {"sizes": [26, 256, 256, 1], "batch": 32, "n": 8192}


def small_model_steps(backend, repeats=3, log=print):
    """Microseconds per training step of a 26-256-256-1 regression network at batch 32 (where
    per-call overhead, not arithmetic, costs): Adam and SGD with momentum on `backend`, and
    PyTorch eager's Adam on the same device; interleaved, best of `repeats` epochs each."""
    import mlp

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
        peers.append(("torch_adam_us", Timed(_torch_small(("cuda" if on_gpu else "cpu"), X, y))))
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
            callbacks=[_between([p for _, p in peers])],
        )
        out[name] = min(h.seconds[1:]) / steps * 1e6
    for name, p in peers:
        out[name] = min(p.times[1:] or p.times) / steps * 1e6
    out["adam_over_sgd"] = out["adam_us"] / out["sgd_momentum_us"]
    if "torch_adam_us" in out:
        out["adam_over_torch"] = out["adam_us"] / out["torch_adam_us"]
    log("  small model " + ", ".join(f"{k}={v:.2f}" for k, v in out.items()))
    return out


def _torch_small(device, X, y):
    import torch

    torch.manual_seed(0)
    dev = torch.device(device)
    net = torch.nn.Sequential(
        torch.nn.Linear(26, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 1)
    ).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    Xt, yt = torch.from_numpy(X).to(dev), torch.from_numpy(y)[:, None].to(dev)
    n, B = Xt.shape[0], SMALL["batch"]

    def one_epoch():
        perm = torch.randperm(n).to(dev)
        for s in range(0, n, B):
            idx = perm[s : s + B]
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.mse_loss(net(Xt[idx]), yt[idx]).backward()
            opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    return one_epoch


def spread(times) -> float:
    """(max − min) / median of repeated timings."""
    return (max(times) - min(times)) / statistics.median(times) if len(times) > 1 else 0.0


# -- scaling --------------------------------------------------------------------------------
def loglog_fit(x, t):
    """Slope, intercept and R² of log t = slope · log x + intercept."""
    lx, lt = np.log(np.asarray(x, float)), np.log(np.asarray(t, float))
    slope, intercept = np.polyfit(lx, lt, 1)
    pred = slope * lx + intercept
    ss_res = float(np.sum((lt - pred) ** 2))
    ss_tot = float(np.sum((lt - lt.mean()) ** 2))
    return {"slope": float(slope), "intercept": float(intercept), "r2": 1 - ss_res / ss_tot if ss_tot > 0 else 1.0}


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
        "threads": _threads(),
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
        if s["small_layers"]:
            per_w = [r["seconds"] / r["W"] for r in s["vs_W"]]
            lines.append(
                f"  - where it breaks: the smallest layers ({', '.join(str(r['sizes']) for r in s['small_layers'])}) "
                f"cost {max(per_w) / min(per_w):.1f}x more per weight than the cheapest: per-call overhead, "
                "not arithmetic, dominates there."
            )
    t = result["threads"]
    lines += ["", "## Machine", "", f"- versions: {json.dumps(result['versions'])}", f"- threads: {json.dumps(t)}"]
    return "\n".join(lines) + "\n"


NO_MATPLOTLIB = "matplotlib is not installed; pip install mlp[plot] for the plots"


def _has_matplotlib() -> bool:
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


def add_bench_arguments(b):
    """The flags of ``mlp bench`` (every one documented; the defaults shown by --help)."""
    from .cli import _number, _widths

    b.add_argument("--out", default="bench-out", help="folder for report.md, results.json and plots")
    b.add_argument(
        "--quick",
        action="store_true",
        help="the small grid: the headline epoch at batch 128 and 1024 with 3 repeats, and a small scaling "
        "study (add --no-scaling to skip it); about 4 minutes on 2 cores with numpy, torch and jax",
    )
    b.add_argument("--smoke", action="store_true", help="tiny sizes and one repeat, for tests")
    b.add_argument(
        "--backends",
        default=None,
        help="comma-separated backends (None: every available one but array_api_strict; --scaling-n: numpy)",
    )
    b.add_argument(
        "--batch-sizes",
        type=_widths,
        default=None,
        help="comma-separated batch sizes of the headline epochs (None: the grid's, 128,1024)",
    )
    b.add_argument("--n", type=_number(int), default=None, help="samples for the headline configuration")
    b.add_argument("--sizes", type=_widths, default=None, help="headline architecture, e.g. 784,1024,1024,10")
    b.add_argument("--no-scaling", action="store_true", help="skip the scaling study in n and |W|")
    b.add_argument(
        "--repeats",
        type=_number(int),
        default=None,
        help="timed epochs per measurement after the warm-up one; the median is reported (None: 3 quick, 5 full)",
    )
    b.add_argument("--no-peers", action="store_true", help="skip PyTorch and scikit-learn")
    b.add_argument(
        "--precision",
        choices=["fp32", "bf16", "fp16"],
        default="fp32",
        help="compute precision of the epochs (bf16/fp16: float32 weights, products and activations in 16 bits, "
        "beside PyTorch's torch.autocast loop in the same dtype)",
    )
    b.add_argument("--tf32", action="store_true", help="TF32 tensor cores for float32 products on GPUs")
    b.add_argument(
        "--scaling-n",
        action="store_true",
        help="instead: epoch time in n from 10^3 to --scaling-n-max samples, streamed from a file on disk",
    )
    b.add_argument("--scaling-n-max", type=_number(int), default=None, help="largest n (None: 10^7)")
    b.add_argument(
        "--data-dir", default=None, help="where --scaling-n writes its dataset once (None: the system's temp folder)"
    )


def matmul_precision():
    """JAX's float32 products in full float32 during the benchmarks, as every other backend's (on
    GPUs its default is TF32, which would compare another arithmetic); TF32 where
    ``mlp.backends.set_tf32(True)`` asked for it everywhere."""
    try:
        import jax
    except ImportError:
        return contextlib.nullcontext()
    return jax.default_matmul_precision("tensorfloat32" if _backends.tf32() else "highest")


def run_bench(args):
    mode = "smoke" if args.smoke else ("quick" if args.quick else "full")
    if args.scaling_n:
        return run_scaling_n(args, mode)
    backends = [b.strip() for b in args.backends.split(",")] if args.backends else None
    for b in backends or []:
        _backends.get(b)  # clear error for unknown / unavailable names
    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()
    with matmul_precision():
        result = _run(args, mode, backends)
    result["seconds"] = time.perf_counter() - t0
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(result, f, indent=1)
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write(report_markdown(result))
    plots = "and scaling plots" if result["scaling"] else "(no scaling study)"
    if result["scaling"] and _has_matplotlib():
        plot_scaling(result, args.out)
    elif result["scaling"]:
        plots = f"(no plots: {NO_MATPLOTLIB})"
    print(report_markdown(result))
    print(f"wrote {args.out}/report.md, results.json {plots} in {result['seconds']:.0f} s")
    return 0


def _run(args, mode, backends):
    if args.tf32:
        _backends.set_tf32(True)
    return run_study(
        mode,
        backends,
        args.batch_sizes,
        args.n,
        args.repeats,
        peers=not args.no_peers,
        sizes=args.sizes,
        scaling=not args.no_scaling,
        precisions=(args.precision,),
    )


# -- scaling in n, data streamed from disk ---------------------------------------------------
SCALING_N = {
    "smoke": {
        "sizes": [32, 16, 4],
        "batch": 64,
        "ns": [256, 1024, 4096],
        "memory_n": 1024,
        "cached_max": 4096,
        "block": 64,
        "window": 4,
    },
    "full": {
        "sizes": [784, 512, 512, 10],
        "batch": 1024,
        "ns": [10**3, 3 * 10**3, 10**4, 3 * 10**4, 10**5, 3 * 10**5, 10**6, 3 * 10**6, 10**7],
        "memory_n": 10**6,
        "cached_max": 3 * 10**6,
        "block": 1024,
        "window": 16,
    },
}


def physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def dataset_on_disk(folder, n, d, k, log=print, seed=0):
    """(X, y) memory maps of n random rows (float32 features, int64 labels) in `folder`,
    generated once in chunks (never whole in memory) and renamed into place when complete."""
    import shutil

    os.makedirs(folder, exist_ok=True)
    stem = os.path.join(folder, f"scaling-{n}x{d}-k{k}-seed{seed}")
    paths = {"X": stem + "-X.npy", "y": stem + "-y.npy"}
    if all(os.path.exists(p) for p in paths.values()):
        X, y = np.load(paths["X"], mmap_mode="r"), np.load(paths["y"], mmap_mode="r")
        if X.shape == (n, d) and X.dtype == np.float32 and y.shape == (n,):
            return X, y
    need = n * d * 4 + n * 8 + (64 << 20)
    free = shutil.disk_usage(folder).free
    if free < need:
        raise OSError(f"--data-dir {folder}: the {n:,}-row dataset needs {need / 1e9:.1f} GB; {free / 1e9:.1f} GB free")
    log(f"  generating {n:,} x {d} float32 rows ({n * d * 4 / 1e9:.1f} GB) in {folder}")
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    tmp = {key: p + f".{os.getpid()}.tmp" for key, p in paths.items()}
    X = np.lib.format.open_memmap(tmp["X"], mode="w+", dtype=np.float32, shape=(n, d))
    from .data import row_chunks

    for s, e in row_chunks(X):
        rng.standard_normal(out=X[s:e], dtype=np.float32)
    X.flush()
    del X
    with open(tmp["y"], "wb") as f:
        np.save(f, rng.integers(0, k, size=n))
    for key in ("y", "X"):
        with open(tmp[key], "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp[key], paths[key])
    log(f"  generated in {time.perf_counter() - t0:.0f} s")
    return np.load(paths["X"], mmap_mode="r"), np.load(paths["y"], mmap_mode="r")


def evict(X):
    """Drop a memory-mapped file's pages from the OS page cache: the next read comes from disk.
    The OS keeps pages that a process has mapped, so this process's mapping lets go of them
    first (madvise MADV_DONTNEED: a read-only file mapping just faults them in again)."""
    import mmap

    mapping = getattr(X, "_mmap", None)
    if mapping is not None and hasattr(mmap, "MADV_DONTNEED"):
        mapping.madvise(mmap.MADV_DONTNEED)
    with open(X.filename, "rb") as f:
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


class AnonMemory:
    """Peak anonymous resident memory (RssAnon: heap and private mappings, not file pages) of
    this process while the block runs, sampled every `every` seconds (Linux only)."""

    def __init__(self, every=0.01):
        self.every, self.peak, self.start = every, 0, 0

    @staticmethod
    def now() -> int:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
        return 0

    def __enter__(self):
        import threading

        self.start = self.peak = self.now()
        self._stop = threading.Event()

        def sample():
            while not self._stop.wait(self.every):
                self.peak = max(self.peak, self.now())

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.now())

    @property
    def growth(self) -> int:
        return self.peak - self.start


def time_streamed(X, y, n, cfg, epochs, *, prefetch=None, cold=True, in_memory=False, shuffle=None, backend="numpy"):
    """Seconds of each epoch over the first n rows (streamed from the memory map, or loaded
    into memory first), with the file dropped from the page cache before the first epoch where
    `cold` (later epochs read what the page cache kept), and the peak anonymous memory
    (RssAnon) of the process during training."""
    import mlp

    from .batches import BlockShuffle

    Xn, yn = X[:n], y[:n]
    if in_memory:
        Xn, yn = np.array(Xn), np.array(yn)
    shuffle = BlockShuffle(cfg["block"], cfg["window"]) if shuffle is None else shuffle
    model = mlp.MLP(cfg["sizes"], "relu", "softmax", dtype="float32", seed=0, backend=backend)
    if cold:
        evict(X)
    with AnonMemory() as mem:
        h = mlp.train(
            model,
            Xn,
            yn,
            loss="cross_entropy",
            optimizer=mlp.SGD(0.001, momentum=0.9),
            epochs=epochs,
            batch_size=cfg["batch"],
            shuffle=shuffle,
            prefetch=prefetch,
            progress=False,
        )
    return h.seconds, mem.peak


def scaling_n_study(mode, folder, n_max=None, log=print, backend="numpy"):
    """Epoch time over n from the grid's smallest n to `n_max`, streamed from one file on disk
    (block shuffling, prefetch): each n's first epoch after dropping the page cache (read from
    disk) and, where the rows fit in memory, a second epoch from the page cache; at
    ``memory_n`` the same epoch on data in memory, without prefetch, and with a full shuffle."""
    from .batches import BlockShuffle

    cfg = dict(SCALING_N[mode])
    ns = [m for m in cfg["ns"] if n_max is None or m <= n_max]
    if n_max is not None and n_max not in ns and n_max > ns[-1]:
        ns.append(n_max)
    sizes, B = cfg["sizes"], cfg["batch"]
    X, y = dataset_on_disk(folder, ns[-1], sizes[0], sizes[-1], log)
    row_bytes = X.strides[0]
    ram = physical_memory()
    # warm-up: BLAS threads and buffers, the code paths
    time_streamed(X, y, min(4 * B, ns[-1]), cfg, 1, cold=False, backend=backend)
    rows = []
    for m in ns:
        cached = m <= cfg["cached_max"] and (ram is None or 2 * m * row_bytes < ram)
        seconds, anon = time_streamed(X, y, m, cfg, 2 if cached else 1, backend=backend)
        row = {"n": m, "bytes": m * row_bytes, "disk_s": seconds[0], "anon_peak": anon}
        if cached:
            row["cached_s"] = seconds[1]
        rows.append(row)
        log(
            f"  n={m:>10,}  from disk {seconds[0]:9.3f} s ({seconds[0] / m * 1e6:7.2f} us/sample)"
            + (f"  page cache {seconds[1]:9.3f} s ({seconds[1] / m * 1e6:7.2f} us/sample)" if cached else "")
            + f"  peak RssAnon {anon / 2**20:.0f} MiB"
        )
    fit_disk = loglog_fit([r["n"] for r in rows], [r["disk_s"] for r in rows])
    with_cache = [r for r in rows if "cached_s" in r]
    fit_cached = loglog_fit([r["n"] for r in with_cache], [r["cached_s"] for r in with_cache])
    m = cfg["memory_n"]
    compare = {"n": m}
    runs = {
        "streamed_prefetch": dict(prefetch=True),
        "in_memory_blocks": dict(in_memory=True),
        "in_memory_full": dict(in_memory=True, shuffle=True),
        "streamed_full": dict(shuffle=True),
    }
    for name, kw in runs.items():
        seconds, anon = time_streamed(X, y, m, cfg, 2, backend=backend, **kw)
        compare[name] = {"first_s": seconds[0], "second_s": seconds[1], "anon_peak": anon}
        log(f"  n={m:,} {name}: epochs {seconds[0]:.3f} s, {seconds[1]:.3f} s; peak RssAnon {anon / 2**20:.0f} MiB")
    base = next(r for r in rows if r["n"] == m) if any(r["n"] == m for r in rows) else None
    if base is not None:
        compare["streamed_blocks"] = {
            "first_s": base["disk_s"],
            "second_s": base.get("cached_s"),
            "anon_peak": base["anon_peak"],
        }
    return {
        "backend": backend,
        "sizes": sizes,
        "batch": B,
        "shuffle": vars(BlockShuffle(cfg["block"], cfg["window"])),
        "file": X.filename,
        "file_bytes": int(X.shape[0]) * row_bytes,
        "ram_bytes": ram,
        "rows": rows,
        "fit_disk": fit_disk,
        "fit_cached": fit_cached,
        "compare": compare,
        "versions": versions(),
        "threads": _threads(),
    }


def report_scaling_n(s):
    gb = 1e9
    lines = [
        "# mlp bench --scaling-n",
        "",
        f"One epoch of mini-batch SGD (momentum 0.9) on {s.get('backend', 'numpy')}, sizes {s['sizes']} ReLU, "
        "softmax cross-entropy, float32, "
        f"batch {s['batch']}, streamed from one memory-mapped file of {s['file_bytes'] / gb:.1f} GB "
        f"(this machine: {(s['ram_bytes'] or 0) / gb:.1f} GB of RAM), block shuffling {s['shuffle']}, "
        "no prefetch thread (the default on CPUs). 'From disk': the file dropped from the page cache (madvise and "
        "fadvise DONTNEED) before the epoch; 'page cache': the next epoch over the same rows, from what the page "
        "cache kept. One epoch each.",
        "",
        "| n | data (GB) | from disk (s) | us/sample | page cache (s) | us/sample | peak RssAnon (MiB) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in s["rows"]:
        c = r.get("cached_s")
        lines.append(
            f"| {r['n']:,} | {r['bytes'] / gb:.3f} | {r['disk_s']:.3f} | {r['disk_s'] / r['n'] * 1e6:.2f} | "
            + (f"{c:.3f} | {c / r['n'] * 1e6:.2f}" if c is not None else "- | -")
            + f" | {r['anon_peak'] / 2**20:.0f} |"
        )
    fd, fc = s["fit_disk"], s["fit_cached"]
    lines += [
        "",
        f"- slope of epoch time in n, from disk, n = {s['rows'][0]['n']:,} to {s['rows'][-1]['n']:,}: "
        f"**{fd['slope']:.3f}** (R² {fd['r2']:.4f})",
        f"- slope from the page cache (n where the rows fit in memory): **{fc['slope']:.3f}** (R² {fc['r2']:.4f})",
        "",
        f"## At n = {s['compare']['n']:,}: in memory, from the page cache, from disk",
        "",
        "| run | first epoch (s) | second epoch (s) | peak RssAnon (MiB) |",
        "|---|---:|---:|---:|",
    ]
    for name, c in s["compare"].items():
        if name == "n":
            continue
        second = "-" if c["second_s"] is None else f"{c['second_s']:.3f}"
        lines.append(f"| {name} | {c['first_s']:.3f} | {second} | {c['anon_peak'] / 2**20:.0f} |")
    lines += [
        "",
        "Each run drops the file from the page cache before its first epoch; its second epoch reads what the page "
        "cache kept. `streamed_blocks` is the grid's row (block shuffling, no prefetch thread); `streamed_prefetch` "
        "the same with the prefetch thread; `streamed_full` with a full permutation (random rows all over the "
        "file); in-memory runs load the rows first (not timed; their RssAnon includes the loaded rows). Peak "
        "RssAnon is the whole process's (Python, NumPy, BLAS, the model), sampled every 10 ms.",
        "",
        f"- versions: {json.dumps(s['versions'])}",
        f"- threads: {json.dumps(s['threads'])}",
    ]
    return "\n".join(lines) + "\n"


def plot_scaling_n(s, path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), dpi=100)
    ax, ax2 = fig.subplots(1, 2)
    ns = np.array([r["n"] for r in s["rows"]], float)
    disk = np.array([r["disk_s"] for r in s["rows"]])
    cached = [(r["n"], r["cached_s"]) for r in s["rows"] if "cached_s" in r]
    ax.loglog(ns, disk, "o-", label=f"from disk: slope {s['fit_disk']['slope']:.3f}, R² {s['fit_disk']['r2']:.4f}")
    if cached:
        cn, cs = np.array(cached).T
        ax.loglog(cn, cs, "s--", label=f"page cache: slope {s['fit_cached']['slope']:.3f}")
        ax2.semilogx(cn, cs / cn * 1e6, "s--", label="page cache")
    ax2.semilogx(ns, disk / ns * 1e6, "o-", label="from disk")
    if s.get("ram_bytes"):
        row_bytes = s["rows"][0]["bytes"] / s["rows"][0]["n"]
        for a in (ax, ax2):
            a.axvline(s["ram_bytes"] / row_bytes, color="gray", ls=":", label="data = RAM")
    ax.set_xlabel("n (samples)")
    ax.set_ylabel("epoch seconds")
    ax2.set_xlabel("n (samples)")
    ax2.set_ylabel("microseconds per sample")
    for a in (ax, ax2):
        a.grid(alpha=0.3, which="both")
        a.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, fontsize=8)
    fig.suptitle(f"epoch cost in n, {s['sizes']}, batch {s['batch']}, streamed from disk")
    fig.tight_layout()
    fig.savefig(path)
    return path


def run_scaling_n(args, mode):
    import tempfile

    folder = args.data_dir or os.path.join(tempfile.gettempdir(), "mlp-bench-data")
    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()
    backend = args.backends.split(",")[0].strip() if args.backends else "numpy"
    _backends.get(backend)  # a clear error for an unknown or missing backend, before any data is written
    s = scaling_n_study("smoke" if mode == "smoke" else "full", folder, args.scaling_n_max, backend=backend)
    s["seconds"] = time.perf_counter() - t0
    with open(os.path.join(args.out, "scaling-n.json"), "w") as f:
        json.dump(s, f, indent=1)
    report = report_scaling_n(s)
    with open(os.path.join(args.out, "scaling-n.md"), "w") as f:
        f.write(report)
    plot = "and scaling-n.png"
    if _has_matplotlib():
        plot_scaling_n(s, os.path.join(args.out, "scaling-n.png"))
    else:
        plot = f"(no plot: {NO_MATPLOTLIB})"
    print(report)
    print(f"wrote {args.out}/scaling-n.md, scaling-n.json {plot} in {s['seconds']:.0f} s")
    return 0
