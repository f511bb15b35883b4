"""Functions of prepared rows in inference mode, compiled once per network where the backend
compiles (JAX: evaluation then makes no implicit transfer and no eager dispatch per operation):
the outputs (``forward_fn``) and the validation figures (``evaluator``). They take the parameters
and state as arguments, so nothing is swapped in and out of the model."""

from __future__ import annotations

from mlp.losses import Loss
from mlp.nn.layer import Context

__all__ = ["forward_fn", "evaluator", "outputs_and_logits"]


def outputs_and_logits(model, params, state, X, loss: Loss):
    """(outputs, logits or None) for prepared rows X in inference mode: one forward pass, stopping
    before the last layer where `loss` takes the logits; in the variable dtype."""
    net = model.net
    fused = loss.fuses(net.layers[-1])
    ctx = Context(dtype=model.dtype)
    stop = net.training_stop(fused)  # standardized outputs, the members apart: as training sees them
    out, _, _ = net.forward(model.compute_params(params), state, model.compute_input(X), ctx, stop=stop)
    out = model.variable(out)
    if not fused:
        return out, None
    return net.layers[-1].apply(out), out


def _compiled(model, key: tuple, pure):
    """`pure(params, state, *args)` compiled once per (network, key, dtypes), called with the model's
    current parameters and state."""
    key = (*key, str(model.dtype), str(model.compute_dtype), model.backend.name)
    fn = model.net.compiled.get(key)
    if fn is None:
        fn = model.net.compiled[key] = model.backend.compile_function(pure)
    return lambda *args: fn(list(model.params), list(model.state), *args)


def forward_fn(model):
    """f(X) -> outputs (inference mode, variable dtype) on prepared rows."""

    def forward(params, state, X):
        out, _, _ = model.net.forward(
            model.compute_params(params), state, model.compute_input(X), Context(dtype=model.dtype)
        )
        return model.variable(out)

    return _compiled(model, ("forward",), forward)


def evaluator(model, loss: Loss):
    """f(X, T) -> (loss, exact matches, per-label matches, outputs finite) on prepared rows in
    inference mode, as device scalars (read them once): validation, the loss before and after
    training, the output check."""
    head = model.head

    def evaluate(params, state, X, T):
        xp = model.xp
        net = model.net
        if net.target_scale is not None:  # the loss in the units training reports it
            T = net.standardize_targets(state, T)
        out, logits = outputs_and_logits(model, params, state, X, loss)
        if net.ensemble is not None:  # the sum of the members' losses; their average for the rest
            mean = net.layers[net.ensemble]
            value = loss.value(mean.member_rows(out), mean.repeat(T)) * float(mean.k)
            out = mean.forward([], [], out)[0]
        else:
            value = loss.fused_value(logits, T) if logits is not None else loss.value(out, T)
        finite = xp.all(xp.isfinite(out))
        if head is None or not head.classification:
            return value, None, None, finite
        exact, labels = head.correct(out, T)
        return value, exact, labels, finite

    key = ("evaluate", type(loss).__name__, repr(sorted(loss.config().items())))
    return _compiled(model, (*key, None if head is None else tuple(sorted(head.config().items()))), evaluate)
