"""Datasets and user files (NPZ, CSV, IDX, folders): read alike whatever the format, damaged files named."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
from helpers import has, needs

import mlp
from mlp import data


def test_every_file_format_infers_the_task_alike(tmp_path):
    X, y = np.zeros((8, 2)), np.array([0.0, 1.0] * 4)  # float 0/1 labels
    folder = tmp_path / "f"
    folder.mkdir()
    np.save(folder / "X_train.npy", X)
    np.save(folder / "y_train.npy", y)
    np.savez(tmp_path / "d.npz", X_train=X, y_train=y)
    tasks = {mlp.data.load_file(p).task for p in (folder, tmp_path / "d.npz")}
    assert tasks == {"classification"}
    assert mlp.data.infer_task(np.array([0.5, 1.0]))[0] == "regression"


def test_duplicate_column_names_are_an_error(tmp_path):
    pytest.importorskip("pyarrow")
    (tmp_path / "d.csv").write_text("a,label,label\n1,0,1\n2,1,0\n")
    with pytest.raises(ValueError, match="column name 'label' appears more than once"):
        mlp.data.load_file(tmp_path / "d.csv")


def test_an_idx_file_with_a_short_header_is_named(tmp_path):
    d = tmp_path / "mnist"
    d.mkdir()
    (d / "train-images-idx3-ubyte").write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    for name in ("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (d / name).write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 0]))
    with pytest.raises(ValueError, match="train-images-idx3-ubyte: IDX header declares 3 dimensions but the file ends"):
        mlp.data.load_file(d)


def test_idx_test_labels_that_do_not_match_the_images_are_found_before_training(tmp_path):
    d = tmp_path / "mnist"
    d.mkdir()
    imgs = np.zeros((6, 2, 2), np.uint8)
    for prefix, n_labels in (("train", 6), ("t10k", 5)):
        with gzip.open(d / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(struct.pack(">BBBBIII", 0, 0, 8, 3, 6, 2, 2) + imgs.tobytes())
        (d / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">BBBBI", 0, 0, 8, 1, n_labels) + bytes(n_labels))
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte holds 5 labels but t10k-images-idx3-ubyte.gz holds 6"):
        mlp.data.load_file(d)


def test_npz_with_object_or_text_features_names_the_file_and_array(tmp_path):
    np.savez(tmp_path / "o.npz", X_train=np.array([[1, "a"]], dtype=object), y_train=np.zeros(1))
    with pytest.raises(ValueError, match=r"o.npz: array X_train cannot be read \(.*\); store numbers or strings"):
        mlp.data.load_file(tmp_path / "o.npz")
    np.savez(tmp_path / "s.npz", X_train=np.array([["a", "b"]]), y_train=np.zeros(1))
    with pytest.raises(ValueError, match="s.npz: array X_train holds <U1 values; features must be numbers"):
        mlp.data.load_file(tmp_path / "s.npz")


def test_csv_with_a_byte_order_mark_and_with_only_a_label_column(tmp_path):
    pytest.importorskip("pyarrow")
    (tmp_path / "bom.csv").write_bytes("\ufeffa,label\n1,0\n2,1\n3,0\n4,1\n".encode())
    assert mlp.data.load_file(tmp_path / "bom.csv").feature_names == ["a"]
    (tmp_path / "only.csv").write_text("label\n0\n1\n")
    with pytest.raises(ValueError, match="only.csv: it has only the label column 'label'"):
        mlp.data.load_file(tmp_path / "only.csv")
    (tmp_path / "blank.csv").write_text("a,b,label\n1,,0\n2,3,1\n")
    assert mlp.data.load_file(tmp_path / "blank.csv").X_train.column_names == ["a", "b"]  # raw: the model encodes


def test_digits_split_and_scaling():
    ds = data.digits()
    assert ds.X_train.shape == (1347, 64) and ds.X_test.shape == (450, 64)
    from sklearn.datasets import load_digits

    per_class = np.bincount(load_digits().target)
    assert np.all(np.abs(np.bincount(ds.y_test) - per_class / 4) <= 1)  # stratified 75/25
    model = mlp.Sequential(mlp.Standardize(64), mlp.Dense(64, 10), dtype="float64").adapt(ds.X_train)
    Z = model.inputs.host(ds.X_train)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-10)
    assert np.all(np.isfinite(model.inputs.host(ds.X_test)))  # constant pixels get scale 1
    mm = mlp.Sequential(mlp.MinMax(64), mlp.Dense(64, 10), dtype="float64").adapt(ds.X_train)
    Z = mm.inputs.host(ds.X_train)
    assert Z.min() == 0 and Z.max() == 1


def test_generators():
    assert data.two_moons(n=200).X_train.shape == (150, 2)
    r = data.regression(n=100)
    assert r.task == "regression" and r.y_train.shape == (75,)
    with pytest.raises(ValueError, match="dataset must be one of"):
        data.load_dataset("cifar")


def test_npz_csv_and_idx_files(tmp_path, rng):
    X, y = rng.normal(size=(20, 3)), rng.integers(0, 2, size=20)
    np.savez(tmp_path / "d.npz", X_train=X, y_train=y, X_test=X[:5], y_test=y[:5])
    ds = data.load_file(tmp_path / "d.npz")
    assert ds.task == "classification" and ds.X_test.shape == (5, 3)
    np.savez(tmp_path / "bad.npz", X=X)
    with pytest.raises(ValueError, match="needs arrays X_train and y_train"):
        data.load_file(tmp_path / "bad.npz")
    mnist = tmp_path / "mnist"
    mnist.mkdir()
    imgs = rng.integers(0, 256, size=(6, 4, 4)).astype(np.uint8)
    labels = np.arange(6, dtype=np.uint8)
    for prefix in ("train", "t10k"):
        with gzip.open(mnist / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(struct.pack(">BBBBIII", 0, 0, 8, 3, 6, 4, 4) + imgs.tobytes())
        (mnist / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">BBBBI", 0, 0, 8, 1, 6) + labels.tobytes())
    ds = data.load_file(mnist)
    assert ds.X_train.shape == (6, 16) and ds.X_train.max() <= 1 and list(ds.y_test) == list(range(6))
    (tmp_path / "d.csv").write_text("a,b,label\n" + "\n".join(f"{a},{b},{int(a > b)}" for a, b in X[:, :2]))
    if not has("pyarrow"):  # the core install: the reader says which extra it needs
        with pytest.raises(ValueError, match=r"reading CSV and Parquet files needs pyarrow: pip install mlp\[data\]"):
            data.load_file(tmp_path / "d.csv")
    needs("pyarrow", "data")
    ds = data.load_file(tmp_path / "d.csv")
    assert ds.X_train.shape[1] == 2 and ds.task == "classification"
    with pytest.raises(ValueError, match="no label column 'target'"):
        data.load_file(tmp_path / "d.csv", label="target")
    (tmp_path / "t.csv").write_text("a,label\nx,1\n2,0\n3,1\n4,0\n")
    assert data.load_file(tmp_path / "t.csv").X_train.column_names == ["a"]  # text: raw, the model encodes it


def _npy_header(shape) -> bytes:
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": shape})
    return buf.getvalue()


def test_an_npz_declaring_more_than_it_holds_is_refused_before_allocating(tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as z:
        z.writestr("X_train.npy", _npy_header((10**12, 4)) + bytes(64))
        z.writestr("y_train.npy", _npy_header((10**12,)) + bytes(8))
    with pytest.raises(ValueError, match=r"huge.npz: array \w+ declares shape \(1000000000000, .*but its member holds"):
        data.load_file(str(tmp_path / "huge.npz"))


def test_a_gzipped_idx_is_bounded_by_its_size_and_its_damage_named(tmp_path):
    raw = struct.pack(">BBBB", 0, 0, 8, 3) + struct.pack(">III", 600_000, 280, 28) + bytes(1000)
    (tmp_path / "lie-idx3-ubyte.gz").write_bytes(gzip.compress(raw))
    with pytest.raises(
        ValueError, match=r"declares shape \(600000, 280, 28\) .*more than a file of \d+ bytes can hold"
    ):
        data._read_idx(str(tmp_path / "lie-idx3-ubyte.gz"))
    good = struct.pack(">BBBB", 0, 0, 8, 3) + struct.pack(">III", 5, 2, 2) + bytes(20)
    gz = gzip.compress(good)
    (tmp_path / "crc-idx3-ubyte.gz").write_bytes(gz[:-8] + bytes(8))
    with pytest.raises(ValueError, match=r"crc-idx3-ubyte.gz: cannot read \(BadGzipFile: CRC check failed"):
        data._read_idx(str(tmp_path / "crc-idx3-ubyte.gz"))
    (tmp_path / "magic-idx3-ubyte").write_bytes(b"\x00\x00\x0d\x03" + bytes(12))
    with pytest.raises(ValueError, match="it starts with 00000d03, expected 000008"):
        data._read_idx(str(tmp_path / "magic-idx3-ubyte"))


def test_a_damaged_npy_header_in_a_folder_dataset_is_named(tmp_path):
    np.save(tmp_path / "X_train.npy", np.zeros((4, 2)))
    np.save(tmp_path / "y_train.npy", np.zeros(4))
    raw = bytearray((tmp_path / "X_train.npy").read_bytes())
    raw[20:30] = b"((((((((((("[:10]
    (tmp_path / "X_train.npy").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"X_train.npy: cannot open as a .npy array"):
        data.load_file(str(tmp_path))


def test_csv_text_that_is_not_utf8_and_nested_parquet_columns_are_named(tmp_path):
    needs("pyarrow", "data")
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "bad.csv").write_bytes(b"a,b,label\n1,2,yes\n3,4,\xff\xfe\n")
    with pytest.raises(ValueError, match=r"bad.csv: label column 'label' holds text that is not UTF-8 in data row 2"):
        data.load_file(str(tmp_path / "bad.csv"))
    pq.write_table(pa.table({"a": [1.0, 2, 3, 4], "l": [[1], [2], [3], [4]], "label": [0, 1, 0, 1]}), tmp_path / "n.pq")
    with pytest.raises(ValueError, match=r"n.pq: feature column 'l' holds list<element: int64> values \(nested\)"):
        data.load_file(str(tmp_path / "n.pq"))


def _valid_files(tmp_path):
    """One small valid file per reader: (path, read)."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(12, 3)), np.arange(12) % 2
    np.savez(tmp_path / "d.npz", X_train=X, y_train=y)
    (tmp_path / "d.csv").write_text("a,b,c,label\n" + "\n".join(f"{a},{b},{c},{t}" for (a, b, c), t in zip(X, y)))
    idx = struct.pack(">BBBB", 0, 0, 8, 3) + struct.pack(">III", 4, 3, 3) + bytes(range(36))
    (tmp_path / "i-idx3-ubyte.gz").write_bytes(gzip.compress(idx))
    model = mlp.MLP([3, 4, 2], seed=0)
    mlp.train(model, X, y, epochs=1, progress=False)
    model.save(tmp_path / "m.npz")
    files = [
        (tmp_path / "d.npz", lambda p: data.load_file(str(p))),
        (tmp_path / "i-idx3-ubyte.gz", lambda p: data._read_idx(str(p))),
        (tmp_path / "m.npz", lambda p: mlp.load(p)),
    ]
    folder = tmp_path / "f"
    folder.mkdir()
    np.save(folder / "X_train.npy", X)
    np.save(folder / "y_train.npy", y)
    files.append((folder / "X_train.npy", lambda p: data.load_file(str(p.parent))))
    if has("pyarrow"):  # CSV and Parquet are read through pyarrow
        files.append((tmp_path / "d.csv", lambda p: data.load_file(str(p))))
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({"a": X[:, 0], "b": X[:, 1], "label": y}), tmp_path / "d.parquet")
        files.append((tmp_path / "d.parquet", lambda p: data.load_file(str(p))))
    return files


def _damaged(path, raw: bytes):
    """A copy of `path` holding `raw`; a member of a folder dataset is damaged in a copy of the folder."""
    if path.name == "X_train.npy":
        folder = path.parent.with_name("x" + path.parent.name)
        folder.mkdir(exist_ok=True)
        (folder / "y_train.npy").write_bytes((path.parent / "y_train.npy").read_bytes())
        damaged = folder / path.name
    else:
        damaged = path.with_name("x" + path.name)
    damaged.write_bytes(raw)
    return damaged


def _mutate(rng, original: bytes, trial: int) -> bytes:
    raw = bytearray(original)
    kind = trial % 3
    if kind == 0:  # bytes flipped
        for at in rng.integers(0, len(raw), size=int(rng.integers(1, 8))):
            raw[at] = int(rng.integers(0, 256))
    elif kind == 1:  # cut short
        raw = raw[: int(rng.integers(0, len(raw)))]
    else:  # a stretch repeated
        at = int(rng.integers(0, len(raw)))
        raw = raw[:at] + raw[at : at + 64] * 4 + raw[at:]
    return bytes(raw)


MEMORY_LIMIT = 8 * 2**20  # bytes Python and NumPy may allocate to read a damaged file of a few KB
TIME_LIMIT = 5.0  # seconds per read


def test_every_reader_fails_on_damaged_files_with_a_value_error_or_os_error(tmp_path):
    """Seeded mutations (bytes flipped, cut, duplicated) of one valid file per reader (.npz
    dataset, CSV, gzipped IDX, model file, a folder of .npy arrays, Parquet): each read either
    works or raises ValueError/OSError naming the file, nothing else, within MEMORY_LIMIT bytes
    allocated (tracemalloc: Python and NumPy allocations) and TIME_LIMIT seconds."""
    import time
    import tracemalloc

    rng = np.random.default_rng(1234)
    worst = {}
    for path, read in _valid_files(tmp_path):
        original = path.read_bytes()
        read(path)  # the valid file reads; its modules are imported before memory is counted
        for trial in range(40):
            damaged = _damaged(path, _mutate(rng, original, trial))
            tracemalloc.start()
            start = time.perf_counter()
            try:
                read(damaged)
            except (ValueError, OSError) as exc:
                assert damaged.name in str(exc), f"{path.name} trial {trial}: {exc}"
            finally:
                seconds = time.perf_counter() - start
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
            assert peak < MEMORY_LIMIT, f"{path.name} trial {trial}: {peak:,} bytes allocated"
            assert seconds < TIME_LIMIT, f"{path.name} trial {trial}: {seconds:.1f} s"
            worst[path.name] = max(worst.get(path.name, 0), peak)
    assert len(worst) >= (6 if has("pyarrow") else 4), worst
