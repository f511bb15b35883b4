"""Optimizers (settings on the object, the state a value), float16 loss scaling, learning-rate schedules."""

from mlp.optim.adam import Adam, AdamW
from mlp.optim.base import OPTIMIZERS, Hyper, Optimizer, accepts, get_optimizer
from mlp.optim.lion import Lion
from mlp.optim.rmsprop import RMSProp
from mlp.optim.scaler import LossScaler
from mlp.optim.sgd import SGD, GradientDescent

__all__ = [
    "OPTIMIZERS",
    "Adam",
    "AdamW",
    "GradientDescent",
    "Hyper",
    "Lion",
    "LossScaler",
    "Optimizer",
    "RMSProp",
    "SGD",
    "accepts",
    "get_optimizer",
]
