"""Models: a network of layers (``Network``), its weights on a backend (``Sequential``, ``MLP``),
the loss and gradients of a batch (``value_and_grad``), saving and loading, ONNX export."""

from mlp.model.grad import value_and_grad
from mlp.model.mlp import MLP
from mlp.model.network import Network
from mlp.model.sequential import Sequential

__all__ = ["MLP", "Network", "Sequential", "value_and_grad"]
