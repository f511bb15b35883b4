"""Tables as users save them: a CSV with pandas' or R's row index first, blank labels, and the
split into training and test rows (stratified by class as documented, --test-size,
--stratify/--no-stratify); what reading did is said, and `mlp predict` takes the same raw file."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import cli, last_json, needs

import mlp
from mlp import data


def _table(tmp_path, n=120, index=None, blank_rows=(), text=True, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = np.where(X[:, 0] + 0.3 * X[:, 1] > 0.6, "yes", "no") if text else (X[:, 0] > 0.6).astype(int)
    header = (['""'] if index == "R" else [""] if index else []) + ["a", "b", "c", "label"]
    lines = [",".join(header)]
    for i in range(n):
        label = "" if i in blank_rows else str(y[i])
        row = ([f'"{i + 1}"'] if index == "R" else [str(i)] if index else []) + [f"{v:.6f}" for v in X[i]] + [label]
        lines.append(",".join(row))
    path = tmp_path / "t.csv"
    path.write_text("\n".join(lines) + "\n")
    return path, X, y


@pytest.mark.parametrize("index", ["pandas", "R"])
def test_a_saved_row_index_is_left_out_and_said(tmp_path, capsys, index):
    needs("pyarrow", "data")
    path, X, y = _table(tmp_path, index=index)
    ds = data.load_file(str(path))
    assert ds.feature_names == ["a", "b", "c"] and ds.n_features == 3
    assert any("counts the rows (a saved row index): not used as a feature" in n for n in ds.notes)
    code, out, err = cli(capsys, "train", "--data", str(path), "--epochs", "3", "--save", str(tmp_path / "m.npz"))
    assert code == 0 and "note:" in err and "saved row index" in err
    code, out, err = cli(capsys, "predict", str(tmp_path / "m.npz"), str(path), "--out", str(tmp_path / "p.csv"))
    assert code == 0  # the raw file, index column and all: the model reads its feature columns by name
    model = mlp.load(tmp_path / "m.npz")
    predicted = (tmp_path / "p.csv").read_text().split()[1:]
    assert predicted == [str(v) for v in model.predict_labels(X.round(6))]


def test_an_unnamed_column_that_is_not_a_row_count_is_a_feature(tmp_path):
    needs("pyarrow", "data")
    path = tmp_path / "t.csv"
    path.write_text(",a,label\n" + "\n".join(f"{(7 * i) % 5},{i / 10},{i % 2}" for i in range(20)) + "\n")
    ds = data.load_file(str(path))
    assert ds.n_features == 2 and not ds.notes


@pytest.mark.parametrize("text", [True, False])
def test_rows_with_a_blank_label_are_dropped_and_counted(tmp_path, capsys, text):
    needs("pyarrow", "data")
    path, X, y = _table(tmp_path, blank_rows={3, 50, 51}, text=text)
    ds = data.load_file(str(path))
    assert ds.X_train.shape[0] + ds.X_test.shape[0] == 117
    assert any("3 rows with a blank label 'label' dropped (first: data row 4)" in n for n in ds.notes), ds.notes
    assert not any(np.allclose(X[3], row, atol=1e-6) for row in np.r_[ds.X_train, ds.X_test])
    code, _, err = cli(capsys, "train", "--data", str(path), "--epochs", "2", "--json")
    assert code == 0 and "3 rows with a blank label" in err
    path.write_text("a,label\n1,\n2,\n")
    with pytest.raises(ValueError, match="label column 'label' is blank in every row"):
        data.load_file(str(path))
    path.write_text("a,label\n1,inf\n2,3\n")
    with pytest.raises(ValueError, match="label column 'label' holds infinity in data row 1"):
        data.load_file(str(path))


def test_the_split_is_stratified_by_class_and_its_size_chosen(tmp_path, capsys):
    needs("pyarrow", "data")
    path, X, y = _table(tmp_path, n=400)
    ds = data.load_file(str(path), test_size=0.2)
    assert ds.X_test.shape[0] == 80
    share = np.mean(y == "yes")
    assert abs(np.mean(ds.y_test == "yes") - share) <= 1 / 80 and abs(np.mean(ds.y_train == "yes") - share) <= 1 / 320
    assert data.load_file(str(path), test_size=0.2, stratify=False).X_test.shape[0] == 80
    code, out, _ = cli(capsys, "train", "--data", str(path), "--epochs", "2", "--test-size", "0.1", "--json")
    assert code == 0 and last_json(out)["test_samples"] == 40
    with pytest.raises(SystemExit) as stop:
        cli(capsys, "train", "--data", str(path), "--epochs", "2", "--test-size", "1.5")
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "--test-size" in err and "must be in (0, 1)" in err


def test_stratifying_what_cannot_be_is_said_or_refused(tmp_path, capsys):
    needs("pyarrow", "data")
    path = tmp_path / "t.csv"
    path.write_text("a,label\n" + "\n".join(f"{i},{'rare' if i == 0 else i % 2}" for i in range(20)) + "\n")
    ds = data.load_file(str(path))
    assert any("split without stratifying: a class has a single row" in n for n in ds.notes)
    with pytest.raises(ValueError, match="cannot split stratified by class: a class has a single row"):
        data.load_file(str(path), stratify=True)
    path.write_text("a,label\n" + "\n".join(f"{i},{i * 0.37:.2f}" for i in range(20)) + "\n")
    assert not data.load_file(str(path)).notes  # regression targets: nothing to stratify, nothing said
    code, _, err = cli(capsys, "train", "--data", str(path), "--stratify", "--epochs", "1")
    assert code != 0 and "its labels are not class labels" in err
