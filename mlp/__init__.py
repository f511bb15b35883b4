"""mlp: multi-layer perceptrons on any array-API backend (NumPy, CuPy, PyTorch, JAX, ...)."""

import importlib.util as _util

if _util.find_spec(f"{__name__}.backends") is None:  # the checkout's mlp/ folder, not the installed package

    def _installed_elsewhere():
        """The folder of an installed mlp further along sys.path (one with its mlp/backends), if any."""
        import os
        import sys

        here = os.path.dirname(os.path.abspath(__file__))
        for entry in sys.path:
            folder = os.path.join(os.path.abspath(entry or os.getcwd()), "mlp")
            if folder != here and os.path.isfile(os.path.join(folder, "backends", "__init__.py")):
                return folder
        return None

    _elsewhere = _installed_elsewhere()
    if _elsewhere:
        raise ImportError(
            f"this mlp/ folder ({__path__[0]}) is the repository's source, and it shadows the mlp installed in "
            f"{_elsewhere}: Python looks in the current folder first. Run from another folder, or install the "
            "checkout editable (pip install -e .) so that the two are the same."
        )
    raise ImportError(
        "mlp is not installed: its backends (the top-level backends/ folder) are installed as mlp.backends. "
        "From the repository root run: pip install -e .   (then import mlp)"
    )
from . import backends, data, defaults, metrics, numerics
from .activations import (
    GELU,
    Activation,
    Exp,
    GeneralizedReLU,
    Identity,
    LeakyReLU,
    NotDifferentiableError,
    ReLU,
    Sigmoid,
    Sign,
    Softmax,
    Softplus,
    Step,
    Tanh,
    get_activation,
)
from .batches import BlockShuffle
from .dropout import Dropout
from .heads import Head
from .layers import Context, Dense, GradSink, Layer, Maxout
from .losses import (
    BinaryCrossEntropy,
    CrossEntropy,
    Hinge,
    KLDivergence,
    Loss,
    PerceptronCriterion,
    PoissonDeviance,
    SquaredError,
    get_loss,
)
from .model import MLP, Sequential, value_and_grad
from .multiplicative import Multiplicative
from .norm import BatchNorm, LayerNorm
from .optim import SGD, Adam, AdamW, GradientDescent, LossScaler, Optimizer, RMSProp, get_optimizer
from .perceptron import Perceptron
from .saving import load
from .schedules import Constant, CosineDecay, InverseScaling, ReduceOnPlateau, StepDecay, TimeDecay
from .train import DivergenceError, History, PrecisionWarning, TrainingWarning, train
from .transforms import MinMax, RobustScale, Standardize, Transform

__version__ = "0.1.0"

__all__ = [
    "backends",
    "BlockShuffle",
    "MLP",
    "Sequential",
    "value_and_grad",
    "Layer",
    "Context",
    "Dense",
    "Maxout",
    "Dropout",
    "Multiplicative",
    "BatchNorm",
    "LayerNorm",
    "Transform",
    "Standardize",
    "MinMax",
    "RobustScale",
    "Head",
    "GradSink",
    "Identity",
    "Sign",
    "Step",
    "Sigmoid",
    "Exp",
    "Tanh",
    "ReLU",
    "LeakyReLU",
    "GeneralizedReLU",
    "Softplus",
    "Softmax",
    "GELU",
    "Activation",
    "get_activation",
    "NotDifferentiableError",
    "Loss",
    "SquaredError",
    "PoissonDeviance",
    "BinaryCrossEntropy",
    "CrossEntropy",
    "KLDivergence",
    "PerceptronCriterion",
    "Hinge",
    "get_loss",
    "Optimizer",
    "SGD",
    "GradientDescent",
    "Adam",
    "AdamW",
    "RMSProp",
    "LossScaler",
    "get_optimizer",
    "Constant",
    "TimeDecay",
    "StepDecay",
    "InverseScaling",
    "CosineDecay",
    "ReduceOnPlateau",
    "train",
    "History",
    "DivergenceError",
    "TrainingWarning",
    "PrecisionWarning",
    "Perceptron",
    "load",
    "data",
    "defaults",
    "metrics",
    "numerics",
]
