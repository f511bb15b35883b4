"""scikit-learn's own estimator checks, and the estimators' habits."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from mlp.sklearn import MLPClassifier, MLPRegressor

sklearn = pytest.importorskip("sklearn")


# Expected failures, each a real limitation of the method (reasons in the note and README).
EXPECTED_FAILED = {}


@parametrize_with_checks(
    [MLPClassifier(max_iter=100), MLPRegressor(max_iter=100)],
    expected_failed_checks=lambda est: EXPECTED_FAILED.get(type(est).__name__, {}),
)
def test_sklearn_estimator_checks(estimator, check):
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def _digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)


def test_classifier_on_digits_and_fitted_attributes():
    X_tr, X_te, y_tr, y_te = _digits()
    clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=40, random_state=0).fit(X_tr, y_tr)
    assert clf.score(X_te, y_te) > 0.95
    assert clf.n_features_in_ == 64 and list(clf.classes_) == list(range(10))
    assert [c.shape for c in clf.coefs_] == [(64, 64), (64, 10)] and [b.shape for b in clf.intercepts_] == [
        (64,),
        (10,),
    ]
    assert all(isinstance(c, np.ndarray) for c in clf.coefs_ + clf.intercepts_)
    assert len(clf.loss_curve_) == clf.n_iter_ <= 40 and clf.loss_curve_[-1] < clf.loss_curve_[0]
    p = clf.predict_proba(X_te)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-10)


def test_partial_fit_and_early_stopping():
    X_tr, X_te, y_tr, y_te = _digits()
    clf = MLPClassifier(hidden_layer_sizes=(32,), learning_rate_init=0.01, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X_tr, y_tr)
    for _ in range(5):
        clf.partial_fit(X_tr, y_tr, classes=np.arange(10))
    # as scikit-learn: n_iter_ counts the iterations of the last call, loss_curve_ all of them
    assert clf.n_iter_ == 1 and len(clf.loss_curve_) == 5 and clf.score(X_te, y_te) > 0.9
    es = MLPClassifier(
        hidden_layer_sizes=(32,), early_stopping=True, n_iter_no_change=3, max_iter=300, random_state=0
    ).fit(X_tr, y_tr)
    assert es.n_iter_ < 300 and len(es.validation_scores_) == es.n_iter_
    assert es.best_validation_score_ == max(es.validation_scores_)


def test_regressor_and_string_labels():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = X[:, 0] ** 2 + np.sin(X[:, 1])
    reg = MLPRegressor(hidden_layer_sizes=(32,), max_iter=300, learning_rate_init=0.01, random_state=0).fit(X, y)
    assert reg.score(X, y) > 0.9 and reg.predict(X).shape == (300,)
    labels = np.array(["cat", "dog"])[(X[:, 0] > 0).astype(int)]
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=200, random_state=0).fit(X, labels)
    assert set(clf.predict(X)) <= {"cat", "dog"} and clf.score(X, labels) > 0.9
    assert clf.n_outputs_ == 1 and clf.out_activation_ == "logistic" and clf.coefs_[-1].shape == (8, 1)


@pytest.mark.parametrize("backend", ["array_api_strict", "torch", "jax"])
def test_estimator_on_other_backends_matches_numpy(backend):
    pytest.importorskip(backend)
    X_tr, X_te, y_tr, _ = _digits()
    kw = dict(hidden_layer_sizes=(16,), max_iter=3, random_state=0, shuffle=False)
    ref = MLPClassifier(**kw).fit(X_tr, y_tr)
    other = MLPClassifier(backend=backend, **kw).fit(X_tr, y_tr)
    np.testing.assert_allclose(other.predict_proba(X_te), ref.predict_proba(X_te), rtol=1e-7, atol=1e-9)


def test_pickle_round_trip():
    X_tr, X_te, y_tr, _ = _digits()
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=5, random_state=0).fit(X_tr, y_tr)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X_te), clf.predict_proba(X_te))


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(solver="newton"), "The 'solver' parameter of MLPClassifier must be a str among"),
        (dict(activation="gelu"), "The 'activation' parameter of MLPClassifier must be a str among"),
        (dict(hidden_layer_sizes=(0,)), r"hidden_layer_sizes must be > 0, got \[0\]"),
        (dict(backend="tpu"), "backend must be one of"),
        (dict(batch_size=0), "The 'batch_size' parameter of MLPClassifier must be a str among"),
    ],
)
def test_bad_estimator_parameters(kw, match):
    with pytest.raises(ValueError, match=match):
        MLPClassifier(**kw).fit(np.zeros((4, 2)), [0, 1, 0, 1])


def test_parameters_are_validated_with_scikit_learns_constraints():
    from sklearn.utils._param_validation import InvalidParameterError

    X, y = np.zeros((6, 2)), [0, 1, 0, 1, 0, 1]
    for kw in (dict(validation_fraction=2), dict(momentum=1.5), dict(beta_1=1.0), dict(tol=-1), dict(shuffle="yes")):
        with pytest.raises(InvalidParameterError, match=f"The '{next(iter(kw))}' parameter of MLPClassifier"):
            MLPClassifier(**kw).fit(X, y)


def test_warm_start_on_other_classes_raises_scikit_learns_error():
    X_tr, _, y_tr, _ = _digits()
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, warm_start=True, random_state=0).fit(X_tr, y_tr)
    keep = y_tr < 5
    with pytest.raises(ValueError, match="warm_start can only be used where `y` has the same classes"):
        clf.fit(X_tr[keep], y_tr[keep])
    assert clf.coefs_[-1].shape == (8, 10)  # the model was not rebuilt or corrupted


def test_n_iter_no_change_counts_as_scikit_learn():
    from sklearn.neural_network import MLPClassifier as SkMLP

    X_tr, _, y_tr, _ = _digits()
    kw = dict(hidden_layer_sizes=(8,), max_iter=50, tol=1e9, n_iter_no_change=3, random_state=0)
    ours, theirs = MLPClassifier(**kw).fit(X_tr, y_tr), SkMLP(**kw).fit(X_tr, y_tr)
    assert ours.n_iter_ == theirs.n_iter_ == 5  # stops once the count (4) exceeds n_iter_no_change (3)


def test_regressor_on_a_column_target_predicts_a_vector():
    from sklearn.exceptions import DataConversionWarning

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(50, 3)), rng.normal(size=(50, 1))
    with pytest.warns(DataConversionWarning):
        reg = MLPRegressor(hidden_layer_sizes=(4,), max_iter=3).fit(X, y)
    assert reg.predict(X).shape == (50,)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_estimators_follow_the_input_dtype(dtype):
    X_tr, X_te, y_tr, _ = _digits()
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=2).fit(X_tr.astype(dtype), y_tr)
    assert all(c.dtype == dtype for c in clf.coefs_) and clf.predict_proba(X_te.astype(dtype)).dtype == dtype


def _problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5))
    return {
        "X": X,
        "multiclass": (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5),
        "binary": (X[:, 0] + X[:, 2] > 0).astype(int),
        "multilabel": np.column_stack([X[:, 0] > 0, X[:, 1] > 0, X[:, 2] + X[:, 3] > 0]).astype(int),
        "regression": X[:, 0] ** 2 + np.sin(X[:, 1]),
        "counts": rng.poisson(np.exp(0.5 * X[:, 0])),
        "weights": rng.uniform(0.2, 2.0, size=400),
    }


# (estimator, its settings, target, weighted): each a path of scikit-learn's loop
SAME_AS_SKLEARN = {
    "multiclass-adam": ("MLPClassifier", {}, "multiclass", False),
    "multiclass-sgd-nesterov": ("MLPClassifier", dict(solver="sgd", learning_rate_init=0.1), "multiclass", False),
    "binary-sgd-invscaling": (
        "MLPClassifier",
        dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.5),
        "binary",
        False,
    ),
    "binary-sgd-adaptive": (
        "MLPClassifier",
        dict(solver="sgd", learning_rate="adaptive", learning_rate_init=0.5, n_iter_no_change=2, tol=1e-2),
        "binary",
        False,
    ),
    "multilabel-adam": ("MLPClassifier", {}, "multilabel", False),
    "regression-adam-tanh": ("MLPRegressor", dict(activation="tanh"), "regression", False),
    "poisson-adam": ("MLPRegressor", dict(loss="poisson"), "counts", False),
    "weighted-classifier-adam": ("MLPClassifier", {}, "multiclass", True),
    "weighted-regressor-sgd": ("MLPRegressor", dict(solver="sgd", learning_rate_init=0.01), "regression", True),
    "early-stopping-logistic": ("MLPClassifier", dict(early_stopping=True, activation="logistic"), "multiclass", False),
    "early-stopping-regressor": ("MLPRegressor", dict(early_stopping=True), "regression", False),  # R² scores
    "lbfgs-classifier": ("MLPClassifier", dict(solver="lbfgs"), "multiclass", False),
    "lbfgs-weighted-regressor": ("MLPRegressor", dict(solver="lbfgs"), "regression", True),
}


@pytest.mark.parametrize("backend", ["numpy", "array_api_strict", "torch", "jax"])
@pytest.mark.parametrize("case", list(SAME_AS_SKLEARN))
def test_same_weights_and_losses_as_scikit_learn(case, backend):
    """Without shuffling, every path of scikit-learn's loop (Adam with its ε̂, SGD with Nesterov
    momentum across learning-rate changes, the penalty over each batch's weight sum, the last
    smaller batch, sample weights, early stopping's split and best weights, L-BFGS) gives
    scikit-learn's weights to rounding, and its loss curve (which scikit-learn takes with each
    batch's penalty before that batch's update, here after the epoch: within 1e-5)."""
    pytest.importorskip(backend)
    import warnings

    from sklearn import neural_network
    from sklearn.exceptions import ConvergenceWarning

    import mlp.sklearn as ours

    name, kw, target, weighted = SAME_AS_SKLEARN[case]
    data = _problem()
    X, y, sw = data["X"], data[target], data["weights"] if weighted else None
    kw = dict(hidden_layer_sizes=(16, 8), max_iter=30, random_state=0, shuffle=False, batch_size=150, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = getattr(neural_network, name)(**kw).fit(X, y, sample_weight=sw)
        mine = getattr(ours, name)(backend=backend, **kw).fit(X, y, sample_weight=sw)
    assert mine.n_iter_ == theirs.n_iter_ and mine.n_outputs_ == theirs.n_outputs_
    assert mine.out_activation_ == theirs.out_activation_
    for a, b in zip(mine.coefs_ + mine.intercepts_, theirs.coefs_ + theirs.intercepts_):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9 if "lbfgs" in case else 1e-12)
    if hasattr(theirs, "loss_curve_"):
        np.testing.assert_allclose(mine.loss_curve_, theirs.loss_curve_, rtol=1e-5, atol=1e-5)
        assert mine.t_ == theirs.t_
    else:
        np.testing.assert_allclose(mine.loss_, theirs.loss_, rtol=1e-9)
    if kw.get("early_stopping"):
        assert len(mine.validation_scores_) == len(theirs.validation_scores_) and mine.best_loss_ is None
        np.testing.assert_allclose(mine.validation_scores_, theirs.validation_scores_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(mine.predict(X), theirs.predict(X), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("layout", ["csr", "csc"])
def test_sparse_input_trains_and_predicts_as_dense(layout):
    """Sparse rows are densified batch by batch (never the whole matrix) and give the dense result."""
    import scipy.sparse

    data = _problem()
    X = np.where(np.abs(data["X"]) > 0.8, data["X"], 0.0)
    Xs = scipy.sparse.random(1, 1).tocsr().__class__(X) if layout == "csr" else scipy.sparse.csc_matrix(X)
    for kw in (dict(max_iter=5), dict(solver="lbfgs", max_iter=20)):
        kw = dict(hidden_layer_sizes=(8,), random_state=0, **kw)
        dense = MLPClassifier(**kw).fit(X, data["multiclass"])
        sparse = MLPClassifier(**kw).fit(Xs, data["multiclass"])
        for a, b in zip(dense.coefs_, sparse.coefs_):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(sparse.predict_proba(Xs), dense.predict_proba(X), rtol=1e-12)


def test_sparse_rows_are_read_a_batch_at_a_time(monkeypatch):
    import scipy.sparse

    import mlp.sklearn as ours

    rng = np.random.default_rng(0)
    Xs = scipy.sparse.random(3000, 20, density=0.1, format="csr", random_state=0)
    y = rng.integers(0, 3, size=3000)
    widest = []
    original = ours._SparseRows.__getitem__

    def spy(self, rows):
        out = original(self, rows)
        widest.append(out.shape[0])
        return out

    monkeypatch.setattr(ours._SparseRows, "__getitem__", spy)
    MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, batch_size=50, random_state=0).fit(Xs, y)
    assert widest and max(widest) <= 1024  # the batches, and the 1,024 rows training's loss probe reads


def test_verbose_prints_scikit_learns_lines(capsys):
    data = _problem()
    kw = dict(hidden_layer_sizes=(8,), max_iter=3, random_state=0, verbose=True, shuffle=False)
    MLPClassifier(**kw).fit(data["X"], data["multiclass"])
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert [line.split(",")[0] for line in lines] == ["Iteration 1", "Iteration 2", "Iteration 3"]
    assert all(line.split(", loss = ")[1].replace(".", "").isdigit() for line in lines) and err == ""


def test_single_class_and_binary_outputs():
    data = _problem()
    X = data["X"]
    one = MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X, np.full(400, "only"))
    assert list(one.classes_) == ["only"] and set(one.predict(X)) == {"only"}
    two = MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X, data["binary"])
    assert two.n_outputs_ == 1 and two.coefs_[-1].shape == (4, 1) and two.predict_proba(X).shape == (400, 2)


def test_multilabel_predicts_the_indicator_matrix():
    data = _problem()
    Y = data["multilabel"]
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=200, random_state=0).fit(data["X"], Y)
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 3
    pred, proba = clf.predict(data["X"]), clf.predict_proba(data["X"])
    assert pred.shape == Y.shape and set(np.unique(pred)) <= {0, 1} and proba.shape == (400, 3)
    np.testing.assert_array_equal(pred, (proba > 0.5).astype(int))
    assert clf.score(data["X"], Y) > 0.6  # subset accuracy, all three labels right


def test_poisson_regressor_predicts_positive_rates():
    data = _problem()
    reg = MLPRegressor(loss="poisson", hidden_layer_sizes=(8,), max_iter=300, learning_rate_init=0.01, random_state=0)
    reg.fit(data["X"], data["counts"])
    pred = reg.predict(data["X"])
    assert reg.out_activation_ == "exp" and np.all(pred > 0)
    # the fitted rate follows exp(0.5·x0): its log is close to linear in x0
    slope = np.polyfit(data["X"][:, 0], np.log(pred), 1)[0]
    assert 0.4 < slope < 0.6


def test_the_penalty_divides_by_each_batchs_weight_sum():
    """The optimizer option behind alpha: weight_decay over the batch's weight sum."""
    from mlp import SGD

    opt = SGD(0.1, weight_decay=2.0, decay_over_batch=True)
    assert opt.hyper(0.1, 1, batch_weight=4.0).decay == 0.5 and opt.config()["decay_over_batch"] is True
    with pytest.raises(TypeError, match="decay_over_batch must be True or False; got 1"):
        SGD(0.1, decay_over_batch=1)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_a_pickled_estimator_keeps_its_optimizer_state(solver):
    """partial_fit after pickle.loads equals partial_fit on the original, as scikit-learn's does."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 3)), rng.integers(0, 2, 60)
    a = MLPClassifier(hidden_layer_sizes=(8,), solver=solver, momentum=0.9, random_state=0, max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter
        a.fit(X, y)
    b = pickle.loads(pickle.dumps(a))
    a.partial_fit(X, y)
    b.partial_fit(X, y)
    for wa, wb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(wa, wb)


def test_the_convergence_warning_points_at_the_users_fit_line():
    from sklearn.exceptions import ConvergenceWarning

    X, y = np.random.default_rng(0).normal(size=(40, 3)), np.arange(40) % 2
    with pytest.warns(ConvergenceWarning) as record:
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, y)
    assert [w.filename for w in record if w.category is ConvergenceWarning] == [__file__]


def test_lbfgs_passes_scipy_no_deprecated_option():
    X, y = np.random.default_rng(0).normal(size=(40, 3)), np.arange(40) % 2
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        MLPClassifier(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=5, random_state=0).fit(X, y)


def test_estimators_take_mixed_tables_as_a_pipeline_of_imputer_and_one_hot_would():
    """A DataFrame with text and missing numbers: columns_ encodes it (median + indicator, one-hot), and
    the estimator's predictions equal those of the same estimator fitted on the encoded matrix."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    n = 300
    df = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "kind": rng.choice(["x", "y", "z"], n),
            "m": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),
        }
    )
    y = ((df["a"] > 0) ^ (df["kind"] == "x")).astype(int).to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = MLPClassifier(max_iter=50, random_state=0).fit(df, y)
        encoded = clf.columns_.encode(df)
        plain = MLPClassifier(max_iter=50, random_state=0).fit(np.asarray(encoded), y)
    assert clf.columns_.output_names == ["a", "m", "m (missing)", "kind=x", "kind=y", "kind=z"]
    np.testing.assert_array_equal(clf.predict(df), plain.predict(np.asarray(encoded)))
    assert clf.score(df, y) > 0.9
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict(df), clf.predict(df))
    assert MLPRegressor(max_iter=5).fit(df[["a"]], y).columns_ is None  # numbers only: no encoding
