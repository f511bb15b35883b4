"""The training loop: mini-batch SGD and its variants, with stopping rules.

Every epoch visits each sample once in a fresh random order (the last partial batch
included). The loss is accumulated on the device and read once per epoch: nothing in
the inner loop synchronizes with the host.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from ._validation import check_positive_float, check_positive_int
from .losses import BinaryCrossEntropy, CrossEntropy, get_loss
from .model import Sequential
from .optim import get_optimizer

__all__ = ["train", "History", "DivergenceError"]


class DivergenceError(ValueError, FloatingPointError):
    """The loss or a gradient became NaN or infinite; the model keeps its last finite weights.
    A ValueError (the settings or the data caused it) and a FloatingPointError."""


@dataclass
class History:
    """Per-epoch record of a training run."""

    loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_accuracy: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    epochs: int = 0
    best_epoch: int | None = None
    stop_reason: str = "max_epochs"

    def as_dict(self):
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _is_classification(loss):
    return isinstance(loss, (CrossEntropy, BinaryCrossEntropy))


def _split(n, fraction, rng):
    n_val = int(round(n * fraction))
    if not 1 <= n_val < n:
        raise ValueError(f"validation_fraction={fraction} leaves {n_val} of {n} samples for validation; "
                         "it must leave at least one sample on each side")
    perm = rng.permutation(n)
    return perm[n_val:], perm[:n_val]


def train(model, X, y, *, loss="cross_entropy", optimizer="sgd", lr=None, momentum=None, epochs=10,
          batch_size=32, shuffle=True, seed=0, validation=None, validation_fraction=None, tol=None,
          n_iter_no_change=10, early_stopping=False, callbacks=(), progress=True, checkpoint=None,
          checkpoint_every=1, resume=None, distributed=None, fast=True) -> History:
    """Train `model` on (X, y) and return its History.

    `loss` and `optimizer` are objects or names (``lr``/``momentum`` set a named
    optimizer's settings). ``batch_size=None`` is full-batch gradient descent, 1 is plain
    SGD. ``validation=(X_val, y_val)`` or ``validation_fraction`` holds data out; with
    ``early_stopping`` training stops when the validation loss has not improved by
    ``tol`` for ``n_iter_no_change`` epochs and the best weights are restored. Without
    it, a ``tol`` stops training when the training loss improves by less than ``tol``
    for ``n_iter_no_change`` epochs (|L(W^k) - L(W^(k-1))| < tol). A callback
    ``f(epoch, logs, model)`` that returns True stops training. ``fast=False`` forces the
    generic array-API path where the backend offers fast paths (for comparisons).
    """
    from . import checkpoint as ckpt

    if not isinstance(model, Sequential):
        raise TypeError(f"model must be an mlp model (Sequential or MLP); got {type(model).__name__}")
    loss = get_loss(loss)
    opt = get_optimizer(optimizer, lr=lr, **({"momentum": momentum} if momentum is not None else {}))
    epochs = check_positive_int(epochs, "epochs")
    if batch_size is not None:
        batch_size = check_positive_int(batch_size, "batch_size")
    n_iter_no_change = check_positive_int(n_iter_no_change, "n_iter_no_change")
    checkpoint_every = check_positive_int(checkpoint_every, "checkpoint_every")
    if tol is not None:
        tol = check_positive_float(tol, "tol", allow_zero=True)
    if early_stopping and validation is None and validation_fraction is None:
        validation_fraction = 0.1
    for cb in callbacks:
        if not callable(cb):
            raise TypeError(f"callbacks must be callables f(epoch, logs, model); got {type(cb).__name__}")

    backend, xp = model.backend, model.xp
    X = model.check_input(X)
    T = loss.prepare(y, model.n_outputs, backend, model.dtype)
    if T.shape[0] != X.shape[0]:
        raise ValueError(f"y must have one target per sample of X ({X.shape[0]}); got {T.shape[0]}")
    rng = np.random.default_rng(seed)
    if validation is not None:
        if not (isinstance(validation, (tuple, list)) and len(validation) == 2):
            raise TypeError("validation must be a pair (X_val, y_val)")
        Xv = model.check_input(validation[0], "validation X")
        Tv = loss.prepare(validation[1], model.n_outputs, backend, model.dtype, "validation y")
    elif validation_fraction is not None:
        fraction = check_positive_float(validation_fraction, "validation_fraction")
        tr, va = _split(X.shape[0], fraction, rng)
        tr_i, va_i = backend.asarray(tr), backend.asarray(va)
        Xv, Tv = xp.take(X, va_i, axis=0), xp.take(T, va_i, axis=0)
        X, T = xp.take(X, tr_i, axis=0), xp.take(T, tr_i, axis=0)
    else:
        Xv = Tv = None

    comm = None
    if distributed is not None and distributed is not False:
        from .distributed import as_comm

        comm = as_comm(distributed)
        X, T, n = comm.setup(model, X, T)  # this rank's shard; n is the global count
    else:
        n = X.shape[0]
    bs = n if batch_size is None else min(batch_size, n)
    history = History()
    state = {"epoch": 0, "best": math.inf, "bad": 0, "best_weights": None}
    if resume is not None:
        ckpt.restore(resume, model, opt, rng, history, state)
    is_root = comm is None or comm.rank == 0

    bar = None
    if progress and is_root:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, initial=state["epoch"], desc="train", unit="epoch", leave=False)
    step = _make_step(model, loss, opt, comm, fast, (X, T))
    # fast path: gather each mini-batch into a reused buffer (it is still in cache when the
    # first product reads it) instead of copying the whole shuffled dataset every epoch
    gather = backend.fast("take_rows_into") if fast and shuffle else None
    buffers = {}

    def batch_of(A, idx, key):
        out = buffers.get((key, idx.shape[0]))
        if out is None:
            out = buffers[(key, idx.shape[0])] = xp.empty((idx.shape[0], A.shape[1]), dtype=A.dtype,
                                                           device=backend.device)
        return gather(A, idx, out)
    try:
        for epoch in range(state["epoch"], epochs):
            t0 = time.perf_counter()
            lr_e = opt.lr_at(epoch)
            if shuffle and comm is None:
                idx = backend.asarray(rng.permutation(n))
                if gather is None:
                    Xe, Te = xp.take(X, idx, axis=0), xp.take(T, idx, axis=0)
            else:
                Xe, Te = X, T
            snapshot = [xp.asarray(p, copy=True) for p in model.params]  # last finite weights
            batch_values = []
            if comm is not None:
                perm = rng.permutation(n) if shuffle else np.arange(n)
                for start in range(0, n, bs):
                    end = min(start + bs, n)
                    batch_values.append(step(comm.batches(perm, start, end), end - start, lr_e))
            for start in range(0, n if comm is None else 0, bs):
                end = min(start + bs, n)  # out-of-bounds slice stops are not standard
                if gather is not None:
                    ib = idx[start:end]
                    batch_values.append(step(batch_of(X, ib, "X"), batch_of(T, ib, "T"), lr_e))
                else:
                    batch_values.append(step(Xe[start:end, ...], Te[start:end, ...], lr_e))
            epoch_loss = _epoch_loss(xp, batch_values, n, bs, comm)
            if not math.isfinite(epoch_loss):
                model.params[:] = snapshot
                opt.reset()  # its state (momentum, moments) is no longer finite
                bad = next(i for i, v in enumerate(batch_values) if not math.isfinite(float(v)))
                raise DivergenceError(
                    f"training diverged: the loss became {float(batch_values[bad])} at epoch {epoch + 1}, batch "
                    f"{bad + 1} of {len(batch_values)} (lr={lr_e:g}); the model keeps the weights from the start "
                    "of that epoch and the optimizer's state is reset. Lower the learning rate, or clip gradients (clip_norm)")
            history.loss.append(epoch_loss)
            history.lr.append(lr_e)
            logs = {"loss": epoch_loss, "lr": lr_e}
            if Xv is not None:
                if loss.fuses(model.layers[-1]):  # one forward pass: loss from the logits
                    logits = model.forward(Xv, False, len(model.layers) - 1)
                    v_loss = float(loss.fused_value_and_gradient(logits, Tv)[0])
                    out = model.layers[-1].apply(logits)
                else:
                    out = model.forward(Xv, training=False)
                    v_loss = float(loss.value(out, Tv))
                history.val_loss.append(v_loss)
                logs["val_loss"] = v_loss
                if _is_classification(loss):
                    from .metrics import accuracy

                    history.val_accuracy.append(accuracy(Tv, out))
                    logs["val_accuracy"] = history.val_accuracy[-1]
            history.seconds.append(time.perf_counter() - t0)
            history.epochs = epoch + 1
            monitored = logs["val_loss"] if (early_stopping and Xv is not None) else epoch_loss
            opt.schedule.observe(monitored)
            stop = _check_stopping(history, state, model, monitored, tol, n_iter_no_change, early_stopping and Xv is not None)
            if bar is not None:
                bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items() if k != "lr"})
                bar.update(1)
            state["epoch"] = epoch + 1
            if checkpoint is not None and is_root and ((epoch + 1) % checkpoint_every == 0 or stop or epoch + 1 == epochs):
                ckpt.save(checkpoint, model, opt, rng, history, state)
            if any(cb(epoch, logs, model) for cb in callbacks):
                history.stop_reason = "callback"
                stop = True
            if stop:
                break
    except BaseException as exc:
        if comm is not None and comm.size > 1:  # one failed rank must not leave the others waiting
            comm.abort(f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if bar is not None:
            bar.close()
    if early_stopping and state["best_weights"] is not None:
        model.params[:] = state["best_weights"]
    return history


def _make_step(model, loss, opt, comm, fast=True, data=None):
    """One mini-batch step: forward, backward, (all-reduce), update. Returns the batch loss on the device."""
    from .workspace import Workspace

    ws = Workspace.for_backend(model.backend) if fast and all(layer.fast_paths for layer in model.layers) else None
    if ws is not None and comm is None:
        def step(xb, tb, lr):
            sinks = opt.sinks(model.params, lr, ws)
            value, grads = model.loss_and_grads(loss, xb, tb, ws, sinks)
            if sinks is None:
                opt.step(model.params, grads, lr)
            else:
                opt.finish(model.params, lr, ws)
            return value
        return step
    if comm is not None:
        X, T = data
        xp = model.xp

        def step(local_rows, global_n, lr):
            """This rank's rows of a global batch; gradients summed over all ranks."""
            value = grads = None
            if local_rows.shape[0]:
                idx = model.backend.asarray(local_rows)
                value, grads = model.loss_and_grads(loss, xp.take(X, idx, axis=0), xp.take(T, idx, axis=0))
            grads, value = comm.average(model, grads, value, local_rows.shape[0], global_n)
            opt.step(model.params, grads, lr)
            return value
        return step

    def step(xb, tb, lr):
        value, grads = model.loss_and_grads(loss, xb, tb)
        opt.step(model.params, grads, lr)
        return value
    return step


def _epoch_loss(xp, values, n, bs, comm):
    """Mean loss over the epoch's samples from the per-batch means: one host read."""
    sizes = [bs] * (len(values) - 1) + [n - bs * (len(values) - 1)]
    total = values[0] * sizes[0]
    for v, s in zip(values[1:], sizes[1:]):
        total = total + v * s
    return float(total) / n


def _check_stopping(history, state, model, monitored, tol, patience, early_stopping):
    improved = monitored < state["best"] - (tol or 0.0)
    if monitored < state["best"]:
        state["best"] = monitored
        history.best_epoch = history.epochs
        if early_stopping:
            xp = model.xp
            state["best_weights"] = [xp.asarray(p, copy=True) for p in model.params]
    if tol is None and not early_stopping:
        return False
    state["bad"] = 0 if improved else state["bad"] + 1
    if state["bad"] >= patience:
        history.stop_reason = "early_stopping" if early_stopping else "tol"
        return True
    return False
