"""Data files through pyarrow: CSV and Parquet tables, and Parquet files streamed a row group at a time."""

from __future__ import annotations

import json

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
import pyarrow.parquet as pq  # noqa: E402

import mlp  # noqa: E402
import mlp.data  # noqa: E402
from mlp.cli import main  # noqa: E402
from mlp.io.tables import ParquetRows, read_table  # noqa: E402


def _frame(n=6000, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (X[:, 0] + X[:, 1] ** 2 > 1).astype(np.int64)
    return X, y


def _write_parquet(path, X, y, group=500, extra=None):
    cols = {f"f{i}": X[:, i] for i in range(X.shape[1])}
    cols.update(extra or {})
    cols["label"] = y
    pq.write_table(pa.table(cols), path, row_group_size=group)
    return path


def test_csv_tables_with_blanks_or_text_stay_raw_and_bad_cells_name_the_column_and_row(tmp_path):
    blank = tmp_path / "blank.csv"
    blank.write_text("a,b,label\n1,2,0\n3,,1\n5,6,0\n7,8,1\n")
    ds = mlp.data.load_csv(blank)  # a blank cell: the raw columns, for the model's encoding (mlp.Columns)
    assert ds.X_train.column_names == ["a", "b"] and any("('b')" in n for n in ds.notes)
    text = tmp_path / "text.csv"
    text.write_text("a,b,label\n1,x,0\n3,4,1\n5,y,0\n7,z,1\n")
    assert mlp.data.load_csv(text).X_train.num_rows == 3
    inf = tmp_path / "inf.csv"
    inf.write_text("a,b,label\n1,2,0\n3,,1\n4,inf,0\n5,6,1\n")
    with pytest.raises(ValueError, match=r"feature column 'b' holds infinity in data row 3"):
        mlp.data.load_csv(inf)
    plain = tmp_path / "plain.csv"
    plain.write_text("a,b,label\n1,2,0\n3,inf,1\n")
    with pytest.raises(ValueError, match=r"feature column 'b' has a blank or non-finite value in data row 2"):
        mlp.data.load_csv(plain)
    labels = tmp_path / "labels.csv"
    labels.write_text("a,label\n" + "\n".join(f"{i},{'cat' if i % 2 else 'dog'}" for i in range(20)) + "\n")
    ds = mlp.data.load_csv(labels)
    assert ds.task == "classification" and set(ds.y_train) <= {"cat", "dog"}


def test_read_table_keeps_types(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("\ufeffi, f ,s\n1,1.5,a\n2,,b\n")
    t = read_table(path)
    assert list(t) == ["i", "f", "s"] and t["i"].dtype == np.int64 and np.isnan(t["f"][1])
    assert t["s"].tolist() == ["a", "b"]


def test_parquet_read_whole_and_streamed_give_the_same_dataset(tmp_path):
    X, y = _frame()
    path = _write_parquet(tmp_path / "d.parquet", X, y)
    whole = mlp.data.load_parquet(path, in_memory=True)
    streamed = mlp.data.load_parquet(path, in_memory=False)
    assert isinstance(streamed.X_train, ParquetRows) and isinstance(whole.X_train, np.ndarray)
    np.testing.assert_array_equal(streamed.y_train, whole.y_train)
    np.testing.assert_array_equal(streamed.X_train[:], whole.X_train)
    np.testing.assert_array_equal(np.asarray(streamed.X_test), whole.X_test)
    assert streamed.feature_names == whole.feature_names == [f"f{i}" for i in range(5)]
    csv = tmp_path / "d.csv"
    lines = [",".join([*(repr(float(v)) for v in r), str(int(t))]) for r, t in zip(X, y)]
    csv.write_text("f0,f1,f2,f3,f4,label\n" + "\n".join(lines) + "\n")
    from_csv = mlp.data.load_csv(csv)  # a CSV of the same rows: the same split, the same arrays
    np.testing.assert_array_equal(from_csv.X_train, whole.X_train)
    np.testing.assert_array_equal(from_csv.y_test, whole.y_test)


def test_streamed_parquet_trains_as_the_same_rows_in_memory(tmp_path, monkeypatch):
    """Training on the streamed file gives the weights training on the rows in memory gives,
    and reads each row group a bounded number of times per epoch, never the file whole."""
    X, y = _frame()
    path = _write_parquet(tmp_path / "d.parquet", X, y, group=500)
    whole = mlp.data.load_parquet(path, in_memory=True)
    streamed = mlp.data.load_parquet(path, in_memory=False)
    reads = []
    original = pq.ParquetFile.read_row_group

    def spy(self, i, *args, **kw):
        table = original(self, i, *args, **kw)
        reads.append(table.num_rows)
        return table

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", spy)
    order = mlp.BlockShuffle(streamed.X_train.block, 2)
    assert order.block == 375  # 500 file rows, of which the training split holds 75%
    models = []
    for X_train in (whole.X_train, streamed.X_train):
        model = mlp.MLP([5, 16, 2], scale="standard", seed=0)
        mlp.train(model, X_train, whole.y_train, epochs=2, shuffle=order, seed=0, progress=False)
        models.append(model)
    for a, b in zip(*(m.get_weights() for m in models)):
        np.testing.assert_array_equal(a, b)
    groups = 6000 // 500
    assert reads and max(reads) <= 500
    # the scaler's pass, the data's fingerprint, the loss probe, then two epochs: each group once or twice
    assert len(reads) <= 2 * groups + 2 * 2 * groups, len(reads)
    acc = models[1].evaluate(streamed.X_test, streamed.y_test)["accuracy"]
    assert acc == models[0].evaluate(whole.X_test, whole.y_test)["accuracy"]


def test_parquet_rows_indexing_and_errors(tmp_path):
    X, y = _frame(1200, 3)
    path = _write_parquet(tmp_path / "d.parquet", X, y, group=100, extra={"name": np.array(["a"] * 1200)})
    rows = ParquetRows(path, ["f0", "f1", "f2"])
    assert rows.shape == (1200, 3) and rows.dtype == np.float64 and rows.row_group_size == 100 and len(rows) == 1200
    np.testing.assert_array_equal(rows[5:305:7], X[5:305:7])
    np.testing.assert_array_equal(rows[np.array([1199, 0, 650])], X[[1199, 0, 650]])
    np.testing.assert_array_equal(rows[-1], X[-1])
    np.testing.assert_array_equal(rows[:, 1], X[:, 1])
    np.testing.assert_array_equal(rows[X[:, 0] > 1], X[X[:, 0] > 1])
    sub = rows.subset(np.arange(100, 1200, 3))
    np.testing.assert_array_equal(sub[:10], X[100:130:3])
    with pytest.raises(ValueError, match="feature column 'name' holds string, not numbers"):
        ParquetRows(path, ["f0", "name"])
    with pytest.raises(ValueError, match=r"no column\(s\) \['nope'\]"):
        ParquetRows(path, ["nope"])
    with pytest.raises(IndexError, match="out of range for 1200 rows"):
        rows[np.array([1200])]
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(ValueError, match="cannot read as Parquet"):
        ParquetRows(bad)


def test_streamed_blank_cells_are_named_by_training(tmp_path):
    X, y = _frame(2000, 3)
    X[1234, 1] = np.nan
    path = _write_parquet(tmp_path / "d.parquet", X, y, group=250)
    ds = mlp.data.load_parquet(path, in_memory=False)
    with pytest.raises(ValueError, match="NaN|finite"):
        mlp.train(mlp.MLP([3, 2]), ds.X_train, ds.y_train, epochs=1, progress=False, shuffle=mlp.BlockShuffle(250, 2))


@pytest.mark.parametrize("stream", [False, True])
def test_cli_trains_on_parquet_and_predicts_from_it(tmp_path, monkeypatch, capsys, stream):
    X, y = _frame(3000, 4)
    path = _write_parquet(tmp_path / "d.parquet", X, y, group=400)
    if stream:
        monkeypatch.setattr(mlp.data, "PARQUET_IN_MEMORY", 0)
    model_path = tmp_path / "m.npz"
    rc = main(["train", "--data", str(path), "--epochs", "3", "--save", str(model_path), "--json", "--no-progress"])
    assert rc in (0, None)
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["test_accuracy"] > 0.85 and report["test_samples"] == 750
    features = tmp_path / "features.parquet"
    pq.write_table(pa.table({f"f{i}": X[:100, i] for i in range(4)}), features)
    out = tmp_path / "pred.csv"
    assert main(["predict", str(model_path), str(features), "--out", str(out)]) in (0, None)
    predicted = np.loadtxt(out, delimiter=",", skiprows=1, dtype=str)
    model = mlp.load(model_path)
    np.testing.assert_array_equal(predicted.astype(int).reshape(-1), model.predict_labels(X[:100]))
