"""Save and load: across backends, atomic writes with plain permissions, bad files and values refused."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import mlp


def test_load_refuses_a_dtype_that_overflows(tmp_path):
    model = mlp.MLP([2, 3], dtype="float64")
    w = model.get_weights()
    w[0][0, 0] = 1e300
    model.set_weights(w)
    model.save(tmp_path / "m.npz")
    with pytest.raises(ValueError, match="m.npz.*beyond the range of float32"):
        mlp.load(tmp_path / "m.npz", dtype="float32")


def test_saved_files_get_plain_permissions_and_symlinks_write_their_target(tmp_path):
    import os

    model = mlp.MLP([2, 2])
    old = os.umask(0o027)
    try:
        model.save(tmp_path / "m.npz")
    finally:
        os.umask(old)
    assert (tmp_path / "m.npz").stat().st_mode & 0o777 == 0o640
    (tmp_path / "real").mkdir()
    (tmp_path / "link.npz").symlink_to(tmp_path / "real" / "target.npz")
    model.save(tmp_path / "link.npz")
    assert (tmp_path / "link.npz").is_symlink() and (tmp_path / "real" / "target.npz").is_file()
    assert mlp.load(tmp_path / "link.npz").n_features == 2


def test_leftovers_of_an_interrupted_save_are_cleaned(tmp_path):

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    leftover = tmp_path / f".m.npz.{int(dead.stdout)}.abc123.mlp-tmp"
    leftover.write_bytes(b"half a file")
    import os

    mine = tmp_path / f".m.npz.{os.getpid()}.xyz789.mlp-tmp"  # a save in progress (this process runs)
    mine.write_bytes(b"in progress")
    mlp.MLP([2, 2]).save(tmp_path / "m.npz")
    assert not leftover.exists() and mine.exists()


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_save_refuses_weights_whose_outputs_overflow(tmp_path):
    model = mlp.MLP([3, 4, 1], dtype="float32")
    model.set_weights([np.full((3, 4), 1e30), np.zeros(4), np.full((4, 1), 1e30), np.zeros(1)])  # finite weights
    with pytest.raises(ValueError, match=r"outputs overflow to NaN or infinity on unit-scale inputs.*refusing to save"):
        model.save(tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []


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


def test_the_fitted_scaling_is_saved_as_trained_with_it(tmp_path):
    """A timestamp-like feature (1.7e9 ± 30) is scaled in float64 while training; the file keeps
    those float64 values, so the loaded model predicts the labels the trained one did."""
    rng = np.random.default_rng(0)
    X = np.c_[1.7e9 + rng.uniform(-30, 30, 400), rng.normal(size=400)]
    y = (X[:, 0] > 1.7e9).astype(int)
    model = mlp.MLP([2, 16, 2], scale="standard", seed=0)
    mlp.train(model, X, y, epochs=30, progress=False)
    model.save(tmp_path / "m.npz")
    loaded = mlp.load(tmp_path / "m.npz")
    assert [s.dtype for s in loaded.get_state()] == [np.float64] * 3
    np.testing.assert_array_equal(loaded.get_state()[0], model.get_state()[0])
    np.testing.assert_array_equal(loaded.predict_labels(X), model.predict_labels(X))
    np.testing.assert_array_equal(loaded(X), model(X))
    moved = loaded.to("array_api_strict")  # a move keeps them too
    np.testing.assert_array_equal(np.asarray(moved.predict_labels(X)), model.predict_labels(X))


@pytest.mark.parametrize(
    "values,match",
    [(["a", "a", "b"], "distinct labels"), (["a", "b", "c", "d", "e"], "must name 3 labels")],
    ids=["duplicates", "too-many"],
)
def test_load_checks_the_class_labels_against_the_outputs(tmp_path, values, match):
    import json

    from mlp.io.npz import write_npz

    rng = np.random.default_rng(0)
    model = mlp.MLP([3, 8, 3], seed=0)
    mlp.train(model, rng.normal(size=(30, 3)), np.array(["a", "b", "c"] * 10), epochs=1, progress=False)
    model.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as f:
        arrays = {k: f[k] for k in f.files if k != "__mlp__"}
        header = json.loads(f["__mlp__"].tobytes())
    header["classes"]["values"] = values
    write_npz(tmp_path / "bad.npz", header, arrays)
    with pytest.raises(ValueError, match=f"bad.npz.*class labels that do not fit its outputs.*{match}"):
        mlp.load(tmp_path / "bad.npz")
