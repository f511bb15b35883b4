"""Hypothesis drives the public API with random shapes, dtypes and values: the only
exceptions allowed are ValueError and TypeError with a message."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import mlp

DTYPES = st.sampled_from([np.float32, np.float64, np.int32, np.int64, np.bool_, np.complex64, np.uint8])


ARRAYS = hnp.arrays(
    dtype=DTYPES,
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5),
    elements={"allow_nan": True, "allow_infinity": True},
)


def _call(fn):
    try:
        fn()
    except (ValueError, TypeError) as exc:
        assert str(exc), "errors must carry a message"


@pytest.mark.filterwarnings("error::numpy.exceptions.ComplexWarning", "error:Mean of empty slice")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    X=ARRAYS,
    y=ARRAYS,
    loss=st.sampled_from(["mse", "cross_entropy", "bce", "hinge", "kl", "perceptron"]),
    output=st.sampled_from(["identity", "softmax", "sigmoid"]),
    k=st.integers(1, 3),
    batch=st.one_of(st.none(), st.integers(-2, 6)),
    lr=st.one_of(st.floats(-1, 1), st.just(float("nan")), st.just(float("inf"))),
    epochs=st.integers(-1, 2),
)
def test_public_api_fails_only_with_clear_errors(X, y, loss, output, k, batch, lr, epochs):
    model = mlp.MLP([3, 4, k], "tanh", output, dtype="float64")
    _call(lambda: model(X))
    _call(lambda: mlp.value_and_grad(model, loss, X, y))
    _call(
        lambda: mlp.train(
            model, X, y, loss=loss, optimizer="sgd", lr=lr, epochs=epochs, batch_size=batch, progress=False
        )
    )
    _call(lambda: mlp.metrics.accuracy(X, y))
    for w in model.get_weights():
        assert np.all(np.isfinite(w))


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(-1, 4), min_size=0, max_size=4),
    activation=st.text(max_size=8),
    dtype=st.sampled_from(["float32", "float64", "float16", "int8", 3]),
    seed=st.integers(0, 2**31),
)
def test_constructors_fail_only_with_clear_errors(sizes, activation, dtype, seed):
    _call(lambda: mlp.MLP(sizes, activation or "relu", dtype=dtype, seed=seed))
    _call(lambda: mlp.Perceptron(sizes[0] if sizes else 0))
