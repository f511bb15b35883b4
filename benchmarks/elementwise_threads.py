"""Can the NumPy backend's element-wise passes and batch gather use every core? Each pass of a
784-512-512-10 training step (bias add, ReLU, ReLU backward, the batch gather of 784 features)
timed single-threaded as the NumPy backend runs it, split over a thread pool in row blocks (NumPy
releases the GIL in these loops), and through numexpr (threaded expression evaluation) where it is
installed; best of 5 runs of 200 calls each, all in one process.

    python benchmarks/elementwise_threads.py --out benchmarks/results/elementwise-threads
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from mlp.bench.timing import threads, versions


def best_us(fn, calls=200, runs=5):
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls)
    return best * 1e6


def passes(batch, width=512, features=784, n=60_000, seed=0):
    """name -> (single-threaded, split over the pool's threads, numexpr or None) for one batch size."""
    rng = np.random.default_rng(seed)
    s = rng.standard_normal((batch, width), dtype=np.float32)
    bias = rng.standard_normal(width, dtype=np.float32)
    delta = rng.standard_normal((batch, width), dtype=np.float32)
    y = np.abs(s)
    keep = np.empty(s.shape, np.int32)
    X = rng.standard_normal((n, features), dtype=np.float32)
    idx = np.sort(rng.permutation(n)[:batch])
    out = np.empty((batch, features), np.float32)
    workers = os.cpu_count() or 1
    pool = ThreadPoolExecutor(workers)
    bounds = np.linspace(0, batch, workers + 1).astype(int)

    def split(fn):
        futures = [pool.submit(fn, a, b) for a, b in zip(bounds[1:-1], bounds[2:])]
        fn(bounds[0], bounds[1])
        for f in futures:
            f.result()

    def relu_backward(a, b):  # the NumPy backend's three passes, on rows a:b
        np.greater(y[a:b], 0, out=keep[a:b])
        np.negative(keep[a:b], out=keep[a:b])
        view = delta[a:b].view(np.int32)
        np.bitwise_and(view, keep[a:b], out=view)

    try:
        import numexpr as ne

        ne.set_num_threads(workers)
    except ImportError:
        ne = None
    rows = {
        "bias add": (
            lambda: np.add(s, bias, out=s),
            lambda: split(lambda a, b: np.add(s[a:b], bias, out=s[a:b])),
            ne and (lambda: ne.evaluate("s + bias", local_dict={"s": s, "bias": bias}, out=s)),
        ),
        "ReLU": (
            lambda: np.maximum(s, 0, out=s),
            lambda: split(lambda a, b: np.maximum(s[a:b], 0, out=s[a:b])),
            ne and (lambda: ne.evaluate("where(s < 0, 0, s)", local_dict={"s": s}, out=s)),
        ),
        "ReLU backward": (
            lambda: relu_backward(0, batch),
            lambda: split(relu_backward),
            ne and (lambda: ne.evaluate("where(y > 0, delta, 0)", local_dict={"y": y, "delta": delta}, out=delta)),
        ),
        "batch gather": (
            lambda: np.take(X, idx, axis=0, out=out),
            lambda: split(lambda a, b: np.take(X, idx[a:b], axis=0, out=out[a:b])),
            None,
        ),
        "empty dispatch": (
            None,
            lambda: split(lambda a, b: None),
            ne and (lambda: ne.evaluate("s * 0", local_dict={"s": bias[:1]})),
        ),
    }
    result = {}
    for name, fns in rows.items():
        result[name] = [None if f is None else best_us(f) for f in fns]
    pool.shutdown()
    return result, workers


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="benchmarks/results/elementwise-threads")
    p.add_argument("--batch-sizes", default="128,1024")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    data, lines = {}, []
    for batch in (int(b) for b in args.batch_sizes.split(",")):
        result, workers = passes(batch)
        data[batch] = result
        lines += [
            f"### batch {batch} (rows of 512 float32; gather: 784 of 60,000 rows), microseconds per call",
            "",
            f"| pass | NumPy, 1 thread | {workers} threads over row blocks | numexpr, {workers} threads |",
            "|---|---:|---:|---:|",
        ]
        for name, (one, split, ne) in result.items():
            cells = ["-" if v is None else f"{v:.1f}" for v in (one, split, ne)]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [f"- versions: {json.dumps(versions())}", f"- threads: {json.dumps(threads())}"]
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"passes": data, "versions": versions()}, f, indent=1)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
