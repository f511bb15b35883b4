"""Layers: each one's forward and backward, pure functions of (params, state, x) (``layer``: the contract)."""

from mlp.nn.activations import ACTIVATIONS, Activation, get_activation
from mlp.nn.dense import Dense, Maxout
from mlp.nn.dropout import Dropout
from mlp.nn.ensemble import BlockDense, EnsembleMean
from mlp.nn.layer import EVAL, LAYERS, Context, GradSink, Layer, LayerContractError, Sinks
from mlp.nn.multiplicative import Multiplicative
from mlp.nn.norm import BatchNorm, LayerNorm
from mlp.nn.residual import Residual
from mlp.nn.transforms import MinMax, RobustScale, Standardize, TargetScale, Transform

__all__ = [
    "ACTIVATIONS",
    "EVAL",
    "LAYERS",
    "Activation",
    "BatchNorm",
    "BlockDense",
    "EnsembleMean",
    "Context",
    "Dense",
    "Dropout",
    "GradSink",
    "Layer",
    "LayerContractError",
    "LayerNorm",
    "Maxout",
    "MinMax",
    "Multiplicative",
    "Residual",
    "RobustScale",
    "TargetScale",
    "Sinks",
    "Standardize",
    "Transform",
    "get_activation",
]
