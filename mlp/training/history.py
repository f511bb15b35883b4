"""Records of a training run: the per-epoch History users read, and the Progress that checkpoints
save and a resumed run continues from."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["History", "Progress"]


@dataclass
class History:
    """Per-epoch record of a training run."""

    loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_accuracy: list = field(default_factory=list)
    val_label_accuracy: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    epochs: int = 0
    best_epoch: int | None = None
    stop_reason: str = "max_epochs"
    initial_loss: float | None = None  # the initial weights' loss on up to 1,024 training samples
    final_loss: float | None = None  # the trained model's loss on the same samples
    skipped_steps: int = 0  # float16 loss scaling: steps skipped on overflowing gradients
    loss_scale: float | None = None  # float16 loss scaling: the scale at the end
    warnings: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class Progress:
    """How far a run has come: epochs done, the best monitored loss, epochs without improvement,
    and the best weights and state (a snapshot, kept for early stopping)."""

    epoch: int = 0
    best: float = math.inf
    bad: int = 0
    best_snapshot: tuple | None = None

    def as_header(self) -> dict:
        return {
            "epoch": self.epoch,
            "best": self.best if math.isfinite(self.best) else None,
            "bad": self.bad,
            "has_best": self.best_snapshot is not None,
        }

    @classmethod
    def from_header(cls, h: dict, best_snapshot: tuple | None) -> Progress:
        best = math.inf if h["best"] is None else float(h["best"])
        return cls(int(h["epoch"]), best, int(h["bad"]), best_snapshot)
