"""What a run measures besides the training loss: validation figures, the loss on a fixed set of
training rows before and after (did training make things worse?), and finite outputs at the end.
Each reads the model's parked weights (``TrainState.park``) with one explicit host read."""

from __future__ import annotations

import warnings

from mlp.model.inference import evaluator, forward_fn
from mlp.numerics import to_host
from mlp.training.errors import TrainingWarning

__all__ = ["validate", "probe_loss", "finite_outputs", "warn_if_worse"]


def validate(model, loss, held_out) -> dict:
    """Validation loss (and accuracy where the loss trains a classifier; for a multilabel head
    the exact-match accuracy and the per-label one) on held-out rows: one forward pass per chunk.
    Counts are exact on every backend."""
    if held_out is None:
        return {}
    head = model.head
    total, correct, per_label, n = 0.0, 0, 0, 0
    evaluate = evaluator(model, loss)
    xp = model.xp
    for Xv, Tv, _, _, count in held_out.chunks():
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


def probe_loss(model, loss, probe) -> float:
    """The loss (inference mode) on the probe rows: the same rows before and after training."""
    value, *_ = evaluator(model, loss)(*probe)
    return float(to_host(value))


def finite_outputs(model, X) -> bool:
    """Whether the model's outputs on prepared rows X are all finite."""
    xp = model.xp
    return bool(to_host(xp.all(xp.isfinite(forward_fn(model)(X)))))


def warn_if_worse(history, lr, margin=0.01):
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
        f"{now / ref:.3g}x the initial weights' {ref:.4g} (lr={lr:g}); the learning rate is likely too high"
    )
    history.warnings.append(message)
    warnings.warn(message, TrainingWarning, stacklevel=4)
