"""Dropout, BatchNorm, LayerNorm, the multiplicative layer and model.summary: equal to PyTorch's
layers, the same masks and state on every backend, streamed or in memory, one process or two."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import mlp
from mlp.backends.kernels import GENERIC, dropout_salt


def _torch_pair(norm, rng, d=6, h=8, k=3):
    """An mlp model Dense-norm-ReLU-Dense and the torch.nn model with the same weights."""
    torch = pytest.importorskip("torch")
    model = mlp.MLP([d, h, k], "relu", backend="numpy", dtype="float32", seed=2, norm=norm)
    W1, b1, g, beta, W2, b2 = model.get_weights()
    g, beta = rng.uniform(0.5, 1.5, size=h), rng.normal(size=h) * 0.1  # a scale and shift away from 1 and 0
    model.set_weights([W1, b1, g, beta, W2, b2])
    layer = torch.nn.BatchNorm1d(h) if norm == "batch" else torch.nn.LayerNorm(h)
    net = torch.nn.Sequential(torch.nn.Linear(d, h), layer, torch.nn.ReLU(), torch.nn.Linear(h, k))
    with torch.no_grad():
        for mod, (W, b) in ((net[0], (W1, b1)), (net[1], (g, beta)), (net[3], (W2, b2))):
            mod.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T if W.ndim == 2 else W)).float())
            mod.bias.copy_(torch.from_numpy(b).float())
    return torch, model, net


@pytest.mark.parametrize("norm", ["batch", "layer"])
def test_normalization_equals_torch_after_ten_steps_in_both_modes(norm, rng):
    torch, model, net = _torch_pair(norm, rng)
    X, y = rng.normal(2.0, 3.0, size=(160, 6)).astype(np.float32), rng.integers(0, 3, size=160)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    net.train()
    for s in range(0, 160, 16):  # ten steps, batches in order
        opt.zero_grad()
        torch.nn.functional.cross_entropy(
            net(torch.from_numpy(X[s : s + 16])), torch.from_numpy(y[s : s + 16])
        ).backward()
        opt.step()
    mlp.train(model, X, y, optimizer=mlp.SGD(0.1), epochs=1, batch_size=16, shuffle=False, progress=False)
    ours = model.get_weights()
    theirs = [net[0].weight.T, net[0].bias, net[1].weight, net[1].bias, net[3].weight.T, net[3].bias]
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-5, atol=1e-5)
    if norm == "batch":  # running statistics: momentum 0.1, unbiased running variance
        mean, var = model.get_state()
        np.testing.assert_allclose(mean, net[1].running_mean.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(var, net[1].running_var.numpy(), rtol=1e-5, atol=1e-5)
    Xt = rng.normal(2.0, 3.0, size=(20, 6)).astype(np.float32)
    net.eval()
    with torch.no_grad():
        np.testing.assert_allclose(model(Xt), net(torch.from_numpy(Xt)).numpy(), rtol=1e-5, atol=1e-5)
    net.train()  # training mode: batch statistics
    train = mlp.Context(training=True)
    with torch.no_grad():
        got, _ = model.apply(model.prepare_input(Xt), train)
        np.testing.assert_allclose(got, net(torch.from_numpy(Xt)).numpy(), rtol=1e-5, atol=1e-5)


def _masks(backend_name, rows, n_cols=37, rate=0.3, seed=11, layer=2, step=5):
    b = mlp.backends.get(backend_name)
    r = b.asarray(np.asarray(rows, dtype=np.int32))
    salt = dropout_salt(seed, layer, step)
    generic = b.to_numpy(GENERIC.dropout_mask(r, n_cols, salt, rate, b.dtype("float32")))
    own = b.to_numpy(b.kernels().dropout_mask(r, n_cols, salt, rate, b.dtype("float32"), "k"))
    np.testing.assert_array_equal(own, generic)
    return generic


def test_dropout_masks_are_identical_on_every_backend():
    rows = [0, 1, 2, 99, 12345, (1 << 31) - 1]
    ref = _masks("numpy", rows)
    assert set(np.unique(ref).tolist()) <= {0.0, np.float32(1 / 0.7)}
    for name in ("array_api_strict", "torch", "jax", "cupy", "torch-cuda"):
        if name in mlp.backends.available():
            np.testing.assert_array_equal(_masks(name, rows), ref, err_msg=name)


def test_dropout_mask_statistics():
    """Keep rate within binomial bounds; masks of consecutive steps, layers and seeds uncorrelated."""
    rows, n, rate = np.arange(2000), 500, 0.25
    b = mlp.backends.get("numpy")
    r = b.asarray(rows.astype(np.int32))
    m = {
        (seed, layer, step): GENERIC.dropout_mask(r, n, dropout_salt(seed, layer, step), rate, np.float64) > 0
        for seed, layer, step in [(0, 0, 0), (0, 0, 1), (0, 1, 0), (1, 0, 0), (0, 0, 2)]
    }
    total = rows.size * n
    for mask in m.values():
        keep = mask.mean()
        assert abs(keep - (1 - rate)) < 5 * np.sqrt(rate * (1 - rate) / total)  # five standard deviations
        # each column and each row keeps about 1 - rate too (no structure along either axis)
        assert np.abs(mask.mean(axis=0) - (1 - rate)).max() < 6 * np.sqrt(rate * (1 - rate) / rows.size)
    ref = m[(0, 0, 0)].reshape(-1).astype(float)
    for key in [(0, 0, 1), (0, 1, 0), (1, 0, 0), (0, 0, 2)]:
        corr = np.corrcoef(ref, m[key].reshape(-1).astype(float))[0, 1]
        assert abs(corr) < 5 / np.sqrt(total), (key, corr)
    shifted = np.corrcoef(ref[:-1], ref[1:])[0, 1]  # neighbouring elements
    assert abs(shifted) < 5 / np.sqrt(total)


def test_dropout_is_inverted_and_the_identity_at_inference(rng):
    layer = mlp.Dropout(0.4)
    X = np.ones((4000, 50))
    rows = np.arange(4000, dtype=np.int32)
    out, _, _ = layer.forward([], [], X, mlp.Context(training=True, rows=rows, step=3, seed=1))
    assert abs(out.mean() - 1.0) < 0.01 and set(np.unique(out)) == {0.0, 1 / 0.6}
    same, _, _ = layer.forward([], [], X)
    assert same is X
    with pytest.raises(ValueError, match="Dropout rate must be a probability in \\[0, 1\\); got 1.0"):
        mlp.Dropout(1.0)


def _stateful(backend, dtype="float64"):
    return mlp.MLP([5, 16, 12, 3], "relu", "softmax", backend=backend, dtype=dtype, seed=4, dropout=0.2, norm="batch")


def _fit(model, X, y, **kw):
    kw.setdefault("optimizer", mlp.SGD(0.05, momentum=0.9))
    return mlp.train(model, X, y, epochs=3, batch_size=16, seed=3, progress=False, **kw)


def test_stateful_training_is_the_same_on_every_backend(rng):
    """BatchNorm and Dropout: weights and running statistics equal on numpy, torch, jax (compiled
    step) and array-api-strict, in float64."""
    X, y = rng.normal(size=(90, 5)), rng.integers(0, 3, size=90)
    ref = _stateful("numpy")
    h = _fit(ref, X, y)
    for name in ("array_api_strict", "torch", "jax"):
        if name not in mlp.backends.available():
            continue
        if name == "jax":
            import jax

            if not jax.config.jax_enable_x64:
                continue
        model = _stateful(name)
        h2 = _fit(model, X, y)
        np.testing.assert_allclose(h2.loss, h.loss, rtol=1e-10, err_msg=name)
        for a, b in [*zip(model.get_weights(), ref.get_weights()), *zip(model.get_state(), ref.get_state())]:
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11, err_msg=name)


def test_stateful_training_streamed_equals_in_memory(tmp_path, rng):
    X, y = rng.normal(size=(90, 5)), rng.integers(0, 3, size=90)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    a, b = _stateful("numpy"), _stateful("numpy")
    _fit(a, X, y, validation_fraction=0.2)
    _fit(
        b,
        np.load(tmp_path / "X.npy", mmap_mode="r"),
        np.load(tmp_path / "y.npy", mmap_mode="r"),
        validation_fraction=0.2,
    )
    for u, v in [*zip(a.get_weights(), b.get_weights()), *zip(a.get_state(), b.get_state())]:
        np.testing.assert_array_equal(u, v)


def test_early_stopping_restores_the_best_state_with_the_best_weights(rng):
    X, y = rng.normal(size=(120, 5)), rng.integers(0, 3, size=120)
    seen = {}

    def record(epoch, logs, model):
        seen[epoch + 1] = (model.get_weights(), model.get_state())

    model = _stateful("numpy")
    h = mlp.train(
        model,
        X,
        y,
        optimizer=mlp.Adam(0.05),
        epochs=40,
        batch_size=16,
        early_stopping=True,
        n_iter_no_change=3,
        callbacks=[record],
        progress=False,
    )
    assert h.stop_reason == "early_stopping"
    weights, state = seen[h.best_epoch]
    for a, b in [*zip(model.get_weights(), weights), *zip(model.get_state(), state)]:
        np.testing.assert_array_equal(a, b)


def test_checkpoint_resume_is_bitwise_with_state(tmp_path, rng):
    X, y = rng.normal(size=(90, 5)), rng.integers(0, 3, size=90)
    whole = _stateful("numpy")
    mlp.train(whole, X, y, optimizer="adam", epochs=4, batch_size=16, progress=False)
    part = _stateful("numpy")
    mlp.train(part, X, y, optimizer="adam", epochs=2, batch_size=16, progress=False, checkpoint=tmp_path / "c.npz")
    again = _stateful("numpy")
    mlp.train(again, X, y, optimizer="adam", epochs=4, batch_size=16, progress=False, resume=tmp_path / "c.npz")
    for a, b in [*zip(again.get_weights(), whole.get_weights()), *zip(again.get_state(), whole.get_state())]:
        np.testing.assert_array_equal(a, b)


def test_state_moves_across_backends_with_load(tmp_path, rng):
    X, y = rng.normal(size=(60, 5)), rng.integers(0, 3, size=60)
    model = _stateful("numpy")
    _fit(model, X, y)
    model.save(tmp_path / "m.npz")
    for name in ("torch", "jax", "array_api_strict"):
        if name in mlp.backends.available():
            other = mlp.load(tmp_path / "m.npz", backend=name)
            np.testing.assert_allclose(other.backend.to_numpy(other(X)), model(X), rtol=1e-6, atol=1e-7)
            for a, b in zip(other.get_state(), model.get_state()):
                np.testing.assert_array_equal(a, b)
            moved = model.to(name)
            np.testing.assert_array_equal(moved.get_state()[0], model.get_state()[0])


@pytest.mark.skipif(not __import__("shutil").which("mpirun"), reason="mpirun (Open MPI or MPICH) is not installed")
def test_two_processes_equal_one_with_batch_norm_and_dropout(tmp_path, rng):
    """Statistics over the global batch (summed over processes) and masks that follow the sample:
    two processes train the model one process does, running statistics included."""
    pytest.importorskip("mpi4py")
    from helpers import MPI_ENV as ENV
    from helpers import MPI_WORKER as WORKER

    r = subprocess.run(
        ["mpirun", "-n", "2", sys.executable, WORKER, "state", str(tmp_path / "two.npz")],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=180,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    two = np.load(tmp_path / "two.npz")
    X, y = np.random.default_rng(0).normal(size=(203, 6)), np.random.default_rng(0).integers(0, 3, size=203)
    rng0 = np.random.default_rng(0)
    X, y = rng0.normal(size=(203, 6)), rng0.integers(0, 3, size=203)
    model = mlp.MLP([6, 16, 3], "tanh", "softmax", dtype="float64", seed=1, norm="batch", dropout=0.25)
    mlp.train(model, X, y, optimizer=mlp.SGD(0.1, momentum=0.9), epochs=4, batch_size=32, seed=5, progress=False)
    for i, w in enumerate([*model.get_weights(), *model.get_state()]):
        np.testing.assert_allclose(two[f"arr_{i}"], w, rtol=0, atol=1e-10)


def test_multiplicative_layer_domain_is_guarded():
    layer = mlp.Multiplicative(2, 2, pieces=2)
    W, b, alpha = np.eye(2), np.zeros(2), np.array([[0.5, 2.0], [1.5, -1.0]])
    x = np.array([[4.0, 9.0], [-1.0, 0.0]])  # the second row has bases -1 and 0
    ctx = mlp.Context(training=True, keep=True)
    y, _, saved = layer.forward([W, b, alpha], [], x, ctx)
    np.testing.assert_allclose(y[0], [4.0**0.5 * 9.0**1.5, 4.0**2 / 9.0])  # y_i = prod_l z_l^alpha_li
    assert np.all(np.isfinite(y)) and np.all(y[1] > 0)  # bases below the floor become the floor
    dx, (gW, gb, ga) = layer.backward([W, b, alpha], saved, np.ones_like(y), ctx)
    np.testing.assert_array_equal(dx[1], [0.0, 0.0])  # constant in a floored base: no gradient into it
    assert np.all(np.isfinite(gW)) and np.all(np.isfinite(ga))
    big = layer.forward([W, b, np.full((2, 2), 500.0)], [], np.array([[1e3, 1e3]]))[0]
    assert np.all(np.isfinite(big))  # the exponent is clipped, never overflows


def test_summary_names_layers_shapes_counts_flops_and_device():
    model = mlp.MLP([784, 512, 10], "relu", "softmax", scale="standard", dropout=0.1, norm="layer")
    text = model.summary()
    for piece in ("Standardize", "LayerNorm", "Dropout", "(batch, 512)", "401,920", "5,130", "numpy (cpu)", "float32"):
        assert piece in text, piece
    assert f"|W| = {model.n_params:,} trainable parameters" in text
    # flops: 784·512 and 512·10 products, forward + weight gradient (+ input gradient but for the first)
    products = 2 * 784 * 512 * 2 + 2 * 512 * 10 * 3
    flops = int(text.split("\n")[-1].split()[0].replace(",", ""))
    assert products < flops < products * 1.1
    assert "Standardize → Dense → LayerNorm → ReLU → Dropout → Dense → Softmax" in model.summary(compact=True)


def test_mlp_builds_norm_and_dropout_in_place():
    kinds = [type(layer).__name__ for layer in mlp.MLP([4, 8, 8, 2], norm="batch", dropout=0.5).layers]
    assert kinds == [
        "Dense",
        "BatchNorm",
        "ReLU",
        "Dropout",
        "Dense",
        "BatchNorm",
        "ReLU",
        "Dropout",
        "Dense",
        "Identity",
    ]
    with pytest.raises(ValueError, match="norm must be one of \\['batch', 'layer'\\] or None; got 'group'"):
        mlp.MLP([4, 2], norm="group")
    with pytest.raises(ValueError, match="dropout must be a rate in \\[0, 1\\)"):
        mlp.MLP([4, 2], dropout=1.5)


def test_batch_of_one_sample_with_batch_norm_is_refused(rng):
    model = mlp.MLP([3, 4, 2], norm="batch")
    with pytest.raises(ValueError, match="leaves a batch of 1 sample out of 33.*BatchNorm"):
        mlp.train(model, rng.normal(size=(33, 3)), rng.integers(0, 2, size=33), batch_size=16, progress=False)


def test_cli_trains_with_norm_and_dropout(tmp_path, capsys):
    import json

    from mlp.cli import main

    args = ["train", "--json", "--epochs", "5", "--hidden", "64", "--norm", "batch", "--dropout", "0.2"]
    assert main([*args, "--save", str(tmp_path / "m.npz")]) == 0
    out = json.loads(capsys.readouterr().out.splitlines()[-1])
    model = mlp.load(tmp_path / "m.npz")
    ds = mlp.data.digits()
    assert model.evaluate(ds.X_test, ds.y_test)["accuracy"] == out["test_accuracy"] > 0.8
    assert [type(layer).__name__ for layer in model.layers][:5] == [
        "RobustScale",
        "Dense",
        "BatchNorm",
        "ReLU",
        "Dropout",
    ]


def test_standardize_floor_is_relative_to_the_median_std():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(0, 2.0, 500), rng.normal(0, 4.0, 500), rng.normal(0, 1e-3, 500), np.ones(500)])
    std = X.std(axis=0)
    _, plain, _ = mlp.Standardize(4).fit([X], 500)
    _, floored, _ = mlp.Standardize(4, floor=0.1).fit([X], 500)
    np.testing.assert_allclose(plain, [std[0], std[1], std[2], 1.0])  # a constant feature keeps scale 1
    low = 0.1 * np.median(std[:3])  # the median of the non-constant features' std
    np.testing.assert_allclose(floored, [std[0], std[1], low, 1.0])  # the near-constant one is not blown up
