"""Save/load across backends, atomic writes, bad files, checkpoint and resume."""

from __future__ import annotations

import os

import numpy as np
import pytest

import mlp


def _trained(backend_name, rng):
    X, y = rng.normal(size=(40, 5)), rng.integers(0, 3, size=40)
    model = mlp.Sequential(
        mlp.Dense(5, 8),
        mlp.LeakyReLU(0.1),
        mlp.Maxout(8, 4, k=2),
        mlp.Dense(4, 3),
        mlp.Softmax(),
        backend=backend_name,
        dtype="float64",
        seed=1,
    )
    mlp.train(model, X, y, optimizer=mlp.SGD(0.1, momentum=0.9), epochs=2, batch_size=8, progress=False)
    return model, X


@pytest.mark.parametrize("target", ["numpy", "array_api_strict", "torch", "jax"])
def test_save_on_one_backend_load_on_another(backend, target, tmp_path, rng):
    pytest.importorskip(target)
    model, X = _trained(backend.backend, rng)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = mlp.load(path, backend=target)
    assert loaded.backend.name == target
    np.testing.assert_allclose(loaded.backend.to_numpy(loaded(X)), backend.host(model(X)), rtol=1e-12, atol=1e-14)
    assert [type(a).__name__ for a in loaded.layers] == [type(b).__name__ for b in model.layers]
    assert loaded.layers[1].alpha == 0.1 and loaded.layers[2].k == 2


def test_write_is_atomic(tmp_path, rng, monkeypatch):
    model, X = _trained("numpy", rng)
    path = tmp_path / "model.npz"
    model.save(path)
    good = path.read_bytes()

    def crash(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]  # no temporary left behind


def test_bad_files_raise_clear_errors(tmp_path, rng):
    model, X = _trained("numpy", rng)
    path = tmp_path / "model.npz"
    model.save(path)
    data = path.read_bytes()
    (tmp_path / "truncated.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated.npz.*not a valid mlp-model file"):
        mlp.load(tmp_path / "truncated.npz")
    corrupted = bytearray(data)
    corrupted[len(data) // 3] ^= 0xFF  # flip one byte inside a member: the zip CRC catches it
    (tmp_path / "corrupted.npz").write_bytes(bytes(corrupted))
    with pytest.raises(ValueError, match="corrupted.npz.*not a valid mlp-model file"):
        mlp.load(tmp_path / "corrupted.npz")
    np.savez(tmp_path / "foreign.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="foreign.npz.*no mlp header"):
        mlp.load(tmp_path / "foreign.npz")
    with pytest.raises(ValueError, match="does not exist"):
        mlp.load(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="path must be in an existing folder"):
        model.save(tmp_path / "no" / "such" / "dir.npz")


def test_refuses_to_save_non_finite_weights(tmp_path, rng):
    model, _ = _trained("numpy", rng)
    model.params[0][0, 0] = np.nan
    with pytest.raises(ValueError, match="parameter 0 holds NaN"):
        model.save(tmp_path / "m.npz")
    assert not os.listdir(tmp_path)


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


def test_cli_save_checkpoint_resume(tmp_path):
    import json
    import subprocess
    import sys

    def run(*args):
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "mlp",
                "train",
                "--json",
                "--hidden",
                "16",
                "--dtype",
                "float64",
                "--backend",
                "numpy",
                *args,
            ],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout.strip().splitlines()[-1])

    full = run("--epochs", "4", "--save", str(tmp_path / "full.npz"))
    run("--epochs", "2", "--checkpoint", str(tmp_path / "c.npz"))
    resumed = run("--epochs", "4", "--resume", str(tmp_path / "c.npz"), "--save", str(tmp_path / "resumed.npz"))
    assert resumed["train_loss"] == full["train_loss"]
    a, b = mlp.load(tmp_path / "full.npz"), mlp.load(tmp_path / "resumed.npz")
    for x, y in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(x, y)
