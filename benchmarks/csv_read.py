"""Reading a numeric CSV: mlp's reader (pyarrow) beside pandas.read_csv and np.loadtxt.

    python benchmarks/csv_read.py [--mb 58] [--repeats 3] [--out benchmarks/results/csv-DATE]

Writes a CSV of about --mb megabytes (float64 features and an integer label column), then, in a
fresh process per reader and run (interleaved A, B, C, A, B, C, ...), reads it and reports the best
time and the peak memory added by the read (peak resident set after the read minus before it,
imports done; Linux's VmHWM, reset before the read), against the size of the data as float64
arrays.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

READERS = {
    "mlp.data.load_csv (pyarrow)": (
        "import mlp.data, pyarrow.csv, sklearn.model_selection; ds = mlp.data.load_csv(PATH)"
    ),
    "pandas.read_csv": "import pandas; df = pandas.read_csv(PATH)",
    "pandas.read_csv (engine=pyarrow)": "import pandas; df = pandas.read_csv(PATH, engine='pyarrow')",
    "np.loadtxt": "import numpy; a = numpy.loadtxt(PATH, delimiter=',', skiprows=1)",
}

CHILD = """
import sys, time
PATH = sys.argv[1]
{imports}


def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key))


with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # the peak resident set (VmHWM) starts again from now
before = status("VmRSS:")
t0 = time.perf_counter()
{read}
seconds = time.perf_counter() - t0
print(seconds, status("VmHWM:") - before)
"""


def write_csv(path, mb, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    d = 20
    row = 20 * d + 2  # about 20 characters per value
    n = int(mb * 1e6 / row)
    X = rng.normal(size=(n, d))
    y = rng.integers(0, 10, size=n)
    with open(path, "w") as f:
        f.write(",".join([f"f{i}" for i in range(d)] + ["label"]) + "\n")
        for s in range(0, n, 50_000):
            block = np.column_stack([X[s : s + 50_000], y[s : s + 50_000]])
            np.savetxt(f, block, delimiter=",", fmt=["%.17g"] * d + ["%d"])
    return n, d + 1


def run(reader, path):
    code = READERS[reader]
    imports, read = code.split(";", 1)
    out = subprocess.run(
        [sys.executable, "-c", CHILD.format(imports=imports.strip(), read=read.strip()), path],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds, peak = out.stdout.split()
    return float(seconds), int(peak)


WARM = {
    "mlp.data.load_csv (pyarrow)": lambda path: __import__("mlp.data").data.load_csv(path),
    "pandas.read_csv": lambda path: __import__("pandas").read_csv(path),
}


def warm(path, repeats=7):
    """Best time of each reader in this process, interleaved, after a first read of each."""
    import time

    best = {}
    for read in WARM.values():
        read(path)
    for _ in range(repeats):
        for r, read in WARM.items():
            t0 = time.perf_counter()
            read(path)
            best[r] = min(best.get(r, float("inf")), time.perf_counter() - t0)
    return best


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mb", type=float, default=58)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "numeric.csv")
        n, cols = write_csv(path, args.mb)
        size = os.path.getsize(path)
        data_bytes = n * cols * 8
        results = {r: [] for r in READERS}
        for _ in range(args.repeats):
            for r in READERS:
                try:
                    results[r].append(run(r, path))
                except subprocess.CalledProcessError as exc:
                    results[r].append(None)
                    print(f"{r}: failed ({exc.stderr.strip().splitlines()[-1]})", file=sys.stderr)
        warm_best = warm(path)
    lines = [
        f"CSV of {size / 1e6:.1f} MB: {n:,} rows x {cols} columns ({data_bytes / 1e6:.1f} MB as float64); best of "
        f"{args.repeats} fresh processes each, interleaved; {os.cpu_count()} CPUs",
        "",
        "| reader | best time (s) | / pandas.read_csv | peak memory added (MB) | / CSV file | / data as float64 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    base = min(t for t, _ in filter(None, results["pandas.read_csv"]))
    summary = {}
    for r, runs in results.items():
        ok = [x for x in runs if x]
        if not ok:
            lines.append(f"| {r} | failed | | | | |")
            continue
        t = min(x[0] for x in ok)
        m = min(x[1] for x in ok)
        summary[r] = {"seconds": t, "peak_bytes": m, "runs": ok}
        lines.append(f"| {r} | {t:.3f} | {t / base:.2f}x | {m / 1e6:.0f} | {m / size:.2f}x | {m / data_bytes:.2f}x |")
    lines += [
        "",
        "In one process, each reader warmed up, then best of 7 interleaved: "
        + ", ".join(f"{r} {t:.3f} s" for r, t in warm_best.items())
        + f" ({warm_best['mlp.data.load_csv (pyarrow)'] / warm_best['pandas.read_csv']:.2f}x)",
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        from mlp.bench.timing import versions

        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "report.md"), "w") as f:
            f.write(report)
        with open(os.path.join(args.out, "results.json"), "w") as f:
            json.dump(
                {
                    "csv_bytes": size,
                    "rows": n,
                    "columns": cols,
                    "readers": summary,
                    "warm": warm_best,
                    "versions": versions(),
                },
                f,
                indent=1,
            )


if __name__ == "__main__":
    main()
