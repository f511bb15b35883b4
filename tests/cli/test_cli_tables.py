"""Raw tables through the command line: a CSV or Parquet file with text, categories, blank cells and
marker texts trains with `mlp train --data FILE --label COL`, and `mlp predict` reads the raw file; the
numbers printed equal what a user computes from the saved model."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import cli, last_json, needs

import mlp


def _raw_csv(path, rng, n=400):
    """A passenger-like table as pandas writes it (its row index first), with a blank label here and
    there, text and boolean columns, blank numbers, a '?' marker and an id-like column of 60 values."""
    age = rng.integers(1, 80, n).astype(float)
    sex = rng.choice(["male", "female"], n)
    port = rng.choice(["S", "C", "Q", ""], n)
    fare = rng.gamma(2.0, 10.0, n)
    deck = np.array([f"D{i}" for i in rng.integers(0, 60, n)])
    alone = rng.random(n) < 0.5
    survived = ((sex == "female") | (fare > 30)).astype(int)
    lines = [",age,sex,port,fare,deck,alone,survived"]
    for i in range(n):
        a = "" if i % 11 == 3 else "?" if i == 5 else f"{age[i]:g}"
        label = "" if i % 97 == 50 else str(survived[i])
        lines.append(f"{i},{a},{sex[i]},{port[i]},{fare[i]:.4f},{deck[i]},{alone[i]},{label}")
    path.write_text("\n".join(lines) + "\n")


def test_a_raw_csv_trains_and_predicts_and_the_numbers_agree(tmp_path, capsys, rng):
    needs("pyarrow", "data")
    data = tmp_path / "passengers.csv"
    _raw_csv(data, rng)
    model_file = tmp_path / "m.npz"
    code, out, err = cli(
        capsys,
        "train",
        "--data",
        str(data),
        "--label",
        "survived",
        "--epochs",
        "15",
        "--json",
        "--save",
        str(model_file),
    )
    assert code == 0, err
    assert "4 rows with a blank label 'survived' dropped" in err
    assert "counts the rows (a saved row index): not used as a feature" in err
    assert "feature columns hold text, categories, booleans or blank cells" in err
    assert "warning: " in err and "'?'" in err  # the marker in a number column, said (at fit or at evaluation)
    printed = last_json(out)["test_accuracy"]
    model = mlp.load(model_file)
    assert model.columns.names == ["age", "sex", "port", "fare", "deck", "alone"]
    assert model.columns.n_codes == 1  # deck: 60 values, embedded
    ds = mlp.data.load_file(str(data), "survived")  # the same split: the user's test rows, raw
    assert model.evaluate(ds.X_test, ds.y_test)["accuracy"] == printed > 0.9
    # mlp predict on the raw file, label column and row index included: the saved model's own labels
    code, out, err = cli(capsys, "predict", str(model_file), str(data), "--label", "survived")
    assert code == 0, err
    predicted = np.array([int(v) for v in out.split()[1:]])
    import pyarrow.csv as pc

    whole = pc.read_csv(data)
    np.testing.assert_array_equal(predicted, model.predict_labels(whole))
    assert predicted.shape == (400,)


def test_a_parquet_table_with_categories_trains(tmp_path, capsys, rng):
    needs("pyarrow", "data")
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 200
    x = rng.normal(size=n)
    kind = rng.choice(["a", "b", "c"], n)
    table = pa.table(
        {
            "x": pa.array(np.where(rng.random(n) < 0.1, np.nan, x)),
            "kind": pa.array(kind).dictionary_encode(),
            "y": (x > 0).astype(int) ^ (kind == "a"),
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    code, out, err = cli(
        capsys,
        "train",
        "--data",
        str(tmp_path / "t.parquet"),
        "--label",
        "y",
        "--json",
        "--save",
        str(tmp_path / "m.npz"),
    )
    assert code == 0, err
    model = mlp.load(tmp_path / "m.npz")
    assert [s["kind"] for s in model.columns.specs] == ["number", "category"]
    code, out, err = cli(capsys, "predict", str(tmp_path / "m.npz"), str(tmp_path / "t.parquet"), "--label", "y")
    assert code == 0, err
    np.testing.assert_array_equal([int(v) for v in out.split()[1:]], model.predict_labels(table))


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ("2024-01-0{i}", r"column 'f' holds date32.*days since a date"),
        ("{inf}", r"feature column 'f' holds infinity in data row 2"),
    ],
    ids=["dates", "infinity"],
)
def test_bad_columns_are_refused_naming_the_column(tmp_path, capsys, column, message):
    needs("pyarrow", "data")
    rows = ["f,c,label"] + [
        f"{column.format(i=i % 9 + 1, inf='inf' if i == 1 else '')},{'ab'[i % 2]},{i % 2}" for i in range(20)
    ]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    code, _, err = cli(capsys, "train", "--data", str(tmp_path / "d.csv"), "--epochs", "1")
    assert code == 2
    assert __import__("re").search(message, err), err
