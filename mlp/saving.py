"""Saving and loading models: one .npz file is the whole predictor.

It holds the architecture (layer types and settings), the parameters (``param_i``), the
state (``state_i``: running statistics, fitted input transforms), the output head, the class
labels and the feature names. Files are checked before anything is allocated (``io``): a
damaged or foreign file is a ValueError naming it. Version 1 files (weights only) still load.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from . import backends as _backends
from . import io
from .heads import Head
from .layers import LAYERS

__all__ = ["save", "load", "saved_members", "model_arrays", "FORMAT"]

FORMAT = "mlp-model"
_SCALARS = (str, int, float, bool, type(None))
_CLASS_KINDS = {"str": str, "int": int, "float": float, "bool": bool}


def model_arrays(model, what: str = "model") -> dict:
    """The parameters and state as host arrays (param_0, ..., state_0, ...); refuses NaN or
    infinity in them, and weights whose outputs overflow on unit-scale inputs (0 and ±1)."""
    weights, state = model.get_weights(), model.get_state()
    for kind, arrays in (("parameter", weights), ("state array", state)):
        for i, w in enumerate(arrays):
            if not np.all(np.isfinite(w)):
                raise ValueError(f"{what} {kind} {i} holds NaN or infinity; refusing to save it")
    d = model.n_features
    probe = np.stack([np.zeros(d), np.ones(d), -np.ones(d)])
    Xp = model.backend.asarray(probe, model.dtype)  # past the input stage: unit scale as the layers see it
    out = model.forward_fn()(Xp)
    if not np.all(np.isfinite(model.backend.to_numpy(out))):
        raise ValueError(
            f"{what}'s outputs overflow to NaN or infinity on unit-scale inputs (0 and ±1): its weights are "
            f"too large for {model.backend.dtype_name(model.dtype)}; refusing to save it"
        )
    return {**{f"param_{i}": w for i, w in enumerate(weights)}, **{f"state_{i}": s for i, s in enumerate(state)}}


def header_of(model) -> dict:
    """The JSON header describing `model` (everything but its arrays)."""
    classes = None
    if model.classes is not None:
        kind = {"U": "str", "S": "str", "i": "int", "u": "int", "f": "float", "b": "bool"}[model.classes.dtype.kind]
        classes = {"kind": kind, "values": [_CLASS_KINDS[kind](v) for v in model.classes.tolist()]}
    return {
        **model.config(),
        "head": None if model.head is None else model.head.config(),
        "classes": classes,
        "feature_names": None if model.feature_names is None else [str(f) for f in model.feature_names],
    }


def save(model, path) -> None:
    io.write_npz(path, {"format": FORMAT, "version": io.VERSION, **header_of(model)}, model_arrays(model))


def _shape_list(shapes, what, allow_none=False):
    if shapes is None and allow_none:
        return []
    if not isinstance(shapes, list) or len(shapes) > 100_000:
        raise ValueError(f"its {what!r} must be a list of shapes")
    for s in shapes:
        if not (isinstance(s, list) and 1 <= len(s) <= 2 and all(type(d) is int and d >= 1 for d in s)):
            raise ValueError(f"its {what} entry {str(s)[:40]} is not a list of one or two positive integers")
    return [tuple(s) for s in shapes]


def saved_members(header: dict) -> dict[str, tuple]:
    """The array members a saved model's header declares, after checking that header: known
    layer types with flat settings, float dtypes, array shapes of positive integers, a valid
    head, class labels and feature names (nothing is allocated here)."""
    layers = header.get("layers")
    if not isinstance(layers, list) or not 1 <= len(layers) <= 100_000:
        raise ValueError("its 'layers' must be a non-empty list")
    for spec in layers:
        ok = isinstance(spec, dict) and isinstance(spec.get("type"), str) and isinstance(spec.get("config"), dict)
        if not ok or spec["type"] not in LAYERS:
            raise ValueError(f"its layer {str(spec)[:80]} is not a known layer type with settings")
        if not all(isinstance(k, str) and isinstance(v, _SCALARS) for k, v in spec["config"].items()):
            raise ValueError(f"its layer {spec['type']} has settings that are not plain values")
    if header.get("dtype") not in ("float32", "float64"):
        raise ValueError(f"its dtype must be 'float32' or 'float64'; got {str(header.get('dtype'))[:40]!r}")
    if header.get("compute_dtype", header["dtype"]) not in ("float32", "float64", "bfloat16", "float16"):
        raise ValueError(f"its compute dtype {str(header.get('compute_dtype'))[:40]!r} is not a float type")
    shapes, n = header.get("shapes"), header.get("n_params")
    if not (isinstance(n, int) and isinstance(shapes, list) and len(shapes) == n):
        raise ValueError("its 'shapes' must list one shape per parameter ('n_params')")
    members = {f"param_{i}": s for i, s in enumerate(_shape_list(shapes, "shapes"))}
    for i, s in enumerate(_shape_list(header.get("state_shapes"), "state_shapes", allow_none=True)):
        members[f"state_{i}"] = s
    head = header.get("head")
    if head is not None:
        if not isinstance(head, dict) or set(head) != {"kind", "output"}:
            raise ValueError(f"its head {str(head)[:60]} is not a head")
        Head(**head)
    classes = header.get("classes")
    if classes is not None:
        kind = classes.get("kind") if isinstance(classes, dict) else None
        values = classes.get("values") if isinstance(classes, dict) else None
        ok = kind in _CLASS_KINDS and isinstance(values, list) and 1 <= len(values) <= 1_000_000
        if not ok or not all(type(v) is _CLASS_KINDS[kind] or (kind == "float" and type(v) is int) for v in values):
            raise ValueError("its class labels are not a list of plain values of one kind")
    names = header.get("feature_names")
    if names is not None and not (isinstance(names, list) and all(isinstance(v, str) for v in names)):
        raise ValueError("its feature names are not a list of strings")
    return members


def from_header(header: dict, arrays: dict, backend="numpy", device=None, dtype=None, path="file"):
    """A Sequential from a saved header (checked by ``saved_members``) and its arrays."""
    from .model import Sequential

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
        model.classes = np.asarray(
            c["values"], dtype={"str": str, "int": np.int64, "float": np.float64, "bool": bool}[c["kind"]]
        )
    if header.get("feature_names") is not None:
        model.feature_names = list(header["feature_names"])
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
