"""Saving and loading models: one .npz file is the whole predictor.

It holds the architecture (layer types and settings), the parameters (``param_i``), the
state (``state_i``: running statistics, fitted input transforms), the output head, the class
labels and the feature names. Files are checked before anything is allocated (``io``): a
damaged or foreign file is a ValueError naming it. Version 1 files (weights only) still load.
"""

from __future__ import annotations

import numpy as np

from mlp.heads import Head
from mlp.io import npz as io
from mlp.model.inference import forward_fn
from mlp.nn.layer import LAYERS

__all__ = ["save", "saved_members", "model_arrays", "header_of", "FORMAT"]

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
    out = forward_fn(model)(Xp)
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
        "columns": None if model.columns is None else model.columns.config(),
    }


def save(model, path) -> None:
    io.write_npz(path, {"format": FORMAT, "version": io.VERSION, **header_of(model)}, model_arrays(model))


def _shape_list(shapes, what, allow_none=False):
    if shapes is None and allow_none:
        return []
    if not isinstance(shapes, list) or len(shapes) > 100_000:
        raise ValueError(f"its {what!r} must be a list of shapes")
    for s in shapes:
        if not (isinstance(s, list) and 1 <= len(s) <= 3 and all(type(d) is int and d >= 1 for d in s)):
            raise ValueError(f"its {what} entry {str(s)[:40]} is not a list of one to three positive integers")
    return [tuple(s) for s in shapes]


def _int_list(v) -> bool:
    return isinstance(v, list) and len(v) <= 100_000 and all(type(x) is int for x in v)


def _check_layer_spec(spec, depth: int = 0) -> None:
    """A known layer type with plain settings; a container's ("block": a list of such specs, as
    ``Residual`` saves) checked the same way, at most 4 deep and 63 long."""
    ok = isinstance(spec, dict) and isinstance(spec.get("type"), str) and isinstance(spec.get("config"), dict)
    if not ok or spec["type"] not in LAYERS:
        raise ValueError(f"its layer {str(spec)[:80]} is not a known layer type with settings")
    for k, v in spec["config"].items():
        if k == "block" and isinstance(v, list) and 0 < len(v) < 64 and depth < 4:
            for inner in v:
                _check_layer_spec(inner, depth + 1)
        elif k in LAYERS[spec["type"]].list_settings and _int_list(v):
            continue  # the settings a layer declares as lists of integers (Embedding's widths per column)
        elif not (isinstance(k, str) and isinstance(v, _SCALARS)):
            raise ValueError(f"its layer {spec['type']} has settings that are not plain values")


def saved_members(header: dict) -> dict[str, tuple]:
    """The array members a saved model's header declares, after checking that header: known
    layer types with flat settings, float dtypes, array shapes of positive integers, a valid
    head, class labels and feature names (nothing is allocated here)."""
    layers = header.get("layers")
    if not isinstance(layers, list) or not 1 <= len(layers) <= 100_000:
        raise ValueError("its 'layers' must be a non-empty list")
    for spec in layers:
        _check_layer_spec(spec)
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
    if header.get("columns") is not None:
        from mlp.nn.columns import Columns

        Columns.from_config(header["columns"], "it")
    return members
