"""Learning-rate schedules. Per epoch (``per_step`` False): lr = schedule(epoch, lr0) for every step of
the epoch. Per step (``per_step`` True: ``WarmupCosine``, ``WarmupLinear``, ``OneCycle``): lr =
schedule(step, lr0) for the optimizer's step counter (0 at the first step of a fresh optimizer, going
on across ``train`` calls and through a resumed checkpoint), over ``total_steps`` steps: None takes
the run's epochs × its batches per epoch when training starts."""

from __future__ import annotations

import math

from mlp.checks import check_fraction, check_positive_float, check_positive_int

__all__ = [
    "Constant",
    "TimeDecay",
    "StepDecay",
    "InverseScaling",
    "CosineDecay",
    "ReduceOnPlateau",
    "WarmupCosine",
    "WarmupLinear",
    "OneCycle",
    "get_schedule",
]


class Schedule:
    per_step = False  # True: called with the step counter, before every step

    def __call__(self, epoch, lr0):
        raise NotImplementedError

    def fit_run(self, total_steps: int) -> None:
        """Told the run's step count when training starts (per-step schedules without their own)."""

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


class _PerStep(Schedule):
    """A per-step schedule over ``total_steps`` (None: the run's), after ``warmup_steps`` rising linearly."""

    per_step = True
    _settings = ("total_steps", "warmup_steps", "min_factor")

    def __init__(self, total_steps=None, warmup_steps=0, min_factor=0.0):
        name = type(self).__name__
        self.total_steps = None if total_steps is None else check_positive_int(total_steps, f"{name} total_steps")
        self.warmup_steps = check_positive_int(warmup_steps, f"{name} warmup_steps", minimum=0)
        self.min_factor = check_fraction(min_factor, f"{name} min_factor", low_closed=True, high_closed=True)
        self._run_steps = None

    def fit_run(self, total_steps):
        self._run_steps = total_steps

    def _progress(self, step):
        """(warming up, the fraction of the decay done) at `step`."""
        total = self.total_steps or self._run_steps or 1
        if step < self.warmup_steps:
            return True, (step + 1) / (self.warmup_steps + 1)
        return False, min((step - self.warmup_steps) / max(total - self.warmup_steps, 1), 1.0)

    def __call__(self, step, lr0):
        warming, x = self._progress(step)
        if warming:
            return lr0 * x
        return lr0 * (self.min_factor + (1 - self.min_factor) * self._shape(x))


class WarmupCosine(_PerStep):
    """Per step: linear warmup over ``warmup_steps`` to lr0, then a cosine from lr0 down to
    lr0 · min_factor at ``total_steps`` (None: the run's steps), then constant."""

    def _shape(self, x):
        return 0.5 * (1 + math.cos(math.pi * x))


class WarmupLinear(_PerStep):
    """Per step: linear warmup over ``warmup_steps`` to lr0, then a straight line down to
    lr0 · min_factor at ``total_steps`` (None: the run's steps), then constant."""

    def _shape(self, x):
        return 1 - x


class OneCycle(Schedule):
    """Per step, PyTorch's OneCycleLR (cosine annealing, the learning rate only): from lr0 / div_factor
    up to lr0 over the first ``pct_start`` of ``total_steps`` (None: the run's steps), then down to
    lr0 / (div_factor · final_div_factor) at the end."""

    per_step = True
    _settings = ("total_steps", "pct_start", "div_factor", "final_div_factor")

    def __init__(self, total_steps=None, pct_start=0.3, div_factor=25.0, final_div_factor=1e4):
        self.total_steps = None if total_steps is None else check_positive_int(total_steps, "OneCycle total_steps")
        self.pct_start = check_fraction(pct_start, "OneCycle pct_start")
        self.div_factor = check_positive_float(div_factor, "OneCycle div_factor")
        self.final_div_factor = check_positive_float(final_div_factor, "OneCycle final_div_factor")
        self._run_steps = None

    def fit_run(self, total_steps):
        self._run_steps = total_steps

    def __call__(self, step, lr0):
        total = self.total_steps or self._run_steps or 1
        start, low = lr0 / self.div_factor, lr0 / (self.div_factor * self.final_div_factor)
        up = float(self.pct_start * total) - 1  # PyTorch's phase ends (steps counted from 0)
        end = total - 1
        if step <= up:
            a, b, x = start, lr0, step / up if up > 0 else 1.0
        else:
            a, b, x = lr0, low, min((step - up) / max(end - up, 1e-12), 1.0)
        return b + (a - b) * 0.5 * (1 + math.cos(math.pi * x))


SCHEDULES = {
    "constant": Constant,
    "time": TimeDecay,
    "step": StepDecay,
    "invscaling": InverseScaling,
    "cosine": CosineDecay,
    "plateau": ReduceOnPlateau,
    "warmup_cosine": WarmupCosine,
    "warmup_linear": WarmupLinear,
    "onecycle": OneCycle,
}


def get_schedule(schedule):
    if isinstance(schedule, Schedule):
        return schedule
    if isinstance(schedule, str) and schedule in SCHEDULES:
        return SCHEDULES[schedule]()
    raise ValueError(f"schedule must be one of {sorted(SCHEDULES)} or a Schedule; got {schedule!r}")
