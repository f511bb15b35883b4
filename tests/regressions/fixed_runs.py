"""Fixed short training runs on the NumPy backend, whose results are recorded in
``step_numerics.npz``: ``test_step_numerics.py`` runs them again and compares bit for bit.

Run as a script: ``python fixed_runs.py OUT.npz`` writes every run's weights, state and losses.
The test runs it in a fresh process with the BLAS kernels and NumPy's SIMD paths pinned to the
AVX2 ones (``PINNED``), so that the bits do not depend on which x86-64 processor runs it.
"""

from __future__ import annotations

import sys
import tempfile
import warnings

import numpy as np

# OpenBLAS's Haswell kernels, one thread, and NumPy's AVX2 loops (not its AVX-512 ones)
PINNED = {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
AVX512_TARGETS = ("X86_V4", "AVX512_ICL", "AVX512_SPR")  # NumPy's dispatch targets beyond AVX2


def _data(n=203, d=12, k=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.5, 3.0, size=d) + rng.normal(size=d)
    w = rng.normal(size=(d, k))
    y = np.argmax(X @ w + rng.normal(size=(n, k)), axis=1)
    return X, y


def _record(model, history):
    out = {f"param_{i}": w for i, w in enumerate(model.get_weights())}
    # the state the steps ran with, in the model's dtype (get_state gives the input scaling in float64)
    out.update({f"state_{i}": np.asarray(model.backend.to_numpy(s)) for i, s in enumerate(model.state)})
    out["loss"] = np.asarray(history.loss, dtype=np.float64)
    if history.val_loss:
        out["val_loss"] = np.asarray(history.val_loss, dtype=np.float64)
    return out


def _run(make_model, fit_kw, X=None, y=None):
    import mlp

    if X is None:
        X, y = _data()
    model = make_model()
    history = mlp.train(model, X, y, epochs=3, progress=False, **fit_kw)
    return _record(model, history)


def runs() -> dict[str, dict[str, np.ndarray]]:
    """Every fixed run: name -> its arrays."""
    import mlp

    X, y = _data()
    r = np.random.default_rng(1).normal(size=(203, 2))
    out = {
        "adam-defaults-f32": _run(lambda: mlp.MLP([12, 32, 16, 3], scale="robust"), {}),
        "sgd-momentum-wd-f64": _run(
            lambda: mlp.MLP([12, 24, 3], "relu", dtype="float64", seed=3),
            dict(optimizer=mlp.SGD(0.05, momentum=0.9, weight_decay=1e-3), batch_size=16),
        ),
        "sgd-plain-wd-f32-mse": _run(
            lambda: mlp.MLP([12, 16, 2], "tanh", scale="standard", seed=4),
            dict(loss="mse", optimizer=mlp.SGD(0.05, weight_decay=1e-3), batch_size=20),
            X,
            r,
        ),
        "nesterov-clip-l1-f64": _run(
            lambda: mlp.MLP([12, 16, 3], "relu", dtype="float64", seed=5),
            dict(optimizer=mlp.SGD(0.05, momentum=0.9, nesterov=True, clip_norm=1.0, l1=1e-4), batch_size=25),
        ),
        "rmsprop-dropout-batchnorm-f32": _run(
            lambda: mlp.MLP([12, 32, 32, 3], dropout=0.2, norm="batch", scale="minmax", seed=6),
            dict(optimizer=mlp.RMSProp(1e-3), batch_size=32),
        ),
        "adamw-layernorm-clip-f32": _run(
            lambda: mlp.MLP([12, 32, 3], "gelu", norm="layer", seed=7),
            dict(optimizer=mlp.AdamW(2e-3, clip_norm=0.5), batch_size=32),
        ),
        "adam-eps-hat-decay-over-batch-f64": _run(
            lambda: mlp.MLP([12, 20, 3], dtype="float64", seed=8),
            dict(optimizer=mlp.Adam(1e-3, eps_hat=True, weight_decay=1e-2, decay_over_batch=True), batch_size=30),
        ),
        "validation-early-stopping-f32": _run(
            lambda: mlp.MLP([12, 16, 3], seed=9), dict(validation_fraction=0.2, early_stopping=True, tol=1e-3)
        ),
        "weights-f32": _run(
            lambda: mlp.MLP([12, 16, 3], seed=10),
            dict(sample_weight=np.linspace(0.5, 2.0, 203), class_weight="balanced", batch_size=40),
        ),
        "generic-kernels-f32": _run(lambda: mlp.MLP([12, 32, 3], seed=11), dict(fast=False)),
        "maxout-multiplicative-f64": _run(
            lambda: mlp.Sequential(
                mlp.Dense(12, 8),
                mlp.Tanh(),
                mlp.Maxout(8, 6, k=2),
                mlp.Multiplicative(6, 5, pieces=3),
                mlp.Dense(5, 3),
                dtype="float64",
                seed=12,
            ),
            dict(optimizer=mlp.SGD(0.01, momentum=0.5), batch_size=16),
        ),
    }
    with tempfile.TemporaryDirectory() as folder:  # the same rows read from a memory map, batch by batch
        path = f"{folder}/X.npy"
        np.save(path, X)
        Xm = np.load(path, mmap_mode="r")
        out["streamed-f32"] = _run(lambda: mlp.MLP([12, 16, 3], seed=13), dict(prefetch=False, batch_size=24), Xm, y)
    out.update(_sklearn_runs(X, y, r))
    return out


def _sklearn_runs(X, y, r):
    """The scikit-learn estimators: velocity carried across rate changes, optimizer state across calls."""
    from mlp.sklearn import MLPClassifier, MLPRegressor

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = MLPClassifier(
            (16,), solver="sgd", learning_rate="invscaling", momentum=0.9, max_iter=3, random_state=0
        ).fit(X, y)
        reg = MLPRegressor(hidden_layer_sizes=(16,), solver="adam", random_state=0)
        for _ in range(3):
            reg.partial_fit(X, r)
    out = {}
    for name, est in (("sklearn-sgd-invscaling", clf), ("sklearn-adam-partial-fit", reg)):
        arrays = {f"coef_{i}": c for i, c in enumerate(est.coefs_)}
        arrays.update({f"intercept_{i}": c for i, c in enumerate(est.intercepts_)})
        arrays["loss"] = np.asarray(est.loss_curve_, dtype=np.float64)
        out[name] = arrays
    return out


def flatten(results: dict) -> dict[str, np.ndarray]:
    return {f"{run}/{key}": a for run, arrays in results.items() for key, a in arrays.items()}


if __name__ == "__main__":
    np.savez(sys.argv[1], **flatten(runs()))
