"""ONNX export: a trained model as a standard ONNX graph (Gemm and activation nodes, a softmax
or sigmoid head), to serve it anywhere ONNX runs (onnxruntime, TensorRT, a browser, ...).

Each layer writes its own nodes (``Layer.onnx(graph, x, params)``), so a new layer or
activation says how it looks in ONNX where it is defined; one that cannot be expressed is a
ValueError naming it. onnx is imported only here, and only when exporting
(``pip install mlp[onnx]``).
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["Graph", "to_onnx", "OPSET"]

OPSET = 17


class Graph:
    """The nodes and constants of the graph being built; names are generated."""

    def __init__(self, dtype: np.dtype):
        self.dtype = np.dtype(dtype)
        self.nodes: list = []
        self.initializers: list = []
        self._count = 0

    def _name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def const(self, value, stem: str = "c", dtype=None) -> str:
        """A constant (weights, shapes, scalars) as an initializer; returns its name."""
        from onnx import numpy_helper

        name = self._name(stem)
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype or self.dtype), name))
        return name

    def node(self, op: str, inputs: list[str], **attrs) -> str:
        """One node with one output; returns the output's name."""
        from onnx import helper

        out = self._name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out


def to_onnx(model, path, probabilities: bool = False, encoded: bool = False) -> str:
    """Write `model` (a Sequential or MLP) to `path` as an ONNX model; returns the path.

    Input "X" is (batch, n_features) raw data: float64 where the model has input transforms (they
    run in float64 as ``model(X)`` runs them on host rows, then the rows are cast to the model's
    dtype) or a table encoding, else the model's dtype. Output "Y", in the model's dtype, is what ``model(X)`` returns
    (inference mode: running statistics, no dropout): scores (logits) for a default classifier.
    ``probabilities=True`` adds output "P", what ``predict_proba`` returns: softmax over the classes,
    (batch, 2) columns [label 0, label 1] for one binary output, a sigmoid per label for multilabel
    heads; a model whose outputs are not probabilities or logits (regression, ±1 scores) is refused.
    A model on a table (``model.columns``) takes the raw columns instead, one (batch, 1) input per
    column named as the column: numbers as doubles (NaN: missing), categories as text ("": missing,
    booleans "True"/"False"; ai.onnx.ml's LabelEncoder maps them), or with ``encoded=True`` the
    encoded rows ``model.columns.encode(table)`` as "X".
    Raises ValueError naming the first layer ONNX cannot express."""
    if not isinstance(probabilities, bool):
        raise TypeError(f"probabilities must be True or False; got {probabilities!r}")
    if not isinstance(encoded, bool):
        raise TypeError(f"encoded must be True or False; got {encoded!r}")
    raw = model.columns is not None and not encoded
    head = model.output_head() if probabilities else None
    if head is not None and (head.output == "signed" or head.kind == "regression"):
        raise ValueError(
            f"probabilities=True: this model's outputs ({head.output} {head.kind}) are not probabilities or logits"
        )
    try:
        import onnx
        from onnx import TensorProto, helper
    except ImportError as exc:
        raise ValueError(f"ONNX export needs the onnx package ({exc}): pip install mlp[onnx]") from None
    from mlp.io.npz import atomic_write, check_writable

    check_writable(path)  # before any work
    dtype = np.dtype(model.backend.dtype_name(model.dtype))
    graph = Graph(dtype)
    weights = [w.astype(dtype) for w in model.get_weights()]
    k = model.inputs.n_state
    state = [s if i < k else s.astype(dtype) for i, s in enumerate(model.get_state())]  # the input stage's in float64
    for what, arrays in (("weights", weights), ("state", state)):
        bad = [i for i, a in enumerate(arrays) if not np.all(np.isfinite(a))]
        if bad:  # a graph would compute NaN where model(X) refuses
            raise ValueError(f"the model's {what}[{bad[0]}] holds NaN or infinity; it cannot be exported to ONNX")
    x = "X"
    wide = bool(model.net.n_input) or model.columns is not None  # rows in float64: the input stage's, or encoded
    graph.dtype = np.dtype(np.float64) if wide else dtype
    if raw:  # the table's columns in, encoded as model.columns encodes them
        x = model.columns.onnx(graph)
    x = _layers(graph, model, x, weights, state, wide)
    elem = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE}[dtype]
    graph.nodes.append(helper.make_node("Identity", [x], ["Y"]))
    outputs = [helper.make_tensor_value_info("Y", elem, ["batch", model.n_outputs])]
    if head is not None:
        p, width = _probabilities(graph, x, head, model.n_outputs)
        graph.nodes.append(helper.make_node("Identity", [p], ["P"]))
        outputs.append(helper.make_tensor_value_info("P", elem, ["batch", width]))
    g = helper.make_graph(graph.nodes, "mlp", _inputs(model, raw, wide, elem), outputs, graph.initializers)
    opsets = [helper.make_opsetid("", OPSET)] + ([helper.make_opsetid("ai.onnx.ml", 2)] if raw else [])
    proto = helper.make_model(g, opset_imports=opsets, producer_name="mlp")
    proto.ir_version = min(proto.ir_version, 10)  # readable by onnxruntime releases of the last years
    onnx.checker.check_model(proto)
    atomic_write(path, lambda f: f.write(proto.SerializeToString()))  # the .onnx format: the serialized proto
    return os.fspath(path)


def _layers(graph, model, x, weights, state, wide) -> str:
    """The layers as nodes from rows `x` (float64 where `wide`: cast to the model's dtype past the
    input stage); the name of the output."""
    from onnx import TensorProto

    dtype, n_input = np.dtype(model.backend.dtype_name(model.dtype)), model.net.n_input
    for i, (layer, sl, ss) in enumerate(zip(model.layers, model.net.param_slices, model.net.state_slices)):
        if wide and i == n_input:  # past the input stage: the rows cast to the model's dtype
            graph.dtype = dtype
            if dtype != np.float64:
                x = graph.node("Cast", [x], to=TensorProto.FLOAT)
        try:
            x = layer.onnx(graph, x, weights[sl], state[ss])
        except NotImplementedError:
            raise ValueError(
                f"layers[{i}] ({layer!r}) has no ONNX form, so the model cannot be exported; layers that have "
                "one: Dense, Maxout, the normalization layers, Dropout, the input transforms and the built-in "
                "activations"
            ) from None
    return x


def _inputs(model, raw, wide, elem) -> list:
    """The graph's inputs: one per table column (`raw`), else "X" (float64 where `wide`)."""
    from onnx import TensorProto, helper

    if raw:
        kinds = {"double": TensorProto.DOUBLE, "string": TensorProto.STRING}
        return [helper.make_tensor_value_info(n, kinds[k], ["batch", 1]) for n, k in model.columns.onnx_inputs()]
    return [helper.make_tensor_value_info("X", TensorProto.DOUBLE if wide else elem, ["batch", model.n_features])]


def _probabilities(graph, y, head, k) -> tuple[str, int]:
    """(the name, the width) of ``head.proba`` of outputs `y` as ONNX nodes."""
    if head.kind == "classes":
        return (y, k) if head.output == "distribution" else (graph.node("Softmax", [y], axis=1), k)
    p = y if head.output == "probability" else graph.node("Sigmoid", [y])
    if head.kind != "binary":
        return p, k
    return graph.node("Concat", [graph.node("Sub", [graph.const(1.0), p]), p], axis=1), 2
