"""Learning-rate schedules, evaluated once per epoch: lr_epoch = schedule(epoch, lr0)."""

from __future__ import annotations

import math

__all__ = ["Constant", "TimeDecay", "StepDecay", "InverseScaling", "ReduceOnPlateau", "get_schedule"]


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
        if not decay >= 0:
            raise ValueError(f"decay must be >= 0; got {decay}")
        self.decay = float(decay)

    def __call__(self, epoch, lr0):
        return lr0 / (1 + self.decay * epoch)


class StepDecay(Schedule):
    """lr0 · gamma^floor(epoch / step)."""

    _settings = ("step", "gamma")

    def __init__(self, step=10, gamma=0.1):
        if not (isinstance(step, int) and step >= 1):
            raise ValueError(f"step must be an integer >= 1; got {step!r}")
        if not 0 < gamma <= 1:
            raise ValueError(f"gamma must be in (0, 1]; got {gamma}")
        self.step, self.gamma = step, float(gamma)

    def __call__(self, epoch, lr0):
        return lr0 * self.gamma ** (epoch // self.step)


class InverseScaling(Schedule):
    """lr0 / (epoch + 1)^power (scikit-learn's 'invscaling', counted in epochs)."""

    _settings = ("power",)

    def __init__(self, power=0.5):
        if not power > 0:
            raise ValueError(f"power must be > 0; got {power}")
        self.power = float(power)

    def __call__(self, epoch, lr0):
        return lr0 / (epoch + 1) ** self.power


class ReduceOnPlateau(Schedule):
    """Multiply the rate by `factor` when the monitored loss has not improved by more
    than `threshold` for `patience` epochs (never below `min_lr`)."""

    _settings = ("factor", "patience", "threshold", "min_lr")

    def __init__(self, factor=0.2, patience=5, threshold=1e-4, min_lr=0.0):
        if not 0 < factor < 1:
            raise ValueError(f"factor must be in (0, 1); got {factor}")
        self.factor, self.patience, self.threshold, self.min_lr = (
            float(factor),
            int(patience),
            float(threshold),
            float(min_lr),
        )
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
    "plateau": ReduceOnPlateau,
}


def get_schedule(schedule):
    if isinstance(schedule, Schedule):
        return schedule
    if isinstance(schedule, str) and schedule in SCHEDULES:
        return SCHEDULES[schedule]()
    raise ValueError(f"schedule must be one of {sorted(SCHEDULES)} or a Schedule; got {schedule!r}")
