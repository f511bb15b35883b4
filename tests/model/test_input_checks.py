"""Bad input gets a ValueError/TypeError whose message names the argument, expected and got: shapes, labels, dtypes,
devices, names, values."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import needs

import mlp
from mlp import backends


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


def test_pandas_nullable_frames_train_and_tables_a_model_cannot_take_are_named(rng):
    pd = pytest.importorskip("pandas")
    X = rng.normal(size=(40, 3))
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).astype("Float64")
    model = mlp.MLP([3, 4, 2], seed=0)
    mlp.train(model, frame, (X[:, 0] > 0).astype(int), epochs=1, progress=False)
    frame.iloc[3, 1] = pd.NA  # a missing number, then text: a model of numbers says how to build one for the table
    with pytest.raises(TypeError, match=r"X is a table with .*missing numbers.*mlp.Columns.fit\(X\)"):
        mlp.train(model, frame, (X[:, 0] > 0).astype(int), epochs=1, progress=False)
    with pytest.raises(TypeError, match=r"X is a table with text"):
        mlp.train(model, frame.assign(a=["x"] * 40), (X[:, 0] > 0).astype(int), epochs=1, progress=False)
    with pytest.raises(ValueError, match="X must be finite; it holds NaN"):  # an array: no columns to name
        mlp.train(model, frame.to_numpy(dtype=float, na_value=np.nan), (X[:, 0] > 0).astype(int), epochs=1)


@pytest.mark.parametrize(
    "make,err,match",
    [
        (
            lambda: mlp.train(mlp.MLP([2, 2]), np.zeros((4, 2)), [0, 1, 0, 1], seed=-1, progress=False),
            ValueError,
            r"seed must be an integer >= 0 or None; got -1",
        ),
        (
            lambda: mlp.train(mlp.MLP([2, 2]), np.zeros((4, 2)), [0, 1, 0, 1], seed="a", progress=False),
            TypeError,
            r"seed must be an integer >= 0 or None; got str",
        ),
        (lambda: mlp.MLP([2, 2], seed=1.5), TypeError, r"seed must be an integer"),
        (lambda: mlp.Adam(betas=0.9), TypeError, r"betas must be a pair"),
        (lambda: mlp.Adam(betas=(0.9, 1.0)), ValueError, r"betas\[1\] must be in \[0, 1\); got 1.0"),
        (lambda: mlp.TimeDecay("fast"), TypeError, r"TimeDecay decay must be a real number"),
        (lambda: mlp.StepDecay(2.5), TypeError, r"StepDecay step must be an integer"),
        (lambda: mlp.StepDecay(2, gamma=0), ValueError, r"StepDecay gamma must be in \(0, 1\]"),
        (lambda: mlp.InverseScaling(power=-1), ValueError, r"InverseScaling power must be a finite number > 0"),
        (lambda: mlp.ReduceOnPlateau(patience=-1), ValueError, r"ReduceOnPlateau patience must be an integer >= 0"),
        (lambda: mlp.ReduceOnPlateau(threshold="x"), TypeError, r"ReduceOnPlateau threshold must be a real number"),
    ],
)
def test_arguments_are_checked_where_they_enter(make, err, match):
    with pytest.raises(err, match=match):
        make()


def test_sparse_input_is_named_as_sparse():
    sparse = pytest.importorskip("scipy.sparse")
    X = sparse.csr_matrix(np.eye(3))
    with pytest.raises(
        TypeError, match=r"X is a scipy sparse csr_matrix; mlp trains on dense arrays: pass X.toarray\(\)"
    ):
        mlp.MLP([3, 2])(X)


def test_float64_data_that_overflows_a_float32_model_is_named_as_overflow():
    model = mlp.MLP([2, 1], dtype="float32")
    with pytest.raises(ValueError, match=r"X holds values beyond the range of float32 .*dtype='float64'"):
        model(np.array([[1e300, 0.0]]))
    with pytest.raises(ValueError, match=r"y holds values beyond the range of float32"):
        mlp.train(model, np.zeros((2, 2)), np.array([1e300, 0.0]), loss="mse", progress=False)
    with pytest.raises(ValueError, match="X must be finite; it holds NaN"):
        model(np.array([[np.nan, 0.0]]))


def test_wrong_feature_dimension(backend, rng):
    model = backend.model([4, 3, 2])
    with pytest.raises(ValueError, match=r"X must have 4 features .* got 5"):
        model(backend.data(rng.normal(size=(3, 5))))
    with pytest.raises(ValueError, match=r"X must be 2-D .* got 1-D"):
        model(backend.data(rng.normal(size=4)))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs(backend, bad, rng):
    model = backend.model([3, 2])
    X = rng.normal(size=(4, 3))
    X[1, 2] = bad
    with pytest.raises(ValueError, match="X must be finite"):
        mlp.value_and_grad(model, "mse", backend.data(X), backend.data(np.zeros((4, 2))))
    y = np.zeros((4, 2))
    y[0, 0] = bad
    with pytest.raises(ValueError, match="y must be finite"):
        mlp.value_and_grad(model, "mse", backend.data(np.zeros((4, 3))), backend.data(y))


def test_labels_out_of_range(backend):
    model = backend.model([3, 4], output="softmax")
    X = backend.data(np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"y labels must be in \[0, 4\) .* got labels from 0 to 4"):
        mlp.value_and_grad(model, "cross_entropy", X, backend.data(np.array([0, 1, 4])))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 4\).*from -1"):
        mlp.value_and_grad(model, "cross_entropy", X, backend.data(np.array([0, -1, 2])))
    with pytest.raises(ValueError, match="y for loss 'bce' must hold targets"):
        mlp.value_and_grad(backend.model([3, 1], output="sigmoid"), "bce", X, backend.data(np.array([0.0, 2.0, 1.0])))
    with pytest.raises(ValueError, match="y for loss 'hinge' must hold labels -1/\\+1"):
        mlp.value_and_grad(backend.model([3, 1]), "hinge", X, backend.data(np.array([0.0, 2.0, 1.0])))


def test_target_shape_and_count(backend):
    model = backend.model([3, 2])
    with pytest.raises(ValueError, match=r"y for loss 'mse' must have shape \(n_samples, 2\)"):
        mlp.value_and_grad(model, "mse", backend.data(np.zeros((3, 3))), backend.data(np.zeros((3, 5))))
    with pytest.raises(ValueError, match=r"y must have one target per sample of X \(3\); got 2"):
        mlp.value_and_grad(model, "mse", backend.data(np.zeros((3, 3))), backend.data(np.zeros((2, 2))))


def test_mixed_backends_are_refused(backend):
    others = [n for n in backends.available() if n != backend.name and n in ("numpy", "array_api_strict", "torch")]
    model = backend.model([3, 2])
    for other in others:
        if other == "numpy":
            continue  # host NumPy data is accepted by every model (copied to its device once)
        X = backends.get(other).asarray(np.zeros((2, 3)))
        with pytest.raises(
            TypeError, match=rf"X is an array of backend '{other}'.*model lives on backend '{backend.name}'"
        ):
            model(X)


def test_mixed_devices_are_refused():
    pytest.importorskip("array_api_strict")
    model = mlp.MLP([3, 2], backend=backends.get("array_api_strict", "device1"))
    X = backends.get("array_api_strict").asarray(np.zeros((2, 3)))
    with pytest.raises(TypeError, match=r"X is an array of backend 'array_api_strict' on device .*CPU_DEVICE.*device1"):
        model(X)


def test_unknown_names(backend):
    with pytest.raises(ValueError, match=r"activation must be one of .* got 'relux'"):
        backend.model([3, 2], activation="relux")
    with pytest.raises(ValueError, match=r"output must be one of .* got 'softmin'"):
        backend.model([3, 2], output="softmin")
    with pytest.raises(ValueError, match=r"loss must be one of .* got 'crossentropy'"):
        mlp.value_and_grad(
            backend.model([3, 2]), "crossentropy", backend.data(np.zeros((1, 3))), backend.data(np.zeros((1, 2)))
        )
    with pytest.raises(ValueError, match=r"init must be one of .* got 'kaiming'"):
        backend.model([3, 2], init="kaiming")
    with pytest.raises(ValueError, match=r"dtype must be one of \['float32', 'float64'\]; got 'float16'"):
        backend.model([3, 2], dtype="float16")


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="backend must be one of"):
        mlp.MLP([3, 2], backend="tensorflow")
    with pytest.raises(TypeError, match="sizes must be a list"):
        mlp.MLP(3)
    with pytest.raises(ValueError, match="sizes must list at least"):
        mlp.MLP([3])
    with pytest.raises(ValueError, match="Dense in_features must be an integer >= 1; got 0"):
        mlp.MLP([0, 2])
    with pytest.raises(ValueError, match=r"layers\[2\] expects 5 input features but layers\[0\] gives 4"):
        mlp.Sequential(mlp.Dense(3, 4), mlp.ReLU(), mlp.Dense(5, 1))
    with pytest.raises(TypeError, match=r"layers\[1\] must be an mlp Layer"):
        mlp.Sequential(mlp.Dense(3, 4), "relu")
    with pytest.raises(ValueError, match="label_smoothing must be a number in"):
        mlp.CrossEntropy(label_smoothing=1.5)


def test_non_numeric_inputs():
    model = mlp.MLP([2, 1])
    with pytest.raises(TypeError, match="X must hold"):
        model(np.array([["a", "b"]]))
    with pytest.raises(TypeError, match="X must hold numbers; got dtype object"):
        model(np.array([[object(), 1]], dtype=object))
    with pytest.raises(ValueError, match="X must hold at least one sample"):
        model(np.zeros((0, 2)))
    with pytest.raises(TypeError, match="model must be an mlp model"):
        mlp.value_and_grad("model", "mse", np.zeros((1, 2)), np.zeros(1))


def test_python_lists_into_train_and_evaluate():
    X, y = [[0.0, 1.0], [1.0, 0.0]] * 10, [1, 0] * 10
    model = mlp.MLP([2, 4, 2], seed=0)
    mlp.train(model, X, y, epochs=1, progress=False)
    assert set(model.evaluate(X, y)) == {"accuracy"}


def test_missing_labels_are_named():
    X = np.random.default_rng(0).normal(size=(6, 2))
    y = np.array(["a", None, "b", "a", "b", "a"], dtype=object)
    with pytest.raises(ValueError, match=r"y holds 1 missing labels \(None or NaN\), first at rows \[1\]"):
        mlp.train(mlp.MLP([2, 4, 2]), X, y, epochs=1, progress=False)


@pytest.mark.parametrize("kind", ["datetime", "timedelta"])
def test_pandas_dates_are_refused_naming_the_column(kind):
    needs("pandas", "dev")
    import pandas as pd

    rng = np.random.default_rng(0)
    dates = pd.date_range("2020-01-01", periods=50)
    df = pd.DataFrame({"a": rng.normal(size=50), "when": dates if kind == "datetime" else dates - dates[0]})
    with pytest.raises(TypeError, match=f"X column 'when' holds {kind}64.*days since a date"):
        mlp.train(mlp.MLP([2, 4, 2]), df, rng.integers(0, 2, 50), epochs=1, progress=False)


def test_text_labels_in_a_pandas_series():
    needs("pandas", "dev")
    import pandas as pd

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = pd.Series(np.where(X[:, 0] > 0, "yes", "no"), index=np.arange(100, 160))
    model = mlp.MLP([2, 4, 2], seed=0)
    mlp.train(model, X, y, epochs=1, progress=False)
    assert model.classes.tolist() == ["no", "yes"]
