"""A network: a stack of layers and where each one's arrays sit in the model's flat lists.

Forward runs left to right as a pure function of (params, state, x): it returns the output, the
new state and a tape (per layer, what its backward needs); backward runs right to left from the
tape. Neither writes anything onto a layer or a model, so a training step can be traced and
compiled whole (JAX), and value_and_grad and finite differences never change the model.
"""

from __future__ import annotations

from typing import Any

from mlp.nn.activations import ReLU
from mlp.nn.dense import Dense
from mlp.nn.ensemble import EnsembleMean
from mlp.nn.layer import Context, Layer, LayerContractError
from mlp.nn.transforms import TargetScale, Transform

__all__ = ["Network"]


class Network:
    """``layers`` with the slices of ``params``/``state`` each one reads (``param_slices``,
    ``state_slices``), each layer's output width (``widths``), the input stage (the leading
    fitted transforms: ``layers[:n_input]``) and the first layer with parameters (``first_param``:
    no input gradient is computed for it). ``compiled`` holds functions compiled for this
    network (JAX's step and evaluation), keyed by what they bake in."""

    def __init__(self, layers: list[Layer]):
        self.layers = list(layers)
        self.n_features, self.n_outputs, self.widths = _chain(self.layers)
        if not any(layer.n_params for layer in self.layers):
            raise ValueError("layers must include a layer with parameters (Dense, Maxout, ...)")
        self.param_slices, self.state_slices = [], []
        p = s = 0
        for layer in self.layers:
            self.param_slices.append(slice(p, p + layer.n_params))
            self.state_slices.append(slice(s, s + layer.n_state))
            p, s = p + layer.n_params, s + layer.n_state
        self.first_param = next(i for i, layer in enumerate(self.layers) if layer.n_params)
        self.n_input = next((i for i, layer in enumerate(self.layers) if not isinstance(layer, Transform)), 0)
        self.needs_rows = any(layer.needs_rows for layer in self.layers)
        scales = [i for i, layer in enumerate(self.layers) if isinstance(layer, TargetScale)]
        if scales and scales != [len(self.layers) - 1]:
            raise ValueError(f"a TargetScale must be the last layer; layers[{scales[0]}] is one")
        # the last layer maps outputs back to the targets' units: training stops before it
        self.target_scale = scales[0] if scales else None
        means = [i for i, layer in enumerate(self.layers) if isinstance(layer, EnsembleMean)]
        tail = len(self.layers) - (2 if scales else 1)
        if means and means != [tail]:
            raise ValueError(
                f"an EnsembleMean must be the last layer (before a TargetScale); layers[{means[0]}] is one"
            )
        # the members' average: training stops before it and takes each member's loss on its own outputs
        self.ensemble = means[0] if means else None
        # Dense (with bias) then ReLU: one kernel call, ``affine_relu`` (CuPy: the GEMM, then bias and
        # ReLU in one pass); each layer's tape entry is what its own forward would have saved
        self.bias_relu = {
            i
            for i in range(len(self.layers) - 1)
            if type(self.layers[i]) is Dense and self.layers[i].bias and type(self.layers[i + 1]) is ReLU
        }
        self.batch_statistics = any(layer.batch_statistics for layer in self.layers)
        self.compiled: dict = {}

    @property
    def input_width(self) -> int:
        """The width of the rows the layers after the input stage take."""
        return self.widths[self.n_input - 1] if self.n_input else self.n_features

    def forward(self, params: list, state: list, x: Any, ctx: Context, start: int | None = None, stop=None):
        """(output, new state, tape) of layers[start:stop] (default: after the input stage, to the
        end). The state passed in is not changed: the caller keeps the new state or not."""
        new_state, tape = list(state), [None] * len(self.layers)
        start = self.n_input if start is None else start
        end = len(self.layers) if stop is None else stop
        skip = None
        for i in range(start, end):
            if i == skip:
                continue
            ctx.layer = i
            if i in self.bias_relu and i + 1 < end:
                W, b = params[self.param_slices[i]]
                y = ctx.kernels.affine_relu(x, W, b, (self.layers[i], "s") if ctx.keep else None)
                x, tape[i], tape[i + 1], skip = y, x, y, i + 1
                continue
            ss = self.state_slices[i]
            result = self.layers[i].forward(params[self.param_slices[i]], state[ss], x, ctx)
            if not (isinstance(result, tuple) and len(result) == 3):
                raise LayerContractError(
                    f"layers[{i}] ({type(self.layers[i]).__name__}).forward must return (output, new state, saved): "
                    f"what backward needs is returned, never kept on the layer; got {type(result).__name__}"
                    f"{f' of {len(result)}' if isinstance(result, tuple) else ''}"
                )
            x, new_state[ss], tape[i] = result
        return x, new_state, tape

    def training_stop(self, fused: bool) -> int | None:
        """Where a training pass (and the validation loss) stops: before the members' average, before
        the targets' unscaling, before a fused output activation; None: the end."""
        if self.ensemble is not None:
            return self.ensemble
        if self.target_scale is not None:
            return self.target_scale
        return len(self.layers) - 1 if fused else None

    def standardize_targets(self, state: list, T: Any) -> Any:
        """Targets T in the units the network learns, through its last layer, a TargetScale."""
        k = self.target_scale
        return self.layers[k].standardize(state[self.state_slices[k]], T)

    def backward(self, params: list, tape: list, delta: Any, ctx: Context, stop=None, sinks=None) -> list:
        """Backpropagate δ through layers[:stop] (right to left) from a forward pass's tape. Per
        parameter, what backward put in its sink (``sinks``, from the optimizer), or without sinks
        the gradient itself."""
        grads = [None] * self.param_slices[-1].stop
        for i in range((len(self.layers) if stop is None else stop) - 1, self.first_param - 1, -1):
            ctx.layer = i
            sl = self.param_slices[i]
            delta, grads[sl] = self.layers[i].backward(
                params[sl], tape[i], delta, ctx, None if sinks is None else sinks[sl], i > self.first_param
            )
        return grads


def _chain(layers) -> tuple[int, int, list[int]]:
    """(input width, output width, each layer's output width): widths must agree along the stack."""
    first = next((i for i, layer in enumerate(layers) if layer.in_features is not None), None)
    if first is None:
        raise ValueError("layers must include a layer with a known input width (Dense, Maxout, a transform, ...)")
    n_in = layers[first].in_features
    n, widths, previous = n_in, [], None
    for i, layer in enumerate(layers):
        if layer.in_features is not None and layer.in_features != n:
            where = f"layers[{previous}] gives {n}" if previous is not None else f"the input has {n}"
            raise ValueError(f"layers[{i}] expects {layer.in_features} input features but {where}")
        n = layer.output_features(n)
        widths.append(n)
        if layer.out_features is not None or layer.in_features is not None:
            previous = i
    return n_in, n, widths
