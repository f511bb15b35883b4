"""Checkpoints and resume: an interrupted run resumed equals the uninterrupted one; a resume that differs is refused,
naming what differs."""

from __future__ import annotations

import numpy as np
import pytest

import mlp


# -- resume refuses a different run ----------------------------------------------------------------
@pytest.mark.parametrize(
    "change,match",
    [
        (dict(batch_size=16), "batch_size: 8 in the checkpoint, 16 in this run"),
        (dict(shuffle="blocks"), "shuffle: 'full' in the checkpoint"),
        (dict(seed=1), "seed: 0 in the checkpoint, 1 in this run"),
        (dict(data=lambda X: X + 1), "data fingerprint"),
        (dict(data=lambda X: X[:-1]), "training samples: 40 in the checkpoint, 39 in this run"),
    ],
)
def test_resume_names_what_differs_in_the_run(tmp_path, rng, change, match):
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 2, size=40)
    kw = dict(optimizer="adam", batch_size=8, seed=0, progress=False)
    mlp.train(mlp.MLP([3, 4, 2], seed=0), X, y, epochs=1, checkpoint=tmp_path / "c.npz", **kw)
    data = change.pop("data", None)
    Xr, yr = (data(X), y[: data(X).shape[0]]) if data else (X, y)
    with pytest.raises(ValueError, match=match):
        mlp.train(mlp.MLP([3, 4, 2], seed=0), Xr, yr, epochs=2, resume=tmp_path / "c.npz", **{**kw, **change})


def test_resume_with_fewer_epochs_than_done_is_an_error(tmp_path, rng):
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 2, size=40)
    mlp.train(mlp.MLP([3, 2]), X, y, epochs=3, checkpoint=tmp_path / "c.npz", progress=False)
    with pytest.raises(ValueError, match="has already trained 3 epochs, more than epochs=2"):
        mlp.train(mlp.MLP([3, 2]), X, y, epochs=2, resume=tmp_path / "c.npz", progress=False)


@pytest.mark.parametrize(
    "change,match",
    [
        (dict(optimizer=lambda: mlp.SGD(0.1, momentum=0.5)), r"optimizer\.momentum: 0\.9 in the checkpoint, 0\.5"),
        (dict(optimizer=lambda: mlp.SGD(0.05, momentum=0.9)), r"optimizer\.lr: 0\.1 in the checkpoint, 0\.05"),
        (dict(optimizer=lambda: mlp.Adam(0.1)), r"optimizer\.class: 'SGD' in the checkpoint, 'Adam'"),
        (
            dict(optimizer=lambda: mlp.SGD(0.1, momentum=0.9, schedule=mlp.StepDecay(2))),
            r"optimizer\.schedule\.class: 'Constant' in the checkpoint, 'StepDecay'",
        ),
        (dict(activation="relu"), r"layers\.1\.type: 'Tanh' in the checkpoint, 'ReLU'"),
        (
            dict(loss=lambda: mlp.CrossEntropy(label_smoothing=0.1)),
            r"loss\.label_smoothing: 0\.0 in the checkpoint, 0\.1",
        ),
    ],
)
def test_resume_names_what_differs(change, match, tmp_path, rng):
    X, y = rng.normal(size=(30, 3)), rng.integers(0, 2, size=30)

    def run(epochs, activation="tanh", optimizer=lambda: mlp.SGD(0.1, momentum=0.9), loss=mlp.CrossEntropy, **kw):
        model = mlp.MLP([3, 4, 2], activation, "softmax", dtype="float64")
        return mlp.train(model, X, y, loss=loss(), optimizer=optimizer(), epochs=epochs, progress=False, **kw)

    ckpt = tmp_path / "c.npz"
    run(1, checkpoint=ckpt)
    with pytest.raises(ValueError, match="resume checkpoint .* was written by a different run: .*" + match):
        run(2, resume=ckpt, **change)
    assert run(2, resume=ckpt).epochs == 2  # the same run resumes


@pytest.mark.parametrize(
    "make_opt",
    [
        lambda: mlp.SGD(0.05, momentum=0.9),
        lambda: mlp.Adam(0.01),
        lambda: mlp.SGD(0.1, schedule=mlp.ReduceOnPlateau(patience=0)),
    ],
    ids=["momentum", "adam", "plateau"],
)
def test_interrupted_and_resumed_equals_uninterrupted(make_opt, tmp_path, rng):
    X, y = rng.normal(size=(90, 6)), rng.integers(0, 3, size=90)
    kw = dict(epochs=6, batch_size=16, seed=3, progress=False)

    def fresh():
        return mlp.MLP([6, 12, 3], "tanh", "softmax", dtype="float64", seed=2)

    full = fresh()
    h_full = mlp.train(full, X, y, optimizer=make_opt(), **kw)

    class Interrupt(Exception):
        pass

    def stop_at_3(epoch, logs, model):
        if epoch == 2:
            raise Interrupt

    ckpt = tmp_path / "run.ckpt.npz"
    with pytest.raises(Interrupt):
        mlp.train(fresh(), X, y, optimizer=make_opt(), checkpoint=ckpt, callbacks=[stop_at_3], **kw)
    resumed = fresh()
    h = mlp.train(resumed, X, y, optimizer=make_opt(), resume=ckpt, **kw)
    assert h.loss == h_full.loss and h.epochs == 6
    for a, b in zip(resumed.get_weights(), full.get_weights()):
        np.testing.assert_array_equal(a, b)  # bitwise


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_divergence_never_overwrites_a_good_checkpoint(tmp_path, rng):
    X, y = rng.normal(size=(40, 3)), rng.normal(size=40)
    model = mlp.MLP([3, 8, 1], dtype="float64")
    ckpt = tmp_path / "c.npz"
    mlp.train(model, X, y, loss="mse", optimizer=mlp.SGD(0.01), epochs=2, batch_size=8, checkpoint=ckpt, progress=False)
    good = ckpt.read_bytes()
    with pytest.raises(mlp.DivergenceError):
        mlp.train(
            model,
            X * 1e6,
            y * 1e9,
            loss="mse",
            optimizer=mlp.SGD(10.0),
            epochs=3,
            batch_size=8,
            checkpoint=ckpt,
            progress=False,
        )
    assert ckpt.read_bytes() == good
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())


def test_resume_checks_the_architecture(tmp_path, rng):
    X, y = rng.normal(size=(20, 3)), rng.integers(0, 2, size=20)
    ckpt = tmp_path / "c.npz"
    mlp.train(mlp.MLP([3, 4, 2], output="softmax"), X, y, epochs=1, checkpoint=ckpt, progress=False)
    with pytest.raises(ValueError, match="parameter shapes"):
        mlp.train(mlp.MLP([3, 5, 2], output="softmax"), X, y, epochs=2, resume=ckpt, progress=False)
    with pytest.raises(ValueError, match="not a mlp-checkpoint file; its format is 'mlp-model'"):
        m = mlp.MLP([3, 4, 2], output="softmax")
        m.save(tmp_path / "m.npz")
        mlp.train(m, X, y, epochs=2, resume=tmp_path / "m.npz", progress=False)


def test_a_checkpoint_of_another_dtype_is_refused_naming_the_dtype(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), np.arange(40) % 2
    mlp.train(
        mlp.MLP([3, 4, 2], seed=0, dtype="float64"), X, y, epochs=2, progress=False, checkpoint=tmp_path / "c.npz"
    )
    model = mlp.MLP([3, 4, 2], seed=0, dtype="float32")
    with pytest.raises(
        ValueError, match=r"different run: model dtype: 'float64' in the checkpoint, 'float32' in this run"
    ):
        mlp.train(model, X, y, epochs=4, progress=False, resume=tmp_path / "c.npz")
