"""scikit-learn's own estimator checks, and the estimators' habits."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from mlp.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

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
    assert clf.n_iter_ == 5 and len(clf.loss_curve_) == 5 and clf.score(X_te, y_te) > 0.9
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
    assert set(clf.predict(X)) <= {"cat", "dog"} and clf.score(X, labels) > 0.95


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
        (dict(solver="lbfgs"), "solver must be 'sgd' or 'adam'"),
        (dict(activation="gelu"), "activation must be one of"),
        (dict(hidden_layer_sizes=(0,)), "hidden_layer_sizes must be positive"),
        (dict(backend="tpu"), "backend must be one of"),
        (dict(batch_size=0), "batch_size must be 'auto' or a positive integer"),
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
