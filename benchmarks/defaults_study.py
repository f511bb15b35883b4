"""Which defaults should `mlp train` have? Candidates compared on seven datasets, five seeds each,
beside scikit-learn's MLPClassifier/MLPRegressor defaults and a plain PyTorch Adam recipe on the
same splits.

    python benchmarks/defaults_study.py --out benchmarks/results/defaults   [--seeds 5] [--quick]

Datasets: digits, breast_cancer, wine, iris, diabetes (regression), make_classification (40
features, 30 informative, 4 classes), make_moons (noise 0.25): each split 75/25 (stratified for
classes) with random_state = seed. Scores: test accuracy, or R² for regression. Every candidate
trains a 256-256 ReLU network the way `mlp train` does (scaler fitted on the training split).
The table gives each candidate's mean score per dataset, the mean over datasets, and the worst
gap to the best candidate on any dataset ("never far behind on any").
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
from mlp.bench import versions
from mlp.data import SCALERS

CANDIDATES = {
    # name: (scale, label_smoothing, optimizer, lr, epochs, early_stopping)
    "previous (minmax, ls 0.1, sgd 0.05, 30 ep)": ("minmax", 0.1, "sgd", 0.05, 30, False),
    "minmax, sgd 0.01, 30 ep": ("minmax", 0.0, "sgd", 0.01, 30, False),
    "standard, sgd 0.01, 30 ep": ("standard", 0.0, "sgd", 0.01, 30, False),
    "standard, ls 0.1, sgd 0.01, 30 ep": ("standard", 0.1, "sgd", 0.01, 30, False),
    "standard, adam 1e-3, 30 ep": ("standard", 0.0, "adam", 0.001, 30, False),
    "minmax, adam 1e-3, 30 ep": ("minmax", 0.0, "adam", 0.001, 30, False),
    "none, adam 1e-3, 30 ep": ("none", 0.0, "adam", 0.001, 30, False),
    "standard, adam 1e-3, early stop (max 200)": ("standard", 0.0, "adam", 0.001, 200, True),
    "standard, sgd 0.01, early stop (max 200)": ("standard", 0.0, "sgd", 0.01, 200, True),
}


def datasets(seed):
    from sklearn import datasets as d
    from sklearn.model_selection import train_test_split

    def split(name, X, y, task):
        strat = y if task == "classification" else None
        Xtr, Xte, ytr, yte = train_test_split(
            X.astype(np.float64), y, test_size=0.25, random_state=seed, stratify=strat
        )
        return name, task, Xtr, Xte, ytr, yte

    yield split("digits", *d.load_digits(return_X_y=True), "classification")
    yield split("breast_cancer", *d.load_breast_cancer(return_X_y=True), "classification")
    yield split("wine", *d.load_wine(return_X_y=True), "classification")
    yield split("iris", *d.load_iris(return_X_y=True), "classification")
    yield split("diabetes", *d.load_diabetes(return_X_y=True), "regression")
    Xc, yc = d.make_classification(1000, 40, n_informative=30, n_classes=4, random_state=seed)
    yield split("make_classification", Xc, yc, "classification")
    yield split("make_moons", *d.make_moons(1000, noise=0.25, random_state=seed), "classification")


def score(task, y, out):
    if task == "classification":
        pred = out.argmax(axis=1) if out.ndim == 2 else out
        return float(np.mean(pred == y))
    out = out.reshape(-1)
    return float(1 - np.sum((y - out) ** 2) / np.sum((y - y.mean()) ** 2))


def run_candidate(spec, task, Xtr, Xte, ytr, yte, seed):
    scale, ls, opt, lr, epochs, early = spec
    sc = SCALERS[scale]().fit(Xtr)
    Xtr_s, Xte_s = sc.transform(Xtr), sc.transform(Xte)
    if task == "classification":
        k = int(max(ytr.max(), yte.max())) + 1
        loss = mlp.CrossEntropy(label_smoothing=ls)
        model = mlp.MLP([Xtr.shape[1], 256, 256, k], "relu", "softmax", seed=seed)
        y = ytr
    else:
        loss = "mse"
        model = mlp.MLP([Xtr.shape[1], 256, 256, 1], "relu", "identity", seed=seed)
        y = ytr
    optimizer = mlp.SGD(lr, momentum=0.9) if opt == "sgd" else mlp.Adam(lr)
    kw = dict(early_stopping=True, n_iter_no_change=10, tol=1e-4) if early else {}
    try:
        _train(model, Xtr_s, y, loss, optimizer, epochs, seed, kw)
    except mlp.DivergenceError:
        return None  # a failure: scored 0 in the table, and counted
    return score(task, yte, np.asarray(model(Xte_s)))


def _train(model, Xtr_s, y, loss, optimizer, epochs, seed, kw):
    mlp.train(
        model, Xtr_s, y, loss=loss, optimizer=optimizer, epochs=epochs, batch_size=32, seed=seed, progress=False, **kw
    )


def run_sklearn(task, Xtr, Xte, ytr, yte, seed):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    est = MLPClassifier(random_state=seed) if task == "classification" else MLPRegressor(random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe = make_pipeline(StandardScaler(), est).fit(Xtr, ytr)  # the scaling scikit-learn's guide asks for
    return score(task, yte, pipe.predict(Xte))


def run_torch(task, Xtr, Xte, ytr, yte, seed, epochs=30):
    """A plain PyTorch recipe: standardize, 256-256 ReLU (default init), Adam 1e-3, batch 32."""
    import torch

    torch.manual_seed(seed)
    sc = SCALERS["standard"]().fit(Xtr)
    Xt = torch.tensor(sc.transform(Xtr), dtype=torch.float32)
    k = int(max(ytr.max(), yte.max())) + 1 if task == "classification" else 1
    net = torch.nn.Sequential(
        torch.nn.Linear(Xt.shape[1], 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, k),
    )
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    if task == "classification":
        yt, lossf = torch.tensor(ytr, dtype=torch.long), torch.nn.CrossEntropyLoss()
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
        out = net(torch.tensor(sc.transform(Xte), dtype=torch.float32)).numpy()
    return score(task, yte, out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="benchmarks/results/defaults")
    p.add_argument("--seeds", type=int, default=5)
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    rows = []
    t0 = time.perf_counter()
    for seed in range(args.seeds):
        for name, task, Xtr, Xte, ytr, yte in datasets(seed):
            for cand, spec in CANDIDATES.items():
                rows.append(
                    {
                        "dataset": name,
                        "seed": seed,
                        "candidate": cand,
                        "score": run_candidate(spec, task, Xtr, Xte, ytr, yte, seed),
                    }
                )
            rows.append(
                {
                    "dataset": name,
                    "seed": seed,
                    "candidate": "scikit-learn defaults (+ StandardScaler)",
                    "score": run_sklearn(task, Xtr, Xte, ytr, yte, seed),
                }
            )
            with contextlib.suppress(ImportError):
                rows.append(
                    {
                        "dataset": name,
                        "seed": seed,
                        "candidate": "PyTorch Adam recipe (30 ep)",
                        "score": run_torch(task, Xtr, Xte, ytr, yte, seed),
                    }
                )
            print(f"seed {seed} {name} done ({time.perf_counter() - t0:.0f} s)", flush=True)
            with open(os.path.join(args.out, "rows.jsonl"), "a") as f:  # kept as it goes
                f.writelines(json.dumps(r) + "\n" for r in rows if r["dataset"] == name and r["seed"] == seed)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"rows": rows, "seconds": time.perf_counter() - t0, "versions": versions()}, f, indent=1)
    report = table(rows)
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write(report)
    print(report)


def table(rows) -> str:
    names = list(dict.fromkeys(r["dataset"] for r in rows))
    cands = list(dict.fromkeys(r["candidate"] for r in rows))
    mean = {
        (c, d): float(np.mean([r["score"] or 0.0 for r in rows if r["candidate"] == c and r["dataset"] == d]))
        for c in cands
        for d in names
    }
    best = {d: max(mean[c, d] for c in cands) for d in names}
    lines = [
        "| candidate | " + " | ".join(names) + " | mean | worst gap to best | diverged runs |",
        "|---|" + "---:|" * (len(names) + 3),
    ]
    for c in sorted(cands, key=lambda c: -np.mean([mean[c, d] for d in names])):
        gap = max(best[d] - mean[c, d] for d in names)
        lines.append(
            f"| {c} | "
            + " | ".join(f"{mean[c, d]:.3f}" for d in names)
            + f" | {np.mean([mean[c, d] for d in names]):.3f} | {gap:.3f} | "
            + f"{sum(r['score'] is None for r in rows if r['candidate'] == c)} |"
        )
    return (
        "Test accuracy (R² for diabetes), mean over seeds; 256-256 ReLU, batch 32 for every mlp candidate. "
        "A run that diverged (DivergenceError) scores 0.\n\n" + "\n".join(lines) + "\n"
    )


if __name__ == "__main__":
    main()
