"""``mlp bench --scaling-n``: epoch cost in n from 10^3 to 10^7 samples, streamed from a file on disk."""

from __future__ import annotations

import json
import os
import time

import numpy as np

import mlp
from mlp import backends as _backends
from mlp.bench.report import NO_MATPLOTLIB, has_matplotlib
from mlp.bench.timing import loglog_fit, threads, versions

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
    from mlp.data import row_chunks

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
    Xn, yn = X[:n], y[:n]
    if in_memory:
        Xn, yn = np.array(Xn), np.array(yn)
    shuffle = mlp.BlockShuffle(cfg["block"], cfg["window"]) if shuffle is None else shuffle
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
        "shuffle": vars(mlp.BlockShuffle(cfg["block"], cfg["window"])),
        "file": X.filename,
        "file_bytes": int(X.shape[0]) * row_bytes,
        "ram_bytes": ram,
        "rows": rows,
        "fit_disk": fit_disk,
        "fit_cached": fit_cached,
        "compare": compare,
        "versions": versions(),
        "threads": threads(),
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
    if has_matplotlib():
        plot_scaling_n(s, os.path.join(args.out, "scaling-n.png"))
    else:
        plot = f"(no plot: {NO_MATPLOTLIB})"
    print(report)
    print(f"wrote {args.out}/scaling-n.md, scaling-n.json {plot} in {s['seconds']:.0f} s")
    return 0
