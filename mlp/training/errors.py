"""What training raises and warns."""

from __future__ import annotations

from mlp.checks import DataWarning

__all__ = ["DivergenceError", "TrainingWarning", "PrecisionWarning", "DataWarning"]


class DivergenceError(ValueError, FloatingPointError):
    """The loss or a gradient became NaN or infinite; the model keeps its last finite weights.
    A ValueError (the settings or the data caused it) and a FloatingPointError."""


class TrainingWarning(UserWarning):
    """Training ran but made the model worse (the last epoch's loss above the first's)."""


class PrecisionWarning(UserWarning):
    """Float16 loss scaling skipped steps whose gradients overflowed (said once per run)."""
