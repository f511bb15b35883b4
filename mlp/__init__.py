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
from mlp import backends, data, defaults, metrics, numerics
from mlp.heads import Head
from mlp.losses import (
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
from mlp.model import MLP, Sequential, value_and_grad
from mlp.model.loading import load
from mlp.model.perceptron import Perceptron
from mlp.nn.activations import (
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
from mlp.nn.columns import Columns
from mlp.nn.dense import Dense, Maxout
from mlp.nn.dropout import Dropout
from mlp.nn.embedding import Embedding
from mlp.nn.ensemble import BlockDense, EnsembleMean
from mlp.nn.layer import Context, GradSink, Layer
from mlp.nn.multiplicative import Multiplicative
from mlp.nn.norm import BatchNorm, LayerNorm
from mlp.nn.residual import Residual
from mlp.nn.transforms import MinMax, RobustScale, Standardize, TargetScale, Transform
from mlp.optim import SGD, Adam, AdamW, GradientDescent, Lion, LossScaler, Optimizer, RMSProp, get_optimizer
from mlp.optim.schedules import (
    Constant,
    CosineDecay,
    InverseScaling,
    OneCycle,
    ReduceOnPlateau,
    StepDecay,
    TimeDecay,
    WarmupCosine,
    WarmupLinear,
)
from mlp.training import (
    Callback,
    CSVLogger,
    DataWarning,
    DivergenceError,
    EarlyStopping,
    History,
    LRFinderResult,
    ModelCheckpoint,
    PrecisionWarning,
    TensorBoard,
    TrainingWarning,
    TrainState,
    lr_find,
    train,
)
from mlp.training.batches import BlockShuffle
from mlp.training.distributed import MPIComm

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
    "Columns",
    "Embedding",
    "Multiplicative",
    "BatchNorm",
    "BlockDense",
    "EnsembleMean",
    "LayerNorm",
    "Transform",
    "Standardize",
    "MinMax",
    "Residual",
    "RobustScale",
    "TargetScale",
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
    "Lion",
    "LossScaler",
    "get_optimizer",
    "Constant",
    "TimeDecay",
    "StepDecay",
    "InverseScaling",
    "CosineDecay",
    "WarmupCosine",
    "WarmupLinear",
    "OneCycle",
    "ReduceOnPlateau",
    "train",
    "TrainState",
    "MPIComm",
    "History",
    "DivergenceError",
    "TrainingWarning",
    "lr_find",
    "LRFinderResult",
    "Callback",
    "EarlyStopping",
    "ModelCheckpoint",
    "CSVLogger",
    "TensorBoard",
    "DataWarning",
    "PrecisionWarning",
    "Perceptron",
    "load",
    "data",
    "defaults",
    "metrics",
    "numerics",
]
