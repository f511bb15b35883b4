"""Learning-rate schedules, evaluated once per epoch: lr_epoch = schedule(epoch, lr0)."""

from __future__ import annotations

import math

from mlp.checks import check_fraction, check_positive_float, check_positive_int

__all__ = ["Constant", "TimeDecay", "StepDecay", "InverseScaling", "CosineDecay", "ReduceOnPlateau", "get_schedule"]


class Schedule:
    def __call__(self, epoch, lr0):
        raise NotImplementedError

    def observe(self, metric):
        """Told the epoch's monitored loss (only ReduceOnPlateau uses it)."""

    def config(self) -> dict:
        """The schedule's kind and settings (its settings are its public attributes)."""
        return {"class": type(self).__name__, **{k: v for k, v in vars(self).items() if k in self._settings}}

    _settings: tuple = ()

    def state_dict(self):
        return {}

    def load_state_dict(self, d):
        pass


class Constant(Schedule):
    def __call__(self, epoch, lr0):
        return lr0


class TimeDecay(Schedule):
    """lr0 / (1 + decay · epoch)."""

    _settings = ("decay",)

    def __init__(self, decay=0.01):
        self.decay = check_positive_float(decay, "TimeDecay decay", allow_zero=True)

    def __call__(self, epoch, lr0):
        return lr0 / (1 + self.decay * epoch)


class StepDecay(Schedule):
    """lr0 · gamma^floor(epoch / step)."""

    _settings = ("step", "gamma")

    def __init__(self, step=10, gamma=0.1):
        self.step = check_positive_int(step, "StepDecay step")
        self.gamma = check_fraction(gamma, "StepDecay gamma", high_closed=True)

    def __call__(self, epoch, lr0):
        return lr0 * self.gamma ** (epoch // self.step)


class InverseScaling(Schedule):
    """lr0 / (epoch + 1)^power (scikit-learn's 'invscaling', counted in epochs)."""

    _settings = ("power",)

    def __init__(self, power=0.5):
        self.power = check_positive_float(power, "InverseScaling power")

    def __call__(self, epoch, lr0):
        return lr0 / (epoch + 1) ** self.power


class CosineDecay(Schedule):
    """lr0 · (min_factor + (1 − min_factor) · (1 + cos(π · epoch / epochs)) / 2): from lr0 down to
    lr0 · min_factor over `epochs` epochs (then constant), after `warmup` epochs rising linearly."""

    _settings = ("epochs", "min_factor", "warmup")

    def __init__(self, epochs=30, min_factor=0.0, warmup=0):
        self.epochs = check_positive_int(epochs, "CosineDecay epochs")
        self.min_factor = check_fraction(min_factor, "CosineDecay min_factor", low_closed=True)
        self.warmup = check_positive_int(warmup, "CosineDecay warmup", minimum=0)

    def __call__(self, epoch, lr0):
        if epoch < self.warmup:
            return lr0 * (epoch + 1) / (self.warmup + 1)
        span = max(self.epochs - self.warmup, 1)
        progress = min((epoch - self.warmup) / span, 1.0)
        return lr0 * (self.min_factor + (1 - self.min_factor) * 0.5 * (1 + math.cos(math.pi * progress)))


class ReduceOnPlateau(Schedule):
    """Multiply the rate by `factor` when the monitored loss has not improved by more
    than `threshold` for `patience` epochs (never below `min_lr`)."""

    _settings = ("factor", "patience", "threshold", "min_lr")

    def __init__(self, factor=0.2, patience=5, threshold=1e-4, min_lr=0.0):
        self.factor = check_fraction(factor, "ReduceOnPlateau factor")
        self.patience = check_positive_int(patience, "ReduceOnPlateau patience", minimum=0)
        self.threshold = check_positive_float(threshold, "ReduceOnPlateau threshold", allow_zero=True)
        self.min_lr = check_positive_float(min_lr, "ReduceOnPlateau min_lr", allow_zero=True)
        self.scale, self.best, self.bad = 1.0, math.inf, 0

    def observe(self, metric):
        if metric < self.best - self.threshold:
            self.best, self.bad = metric, 0
        else:
            self.bad += 1
            if self.bad > self.patience:
                self.scale *= self.factor
                self.bad = 0

    def __call__(self, epoch, lr0):
        return max(lr0 * self.scale, self.min_lr)

    def state_dict(self):
        return {"scale": self.scale, "best": self.best, "bad": self.bad}

    def load_state_dict(self, d):
        self.scale, self.best, self.bad = float(d["scale"]), float(d["best"]), int(d["bad"])


SCHEDULES = {
    "constant": Constant,
    "time": TimeDecay,
    "step": StepDecay,
    "invscaling": InverseScaling,
    "cosine": CosineDecay,
    "plateau": ReduceOnPlateau,
}


def get_schedule(schedule):
    if isinstance(schedule, Schedule):
        return schedule
    if isinstance(schedule, str) and schedule in SCHEDULES:
        return SCHEDULES[schedule]()
    raise ValueError(f"schedule must be one of {sorted(SCHEDULES)} or a Schedule; got {schedule!r}")
