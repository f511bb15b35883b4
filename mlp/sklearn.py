"""scikit-learn estimators on any backend: MLPClassifier and MLPRegressor, a drop-in for
``sklearn.neural_network``'s.

They follow scikit-learn's estimators as its documentation and its own test suite define them: the
same parameters (and ``backend=``, ``dtype=``, ``dropout=``, ``norm=`` besides), the same
initialization (Glorot uniform drawn from ``random_state``, biases too), the same fitted attributes
(``coefs_``, ``intercepts_``, ``loss_curve_``, ``n_iter_`` per call to ``fit``, ``t_``,
``best_loss_``, ``validation_scores_`` as accuracy or R²), the same stopping rules
(``tol``/``n_iter_no_change`` on the training loss or the validation score, 'adaptive' learning
rates), the solvers 'sgd', 'adam' and 'lbfgs' (SciPy's L-BFGS-B over the flat parameter vector,
one host round trip per evaluation), sample weights, multilabel targets, binary targets with one
logistic output, single-class targets, the regressor's 'squared_error' and 'poisson' losses, and
sparse CSR/CSC input (densified batch by batch on the host, never whole). ``coefs_`` and
``intercepts_`` are the parameters' truth between calls: set them, and the next ``partial_fit``
starts from them. Fitted arrays and predictions are NumPy arrays. A table (DataFrame, pyarrow Table)
with text, category or boolean columns or missing numbers is encoded by ``columns_``, an
``mlp.Columns`` fitted by ``fit`` or the first ``partial_fit`` (on that call's rows: categories
first seen later are "unknown", said) with median + missing indicator and every category one-hot, as a
scikit-learn Pipeline of SimpleImputer and OneHotEncoder would; ``columns_`` is None otherwise.
"""

from __future__ import annotations

import copy
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target, unique_labels
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, column_or_1d, validate_data

from mlp import backends as _backends
from mlp.checks import callers_stacklevel
from mlp.model import MLP
from mlp.model.grad import loss_and_grads
from mlp.nn.columns import Columns, is_table, needs_columns
from mlp.nn.dense import Dense
from mlp.nn.layer import Context
from mlp.optim import SGD, Adam
from mlp.optim.schedules import Schedule
from mlp.training import DivergenceError, TrainingWarning, train

__all__ = ["MLPClassifier", "MLPRegressor"]

_ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
_OUTPUTS = {"softmax": "softmax", "logistic": "sigmoid", "identity": "identity", "exp": "exp"}
_STOCHASTIC = ("sgd", "adam")
_ONEHOT_ALL = 1 << 30  # the estimators one-hot every category (no embedding: coefs_ are the whole network)
_NONFINITE = (
    "Solver produced non-finite parameter weights. The input data may contain large values and need to be preprocessed."
)


class _Rate(Schedule):
    """The learning rate scikit-learn's optimizers keep: constant, lr0 / (t + 1)^power_t in the samples
    seen ('invscaling'), or divided by 5 when the loss stops improving ('adaptive'). Set between
    epochs by the estimator; training reads it at each epoch."""

    def __init__(self, value):
        self.learning_rate = float(value)

    def __call__(self, epoch, lr0):
        return self.learning_rate

    def config(self):
        return {"class": "SklearnRate"}


def _dense_rows(X):
    """Host rows of X for training and prediction: a sparse matrix densified batch by batch."""
    return _SparseRows(X) if hasattr(X, "tocsr") else X


class _SparseRows:
    """A CSR/CSC matrix as an array-like whose rows are read dense, a batch at a time."""

    def __init__(self, X):
        self.X = X.tocsr()
        self.shape, self.dtype = self.X.shape, self.X.dtype

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, rows):
        return np.asarray(self.X[rows].toarray())


def _chunks(X, size=4096):
    for s in range(0, X.shape[0], size):
        part = X[s : s + size]
        yield np.asarray(part.toarray() if hasattr(part, "toarray") else part)


class _BaseMLP(BaseEstimator):
    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(_ACTIVATIONS))],
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
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
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "backend": [str, _backends.Backend],
        "dtype": [StrOptions({"float32", "float64"}), None],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "norm": [StrOptions({"batch", "layer"}), None],
    }

    def _check_solver(self):
        if self.solver not in _STOCHASTIC:
            raise AttributeError(
                f"partial_fit is only available for stochastic optimizers. {self.solver} is not stochastic."
            )
        return True

    # -- the network ---------------------------------------------------------------------------
    def _sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
        if np.any(np.array(sizes) <= 0):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
        return [int(s) for s in sizes]

    def _initialize(self, y, layer_units, dtype):
        """scikit-learn's first pass: attributes, and Glorot-uniform weights and biases drawn from
        the estimator's random state in its order."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = y.shape[1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._out_activation()
        self.coefs_, self.intercepts_ = [], []
        factor = 2.0 if self.activation == "logistic" else 6.0
        for fan_in, fan_out in zip(layer_units, layer_units[1:]):
            bound = np.sqrt(factor / (fan_in + fan_out))
            self.coefs_.append(self._random_state.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype, copy=False))
            self.intercepts_.append(self._random_state.uniform(-bound, bound, fan_out).astype(dtype, copy=False))
        self._best_coefs = [c.copy() for c in self.coefs_]
        self._best_intercepts = [i.copy() for i in self.intercepts_]
        if self.solver in _STOCHASTIC:
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    def _network(self, dtype):
        """The mlp model for the current coefs_/intercepts_ (built where it is missing or differs),
        holding exactly their values."""
        units = [self.coefs_[0].shape[0]] + [c.shape[1] for c in self.coefs_]
        key = (
            tuple(units),
            self.activation,
            self.out_activation_,
            np.dtype(dtype).name,
            self.dropout,
            self.norm,
            str(self.backend),
        )
        model = getattr(self, "_model", None)
        if model is None or getattr(self, "_model_key", None) != key:
            model = MLP(
                units,
                _ACTIVATIONS[self.activation],
                _OUTPUTS[self.out_activation_],
                backend=self.backend,
                dtype=np.dtype(dtype).name,
                init="zeros",
                dropout=self.dropout,
                norm=self.norm,
            )
            self._model, self._model_key = model, key
            self._opt = _unpickled_optimizer(self.__dict__.pop("_opt_host", None), model)
        if getattr(self, "_synced", None) is not (self.coefs_, self.intercepts_):
            self._set_dense(model, self.coefs_, self.intercepts_)
        return model

    @staticmethod
    def _dense_slices(model):
        return [model.layer_params(i) for i, layer in enumerate(model.layers) if isinstance(layer, Dense)]

    def _set_dense(self, model, coefs, intercepts):
        weights = model.get_weights()
        for sl, W, b in zip(self._dense_slices(model), coefs, intercepts):
            weights[sl.start], weights[sl.start + 1] = np.asarray(W), np.asarray(b)
        model.set_weights(weights)
        self._synced = (coefs, intercepts)

    def _export(self, model):
        weights = model.get_weights()
        self.coefs_ = [weights[sl.start] for sl in self._dense_slices(model)]
        self.intercepts_ = [weights[sl.start + 1] for sl in self._dense_slices(model)]
        self._synced = (self.coefs_, self.intercepts_)

    @property
    def _optimizer(self):
        """scikit-learn's optimizer object, as far as its public reading goes (``learning_rate``)."""
        opt = getattr(self, "_opt", None)
        if opt is None:
            raise AttributeError("the estimator has no optimizer before a stochastic fit")
        return opt.schedule

    # -- fitting -------------------------------------------------------------------------------
    def _encode(self, X, reset):
        """A table with text, category or boolean columns or missing numbers as numbers, through
        ``columns_`` (an ``mlp.Columns`` fitted by the first fit, every category one-hot as scikit-learn's
        OneHotEncoder makes them, so that ``coefs_`` keeps its meaning); other data unchanged."""
        if reset:
            self.columns_ = Columns.fit(X, onehot_max=_ONEHOT_ALL) if needs_columns(X) else None
        columns = getattr(self, "columns_", None)
        if columns is None:
            return X
        if not (is_table(X) or hasattr(X, "shape") or isinstance(X, (list, tuple))):
            raise TypeError(f"X must be a table with the columns {columns.names[:10]}; got {type(X).__name__}")
        return np.asarray(columns.encode(X))

    def _fit(self, X, y, sample_weight=None, incremental=False):
        hidden = self._sizes()
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X = self._encode(X, reset=first_pass)
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        n_samples, n_features = X.shape
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        self.n_outputs_ = y.shape[1]
        layer_units = [n_features, *hidden, self.n_outputs_]
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(y, layer_units, X.dtype)
        elif not hasattr(self, "n_layers_"):
            self.n_layers_ = len(self.coefs_) + 1
        if not hasattr(self, "out_activation_"):
            self.out_activation_ = self._out_activation()
        model = self._network(X.dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TrainingWarning)
            if self.solver in _STOCHASTIC:
                self._fit_stochastic(model, X, y, sample_weight, incremental)
            else:
                self._fit_lbfgs(model, X, y, sample_weight)
        if not all(np.all(np.isfinite(w)) for w in [*self.coefs_, *self.intercepts_]):
            raise ValueError(_NONFINITE)
        return self

    def _loss(self):
        raise NotImplementedError

    def _targets(self, y):
        """y as the float targets the loss trains on (n, n_outputs)."""
        return np.asarray(y, dtype=np.float64)

    def _penalty(self, coefs, denominator):
        return 0.5 * self.alpha * sum(float(np.dot(c.ravel(), c.ravel())) for c in coefs) / denominator

    def _fit_stochastic(self, model, X, y, sample_weight, incremental):
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early = self.early_stopping
        if early:
            X_train, y_train, sw_train, X_val, y_val, sw_val = self._validation_split(X, y, sample_weight)
        else:
            X_train, y_train, sw_train, X_val, y_val, sw_val = X, y, sample_weight, None, None, None
        n = X_train.shape[0]
        batch = self._batch(n)
        if not incremental or getattr(self, "_opt", None) is None:
            self._opt = self._make_optimizer()
        self.n_iter_ = 0
        epochs = 1 if incremental else self.max_iter
        stop = _Stop(self, model, X_val, y_val, sw_val, n, early, incremental)
        try:
            train(
                model,
                _dense_rows(X_train),
                self._targets(y_train),
                loss=self._loss(),
                optimizer=self._opt,
                epochs=epochs,
                batch_size=batch,
                shuffle=self.shuffle,
                seed=int(self._random_state.randint(np.iinfo(np.int32).max)),
                progress=False,
                callbacks=[stop],
                sample_weight=sw_train,
            )
        except DivergenceError:
            if not early:
                raise ValueError(_NONFINITE) from None
            self.validation_scores_.append(float("nan"))  # as scikit-learn's run, which goes on with NaN
            self.n_iter_ += 1
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.", stacklevel=3)
        if early:
            self.coefs_, self.intercepts_ = self._best_coefs, self._best_intercepts
            self._synced = None
        else:
            self._export(model)

    def _validation_split(self, X, y, sample_weight):
        """scikit-learn's held-out split (stratified for single-output classifiers):
        (X_train, y_train, sw_train, X_val, y_val, sw_val)."""
        stratify = y if is_classifier(self) and self.n_outputs_ == 1 else None
        parts = train_test_split(
            X,
            y,
            *([] if sample_weight is None else [sample_weight]),
            random_state=self._random_state,
            test_size=self.validation_fraction,
            stratify=stratify,
        )
        X_train, X_val, y_train, y_val = parts[:4]
        sw_train = None if sample_weight is None else parts[4]
        sw_val = None if sample_weight is None else parts[5]
        if X_val.shape[0] < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' or the size of your dataset."
            )
        if is_classifier(self):
            y_val = self._label_binarizer.inverse_transform(y_val)
        return X_train, y_train, sw_train, X_val, y_val, sw_val

    def _batch(self, n):
        if self.batch_size == "auto":
            return min(200, n)
        if self.batch_size > n:
            warnings.warn(
                "Got `batch_size` less than 1 or larger than sample size. It is going to be clipped", stacklevel=5
            )
        return int(np.clip(self.batch_size, 1, n))

    def _make_optimizer(self):
        """scikit-learn's optimizer as an mlp one: its learning rate set between epochs (``_Rate``), its
        penalty alpha/2·||W||² on each batch over the batch's weight sum."""
        rate = _Rate(self.learning_rate_init)
        decay = dict(weight_decay=self.alpha, decay_over_batch=True)
        if self.solver == "sgd":
            nesterov = bool(self.nesterovs_momentum and self.momentum > 0)
            return SGD(self.learning_rate_init, momentum=self.momentum, nesterov=nesterov, **decay, schedule=rate)
        betas = (self.beta_1, self.beta_2)
        return Adam(self.learning_rate_init, betas=betas, eps=self.epsilon, eps_hat=True, **decay, schedule=rate)

    def _fit_lbfgs(self, model, X, y, sample_weight):
        import scipy.optimize

        packed = _pack(self.coefs_, self.intercepts_)
        self._shapes = [c.shape for c in self.coefs_]
        iprint = 1 if self.verbose is True or self.verbose >= 1 else -1
        extra = {"iprint": iprint} if _SCIPY < (1, 15) else {}  # SciPy 1.15 deprecates iprint (removed in 1.18)
        result = scipy.optimize.minimize(
            self._loss_grad_lbfgs,
            packed,
            method="L-BFGS-B",
            jac=True,
            options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol, **extra},
            args=(X, y, sample_weight, None, None, None, None),
        )
        from sklearn.utils.optimize import _check_optimize_result

        self.n_iter_ = _check_optimize_result("lbfgs", result, self.max_iter)
        self.loss_ = float(result.fun)
        self.coefs_, self.intercepts_ = _unpack(result.x, self._shapes, X.dtype)
        self._synced = None

    def _loss_grad_lbfgs(self, packed, X, y, sample_weight, activations, deltas, coef_grads, intercept_grads):
        """(loss, gradient) at the flat parameter vector `packed` (scikit-learn's packing: every
        coefficient matrix, then every intercept), over all of X, with the L2 penalty: one upload of
        the parameters and one read of the loss and gradients per evaluation."""
        shapes = [c.shape for c in self.coefs_]
        coefs, intercepts = _unpack(np.asarray(packed, dtype=np.float64), shapes, np.float64)
        model = self._network(np.asarray(self.coefs_[0]).dtype)
        self._set_dense(model, coefs, intercepts)
        loss = self._loss_object()
        y2 = self._targets(np.asarray(y).reshape(len(y), -1) if np.ndim(y) == 1 else y)
        n = X.shape[0]
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        denominator = float(n if w is None else w.sum())
        total, grads = 0.0, None
        at = 0
        for part in _chunks(X):
            m = part.shape[0]
            Xd = model.prepare_input(part)
            T = loss.prepare(y2[at : at + m], model.n_outputs, model.backend, model.dtype)
            wd = None if w is None else model.backend.asarray(w[at : at + m], model.dtype)
            share = (m if w is None else float(w[at : at + m].sum())) / denominator
            at += m
            ctx = Context(training=False, keep=True, count=m, total=m)
            value, g, _ = loss_and_grads(model, loss, model.params, model.state, Xd, T, ctx, w=wd)
            g = [np.asarray(model.backend.to_numpy(a), dtype=np.float64) * share for a in g]
            total += float(model.backend.to_numpy(value)) * share
            grads = g if grads is None else [a + b for a, b in zip(grads, g)]
        dense = self._dense_slices(model)
        gc = [grads[sl.start] + self.alpha * c / denominator for sl, c in zip(dense, coefs)]
        gi = [grads[sl.start + 1] for sl in dense]
        return total + self._penalty(coefs, denominator), _pack(gc, gi)

    def _update_no_improvement_count(self, early, X_val, y_val, sw_val):
        if early:
            score = self._score_arrays(X_val, y_val, sw_val)
            self.validation_scores_.append(score)
            if self.verbose:
                print(f"Validation score: {score:f}")
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_coefs = [c.copy() for c in self.coefs_]
                self._best_intercepts = [i.copy() for i in self.intercepts_]
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    # -- prediction ----------------------------------------------------------------------------
    def _forward(self, X, check_input=True):
        if check_input:
            X = self._encode(X, reset=False)
            X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False, dtype=(np.float64, np.float32))
        model = self._network(self.coefs_[0].dtype)
        b = model.backend
        outs = [np.asarray(b.to_numpy(model(part))) for part in _chunks(X)]
        return np.concatenate(outs) if outs else np.zeros((0, self.n_outputs_))

    def _score_arrays(self, X, y, sample_weight):
        pred = self._predict(X, check_input=False)
        if np.issubdtype(np.asarray(pred).dtype, np.floating) and not np.all(np.isfinite(pred)):
            return float("nan")
        return float(self._score_function(y, pred, sample_weight=sample_weight))

    # -- pickling: the internal model is rebuilt from coefs_ on use, the optimizer's state kept ----
    def __getstate__(self):
        state = self.__dict__.copy()
        for key in ("_model", "_model_key", "_opt", "_synced"):
            state.pop(key, None)
        opt, model = getattr(self, "_opt", None), getattr(self, "_model", None)
        if opt is not None and model is not None:  # host copies of its state: partial_fit goes on as it would have
            host = copy.copy(opt)
            if opt.state is not None:
                host.state = {k: [np.array(model.backend.to_numpy(a)) for a in v] for k, v in opt.state.items()}
            state["_opt_host"] = host
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


def _scipy_version() -> tuple:
    try:
        from importlib.metadata import version

        return tuple(int(p) for p in version("scipy").split(".")[:2])
    except Exception:  # not installed, or an unusual version string
        return (0, 0)


_SCIPY = _scipy_version()


def _unpickled_optimizer(opt, model):
    """A pickled estimator's optimizer (host state) with its state on `model`'s backend; None if none."""
    if opt is not None and opt.state is not None:
        opt.state = {k: [model.backend.asarray(a, model.dtype, copy=True) for a in v] for k, v in opt.state.items()}
    return opt


class _Stop:
    """The end of each epoch as scikit-learn's loop has it: the loss with its L2 penalty, t_, the
    loss curve, verbose lines, the no-improvement count on the training loss or the validation
    score, the learning rate's update ('invscaling', 'adaptive'), the stopping decision, and the
    ConvergenceWarning at max_iter. Returns True to stop training."""

    def __init__(self, est, model, X_val, y_val, sw_val, n, early, incremental):
        self.est, self.model = est, model
        self.X_val, self.y_val, self.sw_val = X_val, y_val, sw_val
        self.n, self.early, self.incremental = n, early, incremental

    def __call__(self, epoch, logs, model):
        est = self.est
        est._export(model)
        est.n_iter_ += 1
        # scikit-learn's loss_: the batch means weighted by their rows (with sample weights too), each with
        # the penalty over its batch's weight sum (here at the epoch's final weights)
        batches = logs["batches"]
        rows, loss = np.asarray(batches["rows"], dtype=np.float64), np.asarray(batches["loss"])
        penalty = est._penalty(est.coefs_, 1.0) * float(np.sum(rows / np.asarray(batches["weight"]))) / self.n
        est.loss_ = float(np.dot(rows, loss)) / self.n + penalty
        est.t_ += self.n
        est.loss_curve_.append(est.loss_)
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {est.loss_:.8f}")
        est._update_no_improvement_count(self.early, self.X_val, self.y_val, self.sw_val)
        rate = est._opt.schedule
        before = rate.learning_rate
        if est.learning_rate == "invscaling":
            rate.learning_rate = est.learning_rate_init / (est.t_ + 1) ** est.power_t
        if est._no_improvement_count > est.n_iter_no_change:
            what = "Validation score" if self.early else "Training loss"
            message = f"{what} did not improve more than tol={est.tol:f} for {est.n_iter_no_change} consecutive epochs."
            if est.learning_rate == "adaptive" and est.solver == "sgd" and rate.learning_rate > 1e-6:
                rate.learning_rate /= 5.0
                if est.verbose:
                    print(f"{message} Setting learning rate to {rate.learning_rate:f}")
                est._no_improvement_count = 0
            else:
                if est.verbose:
                    print(f"{message} Stopping.")
                return True
        _carry_velocity(est._opt, before, rate.learning_rate)
        if self.incremental:
            return True
        if est.n_iter_ == est.max_iter:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({est.max_iter}) reached and the optimization hasn't "
                "converged yet.",
                ConvergenceWarning,
                stacklevel=callers_stacklevel(),
            )
        return False


def _carry_velocity(opt, before, after):
    """SGD's velocity where the learning rate changes: scikit-learn keeps u = μu − ηg (the step, in
    the parameters' units), mlp keeps v = μv + g with the step −ηv; v is rescaled by η_before/η_after
    so the next steps are scikit-learn's."""
    if isinstance(opt, SGD) and opt.momentum and opt.state and after != before:
        opt.state = {"velocity": [v * (before / after) for v in opt.state["velocity"]]}


def _pack(coefs, intercepts):
    return np.hstack([np.asarray(a).ravel() for a in [*coefs, *intercepts]])


def _unpack(packed, shapes, dtype):
    coefs, at = [], 0
    for s in shapes:
        n = int(np.prod(s))
        coefs.append(packed[at : at + n].reshape(s).astype(dtype, copy=True))
        at += n
    intercepts = []
    for s in shapes:
        intercepts.append(packed[at : at + s[1]].astype(dtype, copy=True))
        at += s[1]
    return coefs, intercepts


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier: softmax and cross-entropy for several classes, one logistic
    output for two (and for one), independent logistic outputs for multilabel targets."""

    _score_function = staticmethod(accuracy_score)

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
        max_fun=15000,
        backend="numpy",
        dtype=None,
        dropout=0.0,
        norm=None,
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
        self.max_fun = max_fun
        self.backend = backend
        self.dtype = dtype
        self.dropout = dropout
        self.norm = norm

    def _out_activation(self):
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _loss_object(self):
        from mlp.losses import BinaryCrossEntropy, CrossEntropy

        return CrossEntropy() if self.out_activation_ == "softmax" else BinaryCrossEntropy()

    _loss = _loss_object

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self, X, y, accept_sparse=["csr", "csc"], multi_output=True, dtype=self._dtypes(), reset=reset
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if (not hasattr(self, "classes_")) or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same classes as in the previous call to "
                        f"fit. Previously got {self.classes_}, `y` has {classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. 'y' has {classes}."
                )
        return X, self._label_binarizer.transform(y).astype(bool)

    def _dtypes(self):
        return (np.float64, np.float32) if self.dtype is None else np.dtype(self.dtype)

    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y (labels, or a multilabel indicator matrix)."""
        self._validate_params()
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One iteration over (X, y); the first call needs `classes` (all labels of all calls)."""
        self._validate_params()
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):  # classes names the columns of the indicator
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(self.classes_)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def _predict(self, X, check_input=True):
        y_pred = self._forward(X, check_input)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return self._label_binarizer.inverse_transform(y_pred)

    def predict(self, X):
        """Predicted classes (a label indicator matrix for multilabel targets)."""
        check_is_fitted(self)
        return self._predict(X)

    def predict_proba(self, X):
        """Class probabilities (n, n_classes); per label for multilabel targets."""
        check_is_fitted(self)
        y_pred = self._forward(X)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        if y_pred.ndim == 1:
            return np.vstack([1 - y_pred, y_pred]).T
        return y_pred

    def predict_log_proba(self, X):
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor: squared error on identity outputs, or the Poisson deviance
    on exponential outputs (``loss="poisson"``, a log link)."""

    _parameter_constraints: dict = {
        **_BaseMLP._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson"})],
    }
    _score_function = staticmethod(r2_score)

    def __init__(
        self,
        loss="squared_error",
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
        max_fun=15000,
        backend="numpy",
        dtype=None,
        dropout=0.0,
        norm=None,
    ):
        self.loss = loss
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
        self.max_fun = max_fun
        self.backend = backend
        self.dtype = dtype
        self.dropout = dropout
        self.norm = norm

    def _out_activation(self):
        return "exp" if self.loss == "poisson" else "identity"

    def _loss_object(self):
        from mlp.losses import PoissonDeviance, SquaredError

        return PoissonDeviance() if self.loss == "poisson" else SquaredError(average_outputs=True)

    _loss = _loss_object

    def _dtypes(self):
        return (np.float64, np.float32) if self.dtype is None else np.dtype(self.dtype)

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            y_numeric=True,
            dtype=self._dtypes(),
            reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y."""
        self._validate_params()
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None):
        """One iteration over (X, y)."""
        self._validate_params()
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def _predict(self, X, check_input=True):
        y_pred = self._forward(X, check_input)
        return y_pred.ravel() if y_pred.shape[1] == 1 else y_pred

    def predict(self, X):
        """Predicted values: (n,) for one target, (n, n_outputs) otherwise."""
        check_is_fitted(self)
        return self._predict(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
