"""Loading models: a saved .npz back into a Sequential, on any backend (``mlp.load``).

The file's header is checked before anything is allocated (``saving.saved_members``, ``mlp.io.npz``):
a damaged or foreign file is a ValueError naming it. Version 1 files (weights only) still load.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from mlp import backends as _backends
from mlp.heads import Head
from mlp.io import npz as io
from mlp.model.saving import FORMAT, saved_members
from mlp.model.sequential import Sequential, check_classes
from mlp.nn.layer import LAYERS

__all__ = ["load", "from_header"]


def from_header(header: dict, arrays: dict, backend="numpy", device=None, dtype=None, path="file"):
    """A Sequential from a saved header (checked by ``saved_members``) and its arrays."""
    where = repr(os.fspath(path))
    try:
        layers = [LAYERS[spec["type"]](**spec["config"]) for spec in header["layers"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where} holds an invalid architecture: {type(exc).__name__}: {exc}") from None
    declared = [tuple(s) for s in header["shapes"]]
    built = [tuple(s) for layer in layers for s in layer.param_shapes()]
    if built != declared:  # before anything is allocated
        raise ValueError(f"{where} holds weights whose shapes {declared} do not match its architecture {built}")
    declared_state = [tuple(s) for s in header.get("state_shapes") or []]
    built_state = [tuple(s) for layer in layers for s in layer.state_shapes()]
    if header.get("state_shapes") is not None and built_state != declared_state:
        raise ValueError(f"{where} holds state of shapes {declared_state}; its architecture has {built_state}")
    compute = header.get("compute_dtype")
    if compute == header["dtype"]:
        compute = None
    try:
        model = Sequential(
            *layers,
            backend=backend,
            dtype=dtype or header["dtype"],
            device=device,
            init="zeros",
            compute_dtype=compute if dtype is None else None,
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where} holds an invalid architecture: {exc}") from None
    try:
        model.set_weights([arrays[f"param_{i}"] for i in range(len(declared))])
        if header.get("state_shapes") is not None:
            model.set_state([arrays[f"state_{i}"] for i in range(len(declared_state))])
        elif model.state:
            raise ValueError("its layers have state, but it holds none")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where} cannot be loaded: {exc}") from None
    if header.get("head") is not None:
        model.head = Head(**header["head"])
    if header.get("classes") is not None:
        c = header["classes"]
        values = np.asarray(
            c["values"], dtype={"str": str, "int": np.int64, "float": np.float64, "bool": bool}[c["kind"]]
        )
        try:  # distinct labels, one per output (two for one output)
            model.classes = check_classes(values, model.n_outputs)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where} holds class labels that do not fit its outputs: {exc}") from None
    if header.get("feature_names") is not None:
        model.feature_names = list(header["feature_names"])
    if header.get("columns") is not None:
        from mlp.nn.columns import Columns

        columns = Columns.from_config(header["columns"], where)
        if columns.n_features != model.n_features:
            raise ValueError(
                f"{where} holds a table encoding of {columns.n_features} columns for a model of "
                f"{model.n_features} inputs"
            )
        model.columns = columns
    return model


def load(
    path: str | os.PathLike, backend: str | _backends.Backend = "numpy", device: Any = None, dtype: str | None = None
):
    """The model saved at `path`, on `backend` (any backend, whichever saved it). Files are
    checked before anything is allocated: a damaged or foreign file is a ValueError naming it.
    ``dtype`` loads the weights in another float type (refused where they would overflow it)."""
    if not isinstance(backend, (str, _backends.Backend)):
        raise TypeError(f"backend must be a backend name or a Backend; got {type(backend).__name__}")
    if isinstance(backend, str):
        _backends.get(backend, device)  # a missing backend is named as such, before the file is read
    header, arrays = io.read_npz(path, FORMAT, saved_members)
    return from_header(header, arrays, backend, device, dtype, path)
