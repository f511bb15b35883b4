"""Tables inside the model: ``mlp.Columns`` (numbers with missing cells, categories one-hot or
embedded, unknown categories, refusals) and the ``Embedding`` layer it feeds."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from helpers import has, needs, numeric_grad

import mlp
from mlp.nn.columns import Columns


def _table(rng, n=300, cities=30):
    """A dict table: a number column, one with missing cells, a small category column (with
    missing cells), a boolean column, and a category column of many values."""
    a = rng.normal(size=n)
    b = np.where(rng.random(n) < 0.15, np.nan, rng.normal(size=n))
    color = rng.choice(np.array(["red", "green", "blue", ""]), n)  # "" a blank cell
    flag = rng.random(n) < 0.5
    city = np.array([f"c{i}" for i in rng.integers(0, cities, n)])
    y = ((a > 0) ^ (color == "red") ^ np.isin(city, ["c1", "c2", "c3", "c4", "c5"])).astype(np.int64)
    return {"a": a, "b": b, "color": color, "flag": flag, "city": city}, y


def test_the_encoding_of_each_kind_of_column():
    X = {
        "n": np.array([1.0, np.nan, 3.0, 5.0]),
        "c": np.array(["x", "y", "x", ""]),
        "t": np.array([True, False, True, True]),
    }
    cols = Columns.fit(X)
    assert cols.output_names == ["n", "n (missing)", "c=", "c=x", "c=y", "t=False", "t=True"]
    E = cols.encode(X)
    np.testing.assert_array_equal(
        E,
        [
            [1, 0, 0, 1, 0, 0, 1],
            [3, 1, 0, 0, 1, 1, 0],  # the median of 1, 3, 5 stands in for the missing cell
            [3, 0, 0, 1, 0, 0, 1],
            [5, 0, 1, 0, 0, 0, 1],
        ],
    )
    assert E.dtype == np.float64


def test_many_categories_become_codes_and_rare_ones_share_the_unknown_slot():
    city = np.array(["a", "a", "b", "b", "c", "c", "d"])  # 'd' once: rarer than min_count 2
    cols = Columns.fit({"city": city, "v": np.arange(7.0)}, onehot_max=2)
    assert cols.n_codes == 1 and cols.cardinalities == [4]  # a, b, c + unknown
    assert cols.output_names == ["v", "city (code)"]  # codes last, after the features the scaler scales
    np.testing.assert_array_equal(cols.encode({"city": city, "v": np.arange(7.0)})[:, 1], [1, 1, 2, 2, 3, 3, 0])


def test_unknown_categories_are_encoded_as_unknown_and_said_once_per_call():
    c, e = np.array(["x", "y", "x", "y", "x", "y"]), np.array(["p", "p", "q", "q", "r", "s"])
    cols = Columns.fit({"c": c, "e": e}, onehot_max=2)
    assert not cols.specs[0]["embed"] and cols.specs[1]["embed"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        E = cols.encode({"c": np.array(["x"]), "e": np.array(["s"])})  # 's' was rare: unknown, silently
    assert E[0, -1] == 0
    with pytest.warns(mlp.DataWarning, match=r"column 'c': 1 rows hold categories not seen in training.*'z'"):
        E = cols.encode({"c": np.array(["z", "x"]), "e": np.array(["p", "p"])})
    np.testing.assert_array_equal(E[0, :2], [0, 0])  # no one-hot column set
    with pytest.warns(mlp.DataWarning, match="column 'e'"):
        E = cols.encode({"c": np.array(["x"]), "e": np.array(["never"])})
    assert E[0, -1] == 0  # the embedding's unknown slot


def test_marker_texts_in_a_number_column_are_missing_and_said():
    age = np.array([str(v) for v in range(40)] + ["?"])
    with pytest.warns(mlp.DataWarning, match=r"column 'age' holds numbers, and '\?' in 1 rows"):
        cols = Columns.fit({"age": age})
    assert cols.specs[0]["kind"] == "number" and cols.specs[0]["indicator"]
    E = cols.encode({"age": np.array(["?", "7"])})
    np.testing.assert_array_equal(E, [[19.5, 1], [7, 0]])
    with pytest.warns(mlp.DataWarning, match=r"column 'age' holds numbers, but 1 rows hold text.*'seven' in row 1"):
        E = cols.encode({"age": np.array(["3", "seven"])})
    np.testing.assert_array_equal(E, [[3, 0], [19.5, 1]])  # read as missing, and said


def test_a_text_column_of_numbers_is_a_number_column():
    cols = Columns.fit({"n": np.array(["1", "2.5", "", "4"])})
    assert cols.specs[0] == {"name": "n", "kind": "number", "median": 2.5, "indicator": True}


def test_bad_tables_are_refused_naming_the_column_and_row():
    cols = Columns.fit({"n": np.array([1.0, 2.0]), "c": np.array(["x", "y"])})
    with pytest.raises(ValueError, match=r"column 'n' holds infinity in row 1"):
        cols.encode({"n": np.array([1.0, np.inf]), "c": np.array(["x", "y"])})
    with pytest.raises(ValueError, match=r"lacks the model's columns \['c'\]"):
        cols.encode({"n": np.array([1.0])})
    with pytest.raises(TypeError, match=r"column 'd' holds datetime64.*days since a date"):
        Columns.fit({"d": np.array(["2024-01-01", "2024-02-01"], dtype="datetime64[D]")})
    with pytest.raises(ValueError, match="column 'n' is blank in every row"):
        Columns.fit({"n": np.array([np.nan, np.nan])})
    with pytest.raises(ValueError, match=r"2-D array of 2 columns in that order"):
        cols.encode(np.zeros((3, 5)))


def test_a_2d_array_is_read_in_the_training_column_order():
    X = {"n": np.array([1.0, 2.0, 4.0]), "c": np.array(["x", "y", "x"])}
    cols = Columns.fit(X)
    rows = np.array([[1.0, "x"], [2.0, "y"], [4.0, "x"]], dtype=object)
    np.testing.assert_array_equal(cols.encode(rows), cols.encode(X))


def test_pandas_and_pyarrow_tables_encode_as_the_dict(rng):
    needs("pandas", "dev")
    needs("pyarrow", "data")
    import pandas as pd
    import pyarrow as pa

    X, _ = _table(rng)
    df = pd.DataFrame(X)
    df["color"] = df["color"].replace("", None).astype("category")  # a pandas category column with missing cells
    cols = Columns.fit(df)
    assert cols == Columns.fit(pa.Table.from_pandas(df)) == Columns.fit(X)
    np.testing.assert_array_equal(cols.encode(pa.Table.from_pandas(df)), cols.encode(X))
    np.testing.assert_array_equal(cols.encode(df), cols.encode(X))
    with pytest.raises(TypeError, match=r"column 'when' holds datetime64"):
        Columns.fit(pd.DataFrame({"when": pd.to_datetime(["2024-01-01", "2024-01-02"])}))
    with pytest.raises(TypeError, match=r"column 'when' holds timestamp"):
        Columns.fit(pa.table({"when": pa.array([1, 2], pa.timestamp("s"))}))


def test_the_encoding_round_trips_through_its_config_and_damage_is_refused():
    cols = Columns.fit({"n": np.array([1.0, np.nan]), "c": np.array(["x", "y"])})
    assert Columns.from_config(cols.config()) == cols
    bad = cols.config()
    bad["specs"][1]["categories"] = ["x", "x"]
    with pytest.raises(ValueError, match="repeated categories"):
        Columns.from_config(bad, "m.npz")
    bad = cols.config()
    bad["specs"][0]["median"] = float("nan")
    with pytest.raises(ValueError, match="m.npz holds an invalid table encoding.*no finite median"):
        Columns.from_config(bad, "m.npz")


def test_a_model_for_numbers_refuses_a_table_of_text_saying_what_to_do():
    model = mlp.MLP([2, 4, 2])
    with pytest.raises(TypeError, match=r"mlp.Columns.fit\(X\)"):
        model({"n": np.array([1.0]), "c": np.array(["x"])})


# -- whole models on tables ----------------------------------------------------------------------
def test_a_model_trains_on_a_table_and_its_file_is_the_whole_predictor(backend, rng, tmp_path):
    X, y = _table(rng)
    cols = Columns.fit(X)
    assert cols.n_codes == 1  # city: 30 categories, more than 16
    model = mlp.MLP([cols, 32, 2], backend=backend.backend, scale="robust")
    assert [type(layer).__name__ for layer in model.layers[:3]] == ["RobustScale", "Embedding", "Dense"]
    mlp.train(model, X, y, epochs=100, progress=False)
    acc = model.evaluate(X, y)["accuracy"]
    assert acc > 0.85  # a three-way XOR of a number, a one-hot and an embedded column
    out = backend.host(model(X))
    model.save(tmp_path / "m.npz")
    loaded = mlp.load(tmp_path / "m.npz", backend=backend.backend)
    assert loaded.columns == cols
    np.testing.assert_array_equal(backend.host(loaded(X)), out)
    np.testing.assert_array_equal(loaded.predict_labels(X), model.predict_labels(X))
    assert loaded.evaluate(X, y)["accuracy"] == acc
    # the codes pass the scaler unchanged: the embedding reads the encoder's codes
    codes = cols.encode(X)[:, -1]
    scaled = backend.host(model.prepare_input(X))[:, -1]
    np.testing.assert_array_equal(scaled, codes)


def test_the_model_on_a_table_agrees_with_numpy_on_every_backend(backend, rng):
    X, y = _table(rng, n=120)
    cols = Columns.fit(X)
    ref = mlp.MLP([cols, 8, 2], backend="numpy", dtype="float64", scale="standard")
    mlp.train(ref, X, y, epochs=2, progress=False, batch_size=32)
    other = mlp.MLP([cols, 8, 2], backend=backend.backend, dtype="float64", scale="standard")
    mlp.train(other, X, y, epochs=2, progress=False, batch_size=32)
    np.testing.assert_allclose(backend.host(other(X)), np.asarray(ref(X)), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("scale", ["robust", None])
def test_onnx_takes_the_raw_columns_strings_included_or_the_encoded_rows(rng, tmp_path, scale):
    needs("onnxruntime", "onnx")
    import onnxruntime as ort

    X, y = _table(rng)
    cols = Columns.fit(X)
    model = mlp.MLP([cols, 16, 2], scale=scale)
    mlp.train(model, X, y, epochs=3, progress=False)
    model.to_onnx(tmp_path / "m.onnx", probabilities=True)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    assert [(i.name, i.type) for i in session.get_inputs()] == [
        ("a", "tensor(double)"),
        ("b", "tensor(double)"),
        ("color", "tensor(string)"),
        ("flag", "tensor(string)"),
        ("city", "tensor(string)"),
    ]
    X["color"][:3], X["city"][3:5] = "purple", "nowhere"  # unknown categories: "unknown", as model(X) has them
    feed = {
        c: np.asarray(X[c], dtype=np.float64 if k == "double" else str).reshape(-1, 1) for c, k in cols.onnx_inputs()
    }
    feed = {c: v.astype(object) if v.dtype.kind == "U" else v for c, v in feed.items()}
    Y, P = session.run(None, feed)
    with pytest.warns(mlp.DataWarning):
        np.testing.assert_array_equal(Y, model(X))
    with pytest.warns(mlp.DataWarning):
        np.testing.assert_allclose(P, model.predict_proba(X), rtol=1e-6, atol=1e-7)
    model.to_onnx(tmp_path / "e.onnx", encoded=True)
    with pytest.warns(mlp.DataWarning):
        rows = np.asarray(cols.encode(X))
    got = ort.InferenceSession(str(tmp_path / "e.onnx")).run(None, {"X": rows})[0]
    np.testing.assert_array_equal(got, Y)


# -- Embedding ------------------------------------------------------------------------------------
def _embedding_model(dtype="float64"):
    return mlp.Sequential(
        mlp.Embedding(3, [4, 5], dims=[2, 3]), mlp.Dense(6, 3), mlp.Tanh(), mlp.Dense(3, 2), dtype=dtype, seed=2
    )


def _coded_rows(rng, n=11):
    return np.column_stack([rng.normal(size=n), rng.integers(0, 4, n), rng.integers(0, 5, n)]).astype(np.float64)


def test_embedding_gradients_by_finite_differences(rng):
    model = _embedding_model()
    X, y = _coded_rows(rng), rng.normal(size=(11, 2))
    _, grads = mlp.value_and_grad(model, "mse", X, y)
    for i in (0, 1):  # the two tables
        w = model.get_weights()[i]

        def f(wi, i=i):
            model.params[i] = model.backend.asarray(wi, model.dtype)
            return mlp.value_and_grad(model, "mse", X, y)[0]

        idx, num = numeric_grad(f, w.copy())
        model.params[i] = model.backend.asarray(w, model.dtype)
        np.testing.assert_allclose(grads[i].reshape(-1)[idx], num, rtol=1e-6, atol=1e-8)


def test_embedding_matches_torch_embedding(rng):
    if not has("torch"):
        pytest.skip("needs torch (an optional oracle)")
    import torch

    model = _embedding_model()
    X, y = _coded_rows(rng), rng.normal(size=(11, 2))
    _, grads = mlp.value_and_grad(model, "mse", X, y)
    w = [torch.tensor(a, requires_grad=True) for a in model.get_weights()]
    emb = [torch.nn.functional.embedding(torch.tensor(X[:, 1 + j]).long(), w[j]) for j in range(2)]
    h = torch.cat([torch.tensor(X[:, :1]), *emb], dim=1)
    out = torch.tanh(h @ w[2] + w[3]) @ w[4] + w[5]
    (0.5 * ((out - torch.tensor(y)) ** 2).sum() / X.shape[0]).backward()  # mlp's "mse"
    for g, t in zip(grads, w):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_codes_outside_the_table_read_the_unknown_slot():
    model = _embedding_model()
    X = np.array([[0.5, 0.0, 0.0], [0.5, 7.0, -3.0]])
    out = np.asarray(model(X))
    np.testing.assert_array_equal(out[0], out[1])


def test_a_table_run_resumes_from_its_checkpoint_and_moves_backends(rng, tmp_path):
    X, y = _table(rng, n=160)
    cols = Columns.fit(X)
    run = dict(epochs=2, batch_size=32, progress=False, seed=3)
    whole = mlp.MLP([cols, 16, 2], scale="robust", seed=1)
    mlp.train(whole, X, y, **{**run, "epochs": 4})
    part = mlp.MLP([cols, 16, 2], scale="robust", seed=1)
    mlp.train(part, X, y, checkpoint=tmp_path / "c.npz", **run)
    mlp.train(part, X, y, resume=tmp_path / "c.npz", **{**run, "epochs": 4})
    np.testing.assert_array_equal(np.asarray(part(X)), np.asarray(whole(X)))
    other = Columns.fit({**X, "b": X["b"] + 1.0})  # another median: the same shapes
    changed = mlp.MLP([other, 16, 2], scale="robust", seed=1)
    with pytest.raises(ValueError, match="table encoding"):
        mlp.train(changed, X, y, resume=tmp_path / "c.npz", **{**run, "epochs": 4})
    if has("torch"):
        moved = whole.to("torch")
        assert moved.columns == cols
        np.testing.assert_allclose(moved.backend.to_numpy(moved(X)), np.asarray(whole(X)), rtol=1e-5, atol=1e-6)


def test_validation_rows_and_predictions_take_tables_too(rng):
    X, y = _table(rng, n=200)
    cols = Columns.fit(X)
    model = mlp.MLP([cols, 16, 2], scale="robust")
    held = {k: v[150:] for k, v in X.items()}
    history = mlp.train(model, {k: v[:150] for k, v in X.items()}, y[:150], validation=(held, y[150:]), epochs=2)
    assert len(history.val_loss) == 2
    proba = model.predict_proba(held)
    assert proba.shape == (50, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(model.predict_labels(held), np.argmax(proba, axis=1))


def test_a_scaler_given_as_an_object_must_pass_the_codes_through(rng):
    X, _ = _table(rng, n=60)
    cols = Columns.fit(X)
    with pytest.raises(ValueError, match="passthrough=1"):
        mlp.MLP([cols, 8, 2], scale=mlp.RobustScale(cols.n_features))
    model = mlp.MLP([cols, 8, 2], scale=mlp.RobustScale(cols.n_features, passthrough=1))
    assert model.layers[0].config()["passthrough"] == 1
