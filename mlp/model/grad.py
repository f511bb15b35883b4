"""The loss of a batch and its gradients, under the model's precision policy: ``loss_and_grads`` (what a
training step computes) and ``value_and_grad`` (the same for users, on raw data)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlp.backends.kernels import GENERIC
from mlp.checks import check_sample_weight
from mlp.losses import Loss, get_loss
from mlp.model.sequential import Sequential
from mlp.nn.layer import Context
from mlp.numerics import check_same_count

__all__ = ["loss_and_grads", "value_and_grad"]


def loss_and_grads(model: Sequential, loss: Loss, params, state, X, T, ctx: Context, sinks=None, scale=None, w=None):
    """(loss as a 0-d device array, gradients or sink contents, new state) for prepared rows X and
    targets T with these parameters and state. The canonical pairs (softmax + cross-entropy, ...)
    take the fused gradient from the logits. With mixed precision the loss is computed in the
    variable dtype and the gradients come back in it (sinks unused); ``scale`` (float16 loss
    scaling) multiplies δ before the 16-bit backward pass and divides the gradients after it;
    ``w``: per-sample weights (the weighted mean loss)."""
    net, xp = model.net, model.xp
    fused = loss.fuses(net.layers[-1])
    stop = net.training_stop(fused)
    if net.target_scale is not None:  # the network learns standardized targets
        T = net.standardize_targets(state, T)
    ctx.dtype = model.dtype
    cparams = model.compute_params(params)
    out, new_state, tape = net.forward(cparams, state, model.compute_input(X), ctx, stop=stop)
    out = model.variable(out)  # the loss in the variable dtype: a precision island
    if net.ensemble is None:
        value, delta = loss.step_value_and_gradient(out, T, w, fused, ctx.kernels)
    else:  # each member's loss on its own outputs; the ensemble's loss is their sum
        mean = net.layers[net.ensemble]
        value, delta = loss.step_value_and_gradient(
            mean.member_rows(out), mean.repeat(T), None if w is None else mean.repeat(w), False, ctx.kernels
        )
        value, delta = value * float(mean.k), xp.reshape(delta * float(mean.k), tuple(out.shape))
    if not model.mixed_precision:
        return value, net.backward(cparams, tape, delta, ctx, stop, sinks), new_state
    if scale is not None:
        delta = delta * scale
    grads = net.backward(cparams, tape, xp.astype(delta, model.compute_dtype), ctx, stop)
    grads = [xp.astype(g, model.dtype) for g in grads]
    if scale is not None:
        grads = [g / scale for g in grads]
    return value, grads, new_state


def value_and_grad(
    model: Sequential, loss: Loss | str, X: Any, y: Any, training: bool = True, sample_weight: Any = None
) -> tuple[float, list]:
    """(loss as a Python float, gradients aligned with ``model.params``) on the batch (X, y).

    `loss` is a Loss or its name. The canonical pairs (softmax + cross-entropy, sigmoid +
    binary cross-entropy, identity + squared error) use the fused gradient from the logits.
    ``training``: batch statistics and dropout (with step 0 and seed 0) as in a training step;
    the model's state (running statistics) is never changed. ``sample_weight``: the weighted mean loss.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be an mlp model (Sequential or MLP); got {type(model).__name__}")
    loss = get_loss(loss)
    loss.check_model(model)
    with model.backend.context():  # the targets, weights and row numbers made on the model's device too
        X = model.prepare_input(X)
        T = loss.prepare(y, model.n_outputs, model.backend, model.dtype)
        check_same_count(X, T)
        ctx = Context(training=bool(training), keep=True, kernels=GENERIC, count=X.shape[0], total=X.shape[0])
        if model.net.needs_rows:
            ctx.rows = model.backend.asarray(np.arange(X.shape[0], dtype=np.int32))
        w = None
        if sample_weight is not None:
            w = model.backend.asarray(check_sample_weight(sample_weight, X.shape[0]), model.dtype)
        value, grads, _ = loss_and_grads(model, loss, model.params, model.state, X, T, ctx, w=w)
        return float(model.backend.to_numpy(value)), grads
