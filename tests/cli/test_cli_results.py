"""The numbers `mlp train` and `mlp predict` print and write equal what a user computes from the saved model, in the
data's own labels."""

from __future__ import annotations

import re

import numpy as np
import pytest
from helpers import cli, last_json, needs

import mlp


# -- a saved model is the model that was tested ------------------------------------------------
def test_the_saved_model_scores_on_raw_data_what_the_cli_printed(tmp_path, capsys):
    code, out, _ = cli(capsys, "train", "--json", "--epochs", "5", "--hidden", "64", "--save", str(tmp_path / "m.npz"))
    assert code == 0
    printed = last_json(out)["test_accuracy"]
    ds = mlp.data.digits()
    model = mlp.load(tmp_path / "m.npz")
    labels = model.predict_labels(ds.X_test)  # raw pixels 0..16: the model scales them itself
    assert np.mean(labels == ds.y_test) == printed > 0.9
    assert model.evaluate(ds.X_test, ds.y_test)["accuracy"] == printed
    assert type(model.layers[0]).__name__ == "RobustScale"  # mlp.defaults.SCALE


def _labelled_csv(path, labels, rng, n=120):
    X = rng.normal(size=(n, 3))
    y = np.where(X[:, 0] + X[:, 1] > 0, labels[1], labels[0])
    lines = ["f1,f2,f3,label"] + [f"{a:.5f},{b:.5f},{c:.5f},{t}" for (a, b, c), t in zip(X, y)]
    path.write_text("\n".join(lines) + "\n")
    return X, y


@pytest.mark.parametrize("labels", [("cat", "dog"), (-1, 1), (1, 2)], ids=["strings", "signed", "one-based"])
def test_models_answer_in_their_own_labels(tmp_path, capsys, rng, labels):
    needs("pyarrow", "data")
    X, y = _labelled_csv(tmp_path / "d.csv", labels, rng)
    code, out, _ = cli(
        capsys,
        "train",
        "--json",
        "--data",
        str(tmp_path / "d.csv"),
        "--epochs",
        "30",
        "--hidden",
        "16",
        "--save",
        str(tmp_path / "m.npz"),
    )
    assert code == 0 and last_json(out)["task"] == "classification"
    model = mlp.load(tmp_path / "m.npz")
    assert model.classes.tolist() == list(labels) and model.feature_names == ["f1", "f2", "f3"]
    pred = model.predict_labels(X)
    assert set(pred.tolist()) <= set(labels) and np.mean(pred == y) > 0.75  # labels swapped: below 0.25
    # mlp predict: raw CSV in (the label column is left out by name), labels out
    assert (
        cli(capsys, "predict", str(tmp_path / "m.npz"), str(tmp_path / "d.csv"), "--out", str(tmp_path / "p.csv"))[0]
        == 0
    )
    written = (tmp_path / "p.csv").read_text().splitlines()
    assert written[0] == "label" and [str(v) for v in pred.tolist()] == written[1:]
    code, out, _ = cli(capsys, "predict", str(tmp_path / "m.npz"), str(tmp_path / "d.csv"), "--proba")
    assert code == 0 and out.splitlines()[0] == ",".join(f"p_{c}" for c in labels)


def test_mlp_predict_writes_probabilities_and_npy_and_refuses_another_width(tmp_path, capsys, rng):
    needs("pyarrow", "data")
    X, _ = _labelled_csv(tmp_path / "d.csv", ("no", "yes"), rng)
    assert (
        cli(
            capsys,
            "train",
            "--data",
            str(tmp_path / "d.csv"),
            "--epochs",
            "3",
            "--hidden",
            "8",
            "--save",
            str(tmp_path / "m.npz"),
            "--no-progress",
        )[0]
        == 0
    )
    code, out, _ = cli(capsys, "predict", str(tmp_path / "m.npz"), str(tmp_path / "d.csv"), "--proba")
    assert code == 0 and out.splitlines()[0] == "p_no,p_yes"
    p = np.loadtxt(out.splitlines()[1:], delimiter=",")
    np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-6)
    np.save(tmp_path / "X.npy", X)
    assert (
        cli(capsys, "predict", str(tmp_path / "m.npz"), str(tmp_path / "X.npy"), "--out", str(tmp_path / "o.npy"))[0]
        == 0
    )
    assert np.load(tmp_path / "o.npy").tolist() == mlp.load(tmp_path / "m.npz").predict_labels(X).tolist()
    np.save(tmp_path / "W.npy", X[:, :2])
    code, _, err = cli(capsys, "predict", str(tmp_path / "m.npz"), str(tmp_path / "W.npy"))
    assert code == 2 and "the model takes 3 features; the data has 2" in err


# -- one meaning of a prediction --------------------------------------------------------------
def test_one_output_heads_score_what_the_saved_model_predicts(tmp_path, capsys):
    code, out, _ = cli(
        capsys,
        "train",
        "--dataset",
        "moons",
        "--loss",
        "bce_logits",
        "--hidden",
        "16",
        "--epochs",
        "20",
        "--json",
        "--save",
        str(tmp_path / "m.npz"),
    )
    assert code == 0
    printed = last_json(out)["test_accuracy"]
    ds = mlp.data.two_moons()
    model = mlp.load(tmp_path / "m.npz")
    assert model.head == mlp.Head("binary", "logits")
    assert np.mean(model.predict_labels(ds.X_test) == ds.y_test) == printed > 0.8


def test_regression_reports_mse_and_r2(capsys):
    code, out, _ = cli(capsys, "train", "--dataset", "regression", "--epochs", "5", "--hidden", "16", "--no-progress")
    assert code == 0 and "test MSE:" in out and "R²:" in out and "(½·MSE)" in out
    code, out, _ = cli(capsys, "train", "--dataset", "regression", "--epochs", "5", "--hidden", "16", "--json")
    got = last_json(out)
    assert {"test_mse", "test_r2"} <= set(got) and got["task"] == "regression"


# -- the task is the user's to choose ----------------------------------------------------------
def _ages_csv(path, rng, n=200):
    X = rng.normal(size=(n, 2))
    ages = np.clip(np.round(50 + 10 * X[:, 0] + 3 * rng.normal(size=n)), 20, 80).astype(int)
    path.write_text("a,b,label\n" + "\n".join(f"{a:.4f},{b:.4f},{t}" for (a, b), t in zip(X, ages)) + "\n")


def test_whole_number_targets_that_are_not_classes_are_regression(tmp_path, capsys, rng):
    needs("pyarrow", "data")
    _ages_csv(tmp_path / "ages.csv", rng)
    code, out, _ = cli(
        capsys,
        "train",
        "--data",
        str(tmp_path / "ages.csv"),
        "--epochs",
        "2",
        "--hidden",
        "8",
        "--no-progress",
        "--loss",
        "mse",
    )
    assert code == 0, out
    assert "task: regression (inferred: y holds" in out and "not class labels" in out and "--task overrides" in out
    code, _, err = cli(
        capsys, "train", "--data", str(tmp_path / "ages.csv"), "--epochs", "1", "--task", "classification"
    )  # as classes, some test ages never occur in training: said before training
    assert code == 2 and "the test labels" in err and "never occur in the training labels" in err
    code, out, _ = cli(capsys, "train", "--epochs", "1", "--hidden", "8", "--json", "--task", "regression")
    assert code == 0 and last_json(out)["task"] == "regression" and last_json(out)["task_reason"] == "--task"
    assert "test_r2" in last_json(out)


def test_mlp_predict_names_a_damaged_or_lying_data_file(tmp_path, capsys):
    import io
    import zipfile

    rng = np.random.default_rng(0)
    model = mlp.MLP([4, 3, 2], seed=0)
    mlp.train(model, rng.normal(size=(20, 4)), np.arange(20) % 2, epochs=1, progress=False)
    model.save(tmp_path / "m.npz")
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**12, 4)})
    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as z:
        z.writestr("X.npy", header.getvalue() + bytes(64))
    np.savez(tmp_path / "ok.npz", X=np.zeros((3, 4)))
    raw = bytearray((tmp_path / "ok.npz").read_bytes())
    raw[40:60] = b"\xff" * 20
    (tmp_path / "bad.npz").write_bytes(bytes(raw))
    for name, match in (("huge.npz", r"declares shape \(1000000000000, 4\)"), ("bad.npz", "cannot read")):
        code, _, err = cli(capsys, "predict", str(tmp_path / "m.npz"), str(tmp_path / name))
        assert code == 2 and name in err and re.search(match, err), err
