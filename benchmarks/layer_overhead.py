"""What Dropout, BatchNorm and LayerNorm cost per epoch: the same 784-512-512-10 ReLU epoch
(60,000 samples, SGD with momentum, float32) with and without each layer, timed interleaved in
one process (A, B, A, B, ...; the best of each), on one backend.

    python benchmarks/layer_overhead.py --backend numpy --batch 128 --repeats 5 --out benchmarks/results/layers
"""

from __future__ import annotations

import argparse
import json
import os
import time

import mlp
from mlp.bench.timing import make_data, threads, versions

VARIANTS = {
    "plain": {},
    "dropout 0.2": {"dropout": 0.2},
    "batch norm": {"norm": "batch"},
    "layer norm": {"norm": "layer"},
}


def epoch_seconds(backend, X, y, batch, kw):
    model = mlp.MLP([784, 512, 512, 10], "relu", "softmax", backend=backend, seed=0, **kw)
    t0 = time.perf_counter()
    mlp.train(
        model,
        X,
        y,
        loss="cross_entropy",
        optimizer=mlp.SGD(0.01, momentum=0.9),
        epochs=1,
        batch_size=batch,
        progress=False,
    )
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="numpy")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--n", type=int, default=60000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    X, y = make_data(args.n, 784, 10)
    b = mlp.backends.get(args.backend)
    Xd, yd = b.asarray(X), b.asarray(y)
    epoch_seconds(b, Xd, yd, args.batch, {})  # warm-up
    times = {k: [] for k in VARIANTS}
    for _ in range(args.repeats):
        for name, kw in VARIANTS.items():
            times[name].append(epoch_seconds(b, Xd, yd, args.batch, kw))
    best = {k: min(v) for k, v in times.items()}
    rows = [{"variant": k, "best_s": best[k], "times": times[k], "vs_plain": best[k] / best["plain"]} for k in VARIANTS]
    result = {
        "backend": args.backend,
        "batch": args.batch,
        "n": args.n,
        "rows": rows,
        "versions": versions(),
        "threads": threads(),
    }
    for r in rows:
        print(f"{r['variant']:>12}: {r['best_s']:.3f} s  ({r['vs_plain']:.2f}x plain)")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, f"layer-overhead-{args.backend}-{args.batch}.json"), "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
