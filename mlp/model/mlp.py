"""MLP: a Sequential built from the lectures' architecture vector [d0, d1, ..., dL]."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlp import backends as _backends
from mlp.heads import Head
from mlp.model.sequential import Sequential
from mlp.nn.activations import Activation, Identity, Softmax, get_activation
from mlp.nn.columns import Columns
from mlp.nn.dense import Dense
from mlp.nn.dropout import Dropout
from mlp.nn.embedding import Embedding
from mlp.nn.ensemble import BlockDense, EnsembleMean
from mlp.nn.norm import get_norm
from mlp.nn.residual import Residual
from mlp.nn.transforms import TargetScale, Transform, get_transform

__all__ = ["MLP"]


class MLP(Sequential):
    """A multi-layer perceptron from its architecture vector [d0, d1, ..., dL].

    d0 may be a fitted ``mlp.Columns`` (``mlp.MLP([mlp.Columns.fit(df), 64, 64, k])``): the model then
    takes that table (text, categories and missing values included) and its encoded width is d0;
    category columns of many categories get an ``Embedding`` after the scaler.

    Hidden layers: Dense, then ``norm`` ("batch": BatchNorm, "layer": LayerNorm), then
    `activation`, then ``Dropout(dropout)`` where dropout > 0; the last layer is Dense and
    `output` (default identity). ``scale`` ("standard", "minmax", "robust") puts a fitted input
    transform in front, so that the model takes raw data; the default, None, is no scaling (as
    scikit-learn's MLPClassifier and Keras' Dense: the summary says so, and ``mlp.train`` warns with
    a DataWarning when a feature reaches beyond 1e3), while ``mlp train`` scales ('robust').
    ``scale_targets=True`` ends the model in a ``TargetScale``: ``mlp.train`` fits the regression
    targets' mean and std, the network learns them standardized, and ``model(X)`` gives them back
    in their units. ``residual=True``: each hidden layer after the first (all of one width) is a
    pre-norm residual block, x + Dropout(activation(Dense(Norm(x)))) (Gorishniy et al. 2021's tabular
    ResNet; ``norm``, LayerNorm by default). ``ensemble=k``: k independent members side by side,
    trained in one batched step (each on its own loss), ``model(X)`` their average (``BlockDense``,
    ``EnsembleMean``). ``init`` defaults to the hidden
    activation's ``default_init``: ``mlp.defaults.INIT`` ("torch", PyTorch's nn.Linear) for the
    built-in ones.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str | Activation = "relu",
        output: str | Activation = "identity",
        *,
        backend: str | _backends.Backend | Any = "numpy",
        dtype: str = "float32",
        seed: int | None = 0,
        init: str | float | Any = None,
        device: Any = None,
        dropout: float = 0.0,
        norm: str | None = None,
        scale: str | Transform | None = None,
        compute_dtype: str | None = None,
        classes: Sequence | None = None,
        head: Head | str | None = None,
        scale_targets: bool = False,
        residual: bool = False,
        ensemble: int = 1,
    ):
        sizes = _check_sizes(sizes)
        columns = sizes[0] if isinstance(sizes[0], Columns) else None
        if columns is not None:
            sizes[0] = columns.n_features
        hidden, out = get_activation(activation, "activation"), get_activation(output, "output")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"dropout must be a rate in [0, 1); got {dropout!r}")
        if norm is not None:
            get_norm(norm, 1)  # an unknown norm is an error whatever the depth
        codes = 0 if columns is None else columns.n_codes
        layers = [] if scale is None else [_scaler(scale, sizes[0], codes)]
        self.sizes = list(sizes)
        if codes:  # the category codes become learned vectors; the first Dense takes them
            layers.append(Embedding(sizes[0], columns.cardinalities))
            sizes[0] = layers[-1].out_features
        if not isinstance(residual, bool):
            raise TypeError(f"residual must be True or False; got {residual!r}")
        k = _check_ensemble(ensemble, residual, norm, out)
        if k > 1:
            layers += _members(sizes, k, hidden, out, norm, dropout)
        for i, (a, b) in enumerate(zip(sizes, sizes[1:]) if k == 1 else ()):
            last = i == len(sizes) - 2
            if residual and i > 0 and not last:  # a hidden layer after the first: a pre-norm residual block
                if a != b:
                    raise ValueError(f"residual=True needs hidden layers of one width; got sizes {sizes}")
                block = [get_norm(norm or "layer", a), Dense(a, b), _copy(hidden)]
                layers.append(Residual(block + ([Dropout(dropout)] if dropout else [])))
                continue
            layers.append(Dense(a, b))
            if not last and norm is not None:
                layers.append(get_norm(norm, b))
            given = output if last else activation
            layers.append(get_activation(given) if isinstance(given, str) else _copy(out if last else hidden))
            if not last and dropout:
                layers.append(Dropout(dropout))
        if not isinstance(scale_targets, bool):
            raise TypeError(f"scale_targets must be True or False; got {scale_targets!r}")
        if scale_targets:
            if not isinstance(out, Identity):
                raise ValueError(
                    f"scale_targets standardizes regression targets: output must be 'identity'; got {out.name!r}"
                )
            layers.append(TargetScale(sizes[-1]))
        self.activation, self.output = hidden.name, out.name
        super().__init__(
            *layers,
            backend=backend,
            dtype=dtype,
            seed=seed,
            init=init if init is not None else hidden.default_init,
            device=device,
            compute_dtype=compute_dtype,
            classes=classes,
            head=head,
            columns=columns,
        )


def _scaler(scale, n_features, codes):
    """The input transform `scale` (a name or an object) for rows that end in `codes` category codes."""
    layer = get_transform(scale, n_features, codes)
    if layer.passthrough != codes:  # a transform given as an object must leave the codes alone
        raise ValueError(
            f"scale={layer!r} passes {layer.passthrough} columns through, but the table's encoding ends in "
            f"{codes} category codes: build it with passthrough={codes}, or pass scale by name"
        )
    return layer


def _check_ensemble(ensemble, residual, norm, out) -> int:
    """``ensemble``: k >= 1 members; they must stay apart (no LayerNorm, softmax output or residual blocks)."""
    from mlp.checks import check_positive_int

    k = check_positive_int(ensemble, "ensemble")
    if k > 1:
        if residual:
            raise ValueError("ensemble and residual=True do not combine yet: choose one")
        if norm == "layer":
            raise ValueError(
                "ensemble members would share LayerNorm's statistics (over all features): use norm='batch'"
            )
        if isinstance(out, Softmax):
            raise ValueError(
                "ensemble members would share a softmax over all outputs: use output='identity' (the default; "
                "the softmax cross-entropy takes the scores)"
            )
    return k


def _members(sizes, k, hidden, out, norm, dropout) -> list:
    """k members side by side: Dense(d0, k·h1), then BlockDense layers, the output, their average."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        last = i == len(sizes) - 2
        layers.append(Dense(a, k * b) if i == 0 else BlockDense(k, a, b))
        if not last and norm is not None:
            layers.append(get_norm(norm, k * b))
        layers.append(_copy(out if last else hidden))
        if not last and dropout:
            layers.append(Dropout(dropout))
    return [*layers, EnsembleMean(k, sizes[-1])]


def _check_sizes(sizes) -> list:
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__"):
        raise TypeError(f"sizes must be a list of layer widths [d0, ..., dL]; got {type(sizes).__name__}")
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"sizes must list at least the input and output widths [d0, d1]; got {sizes}")
    return sizes


def _copy(a: Activation) -> Activation:
    new = type(a).__new__(type(a))
    new.__dict__.update(a.__dict__)
    return new
