"""A loss and an output layer that do not fit together are refused before training."""

from __future__ import annotations

import numpy as np
import pytest

import mlp


@pytest.mark.parametrize(
    "output,loss,match",
    [
        (
            "identity",
            "cross_entropy",
            r"loss 'cross_entropy' expects probabilities.*output='softmax'.*'softmax_cross_entropy'",
        ),
        ("identity", "bce", r"loss 'bce' expects probabilities.*output='sigmoid'.*'bce_logits'"),
        ("identity", "binary_cross_entropy", r"loss 'bce' expects probabilities"),
        ("identity", "kl_divergence", r"loss 'kl_divergence' expects probabilities.*KLDivergence\(from_logits=True\)"),
        ("sigmoid", "cross_entropy", r"expects probabilities.*output='softmax'"),
        ("softmax", "softmax_cross_entropy", r"takes scores \(logits\).*ends|takes scores \(logits\).*Softmax"),
        ("sigmoid", "bce_logits", r"loss 'bce_logits' takes scores \(logits\).*use loss='bce'"),
    ],
)
def test_loss_and_output_that_do_not_fit_are_refused(output, loss, match):
    model = mlp.MLP([4, 3, 2 if output != "sigmoid" else 1], output=output)
    X, y = np.zeros((4, 4)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match=match):
        mlp.train(model, X, y, loss=loss, progress=False)
    with pytest.raises(ValueError, match=match):
        mlp.value_and_grad(model, loss, X, y)


def test_one_unbounded_output_needs_a_named_loss():
    with pytest.raises(ValueError, match="loss must be named.*'mse' for regression.*'bce_logits'"):
        mlp.train(mlp.MLP([2, 1]), np.zeros((4, 2)), np.zeros(4), progress=False)
