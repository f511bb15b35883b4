"""mlp: multi-layer perceptrons on any array-API backend (NumPy, CuPy, PyTorch, JAX, ...)."""

try:
    from . import backends
except ImportError as exc:  # pragma: no cover - exercised from an uninstalled checkout
    raise ImportError(
        "mlp is not installed: its backends (the top-level backends/ folder) are installed as "
        "mlp.backends. From the repository root run: pip install -e .  (then import mlp)"
    ) from exc
from .activations import (GELU, Identity, LeakyReLU, GeneralizedReLU, NotDifferentiableError, ReLU, Sigmoid,
                          Sign, Softmax, Softplus, Step, Tanh, get_activation)
from .layers import Dense, GradSink, Layer, Maxout
from .losses import (BinaryCrossEntropy, CrossEntropy, Hinge, KLDivergence, Loss, PerceptronCriterion,
                     SquaredError, get_loss)
from .model import MLP, Sequential, load, value_and_grad
from .optim import SGD, Adam, AdamW, GradientDescent, Optimizer, RMSProp, get_optimizer
from .schedules import Constant, InverseScaling, ReduceOnPlateau, StepDecay, TimeDecay
from .train import DivergenceError, History, train
from .perceptron import Perceptron
from . import data, metrics

__version__ = "0.1.0"

__all__ = [
    "backends", "MLP", "Sequential", "value_and_grad", "Layer", "Dense", "Maxout", "GradSink",
    "Identity", "Sign", "Step", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "GeneralizedReLU", "Softplus",
    "Softmax", "GELU", "get_activation", "NotDifferentiableError",
    "Loss", "SquaredError", "BinaryCrossEntropy", "CrossEntropy", "KLDivergence", "PerceptronCriterion",
    "Hinge", "get_loss", "Optimizer", "SGD", "GradientDescent", "Adam", "AdamW", "RMSProp", "get_optimizer",
    "Constant", "TimeDecay", "StepDecay", "InverseScaling", "ReduceOnPlateau", "train", "History",
    "DivergenceError", "Perceptron", "load", "data", "metrics",
]
