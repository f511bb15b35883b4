"""The training loop: mini-batch SGD and its variants, with stopping rules.

``train`` reads as the lectures' loop: for each epoch, for each mini-batch, one step
(forward, backward into the optimizer's sinks, update); then the end of the epoch
(divergence check, validation, stopping rules, checkpoint, callbacks). The loss is
accumulated on the device and read once per epoch: nothing in the inner loop
synchronizes with the host. One process or many (MPI) run the same loop.

A step carries the model's state (running statistics) in and out like its parameters:
snapshots, restores, checkpoints and the compiled JAX step copy both.
"""

from __future__ import annotations

import hashlib
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

from . import checkpoint as ckpt
from . import defaults as _defaults
from ._validation import check_positive_float, check_positive_int, check_seed, host_array
from .backends.kernels import GENERIC, Kernels
from .batches import Batches, BlockShuffle, DeviceRows, HostRows, as_order, is_streamed
from .distributed import as_comm
from .history import History, RunState
from .layers import Context
from .losses import Loss, default_loss, get_loss
from .metrics import encode_labels
from .model import Sequential
from .numerics import check_same_count, copy_params, to_host
from .optim import OPTIMIZERS, LossScaler, Optimizer, _keep_if, accepts, get_optimizer

__all__ = ["train", "History", "DivergenceError", "TrainingWarning", "PrecisionWarning"]


class DivergenceError(ValueError, FloatingPointError):
    """The loss or a gradient became NaN or infinite; the model keeps its last finite weights.
    A ValueError (the settings or the data caused it) and a FloatingPointError."""


class TrainingWarning(UserWarning):
    """Training ran but made the model worse (the last epoch's loss above the first's)."""


class PrecisionWarning(UserWarning):
    """Float16 loss scaling skipped steps whose gradients overflowed (said once per run)."""


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
    ``mlp.batches``). ``validation=(X_val, y_val)`` or ``validation_fraction`` holds data out (not
    both); with ``early_stopping`` training stops when the validation loss has not improved by
    ``tol`` for ``n_iter_no_change`` epochs and the best weights (and state) are restored. Without
    it, a ``tol`` stops training when the training loss improves by less than ``tol`` for
    ``n_iter_no_change`` epochs (|L(W^k) - L(W^(k-1))| < tol). A callback ``f(epoch, logs, model)``
    that returns True stops training; ``logs`` holds the epoch's "loss", "lr", the validation
    figures where there are some, and "batches": each batch's mean loss, weight sum and rows, as
    host numbers. ``fast=False`` uses the generic array-API kernels instead of the backend's own
    (for comparisons).

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
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be an mlp model (Sequential or MLP); got {type(model).__name__}")
    loss = default_loss(model) if loss is None else get_loss(loss)
    loss.check_model(model)
    opt = _optimizer(optimizer, lr, momentum)
    rules = StoppingRules.check(epochs, tol, n_iter_no_change, early_stopping)
    auto_batch = isinstance(batch_size, str) and batch_size == "auto"  # min(200, n), once n is known
    if batch_size is not None and not auto_batch:
        batch_size = check_positive_int(batch_size, "batch_size")
    checkpoint_every = check_positive_int(checkpoint_every, "checkpoint_every")
    callbacks = _check_callbacks(callbacks)
    if validation is not None and validation_fraction is not None:
        raise ValueError(
            f"validation and validation_fraction={validation_fraction} both hold data out: give one "
            "(validation=(X_val, y_val) uses those samples; validation_fraction splits the training data)"
        )
    if early_stopping and validation is None and validation_fraction is None:
        validation_fraction = 0.1
    if checkpoint is not None:
        from .io import check_writable

        check_writable(checkpoint, "checkpoint")  # before any work, not after the last epoch
    order = as_order(shuffle)  # an unknown shuffle is an error before any work
    seed = check_seed(seed)
    rng = np.random.default_rng(seed)
    mask_seed = seed if seed is not None else int(np.random.SeedSequence().entropy % (1 << 31))
    kernels = model.backend.kernels() if fast else GENERIC
    comm = as_comm(distributed)
    prefetch = model.backend.prefetch_default if prefetch is None else bool(prefetch)
    model.head = loss.head(model.n_outputs)
    if model.backend.dtype_name(model.compute_dtype) == "float16":  # float16: dynamic loss scaling
        opt.scaler = opt.scaler or LossScaler()
        opt.scaler.start(model.backend, model.dtype)
    with model.backend.context():
        source, held_out, weights = _training_data(
            model, loss, X, y, validation, validation_fraction, rng, stream, prefetch, fast, sample_weight, class_weight
        )
        n = source.n  # the global count
        if auto_batch:
            batch_size = min(200, n)
        fingerprint = _fingerprint(source, n, seed)
        settings = _run_settings(model, loss, opt, batch_size, order, seed, n, fingerprint)
        comm.setup(model, n, settings)
        source = source.shard(model, comm, kernels)
        batches = Batches(source, n, batch_size, order, rng, comm.rank, comm.size, weights)
        if model.batch_statistics and 1 in batches.sizes:
            raise ValueError(
                f"batch_size={batches.batch_size} leaves a batch of 1 sample out of {n}, on which the batch "
                "statistics of BatchNorm are undefined; choose a batch size that does not"
            )
        step = Step(model, loss, opt, kernels, comm, fast, mask_seed)
        history, run = History(), RunState()
        if resume is not None:
            run = ckpt.restore(resume, model, opt, rng, history, loss, settings)
            if run.epoch > rules.epochs:
                raise ValueError(
                    f"resume checkpoint {os.fspath(resume)!r} has already trained {run.epoch} epochs, more than "
                    f"epochs={rules.epochs}: ask for at least {run.epoch} epochs"
                )
        saver = None if checkpoint is None or comm.rank != 0 else (checkpoint, checkpoint_every, loss, settings)
        _loop(
            model,
            loss,
            opt,
            step,
            batches,
            source,
            held_out,
            history,
            run,
            rules,
            saver,
            rng,
            callbacks,
            comm,
            progress,
            n,
        )
    return history


def _loop(
    model, loss, opt, step, batches, source, held_out, history, run, rules, saver, rng, callbacks, comm, progress, n
):
    good = _snapshot(model)  # weights whose loss was finite, restored if training diverges
    try:  # the same rows before and after: did training make things worse?
        probe = source.head(1024, targets=True)
    except (ValueError, TypeError):
        probe = None  # bad streamed rows: the epoch that reads them says where, with the weights kept
    if history.initial_loss is None and probe is not None:
        history.initial_loss = _probe_loss(model, loss, probe)
    with _progress_bar(progress and comm.rank == 0, rules.epochs, run.epoch) as bar, comm.guard():
        for epoch in range(run.epoch, rules.epochs):
            t0 = time.perf_counter()
            lr_e = opt.lr_at(epoch)
            start = _snapshot(model)
            try:
                values, sums, rows = [], [], []
                for batch in batches.epoch():
                    values.append(step(batch, lr_e))
                    sums.append(batch.total_weight)
                    rows.append(batch.total)
            except (ValueError, TypeError) as exc:  # bad rows found while streaming: nothing half-trained
                if not isinstance(source, HostRows) or isinstance(exc, DivergenceError):
                    raise
                opt.reset()
                _restore(model, start)
                raise type(exc)(f"{exc}; the model keeps its weights from the start of epoch {epoch + 1}") from None
            epoch_loss, batch_losses = _mean_loss(values, sums, model.params)
            if not math.isfinite(epoch_loss):
                _diverged(model, opt, good, start, values, epoch, lr_e)
            good = start  # its first batch's loss was finite
            logs = {"loss": epoch_loss, "lr": lr_e, **_validate(model, loss, held_out)}
            logs["batches"] = {"loss": batch_losses, "weight": sums, "rows": rows}  # already on the host
            stop = _end_of_epoch(
                history, run, model, opt, logs, time.perf_counter() - t0, rules, saver, rng, callbacks, bar
            )
            if stop:
                break
    if rules.early_stopping and held_out is not None and run.best_weights is not None:
        _restore(model, (run.best_weights, run.best_state or model.state))
    opt.t = int(opt.t)  # a device scalar after a compiled step
    if probe is None:
        probe = source.head(1024, targets=True)
    _check_outputs(model, probe[0], opt, good)
    history.final_loss = _probe_loss(model, loss, probe)
    _warn_if_worse(history, opt)
    if opt.scaler is not None:
        skipped = int(to_host(opt.scaler.state[2]))
        history.skipped_steps, history.loss_scale = skipped, float(to_host(opt.scaler.scale))
        if skipped:
            message = (
                f"float16 loss scaling skipped {skipped} step(s) whose gradients overflowed (weights kept); "
                f"the loss scale is now {history.loss_scale:g}"
            )
            history.warnings.append(message)
            warnings.warn(message, PrecisionWarning, stacklevel=3)


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


def _check_callbacks(callbacks):
    if callable(callbacks) or not isinstance(callbacks, (list, tuple)):
        raise TypeError(
            f"callbacks must be a list of callables f(epoch, logs, model); got {type(callbacks).__name__} "
            "(pass [f] for one callback)"
        )
    for cb in callbacks:
        if not callable(cb):
            raise TypeError(f"callbacks must be callables f(epoch, logs, model); got {type(cb).__name__}")
    return list(callbacks)


def _snapshot(model) -> tuple[list, list]:
    return copy_params(model.params), copy_params(model.state)


def _restore(model, snapshot):
    params, state = snapshot
    model.params[:] = params
    model.state[:] = state


class _RowView:
    """Rows `rows` of host data or an array-like, read by row ranges (for fitting transforms)."""

    def __init__(self, X, rows):
        self.X, self.rows = X, rows
        self.shape = (int(rows.shape[0]), *X.shape[1:])

    def __getitem__(self, sl):
        return np.asarray(self.X[np.sort(self.rows[sl])])


def _targets(model, loss, y, name="y"):
    """Host labels through the model's classes; string labels set the model's classes."""
    if not loss.classification or not (hasattr(y, "shape") or isinstance(y, (list, tuple))):
        return y
    from ._validation import is_host_data

    if not is_host_data(y) or is_streamed(y):
        return y
    y = host_array(y, name, numeric=False)
    if y.ndim == 1 and model.classes is None and y.dtype.kind in "USOb" and y.dtype.kind != "b":
        from .model import _check_classes

        model.classes = _check_classes(np.unique(y), model.n_outputs)
    return encode_labels(model, y, name) if model.classes is not None and y.ndim == 1 else y


def _training_data(
    model,
    loss,
    X,
    y,
    validation,
    validation_fraction,
    rng,
    stream,
    prefetch,
    fast,
    sample_weight=None,
    class_weight=None,
):
    """(training rows, held-out data or None, the training rows' sample weights or None): validated,
    targets prepared, split where asked, the input stage fitted on the training rows where it is not
    fitted yet. Data stays on the host and is read by batches where it is streamed (HostRows);
    otherwise it goes to the device whole (DeviceRows, with the held-out part as (Xv, Tv))."""
    streamed = _streamed(X, stream, "X")
    y = _targets(model, loss, y)
    n = _count(X)
    w = _weights(model, loss, y, n, sample_weight, class_weight)
    train_rows = val_rows = None
    if validation_fraction is not None:
        fraction = check_positive_float(validation_fraction, "validation_fraction")
        n_val = int(round(n * fraction))
        if not 1 <= n_val < n:
            raise ValueError(
                f"validation_fraction={fraction} leaves {n_val} of {n} samples for validation; "
                "it must leave at least one sample on each side"
            )
        perm = rng.permutation(n)
        train_rows, val_rows = np.sort(perm[n_val:]), np.sort(perm[:n_val])  # each part in row order
    if model.unfitted_transforms():
        model.adapt(
            X if train_rows is None else _RowView(X, train_rows) if _can_view(X) else _take(model, X, train_rows)
        )
    w_train = w if w is None or train_rows is None else w[train_rows]
    if streamed:
        source = _host_rows(model, loss, X, y, prefetch, fast, "X", w)
        held = None
        if train_rows is not None:
            source, held = source.subset(train_rows, "X"), source.subset(val_rows, "validation X")
            held.w = None  # validation losses are not weighted
    else:
        Xd = model.prepare_input(X)
        T = loss.prepare(y, model.n_outputs, model.backend, model.dtype)
        check_same_count(Xd, T)
        held = None
        if train_rows is not None:
            xp, tr, va = model.xp, model.backend.asarray(train_rows), model.backend.asarray(val_rows)
            held = (xp.take(Xd, va, axis=0), xp.take(T, va, axis=0))
            Xd, T = xp.take(Xd, tr, axis=0), xp.take(T, tr, axis=0)
        W = None if w_train is None else model.backend.asarray(w_train, model.dtype)
        source = DeviceRows(Xd, T, model.backend, ids=model.needs_rows, W=W)
    if validation is not None:
        if not (isinstance(validation, (tuple, list)) and len(validation) == 2):
            raise TypeError("validation must be a pair (X_val, y_val)")
        yv = _targets(model, loss, validation[1], "validation y")
        if _streamed(validation[0], stream, "validation X"):
            return source, _host_rows(model, loss, validation[0], yv, prefetch, False, "validation X"), w_train
        Xv = model.prepare_input(validation[0], "validation X")
        Tv = loss.prepare(yv, model.n_outputs, model.backend, model.dtype, "validation y")
        check_same_count(Xv, Tv, "validation X", "validation y")
        return source, (Xv, Tv), w_train
    return source, held, w_train


def _weights(model, loss, y, n, sample_weight, class_weight):
    """The host sample weights of the run (sample_weight × class_weight), or None."""
    from .weights import sample_weights

    if sample_weight is None and class_weight is None:
        return None
    labels = None
    if class_weight is not None:
        if not loss.classification:
            raise ValueError(f"class_weight applies to classification losses; loss {loss.name!r} is a regression loss")
        labels = np.asarray(host_array(y, "y", numeric=False))
        if labels.ndim == 2 and labels.shape[1] > 1:
            labels = labels.argmax(axis=1)
        labels = labels.reshape(-1)
    return sample_weights(sample_weight, class_weight, n, labels, model.classes)


def _count(X) -> int:
    """The number of rows of X (an error naming X where it has no rows)."""
    shape = getattr(X, "shape", None)
    if shape is None:
        shape = np.shape(host_array(X, "X"))
    if len(shape) != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features); got {len(shape)}-D shape {tuple(shape)}")
    return int(shape[0])


def _can_view(X) -> bool:
    from ._validation import is_host_data

    return is_host_data(X) and hasattr(X, "shape") and hasattr(X, "__getitem__") and not hasattr(X, "iloc")


def _take(model, X, rows):
    """Rows of device data (or a host table) for fitting transforms."""
    from ._validation import is_host_data

    if is_host_data(X):
        return host_array(X, "X")[rows]
    return model.xp.take(X, model.backend.asarray(rows), axis=0)


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


def _host_rows(model, loss, X, y, prefetch, fast, name, w=None) -> HostRows:
    """Rows of host data read batch by batch: each batch checked, through the input stage and
    cast on the host, then copied over."""
    from . import backends

    host = backends.get("numpy")
    dtype = np.dtype(model.backend.dtype_name(model.dtype))

    def prepare_t(yb, where):
        return loss.prepare(encode_labels(model, yb, where), model.n_outputs, host, dtype, where)

    return HostRows(
        X,
        y,
        model.prepare_host,
        prepare_t,
        model.backend.upload,
        prefetch=prefetch,
        reuse=fast and model.backend.shares_host_memory,
        name=name,
        ids=model.needs_rows,
        w=w,
    )


def _fingerprint(source, n, seed) -> str:
    """A digest of the training data: up to 16 rows chosen by a fixed seed (inputs as training sees
    them, and targets), so that a resumed run or another MPI rank can tell it has other data."""
    pick = np.sort(np.random.default_rng(0).choice(n, size=min(n, 16), replace=False))  # the same rows for any seed
    xs, ts = source.sample(pick)
    h = hashlib.sha256()
    for a in (np.asarray(xs, dtype=np.float64), np.asarray(ts, dtype=np.float64)):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def _run_settings(model, loss, opt, batch_size, order, seed, n, fingerprint) -> dict:
    """What makes a run this run: the settings every MPI rank must share and a resumed run must repeat."""
    shuffle = order if isinstance(order, str) else {"block": order.block, "window": order.window}
    return {
        "seed": seed,
        "batch_size": batch_size,
        "shuffle": shuffle,
        "n": n,
        "n_features": model.n_features,
        "layers": model.config()["layers"],
        "dtype": model.config()["dtype"],
        "compute_dtype": model.config()["compute_dtype"],
        "loss": {"class": type(loss).__name__, **loss.config()},
        "optimizer": opt.config(),
        "data": fingerprint,
    }


class Step:
    """One mini-batch step: forward, backward into the optimizer's sinks, combine across
    processes, update; the model's new state kept. Returns the batch's mean loss (on the device
    with one process)."""

    def __init__(
        self, model: Sequential, loss: Loss, opt: Optimizer, kernels: Kernels, comm: Any, fast: bool, seed: int = 0
    ):
        self.model, self.loss, self.opt, self.kernels, self.comm, self.seed = model, loss, opt, kernels, comm, seed
        # Mixed precision: the 16-bit backward returns raw float32 gradients, which the sinks receive
        # through these kernels (in place in the optimizer's flat buffers: the update stays fused). With
        # loss scaling (float16) the update is unfused, since a step that overflowed must leave the
        # optimizer's state (momentum, moments) as it was.
        self.sink_kernels = kernels if fast and opt.scaler is None else GENERIC
        opt.bind(self.sink_kernels)
        self.run = (
            model.backend.compile_step(self.step, model, opt, loss, seed) if fast and comm.size == 1 else self.step
        )

    def __call__(self, batch, lr: float):
        return self.run(batch, lr)

    def step(self, batch, lr: float):
        xb, tb, wb, rows, count, total = batch.x, batch.t, batch.w, batch.rows, batch.count, batch.total
        model, opt = self.model, self.opt
        params = model.params
        opt.for_batch(batch.total_weight)
        sinks = opt.sinks(params, lr)
        if count or model.batch_statistics:  # batch statistics: every process takes part in their sums
            if not count:
                xb, tb = self._empty()
            ctx = Context(
                training=True,
                keep=True,
                kernels=self.kernels,
                step=opt.t,
                seed=self.seed,
                rows=rows,
                count=count,
                total=total,
                stats=self.comm,
            )
            scale = None if opt.scaler is None else opt.scaler.scale
            with np.errstate(invalid="ignore", divide="ignore") if not count else nullcontext():
                value, sunk, new_state = model.loss_and_grads(self.loss, xb, tb, ctx, sinks, scale, wb)
            if model.mixed_precision:  # raw gradients in the variable dtype, into their sinks
                sunk = [sink.receive(g, self.sink_kernels) for sink, g in zip(sinks, sunk)]
            if not count:
                value, sunk = None, [s.target for s in sinks]
        else:  # this process owns none of the batch
            value, sunk, new_state = None, [s.target for s in sinks], None
        value, sunk = self.comm.combine(model, value, sunk, batch.weight, batch.total_weight)
        if opt.scaler is None:
            opt.update(params, sunk, lr, self.kernels)
            if new_state is not None:
                model.state[:] = new_state
            return value
        ok = opt.guarded_update(params, sunk, lr, self.kernels)  # a step that overflowed is skipped
        if new_state is not None:
            model.state[:] = _keep_if(ok, new_state, model.state)
        return value

    def _empty(self):
        m = self.model
        width = m._widths[m._n_input - 1] if m._n_input else m.n_features
        make = m.backend.zeros
        return make((0, width), m.dtype), make((0, m.n_outputs), m.dtype)


def _mean_loss(values, sizes, params) -> tuple[float, list]:
    """Mean loss over the epoch's samples from the per-batch means (weighted by the batches' sample
    counts, or weight sums), NaN where the weights after the epoch's last update are not finite,
    and the batch means as host numbers: one explicit host read of the batch losses and the
    weights' finiteness flags."""
    xp = array_namespace(params[0])
    flags = [xp.all(xp.isfinite(p)) for p in params]
    if isinstance(values[0], float):  # several processes: the losses came back as host numbers
        losses, finite = np.asarray(values), to_host(xp.stack(flags))
    else:
        host = to_host(xp.stack([*values, *(xp.astype(f, values[0].dtype) for f in flags)]))
        losses, finite = host[: len(values)], host[len(values) :]
    losses = losses.astype(np.float64)
    if not np.all(finite):
        return math.nan, losses.tolist()
    sizes = np.asarray(sizes, dtype=np.float64)
    return float(np.dot(losses, sizes)) / float(sizes.sum()), losses.tolist()


def _diverged(model, opt, good, start, values, epoch, lr):
    """Restore finite weights (the epoch's start, or the epoch before where its first batch
    already failed), reset the optimizer, and raise."""
    opt.reset()  # its state (momentum, moments) is no longer finite
    host = np.asarray(values) if isinstance(values[0], float) else to_host(array_namespace(values[0]).stack(values))
    bad = next((i for i, v in enumerate(host.tolist()) if not math.isfinite(v)), None)
    _restore(model, good if bad == 0 else start)
    if bad is None:
        where = f"the weights became NaN or infinite in the last update of epoch {epoch + 1}"
    else:
        where = f"the loss became {host[bad]} at epoch {epoch + 1}, batch {bad + 1} of {len(values)}"
    raise DivergenceError(
        f"training diverged: {where} (lr={lr:g}); the model keeps the last weights whose loss was finite and the "
        "optimizer's state is reset. Lower the learning rate, or clip gradients (clip_norm)"
    )


def _check_outputs(model, X, opt, good):
    """The trained model's outputs on some training samples `X` (prepared rows) are finite, or
    training diverged."""
    if not _finite_outputs(model, X):
        opt.reset()
        _restore(model, good)
        raise DivergenceError(
            "training diverged: after the last update the model's outputs overflow to NaN or infinity on the "
            "training data; the model keeps the last weights whose loss was finite. Lower the learning rate, or "
            "clip gradients (clip_norm)"
        )


def _finite_outputs(model, X) -> bool:
    xp = model.xp
    return bool(to_host(xp.all(xp.isfinite(model.forward_fn()(X)))))


def _probe_loss(model, loss, probe) -> float:
    """The loss (inference mode) on the probe rows: the same rows before and after training."""
    value, *_ = model.evaluator(loss)(*probe)
    return float(to_host(value))


def _warn_if_worse(history, opt, margin=0.01):
    """A run whose final loss on the probe rows (up to 1,024 training samples, in inference mode)
    is more than 1% above the initial weights' loss on the same rows made the model worse: say so,
    with the learning rate and the ratio (kept in ``history.warnings`` too, for the CLI). The same
    rows before and after, without dropout: epoch means (other weights on each batch) or a first
    batch (other samples) would warn on noise."""
    now, ref = history.final_loss, history.initial_loss
    if now is None or not ref or ref <= 0 or not now > ref * (1 + margin):
        return
    message = (
        f"training made the loss worse: the trained model's loss on up to 1,024 training samples is {now:.4g}, "
        f"{now / ref:.3g}x the initial weights' {ref:.4g} (lr={opt.lr:g}); the learning rate is likely too high"
    )
    history.warnings.append(message)
    warnings.warn(message, TrainingWarning, stacklevel=3)


def _validate(model, loss, held_out) -> dict:
    """Validation loss (and accuracy where the loss trains a classifier; for a multilabel head
    the exact-match accuracy and the per-label one) on held-out data: one forward pass, or one
    per chunk of streamed data. Counts are exact on every backend."""
    if held_out is None:
        return {}
    head = model.head
    chunks = (
        held_out.chunks()
        if isinstance(held_out, HostRows)
        else [(held_out[0], held_out[1], None, None, held_out[0].shape[0])]
    )
    total, correct, per_label, n = 0.0, 0, 0, 0
    evaluate = model.evaluator(loss)
    xp = model.xp
    for Xv, Tv, _, _, count in chunks:
        value, exact, labels, _ = evaluate(Xv, Tv)
        total += float(to_host(value)) * count  # explicit reads: the loss, then the exact counts
        if exact is not None:
            counts = to_host(xp.stack([exact, exact if labels is None else labels])).tolist()
            correct += int(counts[0])
            per_label += int(counts[1]) if labels is not None else 0
        n += count
    logs = {"val_loss": total / n}
    if head.classification:
        logs["val_accuracy"] = correct / n
        if head.kind == "multilabel":
            logs["val_label_accuracy"] = per_label / (n * model.n_outputs)
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
                run.best_state = copy_params(model.state)
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
    for key in ("val_loss", "val_accuracy", "val_label_accuracy"):
        if key in logs:
            getattr(history, key).append(logs[key])
    history.seconds.append(seconds)
    history.epochs = run.epoch + 1
    early = rules.early_stopping and "val_loss" in logs
    monitored = logs["val_loss"] if early else logs["loss"]
    opt.schedule.observe(monitored)
    stop = rules.observe(run, history, model, monitored, early)
    if bar is not None:
        bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items() if k not in ("lr", "batches")})
        bar.update(1)
    run.epoch += 1
    if saver is not None:
        path, every, loss, settings = saver
        if run.epoch % every == 0 or stop or run.epoch == rules.epochs:
            ckpt.save(path, model, opt, rng, history, run, loss, settings)
    if any(cb(run.epoch - 1, logs, model) for cb in callbacks):
        history.stop_reason = "callback"
        stop = True
    return stop


def _progress_bar(show: bool, total: int, initial: int):
    if not show:
        return nullcontext(None)
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="train", unit="epoch", leave=False)
