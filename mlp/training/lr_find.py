"""The learning-rate range test (Smith 2017; fastai's and Keras-tuner's LR finder): train for a few
hundred steps with the rate rising exponentially from ``start`` to ``end``, record the batch losses,
and suggest the rate where the smoothed loss falls fastest. The model and the optimizer are left as
they were."""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field

import numpy as np

from mlp.checks import check_positive_float, check_positive_int
from mlp.optim.schedules import Schedule
from mlp.training.callbacks import Callback
from mlp.training.errors import DivergenceError, TrainingWarning

__all__ = ["lr_find", "LRFinderResult"]


@dataclass
class LRFinderResult:
    """The rates tried, one per step, the batch losses and their smoothed values, and the suggestion:
    the rate at the steepest fall of the smoothed loss (its slope against log lr), or None where the
    loss never fell."""

    lrs: list = field(default_factory=list)
    losses: list = field(default_factory=list)
    smoothed: list = field(default_factory=list)
    suggestion: float | None = None

    def plot(self, path):
        """Loss against learning rate (log scale), the suggestion marked; needs matplotlib (mlp[plot])."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as exc:
            raise ImportError(f"plotting needs matplotlib ({exc}): pip install mlp[plot]") from None
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(self.lrs, self.losses, alpha=0.3, label="batch loss")
        ax.plot(self.lrs, self.smoothed, label="smoothed")
        if self.suggestion is not None:
            ax.axvline(self.suggestion, color="k", linestyle="--", label=f"suggested {self.suggestion:.2g}")
        ax.set_xscale("log")
        finite = [v for v in self.smoothed if math.isfinite(v)]
        if finite:  # the diverging tail would flatten the part that matters
            ax.set_ylim(min(finite) * 0.9, max(finite[0] * 1.5, min(finite) * 1.1))
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss")
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.fspath(path))
        plt.close(fig)
        return os.fspath(path)


class _Exponential(Schedule):
    """Per step: start · (end / start)^(step / (steps − 1))."""

    per_step = True

    def __init__(self, start, end, steps, first):
        self.start, self.end, self.steps, self.first = start, end, steps, first

    def __call__(self, step, lr0):
        k = min(max(step - self.first, 0), self.steps - 1)
        return self.start * (self.end / self.start) ** (k / max(self.steps - 1, 1))


class _Recorder(Callback):
    batch_loss_on_host = True

    def __init__(self, result, schedule, steps, beta=0.98, diverge=4.0):
        self.result, self.schedule, self.steps, self.beta, self.diverge = result, schedule, steps, beta, diverge
        self.avg, self.best = 0.0, math.inf

    def on_batch_end(self, step, logs, model):
        r, loss = self.result, logs["loss"]
        r.lrs.append(float(logs["lr"]))
        r.losses.append(loss)
        if not math.isfinite(loss):
            r.smoothed.append(math.nan)
            return True
        self.avg = self.beta * self.avg + (1 - self.beta) * loss
        smooth = self.avg / (1 - self.beta ** len(r.losses))
        r.smoothed.append(smooth)
        self.best = min(self.best, smooth)
        return len(r.losses) >= self.steps or smooth > self.diverge * self.best


def lr_find(model, X, y, *, optimizer="adam", start=1e-7, end=10.0, steps=100, batch_size=32, plot=None, **train_kw):
    """The range test on (X, y) with ``optimizer`` (a name or an object: its settings are used, its
    rate is the test's): ``steps`` updates at rates from ``start`` to ``end`` (exponentially), stopping
    early where the smoothed loss passes 4× its best. ``plot``: a file for the figure (matplotlib).
    The model's weights and state and the optimizer's state are restored afterwards. Other keyword
    arguments go to ``mlp.train`` (loss, seed, sample_weight, ...)."""
    from mlp.optim import get_optimizer
    from mlp.training.loop import train

    start = check_positive_float(start, "start")
    end = check_positive_float(end, "end")
    if end <= start:
        raise ValueError(f"end must be above start; got start={start:g}, end={end:g}")
    steps = check_positive_int(steps, "steps", minimum=5)
    for bad in ("epochs", "callbacks", "lr", "checkpoint", "resume", "validation", "validation_fraction"):
        if bad in train_kw:
            raise ValueError(f"lr_find sets {bad} itself; leave it out")
    opt = get_optimizer(optimizer)
    saved = (model.get_weights(), model.get_state(), opt.state, opt.t, opt.schedule, model.head)
    result = LRFinderResult()
    try:
        opt.schedule = _Exponential(start, end, steps, opt.t)
        n = int(np.shape(X)[0]) if not hasattr(X, "shape") else int(X.shape[0])
        per_epoch = max(1, -(-n // batch_size))
        epochs = -(-steps // per_epoch)
        recorder = _Recorder(result, opt.schedule, steps)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", TrainingWarning)  # the test ends at rates that make things worse
                train(
                    model,
                    X,
                    y,
                    optimizer=opt,
                    epochs=epochs,
                    batch_size=batch_size,
                    callbacks=[recorder],
                    progress=False,
                    **train_kw,
                )
        except DivergenceError:
            pass  # the rates ran high enough to diverge: the losses recorded so far are the test
    finally:
        model.set_weights(saved[0])
        model.set_state(saved[1])
        opt.state, opt.t, opt.schedule, model.head = saved[2], saved[3], saved[4], saved[5]
    result.suggestion = _steepest(result)
    if plot is not None:
        result.plot(plot)
    return result


def _steepest(result) -> float | None:
    """The rate where the smoothed loss falls fastest against log lr (skipping the first tenth of
    the steps, where the average is still settling), or None where it never falls."""
    lrs, sm = np.asarray(result.lrs), np.asarray(result.smoothed)
    ok = np.isfinite(sm)
    lrs, sm = lrs[ok], sm[ok]
    if sm.shape[0] < 5:
        return None
    skip = max(1, sm.shape[0] // 10)
    slope = np.gradient(sm, np.log(lrs))[skip:]
    i = int(np.argmin(slope))
    return float(lrs[skip + i]) if slope[i] < 0 else None
