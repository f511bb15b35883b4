"""The training loop: mini-batch SGD and its variants, with stopping rules.

``train`` reads as the lectures' loop: for each epoch, for each mini-batch, one step
(forward, backward into the optimizer's sinks, update); then the end of the epoch
(divergence check, validation, stopping rules, checkpoint, callbacks). The loss is
accumulated on the device and read once per epoch: nothing in the inner loop
synchronizes with the host. One process or many (MPI) run the same loop.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
from array_api_compat import array_namespace

from . import checkpoint as ckpt
from ._validation import check_positive_float, check_positive_int, check_seed, check_X
from .backends.kernels import GENERIC, Kernels
from .batches import Batches, BlockShuffle, DeviceRows, HostRows, as_order, is_streamed
from .distributed import as_comm
from .history import History, RunState
from .losses import Loss, default_loss, get_loss
from .model import Sequential
from .numerics import check_same_count, copy_params
from .optim import Optimizer, get_optimizer

__all__ = ["train", "History", "DivergenceError"]


class DivergenceError(ValueError, FloatingPointError):
    """The loss or a gradient became NaN or infinite; the model keeps its last finite weights.
    A ValueError (the settings or the data caused it) and a FloatingPointError."""


def train(
    model: Sequential,
    X: Any,
    y: Any,
    *,
    loss: Loss | str | None = None,
    optimizer: Optimizer | str = "sgd",
    lr: float | None = None,
    momentum: float | None = None,
    epochs: int = 10,
    batch_size: int | None = 32,
    shuffle: bool | str | BlockShuffle = True,
    seed: int | None = 0,
    validation: tuple[Any, Any] | None = None,
    validation_fraction: float | None = None,
    tol: float | None = None,
    n_iter_no_change: int = 10,
    early_stopping: bool = False,
    callbacks: Sequence[Callable[[int, dict, Sequential], Any]] = (),
    progress: bool = True,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 1,
    resume: str | os.PathLike | None = None,
    distributed: Any = None,
    fast: bool = True,
    stream: bool | None = None,
    prefetch: bool | None = None,
) -> History:
    """Train `model` on (X, y) and return its History.

    `loss` and `optimizer` are objects or names (``lr``/``momentum`` set a named
    optimizer's settings). The default loss is the cross-entropy that fits the model's
    last layer: ``cross_entropy`` on a softmax, ``bce`` on a sigmoid, and on unbounded
    scores ``softmax_cross_entropy`` (as PyTorch's CrossEntropyLoss takes logits). A
    probability loss on a model that cannot output probabilities, or a logits loss on
    one that already does, is an error. ``batch_size=None`` is full-batch gradient descent, 1 is plain
    SGD. ``shuffle``: a full random permutation each epoch (True, the default), file order
    (False), or ``"blocks"``/``BlockShuffle(block, window)`` for data read from disk (see
    ``mlp.batches``). ``validation=(X_val, y_val)`` or ``validation_fraction`` holds data out; with
    ``early_stopping`` training stops when the validation loss has not improved by
    ``tol`` for ``n_iter_no_change`` epochs and the best weights are restored. Without
    it, a ``tol`` stops training when the training loss improves by less than ``tol``
    for ``n_iter_no_change`` epochs (|L(W^k) - L(W^(k-1))| < tol). A callback
    ``f(epoch, logs, model)`` that returns True stops training. ``fast=False`` uses the
    generic array-API kernels instead of the backend's own (for comparisons).

    Data larger than memory: X and y may be NumPy memory maps (``np.load(path, mmap_mode="r")``)
    or any host array-like with a shape, a dtype and row indexing (h5py, zarr); training then
    reads them batch by batch (``stream``, on by default for such data; ``stream=True`` streams
    in-memory NumPy data too, e.g. to a GPU with less memory than the data), each batch's rows
    in file order, checked as they are read. ``prefetch=True`` gathers the next batch in a
    background thread while the current one computes (off by default: it measured no faster
    on a 2-core CPU, where the step's BLAS threads already use every core).
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be an mlp model (Sequential or MLP); got {type(model).__name__}")
    loss = default_loss(model) if loss is None else get_loss(loss)
    loss.check_model(model)
    opt = get_optimizer(optimizer, lr=lr, **({"momentum": momentum} if momentum is not None else {}))
    rules = StoppingRules.check(epochs, tol, n_iter_no_change, early_stopping)
    if batch_size is not None:
        batch_size = check_positive_int(batch_size, "batch_size")
    checkpoint_every = check_positive_int(checkpoint_every, "checkpoint_every")
    for cb in callbacks:
        if not callable(cb):
            raise TypeError(f"callbacks must be callables f(epoch, logs, model); got {type(cb).__name__}")
    if early_stopping and validation is None and validation_fraction is None:
        validation_fraction = 0.1

    order = as_order(shuffle)  # an unknown shuffle is an error before any work
    rng = np.random.default_rng(check_seed(seed))
    kernels = model.backend.kernels() if fast else GENERIC
    comm = as_comm(distributed)
    prefetch = False if prefetch is None else bool(prefetch)  # measured: no gain on CPUs (benchmarks/results)
    source, held_out = _training_data(model, loss, X, y, validation, validation_fraction, rng, stream, prefetch, fast)
    n = source.n  # the global count
    comm.setup(model, n)
    source = source.shard(model, comm, kernels)
    batches = Batches(source, n, batch_size, order, rng, comm.rank, comm.size)
    step = Step(model, loss, opt, kernels, comm, fast)
    history, run = History(), RunState()
    if resume is not None:
        run = ckpt.restore(resume, model, opt, rng, history, loss)
    saver = None if checkpoint is None or comm.rank != 0 else (checkpoint, checkpoint_every, loss)

    good = copy_params(model.params)  # weights whose loss was finite, restored if training diverges
    with _progress_bar(progress and comm.rank == 0, epochs, run.epoch) as bar, comm.guard():
        for epoch in range(run.epoch, epochs):
            t0 = time.perf_counter()
            lr_e = opt.lr_at(epoch)
            start = copy_params(model.params)
            try:
                values = [step(xb, tb, count, total, lr_e) for xb, tb, count, total in batches.epoch()]
            except (ValueError, TypeError) as exc:  # bad rows found while streaming: nothing half-trained
                if not isinstance(source, HostRows) or isinstance(exc, DivergenceError):
                    raise
                opt.reset()
                model.params[:] = start
                raise type(exc)(f"{exc}; the model keeps its weights from the start of epoch {epoch + 1}") from None
            epoch_loss = _mean_loss(values, batches.sizes, n, model.params)
            if not math.isfinite(epoch_loss):
                _diverged(model, opt, good, start, values, epoch, lr_e)
            good = start  # its first batch's loss was finite
            logs = {"loss": epoch_loss, "lr": lr_e, **_validate(model, loss, held_out)}
            stop = _end_of_epoch(
                history, run, model, opt, logs, time.perf_counter() - t0, rules, saver, rng, callbacks, bar
            )
            if stop:
                break
    if rules.early_stopping and held_out is not None and run.best_weights is not None:
        model.params[:] = run.best_weights
    opt.t = int(opt.t)  # a device scalar after a compiled step
    _check_outputs(model, source.head(1024), opt, good)
    return history


def _training_data(model, loss, X, y, validation, validation_fraction, rng, stream, prefetch, fast):
    """(training rows, held-out data or None): validated, targets prepared, split where asked.
    Data stays on the host and is read by batches where it is streamed (HostRows); otherwise
    it goes to the device whole (DeviceRows, with the held-out part as (Xv, Tv))."""
    streamed = _streamed(X, stream, "X")
    if streamed:
        source = _host_rows(model, loss, X, y, prefetch, fast, "X")
    else:
        Xd = model.check_input(X)
        T = loss.prepare(y, model.n_outputs, model.backend, model.dtype)
        check_same_count(Xd, T)
        source = DeviceRows(Xd, T, model.backend)
    if validation is not None:
        if not (isinstance(validation, (tuple, list)) and len(validation) == 2):
            raise TypeError("validation must be a pair (X_val, y_val)")
        if _streamed(validation[0], stream, "validation X"):
            return source, _host_rows(model, loss, validation[0], validation[1], prefetch, False, "validation X")
        Xv = model.check_input(validation[0], "validation X")
        Tv = loss.prepare(validation[1], model.n_outputs, model.backend, model.dtype, "validation y")
        check_same_count(Xv, Tv, "validation X", "validation y")
        return source, (Xv, Tv)
    if validation_fraction is None:
        return source, None
    fraction = check_positive_float(validation_fraction, "validation_fraction")
    n = source.n
    n_val = int(round(n * fraction))
    if not 1 <= n_val < n:
        raise ValueError(
            f"validation_fraction={fraction} leaves {n_val} of {n} samples for validation; "
            "it must leave at least one sample on each side"
        )
    perm = rng.permutation(n)
    train_rows, val_rows = np.sort(perm[n_val:]), np.sort(perm[:n_val])  # each part in row order
    if streamed:
        return source.subset(train_rows, "X"), source.subset(val_rows, "validation X")
    xp, tr, va = model.xp, model.backend.asarray(train_rows), model.backend.asarray(val_rows)
    Xd, T = source.X, source.T
    source = DeviceRows(xp.take(Xd, tr, axis=0), xp.take(T, tr, axis=0), model.backend)
    return source, (xp.take(Xd, va, axis=0), xp.take(T, va, axis=0))


def _streamed(X, stream, name) -> bool:
    """Whether X is read batch by batch from the host: memory maps and array-likes by default,
    any host data with stream=True, never with stream=False."""
    if stream is None:
        return is_streamed(X)
    if not isinstance(stream, (bool, np.bool_)):
        raise TypeError(f"stream must be True, False or None; got {type(stream).__name__} {stream!r}")
    if stream and not (is_streamed(X) or isinstance(X, np.ndarray)):
        raise TypeError(
            f"stream=True reads host data batch by batch (NumPy arrays, memory maps, array-likes); {name} is a "
            f"{type(X).__module__}.{type(X).__name__}"
        )
    return bool(stream)


def _host_rows(model, loss, X, y, prefetch, fast, name) -> HostRows:
    """Rows of host data read batch by batch: each batch checked and cast on the host, then copied over."""
    from . import backends

    host = backends.get("numpy")
    dtype = np.dtype(model.backend.dtype_name(model.dtype))
    return HostRows(
        X,
        y,
        lambda xb, where: check_X(xb, host, dtype, model.n_features, where),
        lambda yb, where: loss.prepare(yb, model.n_outputs, host, dtype, where),
        model.backend.upload,
        prefetch=prefetch,
        reuse=fast and model.backend.name == "numpy",
        name=name,
    )


class Step:
    """One mini-batch step: forward, backward into the optimizer's sinks, combine across
    processes, update. Returns the batch's mean loss (on the device with one process)."""

    def __init__(self, model: Sequential, loss: Loss, opt: Optimizer, kernels: Kernels, comm: Any, fast: bool):
        self.model, self.loss, self.opt, self.kernels, self.comm = model, loss, opt, kernels, comm
        self.run = model.backend.compile_step(self.step, model, opt) if fast and comm.size == 1 else self.step

    def __call__(self, xb, tb, count: int, total: int, lr: float):
        return self.run(xb, tb, count, total, lr)

    def step(self, xb, tb, count: int, total: int, lr: float):
        params = self.model.params
        sinks = self.opt.sinks(params, lr)
        if count:
            value, sunk = self.model.loss_and_grads(self.loss, xb, tb, self.kernels, sinks)
        else:  # this process owns none of the batch
            value, sunk = None, [s.target for s in sinks]
        value, sunk = self.comm.combine(self.model, value, sunk, count, total)
        self.opt.update(params, sunk, lr, self.kernels)
        return value


def _mean_loss(values, sizes, n, params) -> float:
    """Mean loss over the epoch's samples from the per-batch means, NaN where the weights
    after the epoch's last update are not finite: one host read."""
    total = values[0] * sizes[0]
    for v, s in zip(values[1:], sizes[1:]):
        total = total + v * s
    for p in params:  # p·0 is NaN exactly where p is NaN or infinite
        total = total + array_namespace(p).sum(p * 0)
    return float(total) / n


def _diverged(model, opt, good, start, values, epoch, lr):
    """Restore finite weights (the epoch's start, or the epoch before where its first batch
    already failed), reset the optimizer, and raise."""
    opt.reset()  # its state (momentum, moments) is no longer finite
    bad = next((i for i, v in enumerate(values) if not math.isfinite(float(v))), None)
    model.params[:] = good if bad == 0 else start
    if bad is None:
        where = f"the weights became NaN or infinite in the last update of epoch {epoch + 1}"
    else:
        where = f"the loss became {float(values[bad])} at epoch {epoch + 1}, batch {bad + 1} of {len(values)}"
    raise DivergenceError(
        f"training diverged: {where} (lr={lr:g}); the model keeps the last weights whose loss was finite and the "
        "optimizer's state is reset. Lower the learning rate, or clip gradients (clip_norm)"
    )


def _check_outputs(model, X, opt, good):
    """The trained model's outputs on some training samples `X` are finite, or training diverged."""
    xp = model.xp
    out = model.forward(X, training=False)
    if not bool(xp.all(xp.isfinite(out))):
        opt.reset()
        model.params[:] = good
        raise DivergenceError(
            "training diverged: after the last update the model's outputs overflow to NaN or infinity on the "
            "training data; the model keeps the last weights whose loss was finite. Lower the learning rate, or "
            "clip gradients (clip_norm)"
        )


def _validate(model, loss, held_out) -> dict:
    """Validation loss (and accuracy for a classification loss) on held-out data: one forward
    pass, or one per chunk of streamed data."""
    if held_out is None:
        return {}
    from .metrics import accuracy

    chunks = held_out.chunks() if isinstance(held_out, HostRows) else [(*held_out, held_out[0].shape[0])]
    total, correct, n = 0.0, 0.0, 0
    for Xv, Tv, count in chunks:
        out, logits = model.predict_with_logits(Xv, loss)
        value = loss.fused_value_and_gradient(logits, Tv)[0] if logits is not None else loss.value(out, Tv)
        total += float(value) * count
        if loss.classification:
            correct += accuracy(Tv, out) * count
        n += count
    logs = {"val_loss": total / n}
    if loss.classification:
        logs["val_accuracy"] = correct / n
    return logs


@dataclass(frozen=True)
class StoppingRules:
    """When to stop before `epochs`: the tol rule on the training loss, or early stopping
    on the validation loss, after `patience` epochs without improvement."""

    epochs: int
    tol: float | None
    patience: int
    early_stopping: bool

    @classmethod
    def check(cls, epochs, tol, patience, early_stopping) -> StoppingRules:
        return cls(
            check_positive_int(epochs, "epochs"),
            None if tol is None else check_positive_float(tol, "tol", allow_zero=True),
            check_positive_int(patience, "n_iter_no_change"),
            bool(early_stopping),
        )

    def observe(self, run: RunState, history: History, model, monitored: float, early: bool) -> bool:
        """Record the epoch's monitored loss; True when training should stop."""
        improved = monitored < run.best - (self.tol or 0.0)
        if monitored < run.best:
            run.best = monitored
            history.best_epoch = history.epochs
            if early:
                run.best_weights = copy_params(model.params)
        if self.tol is None and not early:
            return False
        run.bad = 0 if improved else run.bad + 1
        if run.bad >= self.patience:
            history.stop_reason = "early_stopping" if early else "tol"
            return True
        return False


def _end_of_epoch(history, run, model, opt, logs, seconds, rules, saver, rng, callbacks, bar) -> bool:
    """Record the epoch, apply the stopping rules, checkpoint, call back. True: stop."""
    history.loss.append(logs["loss"])
    history.lr.append(logs["lr"])
    if "val_loss" in logs:
        history.val_loss.append(logs["val_loss"])
    if "val_accuracy" in logs:
        history.val_accuracy.append(logs["val_accuracy"])
    history.seconds.append(seconds)
    history.epochs = run.epoch + 1
    early = rules.early_stopping and "val_loss" in logs
    monitored = logs["val_loss"] if early else logs["loss"]
    opt.schedule.observe(monitored)
    stop = rules.observe(run, history, model, monitored, early)
    if bar is not None:
        bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items() if k != "lr"})
        bar.update(1)
    run.epoch += 1
    if saver is not None:
        path, every, loss = saver
        if run.epoch % every == 0 or stop or run.epoch == rules.epochs:
            ckpt.save(path, model, opt, rng, history, run, loss)
    if any(cb(run.epoch - 1, logs, model) for cb in callbacks):
        history.stop_reason = "callback"
        stop = True
    return stop


def _progress_bar(show: bool, total: int, initial: int):
    if not show:
        return nullcontext(None)
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="train", unit="epoch", leave=False)
