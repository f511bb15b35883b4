"""The training loop: epochs, batches, stopping rules, oracles, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest

import mlp


class RecordingMSE(mlp.SquaredError):
    """Squared error that records the first target column of every batch it sees."""

    def __init__(self, host):
        self.seen, self.host = [], host

    def value_and_gradient(self, out, t):
        self.seen.append(self.host(t)[:, 0].copy())
        return super().value_and_gradient(out, t)


@pytest.mark.parametrize("batch_size,sizes", [(4, [4, 4, 2]), (1, [1] * 10), (None, [10]), (32, [10]), ("auto", [10])])
def test_every_epoch_visits_each_sample_once(backend, batch_size, sizes):
    n = 10
    X = np.arange(n * 2, dtype=float).reshape(n, 2) / 20
    y = np.arange(n, dtype=float)  # the target names the sample
    loss = RecordingMSE(backend.host)
    model = mlp.MLP([2, 1], backend=backend.backend, dtype="float64")
    mlp.train(
        model,
        backend.data(X),
        backend.data(y),
        loss=loss,
        optimizer=mlp.SGD(1e-6),
        epochs=3,
        batch_size=batch_size,
        seed=1,
        progress=False,
    )
    per_epoch = len(sizes)
    orders = []
    for e in range(3):
        batches = loss.seen[e * per_epoch : (e + 1) * per_epoch]
        assert [len(b) for b in batches] == sizes
        for b in batches:  # each batch's rows are gathered in row order
            np.testing.assert_array_equal(b, np.sort(b))
        order = np.concatenate(batches)
        np.testing.assert_array_equal(np.sort(order), np.arange(n))
        orders.append(order)
    if isinstance(batch_size, int) and batch_size < n:  # one batch of all rows is the same set every epoch
        assert not all(np.array_equal(orders[0], o) for o in orders[1:])  # a fresh order each epoch


def test_ridge_closed_form(backend, rng):
    """Full-batch gradient descent on squared error + L2 converges to (λI + XᵀX)⁻¹ Xᵀy."""
    n, d, wd = 40, 3, 0.1
    X = rng.normal(size=(n, d))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=n)
    model = mlp.Sequential(mlp.Dense(d, 1, bias=False), backend=backend.backend, dtype="float64", seed=0)
    mlp.train(
        model,
        backend.data(X),
        backend.data(y),
        loss="mse",
        epochs=600,
        batch_size=None,
        optimizer=mlp.SGD(0.5, weight_decay=wd),
        progress=False,
    )
    # the loss is (1/2n)||Xw - y||² + (wd/2)||w||², so λ = n·wd in the closed form
    w = np.linalg.solve(n * wd * np.eye(d) + X.T @ X, X.T @ y)
    np.testing.assert_allclose(backend.host(model.params[0])[:, 0], w, atol=1e-6)


def test_xor_is_fit_exactly_by_two_hidden_units(backend):
    xor = mlp.data.xor()
    model = mlp.MLP([2, 2, 1], "tanh", "sigmoid", backend=backend.backend, dtype="float64", seed=3)
    mlp.train(
        model,
        backend.data(xor.X_train),
        backend.data(xor.y_train),
        loss="bce",
        epochs=600,
        batch_size=None,
        optimizer=mlp.SGD(1.0, momentum=0.9),
        progress=False,
    )
    p = backend.host(model(backend.data(xor.X_train)))[:, 0]
    np.testing.assert_array_equal(p > 0.5, xor.y_train == 1)
    assert np.all(np.abs(p - xor.y_train) < 0.05)


def test_perceptron_converges_on_separable_data_and_not_on_xor(backend, rng):
    X = rng.normal(size=(60, 2))
    y = np.where(X @ np.array([2.0, -1.0]) + 0.3 > 0, 1, -1)
    p = mlp.Perceptron(2, backend=backend.backend, seed=0).fit(backend.data(X), backend.data(y), epochs=200)
    assert p.converged_ and p.mistakes_[-1] == 0
    assert p.score(backend.data(X), backend.data(y)) == 1.0
    xor = mlp.data.xor()
    q = mlp.Perceptron(2, backend=backend.backend).fit(backend.data(xor.X_train), backend.data(xor.y_train), epochs=50)
    assert not q.converged_ and min(q.mistakes_) > 0
    assert q.score(backend.data(xor.X_train), backend.data(xor.y_train)) <= 0.75


@pytest.mark.parametrize("gate", ["and", "or", "nand"])
def test_gates_as_perceptrons(backend, gate):
    ds = mlp.data.gate(gate)
    X, y = backend.data(ds.X_train), backend.data(ds.y_train)
    assert mlp.Perceptron.gate(gate, backend=backend.backend).score(X, y) == 1.0
    learned = mlp.Perceptron(2, backend=backend.backend).fit(X, y, epochs=100)
    assert learned.converged_ and learned.score(X, y) == 1.0


def test_tol_stops_training(backend, rng):
    X = rng.normal(size=(30, 2))
    y = X @ np.array([1.0, 1.0])
    model = mlp.MLP([2, 1], backend=backend.backend, dtype="float64")
    h = mlp.train(
        model,
        backend.data(X),
        backend.data(y),
        loss="mse",
        optimizer=mlp.SGD(0.3),
        epochs=500,
        batch_size=None,
        tol=1e-6,
        n_iter_no_change=3,
        progress=False,
    )
    assert h.stop_reason == "tol" and h.epochs < 500
    last = np.abs(np.diff(h.loss[-4:]))
    assert np.all(last < 1e-6)


def test_early_stopping_restores_the_best_weights(backend, rng):
    X = rng.normal(size=(40, 3))
    y = rng.integers(0, 2, size=40)  # noise: validation loss turns up while training loss falls
    Xv, yv = rng.normal(size=(20, 3)), rng.integers(0, 2, size=20)
    model = mlp.MLP([3, 32, 2], "relu", "softmax", backend=backend.backend, dtype="float64", seed=0)
    snapshots = []
    h = mlp.train(
        model,
        backend.data(X),
        backend.data(y),
        validation=(backend.data(Xv), backend.data(yv)),
        optimizer=mlp.SGD(0.2, momentum=0.9),
        epochs=200,
        batch_size=8,
        early_stopping=True,
        n_iter_no_change=5,
        progress=False,
        callbacks=[lambda e, logs, m: snapshots.append(m.get_weights())],
    )
    assert h.stop_reason == "early_stopping"
    best = int(np.argmin(h.val_loss))
    assert h.best_epoch == best + 1 and h.epochs == best + 1 + 5
    for w, s in zip(model.get_weights(), snapshots[best]):
        np.testing.assert_array_equal(w, s)
    assert len(h.val_accuracy) == h.epochs


def test_validation_fraction_and_history(backend, rng):
    X, y = rng.normal(size=(50, 4)), rng.integers(0, 3, size=50)
    model = mlp.MLP([4, 3], output="softmax", backend=backend.backend, dtype="float64")
    h = mlp.train(model, backend.data(X), backend.data(y), epochs=3, validation_fraction=0.2, progress=False)
    assert len(h.loss) == len(h.val_loss) == len(h.seconds) == 3 and all(s > 0 for s in h.seconds)


@pytest.mark.parametrize("other,exact", [("array_api_strict", True), ("torch", False), ("jax", False)])
def test_same_seed_same_history(other, exact, rng):
    pytest.importorskip(other)
    X, y = rng.normal(size=(64, 5)), rng.integers(0, 3, size=64)

    def run(backend, fast=True):
        model = mlp.MLP([5, 16, 3], "tanh", "softmax", backend=backend, dtype="float64", seed=4)
        h = mlp.train(model, X, y, optimizer=mlp.Adam(0.01), epochs=5, batch_size=10, seed=9, progress=False, fast=fast)
        return h.loss, model.get_weights()

    # bitwise against NumPy's generic path; NumPy's BLAS fast paths sum in another order
    (l1, w1), (l2, w2) = run("numpy", fast=not exact), run(other)
    (l3, w3) = run("numpy")
    np.testing.assert_allclose(l3, l2, rtol=1e-12)
    for a, b in zip(w3, w2):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    if exact:
        assert l1 == l2
        for a, b in zip(w1, w2):
            np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_allclose(l1, l2, rtol=1e-10)
        for a, b in zip(w1, w2):
            np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_divergence_is_caught_with_epoch_and_batch(backend, rng):
    X, y = rng.normal(size=(40, 3)) * 100, rng.normal(size=40) * 1e3
    model = mlp.MLP([3, 16, 1], "relu", backend=backend.backend, dtype="float32")
    before = model.get_weights()
    with pytest.raises(mlp.DivergenceError, match=r"at epoch 1, batch \d+ of 5"):
        mlp.train(
            model,
            backend.data(X),
            backend.data(y),
            loss="mse",
            optimizer=mlp.SGD(10.0),
            epochs=3,
            batch_size=8,
            progress=False,
        )
    for w, b in zip(model.get_weights(), before):
        assert np.all(np.isfinite(w))
        np.testing.assert_array_equal(w, b)  # the weights from the start of the failing epoch


@pytest.mark.parametrize(
    "kw,err,match",
    [
        (dict(epochs=0), ValueError, "epochs must be an integer >= 1; got 0"),
        (dict(batch_size=0), ValueError, "batch_size must be an integer >= 1; got 0"),
        (dict(batch_size=2.5), TypeError, "batch_size must be an integer"),
        (dict(lr=-0.1), ValueError, "lr must be a finite number > 0"),
        (dict(optimizer="adagrad"), ValueError, "optimizer must be one of"),
        (dict(validation_fraction=1.5), ValueError, "validation_fraction=1.5 leaves"),
        (dict(validation=(1, 2, 3)), TypeError, "validation must be a pair"),
    ],
)
def test_bad_training_arguments(kw, err, match):
    model = mlp.MLP([2, 2], output="softmax")
    with pytest.raises(err, match=match):
        mlp.train(model, np.zeros((4, 2)), np.array([0, 1, 0, 1]), progress=False, **kw)


@pytest.mark.parametrize(
    "make_opt", [lambda: mlp.SGD(0.1, momentum=0.9), lambda: mlp.SGD(0.1)], ids=["momentum", "sgd"]
)
def test_numpy_and_strict_bitwise_on_the_generic_path(make_opt, rng):
    """Bitwise equal with fast=False; the fused momentum GEMM sums in another order (within 1e-14)."""
    pytest.importorskip("array_api_strict")
    X, y = rng.normal(size=(64, 5)), rng.integers(0, 3, size=64)

    def run(backend, fast):
        model = mlp.MLP([5, 16, 3], "relu", "softmax", backend=backend, dtype="float64", seed=4)
        h = mlp.train(model, X, y, optimizer=make_opt(), epochs=5, batch_size=10, seed=9, progress=False, fast=fast)
        return h.loss, model.get_weights()

    (l_np, w_np), (l_st, w_st), (_, w_fast) = run("numpy", False), run("array_api_strict", True), run("numpy", True)
    assert l_np == l_st
    for a, b, c in zip(w_np, w_st, w_fast):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(c, b, rtol=0, atol=1e-14)


def test_auto_batch_size_and_the_batches_callbacks_see():
    """batch_size="auto" is scikit-learn's min(200, n); callbacks get each batch's loss, weight and rows."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(450, 3)), rng.normal(size=450)
    w = rng.uniform(0.5, 1.5, size=450)
    seen = []
    model = mlp.MLP([3, 1], dtype="float64")
    mlp.train(
        model, X, y, loss="mse", epochs=2, batch_size="auto", sample_weight=w, progress=False, seed=0,
        callbacks=[lambda epoch, logs, m: seen.append(logs["batches"])],
    )  # fmt: skip
    assert [b["rows"] for b in seen] == [[200, 200, 50]] * 2
    assert all(isinstance(v, float) for b in seen for v in b["loss"] + b["weight"])
    assert sum(seen[0]["weight"]) == pytest.approx(w.sum())
    with pytest.raises((TypeError, ValueError), match="batch_size"):
        mlp.train(mlp.MLP([3, 1]), X, y, loss="mse", batch_size="big", progress=False)
