"""scikit-learn estimators on any backend: MLPClassifier and MLPRegressor.

They follow scikit-learn's ``sklearn.neural_network`` API (the same parameters, fitted
attributes and habits: ``partial_fit``, early stopping, ``loss_curve_``) and add
``backend=`` and ``dtype=``. Solvers: 'sgd' and 'adam' ('lbfgs' is not offered).
Fitted arrays (``coefs_``, ``intercepts_``) and predictions are NumPy arrays.
"""

from __future__ import annotations

import numbers
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from . import backends as _backends
from .model import MLP
from .optim import SGD, Adam
from .schedules import Constant, InverseScaling, ReduceOnPlateau
from .train import train

__all__ = ["MLPClassifier", "MLPRegressor"]

_ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}


class _BaseMLP(BaseEstimator):
    # scikit-learn's own constraints for these parameters (no 'lbfgs' solver), plus backend and dtype
    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(_ACTIVATIONS))],
        "solver": [StrOptions({"sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
        "backend": [str, _backends.Backend],
        "dtype": [StrOptions({"float32", "float64"}), None],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        backend="numpy",
        dtype=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.backend = backend
        self.dtype = dtype

    # -- parameter checks ----------------------------------------------------------
    def _check_params(self):
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, numbers.Integral) else list(sizes)
        if not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be positive integers; got {self.hidden_layer_sizes!r}")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}; got {self.activation!r}")
        if self.solver not in ("sgd", "adam"):
            raise ValueError(f"solver must be 'sgd' or 'adam' (no 'lbfgs' here); got {self.solver!r}")
        if self.learning_rate not in ("constant", "invscaling", "adaptive"):
            raise ValueError(
                f"learning_rate must be 'constant', 'invscaling' or 'adaptive'; got {self.learning_rate!r}"
            )
        if not (isinstance(self.max_iter, numbers.Integral) and self.max_iter > 0):
            raise ValueError(f"max_iter must be a positive integer; got {self.max_iter!r}")
        if not (isinstance(self.alpha, numbers.Real) and self.alpha >= 0):
            raise ValueError(f"alpha must be >= 0; got {self.alpha!r}")
        if not (isinstance(self.learning_rate_init, numbers.Real) and self.learning_rate_init > 0):
            raise ValueError(f"learning_rate_init must be > 0; got {self.learning_rate_init!r}")
        if self.batch_size != "auto" and not (isinstance(self.batch_size, numbers.Integral) and self.batch_size > 0):
            raise ValueError(f"batch_size must be 'auto' or a positive integer; got {self.batch_size!r}")
        _backends.get(self.backend)
        self._validate_params()  # everything else, with scikit-learn's own messages
        return sizes

    def _batch(self, n):
        return min(200, n) if self.batch_size == "auto" else min(self.batch_size, n)

    def _optimizer(self, n):
        schedule = {
            "constant": Constant(),
            "invscaling": InverseScaling(self.power_t),
            "adaptive": ReduceOnPlateau(factor=0.2, patience=1, threshold=self.tol),
        }[self.learning_rate]
        # scikit-learn's penalty alpha/2·||W||² is divided by the batch size
        wd = self.alpha / self._batch(n)
        if self.solver == "sgd":
            return SGD(
                self.learning_rate_init,
                momentum=self.momentum,
                nesterov=bool(self.nesterovs_momentum and self.momentum > 0),
                weight_decay=wd,
                schedule=schedule,
            )
        return Adam(
            self.learning_rate_init,
            betas=(self.beta_1, self.beta_2),
            eps=self.epsilon,
            weight_decay=wd,
            schedule=schedule,
        )

    # -- fitting ---------------------------------------------------------------------------
    def _build(self, n_features, n_outputs, sizes, dtype):
        rng = check_random_state(self.random_state)
        self._rng = rng
        self._model = MLP(
            [n_features, *sizes, n_outputs],
            _ACTIVATIONS[self.activation],
            self._output_activation,
            backend=self.backend,
            dtype=self.dtype or dtype,  # None: the input's dtype, as scikit-learn
            seed=int(rng.randint(np.iinfo(np.int32).max)),
            init="glorot_uniform",
        )
        self._opt = None
        self.loss_curve_ = []
        self.n_iter_ = 0
        self.t_ = 0
        self.best_loss_ = np.inf
        if self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None

    def _fit(self, X, T, incremental, epochs):
        sizes = self._check_params()
        n = X.shape[0]
        if not hasattr(self, "_model") or not (incremental or self.warm_start):
            self._build(X.shape[1], self._n_outputs(T), sizes, X.dtype.name)
        if self._opt is None or not (incremental or self.warm_start):
            self._opt = self._optimizer(n)
        seed = int(self._rng.randint(np.iinfo(np.int32).max))
        early = self.early_stopping and not incremental
        if early:
            tr, va = self._validation_split(X, T, seed)
            X, T, val = X[tr], T[tr], (X[va], T[va])
        else:
            val = None
        history = train(
            self._model,
            X,
            T,
            loss=self._loss,
            optimizer=self._opt,
            epochs=epochs,
            batch_size=self._batch(X.shape[0]),
            shuffle=self.shuffle,
            seed=seed,
            validation=val,
            tol=None if incremental else self.tol,
            # scikit-learn stops once the count of epochs without improvement exceeds n_iter_no_change
            n_iter_no_change=self.max_iter + 1 if self.n_iter_no_change == np.inf else self.n_iter_no_change + 1,
            early_stopping=early,
            progress=bool(self.verbose),
            fast=True,
        )
        self.loss_curve_ += history.loss
        self.n_iter_ += history.epochs
        self.t_ += history.epochs * X.shape[0]
        self.best_loss_ = min(self.best_loss_, min(history.loss))
        if early:
            scores = self._validation_scores(history)
            self.validation_scores_ += scores
            self.best_validation_score_ = max(self.validation_scores_)
        if not incremental and history.stop_reason == "max_epochs" and self.max_iter > 1:
            import warnings

            from sklearn.exceptions import ConvergenceWarning

            warnings.warn(
                f"Stochastic optimizer: maximum iterations ({self.max_iter}) reached and the "
                "optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=3,
            )
        self._export()
        return self

    def _validation_split(self, X, T, seed):
        from sklearn.model_selection import train_test_split

        idx = np.arange(X.shape[0])
        stratify = self._stratify(T)
        tr, va = train_test_split(idx, test_size=self.validation_fraction, random_state=seed, stratify=stratify)
        if len(va) < 2 or len(tr) < 1:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} leaves too few samples for early "
                f"stopping with {X.shape[0]} samples"
            )
        return tr, va

    def _export(self):
        weights = self._model.get_weights()
        self.coefs_ = weights[0::2]
        self.intercepts_ = weights[1::2]
        self.n_layers_ = len(self.coefs_) + 1
        self.n_outputs_ = self.coefs_[-1].shape[1]
        self.out_activation_ = {"softmax": "softmax", "sigmoid": "logistic", "identity": "identity"}[
            self._output_activation
        ]

    def _forward(self, X):
        check_is_fitted(self, "coefs_")
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        return self._model.backend.to_numpy(self._model(X))

    # -- pickling: the model is rebuilt from its weights on load ---------------------------
    def __getstate__(self):
        state = self.__dict__.copy()
        model = state.pop("_model", None)
        state.pop("_opt", None)
        if model is not None:
            state["_weights"] = model.get_weights()
            state["_sizes"] = model.sizes
        return state

    def __setstate__(self, state):
        weights = state.pop("_weights", None)
        sizes = state.pop("_sizes", None)
        self.__dict__.update(state)
        self._opt = None
        if weights is not None:
            self._model = MLP(
                sizes,
                _ACTIVATIONS[self.activation],
                self._output_activation,
                backend=self.backend,
                dtype=weights[0].dtype.name,
            )
            self._model.set_weights(weights)


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier (softmax output, cross-entropy loss)."""

    _output_activation = "softmax"
    _loss = "cross_entropy"

    def _encode(self, y, fit):
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if fit:
            self.classes_ = np.unique(y)
            if len(self.classes_) < 2:
                raise ValueError(
                    f"MLPClassifier needs samples of at least 2 classes; got 1 class ({self.classes_[0]!r})"
                )
        idx = np.searchsorted(self.classes_, y)
        if np.any(idx >= len(self.classes_)) or np.any(self.classes_[np.minimum(idx, len(self.classes_) - 1)] != y):
            unseen = sorted(set(np.asarray(y).tolist()) - set(self.classes_.tolist()))
            raise ValueError(f"y holds labels {unseen} not in classes_ {self.classes_.tolist()}")
        return idx

    def _stratify(self, T):
        return T

    def _n_outputs(self, T):
        return len(self.classes_)

    def _validation_scores(self, history):
        return list(history.val_accuracy)

    def fit(self, X, y):
        """Fit the model to data X and labels y."""
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32), reset=True)
        if self.warm_start and hasattr(self, "classes_") and hasattr(self, "_model"):
            classes = unique_labels(y)
            if set(classes) != set(self.classes_):
                raise ValueError(
                    "warm_start can only be used where `y` has the same classes as in the previous call to fit. "
                    f"Previously got {self.classes_}, `y` has {classes}"
                )
            return self._fit(X, self._encode(y, False), False, self.max_iter)
        return self._fit(X, self._encode(y, True), False, self.max_iter)

    def partial_fit(self, X, y, classes=None):
        """One epoch over (X, y); the first call needs `classes`."""
        first = not hasattr(self, "classes_") or not hasattr(self, "_model")
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32), reset=first)
        if first:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit")
            self.classes_ = np.unique(np.asarray(classes))
            if len(self.classes_) < 2:
                raise ValueError("MLPClassifier needs at least 2 classes; got 1 class")
            self._build(X.shape[1], len(self.classes_), self._check_params(), X.dtype.name)
            self._opt = self._optimizer(X.shape[0])
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"classes={list(classes)} differs from the first call's {self.classes_.tolist()}")
        return self._fit(X, self._encode(y, False), True, 1)

    def predict_proba(self, X):
        return self._forward(X)

    def predict_log_proba(self, X):
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        proba = self._forward(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = False
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor (identity output, squared error)."""

    _output_activation = "identity"
    _loss = "mse"

    def _stratify(self, T):
        return None

    def _n_outputs(self, T):
        return T.shape[1]

    def _validation_scores(self, history):
        return [-v for v in history.val_loss]

    def _targets(self, y):
        if y.ndim == 2 and y.shape[1] == 1:  # as scikit-learn: warn, then one output
            y = column_or_1d(y, warn=True)
        y = np.asarray(y, dtype=np.float64)
        return y.reshape(-1, 1) if y.ndim == 1 else y

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32), multi_output=True, y_numeric=True, reset=True)
        return self._fit(X, self._targets(y), False, self.max_iter)

    def partial_fit(self, X, y):
        first = not hasattr(self, "_model")
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32), multi_output=True, y_numeric=True, reset=first)
        return self._fit(X, self._targets(y), True, 1)

    def predict(self, X):
        out = self._forward(X)
        return out[:, 0] if out.shape[1] == 1 else out  # one output: shape (n,), as scikit-learn

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
