"""What the library and the CLI print, save and accept is right, or refused with a message that
names the cause: one test per case found by trying the project as a new user would."""

from __future__ import annotations

import gzip
import json
import struct
import subprocess
import sys

import numpy as np
import pytest
from helpers import needs

import mlp
from mlp import cli


def _cli(capsys, *args):
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _json(out):
    return json.loads(out.strip().splitlines()[-1])


# -- a saved model is the model that was tested ------------------------------------------------
def test_the_saved_model_scores_on_raw_data_what_the_cli_printed(tmp_path, capsys):
    code, out, _ = _cli(capsys, "train", "--json", "--epochs", "5", "--hidden", "64", "--save", str(tmp_path / "m.npz"))
    assert code == 0
    printed = _json(out)["test_accuracy"]
    ds = mlp.data.digits()
    model = mlp.load(tmp_path / "m.npz")
    labels = model.predict_labels(ds.X_test)  # raw pixels 0..16: the model scales them itself
    assert np.mean(labels == ds.y_test) == printed > 0.9
    assert model.evaluate(ds.X_test, ds.y_test)["accuracy"] == printed
    assert type(model.layers[0]).__name__ == "RobustScale"  # mlp.defaults.SCALE


def test_the_onnx_export_takes_raw_data_too(tmp_path, capsys):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    assert _cli(capsys, "train", "--json", "--epochs", "2", "--hidden", "16", "--save", str(tmp_path / "m.npz"))[0] == 0
    assert _cli(capsys, "export", str(tmp_path / "m.npz"), str(tmp_path / "m.onnx"))[0] == 0
    X = mlp.data.digits().X_test.astype(np.float32)
    got = ort.InferenceSession(str(tmp_path / "m.onnx")).run(["Y"], {"X": X})[0]
    np.testing.assert_allclose(got, mlp.load(tmp_path / "m.npz")(X), rtol=1e-5, atol=1e-5)


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
    code, out, _ = _cli(
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
    assert code == 0 and _json(out)["task"] == "classification"
    model = mlp.load(tmp_path / "m.npz")
    assert model.classes.tolist() == list(labels) and model.feature_names == ["f1", "f2", "f3"]
    pred = model.predict_labels(X)
    assert set(pred.tolist()) <= set(labels) and np.mean(pred == y) > 0.75  # labels swapped: below 0.25
    # mlp predict: raw CSV in (the label column is left out by name), labels out
    assert (
        _cli(capsys, "predict", str(tmp_path / "m.npz"), str(tmp_path / "d.csv"), "--out", str(tmp_path / "p.csv"))[0]
        == 0
    )
    written = (tmp_path / "p.csv").read_text().splitlines()
    assert written[0] == "label" and [str(v) for v in pred.tolist()] == written[1:]
    code, out, _ = _cli(capsys, "predict", str(tmp_path / "m.npz"), str(tmp_path / "d.csv"), "--proba")
    assert code == 0 and out.splitlines()[0] == ",".join(f"p_{c}" for c in labels)


def test_mlp_predict_writes_probabilities_and_npy_and_refuses_another_width(tmp_path, capsys, rng):
    needs("pyarrow", "data")
    X, _ = _labelled_csv(tmp_path / "d.csv", ("no", "yes"), rng)
    assert (
        _cli(
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
    code, out, _ = _cli(capsys, "predict", str(tmp_path / "m.npz"), str(tmp_path / "d.csv"), "--proba")
    assert code == 0 and out.splitlines()[0] == "p_no,p_yes"
    p = np.loadtxt(out.splitlines()[1:], delimiter=",")
    np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-6)
    np.save(tmp_path / "X.npy", X)
    assert (
        _cli(capsys, "predict", str(tmp_path / "m.npz"), str(tmp_path / "X.npy"), "--out", str(tmp_path / "o.npy"))[0]
        == 0
    )
    assert np.load(tmp_path / "o.npy").tolist() == mlp.load(tmp_path / "m.npz").predict_labels(X).tolist()
    np.save(tmp_path / "W.npy", X[:, :2])
    code, _, err = _cli(capsys, "predict", str(tmp_path / "m.npz"), str(tmp_path / "W.npy"))
    assert code == 2 and "the model takes 3 features; the data has 2" in err


# -- one meaning of a prediction --------------------------------------------------------------
def test_one_output_heads_score_what_the_saved_model_predicts(tmp_path, capsys):
    code, out, _ = _cli(
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
    printed = _json(out)["test_accuracy"]
    ds = mlp.data.two_moons()
    model = mlp.load(tmp_path / "m.npz")
    assert model.head == mlp.Head("binary", "logits")
    assert np.mean(model.predict_labels(ds.X_test) == ds.y_test) == printed > 0.8


def test_metrics_read_one_column_by_the_head_never_by_the_values():
    y = np.array([0, 1, 1, 0])
    logits = np.array([[-2.0], [3.0], [0.5], [-0.1]])
    assert mlp.metrics.accuracy(y, logits, head="logits") == 1.0
    assert mlp.metrics.accuracy(y, 1 / (1 + np.exp(-logits)), head="probability") == 1.0
    assert mlp.metrics.accuracy(np.array([-1, 1, 1, -1]), logits, head="signed") == 1.0
    with pytest.raises(ValueError, match="one score per sample.*head='logits', 'probability' or 'signed'"):
        mlp.metrics.accuracy(y, logits)


def test_multilabel_heads_report_subset_and_per_label_accuracy(rng):
    X = rng.normal(size=(300, 4))
    Y = np.stack([X[:, 0] > 0, X[:, 1] > 0, X[:, 0] + X[:, 2] > 0], axis=1).astype(float)
    model = mlp.MLP([4, 32, 3], "relu", "sigmoid", seed=0)
    h = mlp.train(
        model, X, Y, loss="bce", optimizer="adam", lr=0.01, epochs=30, validation_fraction=0.2, progress=False
    )
    assert model.head == mlp.Head("multilabel", "probability")
    m = model.evaluate(X, Y)
    pred = model.predict_labels(X)
    assert pred.shape == (300, 3)
    assert m["accuracy"] == np.mean(np.all(pred == Y, axis=1)) < m["label_accuracy"] == np.mean(pred == Y)
    assert h.val_label_accuracy and h.val_accuracy[-1] <= h.val_label_accuracy[-1]


def test_regression_reports_mse_and_r2(capsys):
    code, out, _ = _cli(capsys, "train", "--dataset", "regression", "--epochs", "5", "--hidden", "16", "--no-progress")
    assert code == 0 and "test MSE:" in out and "R²:" in out and "(½·MSE)" in out
    code, out, _ = _cli(capsys, "train", "--dataset", "regression", "--epochs", "5", "--hidden", "16", "--json")
    got = _json(out)
    assert {"test_mse", "test_r2"} <= set(got) and got["task"] == "regression"


# -- the task is the user's to choose ----------------------------------------------------------
def _ages_csv(path, rng, n=200):
    X = rng.normal(size=(n, 2))
    ages = np.clip(np.round(50 + 10 * X[:, 0] + 3 * rng.normal(size=n)), 20, 80).astype(int)
    path.write_text("a,b,label\n" + "\n".join(f"{a:.4f},{b:.4f},{t}" for (a, b), t in zip(X, ages)) + "\n")


def test_whole_number_targets_that_are_not_classes_are_regression(tmp_path, capsys, rng):
    needs("pyarrow", "data")
    _ages_csv(tmp_path / "ages.csv", rng)
    code, out, _ = _cli(
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
    code, _, err = _cli(
        capsys, "train", "--data", str(tmp_path / "ages.csv"), "--epochs", "1", "--task", "classification"
    )  # as classes, some test ages never occur in training: said before training
    assert code == 2 and "the test labels" in err and "never occur in the training labels" in err
    code, out, _ = _cli(capsys, "train", "--epochs", "1", "--hidden", "8", "--json", "--task", "regression")
    assert code == 0 and _json(out)["task"] == "regression" and _json(out)["task_reason"] == "--task"
    assert "test_r2" in _json(out)


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


# -- settings that conflict or do not apply are errors naming both ------------------------------
@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(optimizer=mlp.SGD(0.05), lr=1e-9), r"optimizer is an Optimizer object .* so lr=1e-09 would be ignored"),
        (dict(optimizer=mlp.SGD(0.05), momentum=0.9), r"so momentum=0.9 would be ignored"),
        (dict(optimizer="adam", momentum=0.9), r"optimizer 'adam' has no momentum setting, so momentum=0.9"),
        (dict(validation=(np.zeros((2, 2)), [0, 1]), validation_fraction=0.2), r"validation and validation_fraction"),
        (dict(callbacks=print), r"callbacks must be a list of callables .* got builtin_function_or_method"),
        (dict(checkpoint="/no/such/dir/c.npz"), r"checkpoint must be in an existing folder"),
    ],
)
def test_conflicting_settings_are_refused_before_training(kw, match):
    model = mlp.MLP([2, 4, 2], output="softmax")
    before = model.get_weights()
    with pytest.raises((ValueError, TypeError), match=match):
        mlp.train(model, np.zeros((8, 2)), np.array([0, 1] * 4), progress=False, **kw)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "flags,match",
    [
        (
            ["--loss", "bce", "--label-smoothing", "0.1", "--dataset", "moons"],
            "--label-smoothing applies to the cross-entropy",
        ),
        (["--optimizer", "adam", "--momentum", "0.9"], "--momentum applies to optimizers with momentum"),
        (
            ["--dataset", "regression", "--loss", "cross_entropy"],
            "is a classification loss, but the task is regression",
        ),
        (["--dataset", "moons", "--task", "regression", "--loss", "bce"], "is a classification loss"),
    ],
)
def test_cli_flags_that_would_be_ignored_are_errors(capsys, flags, match):
    code, _, err = _cli(capsys, "train", "--epochs", "1", *flags)
    assert code == 2 and match in err


def test_a_named_optimizer_keeps_its_own_defaults(monkeypatch, capsys):
    seen = {}
    real = mlp.train

    def spy(model, X, y, **kw):
        seen["opt"] = kw["optimizer"]
        return real(model, X, y, **kw)

    monkeypatch.setattr(mlp, "train", spy)
    assert _cli(capsys, "train", "--optimizer", "adamw", "--epochs", "1", "--hidden", "8", "--json")[0] == 0
    assert isinstance(seen["opt"], mlp.AdamW) and seen["opt"].weight_decay == 0.01


# -- MPI ranks that disagree ---------------------------------------------------------------------
@pytest.mark.skipif(not __import__("shutil").which("mpirun"), reason="mpirun (Open MPI or MPICH) is not installed")
@pytest.mark.parametrize(
    "what,match", [("seed", "rank 1's seed is 6, rank 0's is 5"), ("batch", "rank 1's batch_size is 16")]
)
def test_mpi_ranks_that_run_different_settings_abort_naming_them(tmp_path, what, match):
    pytest.importorskip("mpi4py")
    from test_distributed import ENV, WORKER

    r = subprocess.run(
        ["mpirun", "-n", "2", sys.executable, WORKER, f"disagree-{what}", str(tmp_path / "x.npz")],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    assert r.returncode != 0 and match in r.stderr, r.stderr[-1500:]


# -- weights --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad,err,match",
    [
        (np.nan, ValueError, r"weights\[0\] holds NaN or infinity"),
        (np.inf, ValueError, r"weights\[0\] holds NaN or infinity"),
        (1 + 2j, TypeError, r"weights\[0\] holds complex values"),
        (1e300, ValueError, r"weights\[0\] holds values beyond the range of float32"),
    ],
)
def test_set_weights_refuses_non_finite_complex_and_overflowing_values(bad, err, match):
    model = mlp.MLP([2, 3], dtype="float32")
    weights = model.get_weights()
    w = weights[0].astype(complex if isinstance(bad, complex) else np.float64)
    w[0, 0] = bad
    with pytest.raises(err, match=match):
        model.set_weights([w, weights[1]])
    with pytest.raises(ValueError, match=r"weights\[1\] must have shape \(3,\); got \(4,\)"):
        model.set_weights([weights[0], np.zeros(4)])


def test_load_refuses_a_dtype_that_overflows(tmp_path):
    model = mlp.MLP([2, 3], dtype="float64")
    w = model.get_weights()
    w[0][0, 0] = 1e300
    model.set_weights(w)
    model.save(tmp_path / "m.npz")
    with pytest.raises(ValueError, match="m.npz.*beyond the range of float32"):
        mlp.load(tmp_path / "m.npz", dtype="float32")


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


# -- training that did not train ---------------------------------------------------------------
def test_training_that_made_things_worse_warns(capsys):
    ds = mlp.data.digits()
    model = mlp.MLP([64, 64, 10], scale="standard")
    with pytest.warns(mlp.TrainingWarning, match=r"training made the loss worse.*x the initial weights'.*lr=1e\+06"):
        h = mlp.train(model, ds.X_train, ds.y_train, optimizer=mlp.Adam(1e6), epochs=3, progress=False)
    assert h.warnings and h.final_loss > h.initial_loss
    code, out, _ = _cli(capsys, "train", "--lr", "1e6", "--epochs", "2", "--hidden", "32", "--no-progress")
    assert code == 0 and "warning: training made the loss worse" in out


def test_good_training_does_not_warn(recwarn):
    ds = mlp.data.digits()
    mlp.train(
        mlp.MLP([64, 32, 10], scale="standard"), ds.X_train, ds.y_train, optimizer="adam", epochs=2, progress=False
    )
    assert not [w for w in recwarn if issubclass(w.category, mlp.TrainingWarning)]


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
    with pytest.raises(ValueError, match="feature column 'b' has a blank or non-finite value in data row 1"):
        mlp.data.load_file(tmp_path / "blank.csv")


def test_pandas_nullable_frames_train_and_missing_values_are_named(rng):
    pd = pytest.importorskip("pandas")
    X = rng.normal(size=(40, 3))
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).astype("Float64")
    model = mlp.MLP([3, 4, 2], seed=0)
    mlp.train(model, frame, (X[:, 0] > 0).astype(int), epochs=1, progress=False)
    frame.iloc[3, 1] = pd.NA
    with pytest.raises(ValueError, match="X must be finite; it holds NaN"):
        mlp.train(model, frame, (X[:, 0] > 0).astype(int), epochs=1, progress=False)
    with pytest.raises(TypeError, match="X column 'a' holds"):
        mlp.train(model, frame.assign(a=["x"] * 40), (X[:, 0] > 0).astype(int), epochs=1, progress=False)
