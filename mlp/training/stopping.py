"""When to stop before the last epoch: the tol rule on the training loss, or early stopping on the
validation loss (with the best weights and state kept and restored)."""

from __future__ import annotations

from dataclasses import dataclass

from mlp.checks import check_positive_float, check_positive_int
from mlp.training.history import History, Progress

__all__ = ["StoppingRules"]


@dataclass(frozen=True)
class StoppingRules:
    """Stop when the monitored loss has not improved by ``tol`` for ``patience`` epochs: the training
    loss (a tol given, no early stopping), or the validation loss (``early_stopping``)."""

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

    def observe(self, progress: Progress, history: History, monitored: float, early: bool, snapshot) -> bool:
        """Record the epoch's monitored loss (and with early stopping the weights as they are, taken by
        `snapshot()` when they are the best yet); True when training should stop."""
        improved = monitored < progress.best - (self.tol or 0.0)
        if monitored < progress.best:
            progress.best = monitored
            history.best_epoch = history.epochs
            if early:
                progress.best_snapshot = snapshot()
        if self.tol is None and not early:
            return False
        progress.bad = 0 if improved else progress.bad + 1
        if progress.bad >= self.patience:
            history.stop_reason = "early_stopping" if early else "tol"
            return True
        return False
