"""Callbacks: objects with hooks that ``mlp.train`` calls, as Keras' and skorch's.

``Callback`` has ``on_train_begin``, ``on_epoch_begin``, ``on_batch_end``, ``on_epoch_end`` and
``on_train_end``; a subclass overrides the ones it needs (an ``on_epoch_end`` or ``on_batch_end``
that returns True stops training). A plain function ``f(epoch, logs, model)`` is still a callback:
its ``on_epoch_end``.

Per-batch hooks make no host read of their own: ``logs["loss"]`` is the batch's loss as a device
scalar, unless the callback sets ``batch_loss_on_host = True`` (then a float, at the cost of waiting
for the device every batch). Callbacks that write files (``write_files = True``: ``ModelCheckpoint``,
``CSVLogger``, ``TensorBoard``) run on MPI rank 0 only; the others run on every rank alike.

Built in: ``EarlyStopping`` (stop when a monitored value stops improving, the best weights restored),
``ModelCheckpoint`` (save the model when it improves, or every epoch), ``CSVLogger`` (one row per
epoch) and ``TensorBoard`` (scalars per epoch, and per batch on request, through tensorboardX:
``pip install mlp[tensorboard]``).
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable
from typing import Any

from mlp.checks import check_positive_float, check_positive_int

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint", "CSVLogger", "TensorBoard", "as_callbacks"]


class Callback:
    """Base class: every hook does nothing. ``epoch`` and ``step`` count from 0."""

    batch_loss_on_host = False  # True: on_batch_end's logs["loss"] is a float (a host read per batch)
    write_files = False  # True: called on MPI rank 0 only

    def on_train_begin(self, model, logs: dict) -> None:
        """Before the first epoch; logs: "epochs" (asked for), "steps_per_epoch"."""

    def on_epoch_begin(self, epoch: int, model) -> None:
        """Before the epoch's first step."""

    def on_batch_end(self, step: int, logs: dict, model) -> bool | None:
        """After each update; logs: "epoch", "batch" (in the epoch), "lr", "loss". True: stop."""

    def on_epoch_end(self, epoch: int, logs: dict, model) -> bool | None:
        """After the epoch's validation; logs: "loss", "lr", "val_loss", ... True: stop."""

    def on_train_end(self, model, history) -> None:
        """After the last epoch (and the run's own end: best weights, the moving average)."""


class _Function(Callback):
    """A plain function f(epoch, logs, model) as the on_epoch_end of a callback."""

    def __init__(self, f: Callable):
        self.f = f

    def on_epoch_end(self, epoch, logs, model):
        return self.f(epoch, logs, model)


def as_callbacks(callbacks) -> list[Callback]:
    """``callbacks`` as Callback objects (functions wrapped); a TypeError names what is not one."""
    if callable(callbacks) or not isinstance(callbacks, (list, tuple)):
        raise TypeError(
            f"callbacks must be a list of Callback objects or callables f(epoch, logs, model); got "
            f"{type(callbacks).__name__} (pass [f] for one callback)"
        )
    out = []
    for cb in callbacks:
        if isinstance(cb, Callback):
            out.append(cb)
        elif isinstance(cb, type) and issubclass(cb, Callback):
            raise TypeError(
                f"callbacks must be Callback objects; got the class {cb.__name__} (call it: {cb.__name__}())"
            )
        elif callable(cb):
            out.append(_Function(cb))
        else:
            raise TypeError(
                f"callbacks must be Callback objects or callables f(epoch, logs, model); got {type(cb).__name__}"
            )
    return out


def overrides(cb: Callback, hook: str) -> bool:
    """Whether `cb` has its own `hook` (the loop skips the per-batch work of callbacks that have none)."""
    return getattr(type(cb), hook) is not getattr(Callback, hook)


def _monitored(logs: dict, monitor: str, who: str) -> float:
    if monitor not in logs:
        have = sorted(k for k, v in logs.items() if isinstance(v, (int, float)))
        raise ValueError(f"{who} monitors {monitor!r}, which this run does not report; it reports {have}")
    return float(logs[monitor])


def _better(mode: str, monitor: str):
    mode = "min" if mode == "auto" and ("loss" in monitor or "error" in monitor) else mode
    mode = "max" if mode == "auto" else mode
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max'; got {mode!r}")
    return mode


class EarlyStopping(Callback):
    """Stop when ``monitor`` ("val_loss", "loss", "val_accuracy", ...) has not improved by more than
    ``min_delta`` for ``patience`` epochs; ``restore_best``: the model ends with the weights of its
    best epoch. ``mode``: "min", "max", or "auto" (min for losses, max for accuracies)."""

    def __init__(self, monitor="val_loss", patience=10, min_delta=0.0, mode="auto", restore_best=True):
        self.monitor = str(monitor)
        self.patience = check_positive_int(patience, "EarlyStopping patience", minimum=0)
        self.min_delta = check_positive_float(min_delta, "EarlyStopping min_delta", allow_zero=True)
        self.mode = _better(mode, self.monitor)
        self.restore_best = bool(restore_best)
        self.best, self.best_epoch, self.wait, self.best_weights, self.stopped_epoch = None, None, 0, None, None

    def on_train_begin(self, model, logs):
        self.best, self.best_epoch, self.wait, self.best_weights, self.stopped_epoch = None, None, 0, None, None

    def on_epoch_end(self, epoch, logs, model):
        value = _monitored(logs, self.monitor, "EarlyStopping")
        sign = 1.0 if self.mode == "min" else -1.0
        if self.best is None or sign * (self.best - value) > self.min_delta:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                self.best_weights = (model.get_weights(), model.get_state())
            return None
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = epoch
            return True
        return None

    def on_train_end(self, model, history):
        if self.restore_best and self.best_weights is not None:
            model.set_weights(self.best_weights[0])
            model.set_state(self.best_weights[1])


class ModelCheckpoint(Callback):
    """Save the model (``model.save``: the whole predictor) to ``path`` after an epoch: when
    ``monitor`` improved (``save_best_only``, the default), or after every epoch. ``path`` may hold
    ``{epoch}`` (from 1), to keep one file per epoch."""

    write_files = True

    def __init__(self, path, monitor="val_loss", save_best_only=True, mode="auto"):
        from mlp.io.npz import check_writable

        self.path = os.fspath(path)
        check_writable(self.path.format(epoch=1), "ModelCheckpoint path")
        self.monitor, self.save_best_only = str(monitor), bool(save_best_only)
        self.mode = _better(mode, self.monitor)
        self.best, self.saved = None, []

    def on_train_begin(self, model, logs):
        self.best = None

    def on_epoch_end(self, epoch, logs, model):
        if self.save_best_only:
            value = _monitored(logs, self.monitor, "ModelCheckpoint")
            sign = 1.0 if self.mode == "min" else -1.0
            if self.best is not None and not sign * (self.best - value) > 0:
                return None
            self.best = value
        path = self.path.format(epoch=epoch + 1)
        model.save(path)
        self.saved.append(path)
        return None


def _scalars(logs: dict) -> dict:
    return {k: float(v) for k, v in logs.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


class CSVLogger(Callback):
    """One row per epoch in the CSV file ``path``: epoch (from 1) and every number in the epoch's logs
    (loss, lr, val_loss, val_accuracy, seconds). ``append``: add to an existing file (a resumed run)."""

    write_files = True

    def __init__(self, path, append=False):
        self.path, self.append = os.fspath(path), bool(append)
        self._columns = None

    def on_train_begin(self, model, logs):
        from mlp.io.npz import check_writable

        check_writable(self.path, "CSVLogger path")
        self._columns = None
        if not self.append and os.path.exists(self.path):
            os.remove(self.path)

    def on_epoch_end(self, epoch, logs, model):
        row = {"epoch": epoch + 1, **_scalars(logs)}
        new = self._columns is None
        if new:
            self._columns = list(row)
        with open(self.path, "a", newline="") as f:  # each row written and closed: a killed run keeps its rows
            w = csv.DictWriter(f, fieldnames=self._columns, extrasaction="ignore", restval="")
            if new and (not self.append or os.path.getsize(self.path) == 0):
                w.writeheader()
            w.writerow(row)
        return None


class TensorBoard(Callback):
    """Scalars for TensorBoard in ``log_dir`` (tensorboardX's event files): the epoch's logs ("loss",
    "lr", "val_loss", ...) per epoch and, with ``batch_every`` = k > 0, the batch loss every k steps
    (a host read on those steps only)."""

    write_files = True

    def __init__(self, log_dir, batch_every=0):
        try:
            from tensorboardX import SummaryWriter  # noqa: F401
        except ImportError as exc:
            raise ImportError(f"TensorBoard logging needs tensorboardX ({exc}): pip install mlp[tensorboard]") from None
        self.log_dir = os.fspath(log_dir)
        self.batch_every = check_positive_int(batch_every, "TensorBoard batch_every", minimum=0)
        self.writer = None

    def on_train_begin(self, model, logs):
        from tensorboardX import SummaryWriter

        self.writer = SummaryWriter(self.log_dir)

    def on_batch_end(self, step, logs, model):
        if self.batch_every and step % self.batch_every == 0:
            from mlp.numerics import to_host

            value = float(to_host(logs["loss"]))
            if math.isfinite(value):
                self.writer.add_scalar("batch/loss", value, step)
        return None

    def on_epoch_end(self, epoch, logs, model):
        for key, value in _scalars(logs).items():
            self.writer.add_scalar(f"epoch/{key}", value, epoch + 1)
        self.writer.flush()
        return None

    def on_train_end(self, model, history):
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def call_all(callbacks: list[Callback], hook: str, *args: Any) -> bool:
    """Call `hook` on every callback (each one, even after one asked to stop); True if one asked to stop."""
    stop = False
    for cb in callbacks:
        stop = bool(getattr(cb, hook)(*args)) or stop
    return stop
