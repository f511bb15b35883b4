"""One training step as a function: ``step(ts, batch, lr) -> (ts, loss)``.

The lectures' step, in order: the optimizer says where each gradient goes (``sinks``); forward
and backward put the gradients there (``loss_and_grads``); the processes combine theirs (``comm``);
the optimizer finishes the update (``apply``). The new TrainState comes back with the batch's mean
loss, on the device (nothing here reads a value on the host).

``make_step`` builds it once per run. With one process it is handed to the kernels' ``compile``:
JAX's kernels trace and compile it whole (``jax.jit`` with the value donated), the others run it as
it is. With float16 loss scaling the update takes the generic kernels (a step whose gradients
overflowed is skipped, so nothing may be updated in place before that is known).
"""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np

from mlp.backends.kernels import GENERIC
from mlp.model.grad import loss_and_grads
from mlp.nn.layer import Context
from mlp.optim.scaler import keep_if
from mlp.training.batches import Batch
from mlp.training.state import TrainState

__all__ = ["make_step", "update_kernels"]


def update_kernels(opt, kernels):
    """The kernels the sinks and the update use: the run's, or the generic ones under loss scaling."""
    return GENERIC if opt.scaler is not None else kernels


def make_step(model, loss, opt, kernels, comm, accumulate: int = 1):
    """step(ts, batch, lr) -> (ts, the batch's mean loss) for this run's model, loss, optimizer,
    kernels and communicator. ``accumulate`` = k > 1: the batch is taken as k micro-batches in turn
    (consecutive slices), whose gradients, weighted by their share of the batch, are summed before
    the one update: the gradient of the whole batch's mean loss with the activations of one
    micro-batch in memory at a time (batch statistics are each micro-batch's own)."""
    upd = update_kernels(opt, kernels)

    def step(ts: TrainState, batch: Batch, lr):
        sinks = opt.sinks(ts.opt_state, ts.params, lr, upd, batch.total_weight)
        if accumulate > 1:
            value, sunk, new_state = _accumulated(model, loss, ts, batch, sinks, kernels, upd, comm, accumulate)
        else:
            value, sunk, new_state = _gradients(model, loss, ts, batch, sinks, kernels, upd, comm)
        value, sunk = comm.combine(model, value, sunk, batch.weight, batch.total_weight)
        grads = sinks.received(sunk)
        t = ts.t + 1
        params, opt_state = opt.apply(ts.opt_state, ts.params, grads, lr, t, upd, batch.total_weight)
        new_state = ts.state if new_state is None else new_state
        if ts.loss_scale is None:
            return ts._replace(params=params, state=new_state, opt_state=opt_state, t=t), value
        ok = opt.scaler.finite(grads)  # a step that overflowed is skipped: everything kept but t
        kept = {k: keep_if(ok, v, ts.opt_state[k]) for k, v in opt_state.items()}
        params, new_state = keep_if(ok, params, ts.params), keep_if(ok, new_state, ts.state)
        return TrainState(params, new_state, kept, t, opt.scaler.observe(ts.loss_scale, ok), ts.rng), value

    if not comm.traceable:
        return step
    whole = _whole_batches(model, step)
    compiled = kernels.compile(whole, model.net.compiled, (*_key(model, loss, opt), accumulate))
    if compiled is whole:  # run as it is: the step itself, with the batch counts read on the host
        return step
    return lambda ts, b, lr: compiled(ts, b.x, b.t, b.w, b.rows, lr)


def _gradients(model, loss, ts, batch, sinks, kernels, upd, comm):
    """(this process's mean loss, what backward put in the sinks, the layers' new state); where the
    process owns none of the batch: (None, the sinks' targets, None), unless layers compute batch
    statistics, whose sums every process takes part in."""
    net = model.net
    count = batch.count
    if not (count or net.batch_statistics):
        return None, [s.target for s in sinks], None
    xb, tb = (batch.x, batch.t) if count else _empty(model)
    ctx = _training_context(ts, kernels, comm, batch.rows, count, batch.total)
    scale = None if ts.loss_scale is None else ts.loss_scale[0]
    with np.errstate(invalid="ignore", divide="ignore") if not count else nullcontext():
        value, sunk, new_state = loss_and_grads(model, loss, ts.params, ts.state, xb, tb, ctx, sinks, scale, batch.w)
    if model.mixed_precision:  # raw gradients in the variable dtype, into their sinks
        sunk = [sink.receive(g, upd) for sink, g in zip(sinks, sunk)]
    if not count:
        return None, [s.target for s in sinks], new_state
    return value, sunk, new_state


def _training_context(ts, kernels, comm, rows, count, total) -> Context:
    """How a training pass over `count` of the step's rows (of `total` in the global batch) runs."""
    return Context(
        training=True,
        keep=True,
        kernels=kernels,
        step=ts.t,
        seed=ts.rng,
        rows=rows,
        count=count,
        total=total,
        stats=comm,
    )


def _accumulated(model, loss, ts, batch, sinks, kernels, upd, comm, k):
    """(the batch's mean loss, what went into the sinks, the layers' new state) from k micro-batches:
    each one's gradients fresh (no sinks), summed weighted by its share of the batch's weight, then
    put into the sinks once. One process only (``mlp.train`` refuses accumulation under MPI)."""
    xp, n = model.xp, batch.count
    size = -(-n // k)  # ceil: k micro-batches of `size` rows, the last one shorter
    scale = None if ts.loss_scale is None else ts.loss_scale[0]
    state, value, total = ts.state, None, None
    for a in range(0, n, size):
        b = min(a + size, n)
        w = None if batch.w is None else batch.w[a:b]
        share = (b - a) / n if w is None else xp.sum(w) / batch.weight
        rows = None if batch.rows is None else batch.rows[a:b]
        ctx = _training_context(ts, kernels, comm, rows, b - a, b - a)
        v, grads, new_state = loss_and_grads(
            model, loss, ts.params, state, batch.x[a:b, ...], batch.t[a:b, ...], ctx, None, scale, w
        )
        state = state if new_state is None else new_state
        value = v * share if value is None else value + v * share
        total = [g * share for g in grads] if total is None else [t + g * share for t, g in zip(total, grads)]
    sunk = [sink.receive(g, upd) for sink, g in zip(sinks, total)]
    return value, sunk, state


def _empty(model):
    make = model.backend.zeros
    return make((0, model.net.input_width), model.dtype), make((0, model.n_outputs), model.dtype)


def _whole_batches(model, step):
    """`step` over arrays alone, for a compiled step: with one process the batch is all here, and its
    counts are its shape (its weight sum is computed on the device)."""

    def whole(ts, x, t, w, rows, lr):
        n = x.shape[0]
        weight = float(n) if w is None else model.xp.sum(w)
        return step(ts, Batch(x, t, w, rows, n, n, weight, weight), lr)

    return whole


def _key(model, loss, opt) -> tuple:
    """What a compiled step bakes in: the loss, the optimizer's settings (not its learning rate, an
    argument), the dtypes and the loss scaler's settings."""
    settings = {k: v for k, v in opt.config().items() if k not in ("lr", "schedule")}
    return (
        "train_step",
        type(loss).__name__,
        repr(sorted(loss.config().items())),
        repr(sorted(settings.items())),
        str(model.dtype),
        str(model.compute_dtype),
        None if opt.scaler is None else repr(sorted(opt.scaler.config().items())),
    )
