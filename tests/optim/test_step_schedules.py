"""Learning-rate schedules that step per batch (WarmupCosine, WarmupLinear, OneCycle): their values,
PyTorch's OneCycleLR matched step for step, the rate each step of mlp.train uses equal to an
independent loop's, resumed runs equal uninterrupted ones, every backend, and the CLI's flags."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import cli, last_json

import mlp
from mlp import backends


def test_warmup_then_decay_values():
    s = mlp.WarmupCosine(total_steps=110, warmup_steps=10, min_factor=0.1)
    assert s(0, 1.0) == pytest.approx(1 / 11) and s(9, 1.0) == pytest.approx(10 / 11)
    assert s(10, 1.0) == pytest.approx(1.0) and s(60, 1.0) == pytest.approx(0.1 + 0.9 * 0.5)
    assert s(110, 1.0) == pytest.approx(0.1) and s(500, 1.0) == pytest.approx(0.1)
    lin = mlp.WarmupLinear(total_steps=100)
    assert [lin(i, 2.0) for i in (0, 50, 100)] == pytest.approx([2.0, 1.0, 0.0])
    assert mlp.WarmupCosine(warmup_steps=5, min_factor=1.0)(50, 0.3) == pytest.approx(0.3)  # warmup, then constant
    with pytest.raises(ValueError, match="WarmupCosine min_factor must be in \\[0, 1\\]"):
        mlp.WarmupCosine(min_factor=1.5)


@pytest.mark.parametrize("total,pct", [(100, 0.3), (37, 0.25), (10, 0.5)])
def test_onecycle_equals_pytorchs_onecyclelr(total, pct):
    torch = pytest.importorskip("torch")
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=total, pct_start=pct, cycle_momentum=False)
    want = []
    for _ in range(total):
        want.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    got = [mlp.OneCycle(total, pct)(i, 0.1) for i in range(total)]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    return X, (X[:, 0] - X[:, 1] > 0).astype(int)


def test_each_step_of_train_uses_the_schedules_rate_as_an_independent_loop_does():
    """Plain SGD in float64, no shuffle: mlp.train with WarmupCosine over the run's steps equals a
    loop of value_and_grad and w -= lr_t · g with lr_t computed here by the formula."""
    X, y = _data()
    epochs, batch = 3, 16
    steps = epochs * len(X) // batch
    model = mlp.MLP([5, 8, 2], dtype="float64", seed=0)
    ref = mlp.MLP([5, 8, 2], dtype="float64", seed=0)
    h = mlp.train(
        model,
        X,
        y,
        optimizer=mlp.SGD(0.2, schedule=mlp.WarmupCosine(warmup_steps=4)),
        epochs=epochs,
        batch_size=batch,
        shuffle=False,
        progress=False,
    )
    for t in range(steps):
        lr = 0.2 * (t + 1) / 5 if t < 4 else 0.2 * 0.5 * (1 + math.cos(math.pi * (t - 4) / (steps - 4)))
        rows = slice((t % 6) * batch, (t % 6 + 1) * batch)
        _, grads = mlp.value_and_grad(ref, "softmax_cross_entropy", X[rows], y[rows])
        ref.set_weights([w - lr * g for w, g in zip(ref.get_weights(), grads)])
    for a, b in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert h.lr[-1] == pytest.approx(0.2 * 0.5 * (1 + math.cos(math.pi * (steps - 5) / (steps - 4))))


def test_a_resumed_run_follows_the_schedule_as_an_uninterrupted_one(tmp_path):
    X, y = _data()

    def run(epochs, **kw):
        model = mlp.MLP([5, 8, 2], dtype="float64", seed=0)
        opt = mlp.Adam(0.01, schedule=mlp.OneCycle())
        mlp.train(model, X, y, optimizer=opt, epochs=epochs, batch_size=16, seed=3, progress=False, **kw)
        return model

    whole = run(4)
    stop_after_two = [lambda epoch, logs, model: epoch >= 1]  # a run of 4 epochs cut short after 2
    run(4, checkpoint=tmp_path / "c.ckpt", checkpoint_every=1, callbacks=stop_after_two)
    resumed = mlp.MLP([5, 8, 2], dtype="float64", seed=0)
    mlp.train(
        resumed,
        X,
        y,
        optimizer=mlp.Adam(0.01, schedule=mlp.OneCycle()),
        epochs=4,
        batch_size=16,
        seed=3,
        progress=False,
        resume=tmp_path / "c.ckpt",
    )
    for a, b in zip(whole.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", [n for n in ("array_api_strict", "torch", "jax") if n in backends.available()])
def test_every_backend_follows_the_same_per_step_rates(name):
    X, y = _data()

    def run(backend):
        model = mlp.MLP([5, 8, 2], dtype="float64", seed=0, backend=backend)
        opt = mlp.SGD(0.1, momentum=0.9, schedule=mlp.WarmupLinear(warmup_steps=3))
        h = mlp.train(model, X, y, optimizer=opt, epochs=3, batch_size=16, seed=1, progress=False)
        return h.lr, model.get_weights()

    (lr_a, w_a), (lr_b, w_b) = run("numpy"), run(name)
    assert lr_a == lr_b
    for a, b in zip(w_a, w_b):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_the_cli_flags(capsys):
    code, out, _ = cli(capsys, "train", "--epochs", "2", "--lr-schedule", "onecycle", "--json")
    assert code == 0 and last_json(out)["test_accuracy"] > 0.5
    code, out, _ = cli(capsys, "train", "--epochs", "2", "--warmup", "10", "--lr-schedule", "linear", "--json")
    assert code == 0
    code, _, err = cli(capsys, "train", "--epochs", "1", "--warmup", "5", "--lr-schedule", "onecycle")
    assert code != 0 and "--warmup does not apply to --lr-schedule onecycle" in err
