"""Data larger than memory: memory maps and array-likes are read batch by batch, in row order,
checked as read; block shuffling; the same model as in memory; anonymous memory bounded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from helpers import has

import mlp
from mlp import cli, data
from mlp.training.batches import Batches, BlockShuffle
from mlp.training.rows import HostRows, is_streamed


def _on_disk(tmp_path, X, y, stem="d"):
    np.save(tmp_path / f"{stem}-X.npy", X)
    np.save(tmp_path / f"{stem}-y.npy", y)
    return np.load(tmp_path / f"{stem}-X.npy", mmap_mode="r"), np.load(tmp_path / f"{stem}-y.npy", mmap_mode="r")


@pytest.fixture
def classes(rng):
    X = rng.normal(size=(301, 7)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0.5)


class Rows:
    """An array-like that is not an array: records which rows each read asked for."""

    def __init__(self, a):
        self.a, self.shape, self.dtype, self.reads = a, a.shape, a.dtype, []

    def __getitem__(self, rows):
        self.reads.append(np.asarray(rows).copy())
        return self.a[rows]


def _train(X, y, **kw):
    model = mlp.MLP([7, 12, 3], "tanh", "softmax", seed=3, backend=kw.pop("backend", "numpy"))
    h = mlp.train(model, X, y, optimizer=mlp.SGD(0.1, momentum=0.9), epochs=3, batch_size=32, progress=False, **kw)
    return model, h


@pytest.mark.parametrize(
    "kw",
    [{}, {"shuffle": "blocks"}, {"shuffle": False}, {"validation_fraction": 0.2, "early_stopping": True}],
    ids=["full", "blocks", "none", "validation"],
)
def test_memory_map_trains_the_same_model_as_memory(tmp_path, classes, kw):
    X, y = classes
    Xm, ym = _on_disk(tmp_path, X, y)
    assert is_streamed(Xm) and not is_streamed(X)
    m1, h1 = _train(X, y, **kw)
    m2, h2 = _train(Xm, ym, **kw)
    for a, b in zip(m1.get_weights(), m2.get_weights()):
        np.testing.assert_array_equal(a, b)  # same batches, same rows in the same order: bitwise
    assert h1.loss == h2.loss and h1.val_loss == h2.val_loss


def test_prefetch_and_forced_streaming_change_nothing(classes):
    X, y = classes
    ref = _train(X, y)[0].get_weights()
    for kw in ({"stream": True}, {"stream": True, "prefetch": True}):
        for a, b in zip(ref, _train(X, y, **kw)[0].get_weights()):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("backend", ["torch", "jax", "cupy", "torch-cuda"])
def test_streaming_on_other_backends(tmp_path, classes, backend):
    """cupy: each batch goes to the GPU through pinned memory on a copy stream (prefetch thread)."""
    if backend not in mlp.backends.available():
        pytest.skip(f"{backend}: not installed, or no CUDA device on this machine")
    X, y = classes
    Xm, ym = _on_disk(tmp_path, X, y)
    a, _ = _train(X, y, backend=backend)
    b, _ = _train(Xm, ym, backend=backend, prefetch=True)
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(u, v, rtol=0, atol=1e-6)


def test_array_like_is_read_by_batches_in_row_order(classes):
    X, y = classes
    Xr, yr = Rows(X), Rows(y)
    assert is_streamed(Xr)
    m, _ = _train(Xr, yr)
    assert Xr.reads[0].shape == (16,)  # the data's fingerprint: 16 rows chosen by the seed
    np.testing.assert_array_equal(Xr.reads[1], np.arange(301))  # the probe: the loss before and after training
    training = Xr.reads[2:]
    assert len(training) == 3 * 10  # 301 rows, batch 32: ten reads per epoch, none of the whole array
    for rows in training:
        assert rows.shape[0] <= 32 and np.all(np.diff(rows) > 0)
    for e in range(3):
        np.testing.assert_array_equal(np.sort(np.concatenate(training[e * 10 : (e + 1) * 10])), np.arange(301))
    np.testing.assert_array_equal(m.get_weights()[0], _train(X, y)[0].get_weights()[0])


class _Source:
    """The minimum Batches needs from a source."""

    def will_need(self, blocks, block):
        self.windows.append(np.asarray(blocks).copy())

    def batches(self, plan):
        for rows in plan:
            yield rows, None, None, None, rows.shape[0]

    def __init__(self):
        self.windows = []


@pytest.mark.parametrize("n,block,window,B", [(1000, 64, 4, 50), (1000, 100, 3, 128), (37, 8, 2, 5), (10, 64, 4, 3)])
def test_block_shuffle_visits_every_row_once_from_few_blocks(n, block, window, B):
    src = _Source()
    batches = Batches(src, n, B, BlockShuffle(block, window), np.random.default_rng(0))
    orders = []
    for _ in range(2):
        got = [b.x for b in batches.epoch()]
        assert [r.shape[0] for r in got] == batches.sizes
        order = np.concatenate(got)
        np.testing.assert_array_equal(np.sort(order), np.arange(n))
        orders.append(order)
        for rows in got:  # a batch draws on at most two consecutive windows' blocks
            assert np.unique(rows // block).shape[0] <= 2 * window
    assert not np.array_equal(orders[0], orders[1])
    assert all(w.shape[0] <= window for w in src.windows)


def test_block_shuffle_mixes_within_windows_only():
    """Rows of one batch come from the window's blocks: with one block per window, a batch is one block."""
    batches = Batches(_Source(), 1000, 100, BlockShuffle(100, 1), np.random.default_rng(1))
    starts = []
    for rows in (b.x for b in batches.epoch()):
        np.testing.assert_array_equal(rows, np.arange(rows[0], rows[0] + 100))  # one whole block, in row order
        starts.append(int(rows[0]))
    assert sorted(starts) == list(range(0, 1000, 100)) != starts  # every block, in a random order


@pytest.mark.parametrize(
    "shuffle,message",
    [("random", "shuffle must be True, False"), (3, "shuffle must be True, False")],
)
def test_bad_shuffle_is_an_error(classes, shuffle, message):
    with pytest.raises(ValueError, match=message):
        _train(*classes, shuffle=shuffle)


def test_bad_block_shuffle_settings():
    with pytest.raises(ValueError, match="BlockShuffle block must be an integer >= 1; got 0"):
        BlockShuffle(0, 4)
    with pytest.raises(TypeError, match="BlockShuffle window must be an integer"):
        BlockShuffle(8, 2.5)


def test_bad_rows_found_while_streaming_keep_the_epochs_start(tmp_path, classes):
    X, y = classes
    X = X.copy()
    X[250, 3] = np.nan
    Xm, ym = _on_disk(tmp_path, X, y)
    model = mlp.MLP([7, 12, 3], "tanh", "softmax", seed=3)
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"X \(rows \d+\.\.\d+\) must be finite.*start of epoch 1"):
        mlp.train(model, Xm, ym, epochs=2, batch_size=32, shuffle=False, progress=False)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_bad_labels_found_while_streaming(tmp_path, classes):
    X, y = classes
    y = y.copy()
    y[17] = 7
    Xm, ym = _on_disk(tmp_path, X, y)
    with pytest.raises(ValueError, match=r"y \(rows 0\.\.31\) labels must be in \[0, 3\)"):
        mlp.train(mlp.MLP([7, 3], seed=0), Xm, ym, batch_size=32, shuffle=False, progress=False)


def test_streamed_data_that_does_not_fit_together(tmp_path, classes):
    X, y = classes
    Xm, ym = _on_disk(tmp_path, X, y[:300])
    with pytest.raises(ValueError, match="X and y must have the same number of rows; got 301 and 300"):
        mlp.train(mlp.MLP([7, 3], seed=0), Xm, ym, progress=False)
    with pytest.raises(ValueError, match="X must be 2-D"):
        mlp.train(mlp.MLP([7, 3], seed=0), Rows(np.zeros((3, 7, 1))), np.zeros(3, int), progress=False)
    with pytest.raises(TypeError, match="X must hold real numbers; got dtype <U1"):
        mlp.train(mlp.MLP([7, 3], seed=0), Rows(np.full((3, 7), "a")), np.zeros(3, int), progress=False)
    with pytest.raises(ValueError, match="must have 7 features"):
        mlp.train(mlp.MLP([7, 3], seed=0), Rows(np.zeros((3, 5))), np.zeros(3, int), progress=False)


def test_stream_argument_is_checked(classes):
    X, y = classes
    with pytest.raises(TypeError, match="stream must be True, False or None; got str 'yes'"):
        _train(X, y, stream="yes")
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="stream=True reads host data.*torch.Tensor"):
        _train(torch.from_numpy(X), y, stream=True, backend="torch")


def test_streamed_validation_is_evaluated_in_chunks(tmp_path, classes):
    X, y = classes
    Xm, ym = _on_disk(tmp_path, X, y)
    Xv, yv = _on_disk(tmp_path, X[:100], y[:100], "v")
    _, h1 = _train(X, y, validation=(X[:100], y[:100]))
    _, h2 = _train(Xm, ym, validation=(Xv, yv))
    np.testing.assert_allclose(h1.val_loss, h2.val_loss, rtol=1e-6)
    assert h1.val_accuracy == h2.val_accuracy


def test_host_rows_chunks_cover_every_row_once(classes):
    X, y = classes
    src = HostRows(X, y, lambda a, w: a, lambda a, w: a, lambda a: a)
    got = list(src.chunks(64))
    assert [c for *_, c in got] == [64, 64, 64, 64, 45]
    np.testing.assert_array_equal(np.concatenate([x for x, *_ in got]), X)


def test_chunked_transforms_equal_whole_array_statistics(rng):
    X = rng.normal(3.0, 2.0, size=(1000, 4)) * np.array([1, 10, 1e-3, 0])
    for chunk in (1 << 30, 1280):  # one chunk, and 25 chunks of 40 rows
        data.CHUNK_BYTES, old = chunk, data.CHUNK_BYTES
        try:
            sc = mlp.Sequential(mlp.Standardize(4), mlp.Dense(4, 1), dtype="float64").adapt(X).get_state()
            mm = mlp.Sequential(mlp.MinMax(4), mlp.Dense(4, 1), dtype="float64").adapt(X).get_state()
            assert len(list(data.host_chunks(X))) == (1 if chunk > 1 << 20 else 25)
        finally:
            data.CHUNK_BYTES = old
        np.testing.assert_allclose(sc[0], X.mean(axis=0), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(sc[1], np.where(X.std(axis=0) > 0, X.std(axis=0), 1), rtol=1e-10)
        np.testing.assert_array_equal(mm[0], X.min(axis=0))
        assert sc[2][0] == mm[2][0] == 1000  # rows fitted on


def test_transformed_reads_only_the_rows_asked(classes):
    X, _ = classes
    rows = Rows(X)
    t = data.Transformed(rows, lambda a: 2 * a)
    np.testing.assert_array_equal(t[np.array([3, 5])], 2 * X[[3, 5]].astype(np.float64))
    assert t.shape == X.shape and [r.tolist() for r in rows.reads] == [[3, 5]]


# -- the CLI ------------------------------------------------------------------------------
def _folder(tmp_path, X, y, Xt=None, yt=None):
    d = tmp_path / "data"
    d.mkdir()
    for name, a in (("X_train", X), ("y_train", y), ("X_test", Xt), ("y_test", yt)):
        if a is not None:
            np.save(d / f"{name}.npy", a)
    return d


def test_cli_trains_on_a_folder_of_npy_files_as_on_npz(tmp_path, classes, capsys):
    X, y = classes
    d = _folder(tmp_path, X[:250], y[:250], X[250:], y[250:])
    np.savez(tmp_path / "d.npz", X_train=X[:250], y_train=y[:250], X_test=X[250:], y_test=y[250:])
    args = ["--epochs", "3", "--hidden", "8", "--json", "--shuffle", "blocks"]
    assert cli.main(["train", "--data", str(d), *args]) == 0
    folder = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert cli.main(["train", "--data", str(tmp_path / "d.npz"), *args]) == 0
    npz = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert folder["test_accuracy"] == npz["test_accuracy"] and folder["train_loss"] == npz["train_loss"]
    assert folder["dataset"] == "data"


@pytest.mark.parametrize(
    "arrays,message",
    [
        (dict(X=np.zeros((5, 3)), y=np.zeros(4, int)), "y_train.npy has 4 rows but X_train.npy has 5"),
        (dict(X=np.zeros(5), y=np.zeros(5, int)), "X_train.npy must be a 2-D numeric array"),
        (dict(X=np.zeros((5, 3)), y=np.zeros(5, int), Xt=np.zeros((2, 4)), yt=np.zeros(2, int)), "X_test.npy has 4"),
        (dict(X=np.zeros((5, 3)), y=np.zeros(5, int), Xt=np.zeros((2, 3))), "X_test.npy and y_test.npy go together"),
        (dict(X=np.zeros((5, 3))), "needs X_train.npy and y_train.npy"),
    ],
)
def test_cli_folder_arrays_that_do_not_fit_together(tmp_path, capsys, arrays, message):
    d = _folder(tmp_path, arrays.get("X"), arrays.get("y"), arrays.get("Xt"), arrays.get("yt"))
    assert cli.main(["train", "--data", str(d), "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mlp: error:") and message in err


def test_cli_bench_scaling_n_smoke(tmp_path):
    out = tmp_path / "out"
    args = ["bench", "--smoke", "--scaling-n", "--out", str(out), "--data-dir", str(tmp_path / "d")]
    assert cli.main(args) == 0
    s = json.loads((out / "scaling-n.json").read_text())
    assert [r["n"] for r in s["rows"]] == [256, 1024, 4096]
    for r in s["rows"]:
        assert r["disk_s"] > 0 and r["cached_s"] > 0 and r["anon_peak"] > 0
    assert np.isfinite(s["fit_disk"]["slope"]) and s["fit_disk"]["r2"] <= 1
    assert {"streamed_prefetch", "in_memory_blocks", "in_memory_full", "streamed_full"} <= set(s["compare"])
    assert "slope of epoch time in n" in (out / "scaling-n.md").read_text()
    if has("matplotlib"):
        assert (out / "scaling-n.png").read_bytes()[:4] == b"\x89PNG"
    else:  # the core install: no plot, and no error
        assert not (out / "scaling-n.png").exists()
    files = sorted(os.listdir(tmp_path / "d"))
    assert files == ["scaling-4096x32-k4-seed0-X.npy", "scaling-4096x32-k4-seed0-y.npy"]  # no temporaries left


# -- memory bound ---------------------------------------------------------------------------
MEMORY_PROBE = textwrap.dedent(
    """
    import json, resource, sys
    import numpy as np
    import mlp
    from mlp.bench.streamed import AnonMemory

    X = np.load(sys.argv[1], mmap_mode="r")
    y = np.load(sys.argv[2], mmap_mode="r")
    shuffle, allowance = sys.argv[3], int(sys.argv[4])
    kw = dict(optimizer=mlp.SGD(0.01), batch_size=256, progress=False, shuffle=shuffle)
    model = mlp.MLP([X.shape[1], 32, 4], seed=0)
    mlp.train(model, X[:1024], y[:1024], epochs=1, **kw)  # warm-up: BLAS buffers, imports

    def vm_data():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmData:"))

    limit = vm_data() + allowance  # the process may grow its private memory by `allowance` bytes, no more
    resource.setrlimit(resource.RLIMIT_DATA, (limit, resource.getrlimit(resource.RLIMIT_DATA)[1]))
    try:
        np.array(X)  # the control: loading the data whole must fail under this limit
        loaded = True
    except MemoryError:
        loaded = False
    with AnonMemory(0.002) as mem:
        h = mlp.train(model, X, y, epochs=1, **kw)
    print(json.dumps({"peak": mem.peak, "start": mem.start, "loaded": loaded, "loss": h.loss[-1]}))
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_DATA and /proc/self/status RssAnon are Linux")
@pytest.mark.parametrize("shuffle", ["blocks", "full"])
def test_anonymous_memory_does_not_grow_with_n(tmp_path, shuffle):
    """Two memory maps 10x apart (20 MB and 200 MB of float32 rows), each trained for one epoch in
    a fresh process allowed to grow its private memory by 48 MB: both train, loading the larger
    whole fails, and the peak RssAnon differs by less than 8 MB."""
    d, allowance = 256, 48 << 20
    rng = np.random.default_rng(0)
    peaks = {}
    for n in (20_000, 200_000):
        X = np.lib.format.open_memmap(tmp_path / f"X{n}.npy", mode="w+", dtype=np.float32, shape=(n, d))
        for s in range(0, n, 50_000):
            X[s : s + 50_000] = rng.standard_normal((min(50_000, n - s), d), dtype=np.float32)
        X.flush()
        del X
        np.save(tmp_path / f"y{n}.npy", rng.integers(0, 4, size=n))
        probe = [sys.executable, "-c", MEMORY_PROBE, str(tmp_path / f"X{n}.npy"), str(tmp_path / f"y{n}.npy")]
        r = subprocess.run([*probe, shuffle, str(allowance)], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
        got = json.loads(r.stdout.splitlines()[-1])
        assert np.isfinite(got["loss"])
        if n == 200_000:
            assert not got["loaded"], "the 200 MB array loaded whole: the limit does not bind"
        peaks[n] = got["peak"]
    assert abs(peaks[200_000] - peaks[20_000]) < 8 << 20, peaks


# -- streamed targets are read by position ------------------------------------------------------
def test_streamed_pandas_targets_are_read_by_position(tmp_path, rng):
    pd = pytest.importorskip("pandas")
    X = rng.normal(size=(300, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    np.save(tmp_path / "X.npy", X)
    series = pd.Series(y, index=rng.permutation(300))  # an index of its own, shuffled
    kw = dict(optimizer="adam", lr=0.01, epochs=20, batch_size=32, progress=False)
    a, b = mlp.MLP([4, 16, 2], seed=0), mlp.MLP([4, 16, 2], seed=0)
    mlp.train(a, X, series, **kw)
    mlp.train(b, np.load(tmp_path / "X.npy", mmap_mode="r"), series, **kw)
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(u, v)
    assert mlp.metrics.accuracy(y, b(X)) > 0.9


# -- crashes and unclear messages ----------------------------------------------------------------
def test_a_memory_map_truncated_while_training_is_a_value_error_naming_it(tmp_path, rng):
    path = tmp_path / "X.npy"
    np.save(path, rng.normal(size=(4000, 8)).astype(np.float32))
    X = np.load(path, mmap_mode="r")
    y = np.zeros(4000, dtype=int)

    def truncate(epoch, logs, model):
        with open(path, "r+b") as f:
            f.truncate(4096)

    with pytest.raises(ValueError, match=r"X.npy' was truncated while in use"):
        mlp.train(mlp.MLP([8, 2]), X, y, epochs=3, callbacks=[truncate], progress=False)
