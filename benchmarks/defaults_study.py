"""Which defaults should mlp have? Candidates compared on 14 datasets, five seeds each, beside
scikit-learn's MLPClassifier/MLPRegressor defaults, a plain PyTorch recipe and RealMLP-TD
(Holzmüller et al., "Better by Default", NeurIPS 2024; pytabkit), with the time each took.

    python benchmarks/defaults_study.py --out benchmarks/results/defaults-DATE  [--seeds 5] [--only NAME,...]

Datasets (75/25 splits, stratified for classes, random_state = seed; raw features, nobody tuned them):
- classification: digits, breast_cancer, wine, iris, make_classification (4 classes, 40 features, 30
  informative), make_moons (noise 0.25), and three image-like sets with constant or near-constant
  features made from the digits: digits28 (each 8x8 digit upsampled 3x into a blank 28x28 frame),
  digits28-salt (the same with rare bright pixels in the frame), digits-shift (the 8x8 digit at a random
  place of a blank 16x16 canvas);
- regression: diabetes, friedman1 (2,000 rows), heavy-tailed (Student-t features, df 2), outliers
  (friedman1 with 2% of feature values blown up 1000x), friedman1-60k (60,000 rows).
Scores: test accuracy, or R² for regression. Every mlp candidate trains a 256-256 ReLU network from the
raw features (the model scales them itself); scikit-learn after StandardScaler, as its guide asks.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time
import warnings

import numpy as np

import mlp
from mlp.bench.timing import versions

# name: settings over BASE (the candidate mlp defaults)
BASE = dict(
    scale="standard",
    init="he_normal",
    lr=1e-3,
    epochs=30,
    batch=32,
    schedule=None,
    dropout=0.0,
    smoothing=0.0,
    target=False,
)
CANDIDATES = {
    "standard, He init, Adam 1e-3, batch 32, 30 ep (previous)": {},
    "torch init": dict(init="torch"),
    "standard with a floor (0.1 x median std)": dict(scale="floor"),
    "robust scaling + smooth clip": dict(scale="robust"),
    "min-max scaling": dict(scale="minmax"),
    "cosine schedule": dict(schedule="cosine"),
    "batch min(200, n)": dict(batch="auto"),
    "dropout 0.1": dict(dropout=0.1),
    "label smoothing 0.1": dict(smoothing=0.1),
    "standardized regression targets": dict(target=True),
    "robust + standardized targets + cosine": dict(scale="robust", target=True, schedule="cosine"),
    "robust + standardized targets + cosine + torch init": dict(
        scale="robust", target=True, schedule="cosine", init="torch"
    ),
    "floor + standardized targets + cosine": dict(scale="floor", target=True, schedule="cosine"),
    "robust + torch init": dict(scale="robust", init="torch"),
    "robust + cosine + torch init": dict(scale="robust", schedule="cosine", init="torch"),
    "robust + torch init + standardized targets": dict(scale="robust", init="torch", target=True),
}
CHOSEN = "robust + torch init"  # mlp.defaults: what the study chose
SKLEARN = "scikit-learn defaults (+ StandardScaler)"
TORCH = "PyTorch recipe (standardize, Adam 1e-3, 30 ep)"
REALMLP = "RealMLP-TD (pytabkit)"


# -- datasets ---------------------------------------------------------------------------------
def _split(name, X, y, task, seed):
    from sklearn.model_selection import train_test_split

    strat = y if task == "classification" else None
    Xtr, Xte, ytr, yte = train_test_split(X.astype(np.float64), y, test_size=0.25, random_state=seed, stratify=strat)
    return name, task, Xtr, Xte, ytr, yte


def _digits28(salt=False, seed=0):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    big = np.kron(X.reshape(-1, 8, 8), np.ones((3, 3)))  # 24x24
    out = np.zeros((X.shape[0], 28, 28))
    out[:, 2:26, 2:26] = big
    if salt:
        rng = np.random.default_rng(1000 + seed)
        frame = np.ones((28, 28), bool)
        frame[2:26, 2:26] = False
        bright = rng.random((X.shape[0], 28, 28)) < 0.004
        out[bright & frame] = 16.0
    return out.reshape(X.shape[0], -1), y


def _digits_shift(seed=0):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(2000 + seed)
    out = np.zeros((X.shape[0], 16, 16))
    at = rng.integers(0, 9, size=(X.shape[0], 2))
    for i, (r, c) in enumerate(at):
        out[i, r : r + 8, c : c + 8] = X[i].reshape(8, 8)
    return out.reshape(X.shape[0], -1), y


def _friedman(n, seed, outliers=False):
    from sklearn.datasets import make_friedman1

    X, y = make_friedman1(n, n_features=10, noise=1.0, random_state=seed)
    if outliers:
        rng = np.random.default_rng(3000 + seed)
        hit = rng.random(X.shape) < 0.02
        X = np.where(hit, X * 1000.0, X)
    return X, y


def _heavy(seed, n=3000, d=8):
    rng = np.random.default_rng(4000 + seed)
    X = rng.standard_t(2, size=(n, d))
    a = rng.normal(size=d)
    z = np.clip(X, -5, 5) @ a / np.sqrt(d)
    return X, np.tanh(z) + 0.5 * np.sin(2 * np.clip(X[:, 0], -5, 5)) + 0.1 * rng.normal(size=n)


def datasets(seed, only=None):
    from sklearn import datasets as d

    makers = {
        "digits": lambda: (*d.load_digits(return_X_y=True), "classification"),
        "breast_cancer": lambda: (*d.load_breast_cancer(return_X_y=True), "classification"),
        "wine": lambda: (*d.load_wine(return_X_y=True), "classification"),
        "iris": lambda: (*d.load_iris(return_X_y=True), "classification"),
        "make_classification": lambda: (
            *d.make_classification(1000, 40, n_informative=30, n_classes=4, random_state=seed),
            "classification",
        ),
        "make_moons": lambda: (*d.make_moons(1000, noise=0.25, random_state=seed), "classification"),
        "digits28": lambda: (*_digits28(False, seed), "classification"),
        "digits28-salt": lambda: (*_digits28(True, seed), "classification"),
        "digits-shift": lambda: (*_digits_shift(seed), "classification"),
        "diabetes": lambda: (*d.load_diabetes(return_X_y=True), "regression"),
        "friedman1": lambda: (*_friedman(2000, seed), "regression"),
        "heavy-tailed": lambda: (*_heavy(seed), "regression"),
        "outliers": lambda: (*_friedman(3000, seed, outliers=True), "regression"),
        "friedman1-60k": lambda: (*_friedman(60000, seed), "regression"),
    }
    for name, make in makers.items():
        if only is None or name in only:
            X, y, task = make()
            yield _split(name, X, y, task, seed)


def score(task, y, pred):
    if task == "classification":
        return float(np.mean(np.asarray(pred).reshape(-1) == y))
    pred = np.asarray(pred, dtype=np.float64).reshape(-1)
    return float(1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2))


# -- contestants ------------------------------------------------------------------------------
def run_mlp(spec, task, Xtr, Xte, ytr, yte, seed):
    cfg = {**BASE, **spec}
    d = Xtr.shape[1]
    scale = mlp.Standardize(d, floor=0.1) if cfg["scale"] == "floor" else cfg["scale"]
    epochs = cfg["epochs"]
    schedule = mlp.CosineDecay(epochs) if cfg["schedule"] == "cosine" else None
    opt = mlp.Adam(cfg["lr"], schedule=schedule)
    kw = dict(optimizer=opt, epochs=epochs, batch_size=cfg["batch"], seed=seed, progress=False)
    if task == "classification":
        k = len(np.unique(ytr))
        model = mlp.MLP([d, 256, 256, k], "relu", scale=scale, init=cfg["init"], dropout=cfg["dropout"], seed=seed)
        loss = mlp.CrossEntropy(label_smoothing=cfg["smoothing"], from_logits=True)
        y = ytr
    else:  # standardized targets: inside the model (mlp.TargetScale), as a user has them
        model = mlp.MLP(
            [d, 256, 256, 1],
            "relu",
            scale=scale,
            init=cfg["init"],
            dropout=cfg["dropout"],
            seed=seed,
            scale_targets=cfg["target"],
        )
        loss = "mse"
        y = ytr
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mlp.TrainingWarning)
        warnings.simplefilter("ignore", mlp.DataWarning)  # the unscaled candidates are unscaled on purpose
        try:
            mlp.train(model, Xtr, y, loss=loss, **kw)
        except mlp.DivergenceError:
            return None
    if task == "classification":
        return score(task, yte, model.predict_labels(Xte))
    return score(task, yte, np.asarray(model(Xte)))


def run_sklearn(task, Xtr, Xte, ytr, yte, seed):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    est = MLPClassifier(random_state=seed) if task == "classification" else MLPRegressor(random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe = make_pipeline(StandardScaler(), est).fit(Xtr, ytr)
    return score(task, yte, pipe.predict(Xte))


def run_torch(task, Xtr, Xte, ytr, yte, seed, epochs=30):
    """A plain PyTorch recipe: standardize, 256-256 ReLU (nn.Linear's default init), Adam 1e-3, batch 32."""
    import torch

    torch.manual_seed(seed)
    mean, std = Xtr.mean(axis=0), Xtr.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    Xt = torch.tensor((Xtr - mean) / std, dtype=torch.float32)
    k = len(np.unique(ytr)) if task == "classification" else 1
    net = torch.nn.Sequential(
        torch.nn.Linear(Xt.shape[1], 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, k),
    )
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    if task == "classification":
        yt, lossf = torch.tensor(np.searchsorted(np.unique(ytr), ytr), dtype=torch.long), torch.nn.CrossEntropyLoss()
    else:
        yt, lossf = torch.tensor(ytr, dtype=torch.float32).reshape(-1, 1), torch.nn.MSELoss()
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(Xt.shape[0], generator=gen)
        for s in range(0, Xt.shape[0], 32):
            idx = perm[s : s + 32]
            opt.zero_grad()
            lossf(net(Xt[idx]), yt[idx]).backward()
            opt.step()
    with torch.no_grad():
        out = net(torch.tensor((Xte - mean) / std, dtype=torch.float32)).numpy()
    if task == "classification":
        return score(task, yte, np.unique(ytr)[out.argmax(axis=1)])
    return score(task, yte, out)


def run_realmlp(task, Xtr, Xte, ytr, yte, seed):
    from pytabkit import RealMLP_TD_Classifier, RealMLP_TD_Regressor

    cls = RealMLP_TD_Classifier if task == "classification" else RealMLP_TD_Regressor
    est = cls(random_state=seed, device="cpu", n_threads=os.cpu_count(), verbosity=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(Xtr, ytr)
    return score(task, yte, est.predict(Xte))


def _timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


# -- the study ----------------------------------------------------------------------------------
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="benchmarks/results/defaults")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--only", default=None, help="comma-separated dataset names")
    p.add_argument("--no-realmlp", action="store_true")
    p.add_argument("--candidates", default=None, help="comma-separated candidate names (default: all)")
    p.add_argument(
        "--timing",
        action="store_true",
        help="instead: the chosen defaults beside scikit-learn's on each dataset (seed 0), interleaved, best of 3",
    )
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    only = set(args.only.split(",")) if args.only else None
    if args.timing:
        return timing(args.out, only)
    rows = []
    path = os.path.join(args.out, "rows.jsonl")
    if os.path.exists(path):  # resume a study that was stopped: keep its rows
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
    done = {(r["dataset"], r["seed"], r["candidate"]) for r in rows}
    t0 = time.perf_counter()
    for seed in range(args.seeds):
        for name, task, Xtr, Xte, ytr, yte in datasets(seed, only):
            todo = [(c, run_mlp, (spec,)) for c, spec in CANDIDATES.items()]
            todo += [(SKLEARN, run_sklearn, ()), (TORCH, run_torch, ())]
            if not args.no_realmlp:
                todo.append((REALMLP, run_realmlp, ()))
            for cand, fn, extra in todo:
                if (name, seed, cand) in done or (args.candidates and cand not in args.candidates.split(",")):
                    continue
                if cand == "label smoothing 0.1" and task != "classification":
                    continue
                if cand == "standardized regression targets" and task != "regression":
                    continue
                try:
                    result, seconds = _timed(fn, *extra, task, Xtr, Xte, ytr, yte, seed)
                except ImportError:
                    continue
                row = {
                    "dataset": name,
                    "task": task,
                    "seed": seed,
                    "candidate": cand,
                    "score": result,
                    "seconds": seconds,
                }
                rows.append(row)
                with open(path, "a") as f:  # kept as it goes
                    f.write(json.dumps(row) + "\n")
            print(f"seed {seed} {name} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"rows": rows, "versions": versions()}, f, indent=1)
    report = table(rows)
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write(report)
    print(report)


def timing(out, only=None, repeats=3):
    """Training time of the chosen defaults and of scikit-learn's, per dataset, measured side by side
    in one process (A, B, A, B, ...), best of each: the study's own times ran beside other work."""
    spec = CANDIDATES[CHOSEN]
    lines = [
        f"Training time (s), seed 0 split, best of {repeats} interleaved runs in one process; {os.cpu_count()} CPUs, "
        f"BLAS threads as installed. mlp: {CHOSEN} (mlp.defaults); scikit-learn: its defaults after StandardScaler.",
        "",
        "| dataset | rows | mlp (s) | scikit-learn (s) | mlp / scikit-learn |",
        "|---|---:|---:|---:|---:|",
    ]
    worst = 0.0
    for name, task, Xtr, Xte, ytr, yte in datasets(0, only):
        best = {"mlp": float("inf"), "sklearn": float("inf")}
        for _ in range(repeats):
            best["mlp"] = min(best["mlp"], _timed(run_mlp, spec, task, Xtr, Xte, ytr, yte, 0)[1])
            best["sklearn"] = min(best["sklearn"], _timed(run_sklearn, task, Xtr, Xte, ytr, yte, 0)[1])
        ratio = best["mlp"] / best["sklearn"]
        worst = max(worst, ratio)
        lines.append(f"| {name} | {Xtr.shape[0]:,} | {best['mlp']:.2f} | {best['sklearn']:.2f} | {ratio:.2f}x |")
        print(lines[-1], flush=True)
    lines += ["", f"Worst ratio: {worst:.2f}x."]
    with open(os.path.join(out, "timing.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def table(rows) -> str:
    names = list(dict.fromkeys(r["dataset"] for r in rows))
    cands = list(dict.fromkeys(r["candidate"] for r in rows))

    def cell(c, d, key="score"):
        vals = [r[key] if r[key] is not None else 0.0 for r in rows if r["candidate"] == c and r["dataset"] == d]
        return (float(np.mean(vals)), float(np.std(vals)), len(vals)) if vals else None

    means = {(c, d): cell(c, d) for c in cands for d in names}
    times = {(c, d): cell(c, d, "seconds") for c in cands for d in names}
    # a candidate missing a dataset (regression-only settings) takes the previous defaults' score there
    prev = next(iter(CANDIDATES))

    def score_of(c, d):
        m = means[c, d] or means.get((prev, d))
        return m[0] if m else float("nan")

    ours = [c for c in cands if c in CANDIDATES]
    lines = [
        "Mean test score over seeds (accuracy; R² for regression) ± standard deviation. mean: over datasets. "
        "vs sklearn: worst gap below scikit-learn's defaults on any dataset (negative: below). time: total seconds "
        "over the study, and the worst ratio to scikit-learn's time on one dataset.",
        "",
        "| candidate | " + " | ".join(names) + " | mean | worst vs sklearn | time (s) | worst time / sklearn |",
        "|---|" + "---:|" * (len(names) + 4),
    ]
    for c in sorted(cands, key=lambda c: -np.nanmean([score_of(c, d) for d in names])):
        cells = []
        for d in names:
            m = means[c, d]
            cells.append(f"{m[0]:.3f} ± {m[1]:.3f}" if m else "-")
        gaps = [score_of(c, d) - score_of(SKLEARN, d) for d in names if means.get((SKLEARN, d))]
        total = sum(t[0] * t[2] for d in names if (t := times[c, d]))
        ratios = [times[c, d][0] / times[SKLEARN, d][0] for d in names if times[c, d] and times.get((SKLEARN, d))]
        lines.append(
            f"| {c}{' *' if c in ours else ''} | "
            + " | ".join(cells)
            + f" | {np.nanmean([score_of(c, d) for d in names]):.3f} | {min(gaps):+.3f} | {total:.0f} | "
            + f"{max(ratios):.2f}x |"
        )
    lines += ["", "* an mlp candidate. Diverged runs (DivergenceError) score 0."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
