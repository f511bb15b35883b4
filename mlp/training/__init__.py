"""Training: the run's value (``TrainState``), the step (``make_step``), the loop (``train``), the door
where data enters (``sources``) and what the loop reads (``rows``, ``batches``), stopping rules,
validation, checkpoints, and data-parallel training (``distributed``)."""

from mlp.training.callbacks import Callback, CSVLogger, EarlyStopping, ModelCheckpoint, TensorBoard
from mlp.training.errors import DataWarning, DivergenceError, PrecisionWarning, TrainingWarning
from mlp.training.history import History
from mlp.training.loop import train
from mlp.training.lr_find import LRFinderResult, lr_find
from mlp.training.state import TrainState
from mlp.training.step import make_step

__all__ = [
    "Callback",
    "CSVLogger",
    "EarlyStopping",
    "ModelCheckpoint",
    "TensorBoard",
    "DataWarning",
    "DivergenceError",
    "History",
    "PrecisionWarning",
    "TrainState",
    "TrainingWarning",
    "LRFinderResult",
    "lr_find",
    "make_step",
    "train",
]
