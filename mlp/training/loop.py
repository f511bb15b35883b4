"""``mlp.train``: mini-batch SGD and its variants, with stopping rules.

It reads as the lectures' loop. At the door, the settings are checked and the data enters once
(``sources``); the run's value, a :class:`~mlp.training.state.TrainState`, starts from the model
and the optimizer; ``make_step`` builds the step. Then for each epoch, for each mini-batch,
``ts, loss = step(ts, batch, lr)``; at the end of the epoch the value is parked on the model and
the optimizer (``TrainState.park``) and the epoch's loss read once (nothing in the inner loop
synchronizes with the host), then divergence check, validation, stopping rules, checkpoint and
callbacks. One process or many (MPI) run the same loop; only the communicator knows how many.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
from array_api_compat import array_namespace

from mlp import defaults as _defaults
from mlp.backends.kernels import GENERIC, Kernels
from mlp.checks import check_positive_int, check_seed
from mlp.losses import Loss, default_loss, get_loss
from mlp.model.sequential import Sequential
from mlp.numerics import copy_params, to_host
from mlp.optim import OPTIMIZERS, LossScaler, Optimizer, accepts, get_optimizer
from mlp.training import checkpoint as ckpt
from mlp.training.batches import Batches, BlockShuffle, as_order
from mlp.training.callbacks import as_callbacks, call_all, overrides
from mlp.training.distributed import as_comm
from mlp.training.errors import DivergenceError, PrecisionWarning, TrainingWarning
from mlp.training.evaluation import finite_outputs, probe_loss, validate, warn_if_worse
from mlp.training.history import History, Progress
from mlp.training.sources import TrainingData, fingerprint, training_data
from mlp.training.state import TrainState
from mlp.training.step import make_step, update_kernels
from mlp.training.stopping import StoppingRules

__all__ = ["train", "History", "DivergenceError", "TrainingWarning", "PrecisionWarning"]


def train(
    model: Sequential,
    X: Any,
    y: Any,
    *,
    loss: Loss | str | None = None,
    optimizer: Optimizer | str = _defaults.OPTIMIZER,
    lr: float | None = None,
    momentum: float | None = None,
    epochs: int = _defaults.EPOCHS,
    batch_size: int | str | None = _defaults.BATCH_SIZE,
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
    sample_weight: Any = None,
    class_weight: Any = None,
    accumulate: int = 1,
) -> History:
    """Train `model` on (X, y) and return its History.

    `loss` and `optimizer` are objects or names (``lr``/``momentum`` set a named
    optimizer's settings; with an optimizer object they are an error, since the object has
    its own). The default loss is the cross-entropy that fits the model's
    last layer: ``cross_entropy`` on a softmax, ``bce`` on a sigmoid, and on unbounded
    scores ``softmax_cross_entropy`` (as PyTorch's CrossEntropyLoss takes logits). A
    probability loss on a model that cannot output probabilities, or a logits loss on
    one that already does, is an error. The loss sets ``model.head`` (what its outputs mean).
    ``batch_size=None`` is full-batch gradient descent, 1 is plain SGD, ``"auto"`` is min(200, n) as
    in scikit-learn. ``shuffle``: a full random permutation each epoch (True, the default), file
    order (False), or ``"blocks"``/``BlockShuffle(block, window)`` for data read from disk (see
    ``mlp.training.batches``). ``validation=(X_val, y_val)`` or ``validation_fraction`` holds data out
    (not both); with ``early_stopping`` training stops when the validation loss has not improved by
    ``tol`` for ``n_iter_no_change`` epochs and the best weights (and state) are restored. Without
    it, a ``tol`` stops training when the training loss improves by less than ``tol`` for
    ``n_iter_no_change`` epochs (|L(W^k) - L(W^(k-1))| < tol). A callback ``f(epoch, logs, model)``
    that returns True stops training; ``logs`` holds the epoch's "loss", "lr", the validation
    figures where there are some, and "batches": each batch's mean loss, weight sum and rows, as
    host numbers. At the end of each epoch the model and the optimizer hold the run's weights and
    state: a callback that replaces them (``set_weights``) is heard. ``fast=False`` uses the generic
    array-API kernels instead of the backend's own (for comparisons).

    Class labels: where the model has ``classes``, y holds those labels (any values); y of
    strings sets ``model.classes`` to its sorted distinct values. A model whose input stage (a
    ``Standardize``, ``MinMax`` or ``RobustScale`` in front) is not fitted yet is fitted on the
    training rows first.

    Data larger than memory: X and y may be NumPy memory maps (``np.load(path, mmap_mode="r")``)
    or any host array-like with a shape, a dtype and row indexing (h5py, zarr); training then
    reads them batch by batch (``stream``, on by default for such data; ``stream=True`` streams
    in-memory NumPy data too, e.g. to a GPU with less memory than the data), each batch's rows
    in file order, checked as they are read. ``prefetch=True`` gathers the next batch in a
    background thread while the current one computes (default: the backend's choice; on for GPUs,
    whose copies then overlap the step, off on CPUs, where it measured no faster).

    Weights: ``sample_weight`` (n,) and ``class_weight`` (a dict label → weight, or ``"balanced"``)
    make the loss the weighted mean Σ wᵢ·lᵢ / Σ wᵢ, as scikit-learn's MLP defines it (an integer
    weight k counts a sample k times); over MPI the processes' losses and gradients are combined by
    their weight sums. Validation losses are not weighted.
    """
    run = Run.at_the_door(model, dict(locals()))
    with model.backend.context():
        data = training_data(
            model,
            run.loss,
            X,
            y,
            validation=validation,
            validation_fraction=run.validation_fraction,
            rng=run.rng,
            stream=stream,
            prefetch=run.prefetch,
            kernels=run.kernels,
            sample_weight=sample_weight,
            class_weight=class_weight,
        )
        return Loop(run, data, resume).run()


@dataclass
class Run:
    """A call of ``train`` as its door fixed it: the checked settings and the objects they make."""

    model: Sequential
    loss: Loss
    opt: Optimizer
    rules: StoppingRules
    batch_size: Any  # an int, None (full batch) or "auto" until n is known
    order: Any
    seed: int | None
    mask_seed: int
    rng: np.random.Generator
    kernels: Kernels
    comm: Any
    prefetch: bool
    validation_fraction: float | None
    callbacks: list
    progress: bool
    checkpoint: Any
    checkpoint_every: int
    accumulate: int = 1

    @classmethod
    def at_the_door(cls, model, a: dict) -> Run:
        """The run's settings, every one checked before any work (errors name the argument)."""
        if not isinstance(model, Sequential):
            raise TypeError(f"model must be an mlp model (Sequential or MLP); got {type(model).__name__}")
        loss = default_loss(model) if a["loss"] is None else get_loss(a["loss"])
        loss.check_model(model)
        opt = _optimizer(a["optimizer"], a["lr"], a["momentum"])
        rules = StoppingRules.check(a["epochs"], a["tol"], a["n_iter_no_change"], a["early_stopping"])
        validation_fraction = _held_out_fraction(a["validation"], a["validation_fraction"], rules.early_stopping)
        if a["checkpoint"] is not None:
            from mlp.io.npz import check_writable

            check_writable(a["checkpoint"], "checkpoint")  # before any work, not after the last epoch
        seed = check_seed(a["seed"])
        kernels = model.backend.kernels() if a["fast"] else GENERIC  # `fast` is read here only
        prefetch = model.backend.prefetch_default if a["prefetch"] is None else bool(a["prefetch"])
        model.head = loss.head(model.n_outputs)
        if model.backend.dtype_name(model.compute_dtype) == "float16":  # float16: dynamic loss scaling
            opt.scaler = opt.scaler or LossScaler()
        return cls(
            model,
            loss,
            opt,
            rules,
            _batch_size(a["batch_size"]),
            as_order(a["shuffle"]),  # an unknown shuffle is an error before any work
            seed,
            seed if seed is not None else int(np.random.SeedSequence().entropy % (1 << 31)),
            np.random.default_rng(seed),
            kernels,
            as_comm(a["distributed"]),
            prefetch,
            validation_fraction,
            as_callbacks(a["callbacks"]),
            bool(a["progress"]),
            a["checkpoint"],
            check_positive_int(a["checkpoint_every"], "checkpoint_every"),
            _accumulate(a["accumulate"], a["distributed"], a["batch_size"]),
        )

    def settings(self, n: int, data_fingerprint: str) -> dict:
        """What makes a run this run: the settings every MPI rank must share and a resumed run must repeat."""
        m = self.model
        order = self.order if isinstance(self.order, str) else {"block": self.order.block, "window": self.order.window}
        config = m.config()
        return {
            "seed": self.seed,
            "batch_size": self.batch_size,
            "accumulate": self.accumulate,
            "shuffle": order,
            "n": n,
            "n_features": m.n_features,
            "layers": config["layers"],
            "dtype": config["dtype"],
            "compute_dtype": config["compute_dtype"],
            "loss": {"class": type(self.loss).__name__, **self.loss.config()},
            "optimizer": self.opt.config(),
            "data": data_fingerprint,
        }


class Loop:
    """One run's epochs over its data, from its value ``ts`` to the History it returns."""

    def __init__(self, run: Run, data: TrainingData, resume=None):
        self.run_, self.model, self.loss, self.opt = run, run.model, run.loss, run.opt
        n = data.n  # the global count
        if run.batch_size == "auto":
            run.batch_size = min(200, n)
        self.settings = run.settings(n, fingerprint(data.rows, n))
        run.comm.setup(self.model, n, self.settings)
        self.rows, self.held_out = data.rows.shard(run.comm, run.kernels), data.held_out
        step_rows = None if run.batch_size is None else run.batch_size * run.accumulate  # the rows of one update
        self.batches = Batches(self.rows, n, step_rows, run.order, run.rng, run.comm, data.weights)
        if self.model.net.batch_statistics and 1 in self.batches.sizes:
            raise ValueError(
                f"batch_size={self.batches.batch_size} leaves a batch of 1 sample out of {n}, on which the batch "
                "statistics of BatchNorm are undefined; choose a batch size that does not"
            )
        self.history, self.progress = History(), Progress()
        if resume is not None:
            self.progress = ckpt.restore(resume, self.model, self.opt, run.rng, self.history, self.loss, self.settings)
            if self.progress.epoch > run.rules.epochs:
                raise ValueError(
                    f"resume checkpoint {os.fspath(resume)!r} has already trained {self.progress.epoch} epochs, more "
                    f"than epochs={run.rules.epochs}: ask for at least {self.progress.epoch} epochs"
                )
        self.kernels = update_kernels(self.opt, run.kernels)
        scale = None if self.opt.scaler is None else self.opt.scaler.init(self.model.backend, self.model.dtype)
        self.ts = TrainState.start(self.model, self.opt, self.kernels, run.mask_seed, scale)
        self.step = make_step(self.model, self.loss, self.opt, run.kernels, run.comm, run.accumulate)
        # the optimizer's step counter on the host (per-step schedules, per-batch callbacks), the run's steps
        self.steps = int(to_host(self.opt.t))
        self.opt.schedule.fit_run(len(self.batches.sizes) * run.rules.epochs)
        self.callbacks = [cb for cb in run.callbacks if not cb.write_files or run.comm.rank == 0]
        self.batch_callbacks = [cb for cb in self.callbacks if overrides(cb, "on_batch_end")]
        self.stop_requested = False

    def run(self) -> History:
        run, history = self.run_, self.history
        good = self.ts.snapshot()  # weights whose loss was finite, restored if training diverges
        probe = self._probe()  # the same rows before and after: did training make things worse?
        if history.initial_loss is None and probe is not None:
            history.initial_loss = probe_loss(self.model, self.loss, probe)
        show = run.progress and run.comm.rank == 0
        call_all(
            self.callbacks,
            "on_train_begin",
            self.model,
            {"epochs": run.rules.epochs, "steps_per_epoch": len(self.batches.sizes)},
        )
        try:
            with _progress_bar(show, run.rules.epochs, self.progress.epoch) as bar, run.comm.guard():
                for epoch in range(self.progress.epoch, run.rules.epochs):
                    good, stop = self.epoch(epoch, good, bar)
                    if stop:
                        break
        finally:
            self.ts.park(self.model, self.opt)
        return self.finish(good, probe)

    def epoch(self, epoch: int, good, bar) -> tuple[Any, bool]:
        """One epoch; (the weights whose loss was finite, whether to stop)."""
        t0 = time.perf_counter()
        call_all(self.callbacks, "on_epoch_begin", epoch, self.model)
        lr = self.opt.lr_at(epoch)
        start = self.ts.snapshot()
        values, sums, rows, lr = self._batches(epoch, lr, start)
        self.ts.park(self.model, self.opt)
        epoch_loss, batch_losses = _mean_loss(values, sums, self.ts.params)
        if not math.isfinite(epoch_loss):
            self._diverged(good, start, values, epoch, lr)
        logs = {"loss": epoch_loss, "lr": lr, **validate(self.model, self.loss, self.held_out)}
        logs["batches"] = {"loss": batch_losses, "weight": sums, "rows": rows}  # already on the host
        stop = self.end_of_epoch(logs, time.perf_counter() - t0, bar)
        self.ts = self.ts.adopt(self.model, self.opt, self.kernels)  # what callbacks left on them
        return start, stop  # the epoch's first batch's loss was finite

    def _batches(self, epoch, lr, start) -> tuple[list, list, list, float]:
        """Every step of one epoch: the batches' mean losses (on the device), weight sums and rows, and
        the learning rate of its last step."""
        values, sums, rows = [], [], []
        per_step = self.opt.schedule.per_step
        try:
            for i, batch in enumerate(self.batches.epoch()):
                if per_step:
                    lr = self.opt.schedule(self.steps, self.opt.lr)
                self.ts, value = self.step(self.ts, batch, lr)
                values.append(value)
                sums.append(batch.total_weight)
                rows.append(batch.total)
                if self.batch_callbacks and self._batch_end(epoch, i, lr, value):
                    self.steps += 1
                    break
                self.steps += 1
        except (ValueError, TypeError) as exc:  # bad rows found while streaming: nothing half-trained
            if not self.rows.checked_while_read or isinstance(exc, DivergenceError):
                raise
            self.ts = self.ts.restored(start, self.opt, self.kernels)
            raise type(exc)(f"{exc}; the model keeps its weights from the start of epoch {epoch + 1}") from None
        return values, sums, rows, lr

    def _batch_end(self, epoch, i, lr, value) -> bool:
        """The per-batch hooks after step `self.steps`; True where one asks to stop (the epoch ends there)."""
        logs = {"epoch": epoch, "batch": i, "lr": lr, "loss": value}
        stop = False
        for cb in self.batch_callbacks:
            here = {**logs, "loss": float(to_host(value))} if cb.batch_loss_on_host else logs
            stop = bool(cb.on_batch_end(self.steps, here, self.model)) or stop
        self.stop_requested = self.stop_requested or stop
        return stop

    def end_of_epoch(self, logs: dict, seconds: float, bar) -> bool:
        """Record the epoch, apply the stopping rules, checkpoint, call back. True: stop."""
        history, progress, rules = self.history, self.progress, self.run_.rules
        history.loss.append(logs["loss"])
        history.lr.append(logs["lr"])
        for key in ("val_loss", "val_accuracy", "val_label_accuracy"):
            if key in logs:
                getattr(history, key).append(logs[key])
        history.seconds.append(seconds)
        history.epochs = progress.epoch + 1
        early = rules.early_stopping and "val_loss" in logs
        monitored = logs["val_loss"] if early else logs["loss"]
        self.opt.schedule.observe(monitored)
        stop = rules.observe(progress, history, monitored, early, self.ts.snapshot)
        if bar is not None:
            bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items() if k not in ("lr", "batches")})
            bar.update(1)
        progress.epoch += 1
        run = self.run_
        due = progress.epoch % run.checkpoint_every == 0 or stop or progress.epoch == rules.epochs
        if run.checkpoint is not None and run.comm.rank == 0 and due:
            ckpt.save(run.checkpoint, self.model, self.opt, run.rng, history, progress, self.loss, self.settings)
        logs["seconds"] = seconds
        if call_all(self.callbacks, "on_epoch_end", progress.epoch - 1, logs, self.model) or self.stop_requested:
            history.stop_reason = "callback"
            stop = True
        return stop

    def finish(self, good, probe) -> History:
        """After the last epoch: the best weights (early stopping), finite outputs, the final probe
        loss, the warnings."""
        model, history, opt = self.model, self.history, self.opt
        best = self.progress.best_snapshot
        if self.run_.rules.early_stopping and self.held_out is not None and best is not None:
            self.ts = self.ts._replace(params=list(best[0]), state=list(best[1]) or self.ts.state)
            self.ts.park(model, opt)
        opt.t = int(to_host(self.ts.t))  # a device scalar after a compiled step
        if opt.ema is not None and opt.ema_final:  # the model ends holding the moving average (Keras' use_ema)
            model.params[:] = copy_params(list(self.ts.opt_state["ema"]))
        if probe is None:
            probe = self.rows.head(1024, targets=True)
        if not finite_outputs(model, probe[0]):
            self.ts.restored(good, opt, self.kernels).park(model, opt)
            raise DivergenceError(
                "training diverged: after the last update the model's outputs overflow to NaN or infinity on the "
                "training data; the model keeps the last weights whose loss was finite. Lower the learning rate, "
                "or clip gradients (clip_norm)"
            )
        history.final_loss = probe_loss(model, self.loss, probe)
        warn_if_worse(history, opt.lr)
        if self.ts.loss_scale is not None:
            _say_skipped(history, self.ts.loss_scale)
        call_all(self.callbacks, "on_train_end", model, history)
        return history

    def _probe(self):
        try:
            return self.rows.head(1024, targets=True)
        except (ValueError, TypeError):
            return None  # bad streamed rows: the epoch that reads them says where, with the weights kept

    def _diverged(self, good, start, values, epoch, lr):
        """Restore finite weights (the epoch's start, or the epoch before where its first batch
        already failed), start the optimizer's state again, and raise."""
        host = to_host(array_namespace(values[0]).stack(values))
        bad = next((i for i, v in enumerate(host.tolist()) if not math.isfinite(v)), None)
        self.ts = self.ts.restored(good if bad == 0 else start, self.opt, self.kernels)
        if bad is None:
            where = f"the weights became NaN or infinite in the last update of epoch {epoch + 1}"
        else:
            where = f"the loss became {host[bad]} at epoch {epoch + 1}, batch {bad + 1} of {len(values)}"
        raise DivergenceError(
            f"training diverged: {where} (lr={lr:g}); the model keeps the last weights whose loss was finite and the "
            "optimizer's state is reset. Lower the learning rate, or clip gradients (clip_norm)"
        )


def _mean_loss(values, sizes, params) -> tuple[float, list]:
    """Mean loss over the epoch's samples from the per-batch means (weighted by the batches' sample
    counts, or weight sums), NaN where the weights after the epoch's last update are not finite,
    and the batch means as host numbers: one explicit host read of the batch losses and the
    weights' finiteness flags."""
    xp = array_namespace(params[0])
    flags = [xp.all(xp.isfinite(p)) for p in params]
    host = to_host(xp.stack([*values, *(xp.astype(f, values[0].dtype) for f in flags)]))
    losses, finite = host[: len(values)].astype(np.float64), host[len(values) :]
    if not np.all(finite):
        return math.nan, losses.tolist()
    sizes = np.asarray(sizes, dtype=np.float64)
    return float(np.dot(losses, sizes)) / float(sizes.sum()), losses.tolist()


def _say_skipped(history, loss_scale):
    skipped = int(to_host(loss_scale[2]))
    history.skipped_steps, history.loss_scale = skipped, float(to_host(loss_scale[0]))
    if skipped:
        message = (
            f"float16 loss scaling skipped {skipped} step(s) whose gradients overflowed (weights kept); "
            f"the loss scale is now {history.loss_scale:g}"
        )
        history.warnings.append(message)
        warnings.warn(message, PrecisionWarning, stacklevel=4)


def _accumulate(k, distributed, batch_size) -> int:
    """``accumulate``: micro-batches of ``batch_size`` rows per update, an integer >= 1; one process."""
    k = check_positive_int(k, "accumulate")
    if k > 1 and distributed is not None:
        raise ValueError(f"accumulate={k} runs in one process; with MPI, add processes instead (a larger global batch)")
    if k > 1 and batch_size is None:
        raise ValueError(f"accumulate={k} splits each batch into {k}; batch_size=None (the full batch) has one batch")
    return k


def _optimizer(optimizer, lr, momentum) -> Optimizer:
    """The optimizer: an object as it is (``lr``/``momentum`` beside it are an error naming both),
    or a name with ``lr``/``momentum`` as its settings (``momentum`` only where it has one)."""
    if isinstance(optimizer, Optimizer):
        given = [f"{k}={v!r}" for k, v in (("lr", lr), ("momentum", momentum)) if v is not None]
        if given:
            raise ValueError(
                f"optimizer is an Optimizer object ({optimizer!r}) with its own settings, so {' and '.join(given)} "
                "would be ignored: set them on the object (e.g. mlp.SGD(lr, momentum=...)), or name the optimizer "
                "(optimizer='sgd')"
            )
        return optimizer
    known = isinstance(optimizer, str) and optimizer in OPTIMIZERS
    if momentum is not None and known and not accepts(optimizer, "momentum"):
        raise ValueError(
            f"optimizer {optimizer!r} has no momentum setting, so momentum={momentum!r} would be ignored; "
            "use optimizer='sgd' (or 'nesterov') for momentum"
        )
    return get_optimizer(optimizer, lr=lr, **({"momentum": momentum} if momentum is not None else {}))


def _batch_size(batch_size):
    if batch_size is None or (isinstance(batch_size, str) and batch_size == "auto"):
        return batch_size  # full batch; "auto": min(200, n), once n is known
    return check_positive_int(batch_size, "batch_size")


def _held_out_fraction(validation, validation_fraction, early_stopping):
    if validation is not None and validation_fraction is not None:
        raise ValueError(
            f"validation and validation_fraction={validation_fraction} both hold data out: give one "
            "(validation=(X_val, y_val) uses those samples; validation_fraction splits the training data)"
        )
    if early_stopping and validation is None and validation_fraction is None:
        return 0.1
    return validation_fraction


def _progress_bar(show: bool, total: int, initial: int):
    if not show:
        return nullcontext(None)
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="train", unit="epoch", leave=False)
