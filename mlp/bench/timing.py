"""Timing helpers of the benchmarks: the machine and versions, synthetic data, medians of repeats,
interleaved peers (``Timed``), spreads and log-log fits."""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import time

import numpy as np

HEADLINE = {"sizes": [784, 512, 512, 10], "n": 60000}
PRECISIONS = {"fp32": None, "bf16": "bfloat16", "fp16": "float16"}
SMALL = {"sizes": [26, 256, 256, 1], "batch": 32, "n": 8192}  # small models: time per step


def threads():
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


SETTLE = 0.2  # seconds of rest before each timed epoch of another library


def between_epochs(peers):
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


def spread(times) -> float:
    """(max − min) / median of repeated timings."""
    return (max(times) - min(times)) / statistics.median(times) if len(times) > 1 else 0.0


def loglog_fit(x, t):
    """Slope, intercept and R² of log t = slope · log x + intercept."""
    lx, lt = np.log(np.asarray(x, float)), np.log(np.asarray(t, float))
    slope, intercept = np.polyfit(lx, lt, 1)
    pred = slope * lx + intercept
    ss_res = float(np.sum((lt - pred) ** 2))
    ss_tot = float(np.sum((lt - lt.mean()) ** 2))
    return {"slope": float(slope), "intercept": float(intercept), "r2": 1 - ss_res / ss_tot if ss_tot > 0 else 1.0}
