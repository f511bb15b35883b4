"""Epoch time of two source trees of this project, interleaved: A, B, A, B, ... each in a fresh
process, the best epoch of each process kept and the best over processes compared.

    python benchmarks/compare_revisions.py BEFORE_TREE AFTER_TREE [--rounds 4] [--backends numpy torch]

A tree is a checkout's root (a ``git worktree add /tmp/before <commit>`` of an earlier commit): its
``mlp/`` and ``backends/`` folders are imported from there, whatever is installed. The workload is
784-512-512-10 on 16,384 rows at batch 128 and 1024, with SGD + momentum (the benchmark's) and Adam
(the default), float32. Prints one JSON line per measurement and a table of after/before ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import importlib.util, json, sys, time
root, backend = sys.argv[1], sys.argv[2]
def load(name, init, search):
    spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[search])
    mod = importlib.util.module_from_spec(spec); sys.modules[name] = mod; return spec, mod
bspec, bmod = load("mlp.backends", f"{root}/backends/__init__.py", f"{root}/backends")
mspec, mmod = load("mlp", f"{root}/mlp/__init__.py", f"{root}/mlp")
bspec.loader.exec_module(bmod); mmod.backends = bmod
mspec.loader.exec_module(mmod)
import numpy as np
mlp = mmod
rng = np.random.default_rng(0)
n = 16384
X = rng.standard_normal((n, 784), dtype=np.float32); y = rng.integers(0, 10, size=n)
out = {}
for batch in (128, 1024):
    for name, opt in (("sgd_momentum", lambda: mlp.SGD(0.01, momentum=0.9)), ("adam", lambda: mlp.Adam(1e-3))):
        b = mlp.backends.get(backend)
        model = mlp.MLP([784, 512, 512, 10], "relu", backend=b, seed=0)
        Xb, yb = b.asarray(X), b.asarray(y)
        h = mlp.train(model, Xb, yb, optimizer=opt(), epochs=4, batch_size=batch, progress=False)
        out[f"{name}@{batch}"] = min(h.seconds[1:])
print(json.dumps(out))
"""


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--backends", nargs="+", default=["numpy", "torch"])
    args = p.parse_args(argv)
    best: dict = {}
    for r in range(args.rounds):
        for backend in args.backends:
            for label, tree in (("before", args.before), ("after", args.after)):
                done = subprocess.run(
                    [sys.executable, "-c", CHILD, os.path.abspath(tree), backend],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                times = json.loads(done.stdout.strip().splitlines()[-1])
                print(json.dumps({"round": r, "backend": backend, "tree": label, **times}), flush=True)
                for key, s in times.items():
                    k = (backend, key, label)
                    best[k] = min(best.get(k, float("inf")), s)
    print("\n| backend | workload | before s | after s | after/before |\n|---|---|---|---|---|")
    for backend, key, label in sorted(best):
        if label != "after":
            continue
        a, b = best[(backend, key, "after")], best[(backend, key, "before")]
        print(f"| {backend} | {key} | {b:.4f} | {a:.4f} | {a / b:.3f} |")


if __name__ == "__main__":
    main()
