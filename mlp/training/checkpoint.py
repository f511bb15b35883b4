"""Checkpoints: a run's value as parked on the model and the optimizer (weights, layers' state,
the optimizer's state and step count, the float16 loss scale), the shuffling generator's state, the
history and the run's progress, so that a resumed run continues exactly where it stopped."""

from __future__ import annotations

import json

import numpy as np

from mlp.io import npz as io
from mlp.model.saving import header_of, model_arrays, saved_members
from mlp.training.history import Progress

FORMAT = "mlp-checkpoint"


def _flatten_state(state, backend):
    """Optimizer state (a dict of lists of arrays) as (structure, host arrays)."""
    arrays = {}
    if state is None:
        return None, arrays
    structure = {}
    for key, values in state.items():
        structure[key] = len(values)
        for i, a in enumerate(values):
            arrays[f"opt_{key}_{i}"] = backend.to_numpy(a)
    return {"dict": structure}, arrays


def _unflatten_state(structure, arrays, backend, dtype, keys):
    """The optimizer's state; a checkpoint of earlier versions keeps a one-list state as a list, which
    is the optimizer's one state key."""
    if structure is None:
        return None
    if "list" in structure:
        if not structure["list"]:
            return {}
        if len(keys) != 1:
            raise ValueError(f"it holds one list of optimizer state; the optimizer keeps {list(keys)}")
        return {keys[0]: [backend.asarray(arrays[f"opt__{i}"], dtype, copy=True) for i in range(structure["list"])]}
    return {
        k: [backend.asarray(arrays[f"opt_{k}_{i}"], dtype, copy=True) for i in range(n)]
        for k, n in structure["dict"].items()
    }


def save(path, model, opt, rng, history, progress: Progress, loss=None, settings=None):
    """Write a checkpoint atomically (refusing non-finite weights): the model (weights, state,
    head, classes), the optimizer's state and step count, the loss scale, the generator, the
    history, and the run's settings."""
    backend = model.backend
    arrays = model_arrays(model)
    structure, opt_arrays = _flatten_state(opt.state, backend)
    arrays.update(opt_arrays)
    scale = None if opt.scaler is None else opt.scaler.state
    if scale is not None:
        # the scale, the good steps in a row and the skipped steps, as float64 (exact for counts below 2^53)
        arrays.update(
            {f"scale_{i}": np.asarray(backend.to_numpy(a), np.float64).reshape(1) for i, a in enumerate(scale)}
        )
    if progress.best_snapshot is not None:
        best_weights, best_state = progress.best_snapshot
        arrays.update({f"best_{i}": backend.to_numpy(w) for i, w in enumerate(best_weights)})
        arrays.update({f"beststate_{i}": backend.to_numpy(s) for i, s in enumerate(best_state)})
    header = {
        "format": FORMAT,
        "version": io.VERSION,
        **header_of(model),
        "optimizer": {
            "class": type(opt).__name__,
            "t": int(backend.to_numpy(opt.t)) if not isinstance(opt.t, int) else opt.t,
            "loss_scale": scale is not None,
            "state": structure,
            "schedule": opt.schedule.state_dict(),
            "settings": opt.config(),
        },
        "loss": None if loss is None else {"class": type(loss).__name__, **loss.config()},
        "rng": rng.bit_generator.state,
        "history": history.as_dict(),
        "train": progress.as_header(),
        "run": settings,
    }
    io.write_npz(path, json.loads(json.dumps(header, default=_json_default)), arrays)


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    raise TypeError(f"cannot store {type(o).__name__} in a checkpoint")


def _differences(saved, now, prefix=""):
    """'name: saved vs now' for every setting that differs (nested dicts flattened)."""
    out = []
    for key in sorted(set(saved) | set(now), key=str):
        a, b = saved.get(key), now.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} in the checkpoint, {b!r} in this run")
    return out


def _run_config(layers, optimizer, loss):
    return {"layers": {str(i): spec for i, spec in enumerate(layers)}, "optimizer": optimizer, "loss": loss}


# the settings of a run that a resumed run must repeat, beyond its layers, optimizer and loss
_RUN_KEYS = ("dtype", "compute_dtype", "seed", "batch_size", "accumulate", "shuffle", "n", "n_features", "data")
_RUN_NAMES = {
    "n": "training samples",
    "n_features": "features",
    "data": "data fingerprint",
    "dtype": "model dtype",
    "compute_dtype": "compute dtype",
}


def _check_same_run(path, header, model, opt, loss, settings=None):
    """The resumed run must be the run that wrote the checkpoint: same architecture (layers and
    activations), optimizer, its settings and schedule, loss, batch size, shuffling, seed, and
    data (its size, feature count and a fingerprint of some of its rows)."""
    shapes = [list(p.shape) for p in model.params]
    if header.get("shapes") != shapes:
        raise ValueError(
            f"resume checkpoint {path!r} holds a model of parameter shapes {header.get('shapes')}, "
            f"but the model to train has {shapes}"
        )
    saved_opt = header["optimizer"].get("settings", {"class": header["optimizer"]["class"]})
    now_opt = opt.config() if "settings" in header["optimizer"] else {"class": type(opt).__name__}
    now_loss = None if loss is None else {"class": type(loss).__name__, **loss.config()}
    saved_loss = header.get("loss") if now_loss is not None else None
    saved = _run_config(header["layers"], saved_opt, saved_loss if saved_loss is not None else now_loss)
    now = _run_config(model.config()["layers"], now_opt, now_loss)
    diff = _differences(saved, json.loads(json.dumps(now)))  # as JSON: tuples become lists, like the header's
    now_columns = None if model.columns is None else json.loads(json.dumps(model.columns.config()))
    if header.get("columns") != now_columns:
        diff.append("the table encoding (mlp.Columns: the columns, their medians or categories) differs")
    saved_run = header.get("run")
    if settings is not None and isinstance(saved_run, dict):
        now_run = json.loads(json.dumps(settings, default=_json_default))
        for key in _RUN_KEYS:
            if key not in saved_run and key in ("dtype", "compute_dtype"):
                continue  # checkpoints of earlier versions: their dtype is checked with their arrays
            if key == "data" and any(saved_run.get(k, now_run[k]) != now_run[k] for k in ("dtype", "compute_dtype")):
                continue  # the fingerprint is of the rows as cast: the dtype said it already
            was = saved_run.get(key, 1 if key == "accumulate" else None)  # earlier checkpoints: no accumulation
            if was != now_run.get(key):
                name, now = _RUN_NAMES.get(key, key), now_run.get(key)
                diff.append(f"{name}: {was!r} in the checkpoint, {now!r} in this run")
    if diff:
        raise ValueError(f"resume checkpoint {path!r} was written by a different run: " + "; ".join(diff))


def _members(header):
    """Every array a checkpoint's header declares (the model's, the optimizer's, the best weights)."""
    wanted = saved_members(header)
    shapes = [s for k, s in wanted.items() if k.startswith("param_")]
    opt, train = header.get("optimizer"), header.get("train")
    if not isinstance(opt, dict) or not isinstance(train, dict):
        raise ValueError("it has no optimizer or training state")
    state = opt.get("state")
    if isinstance(state, dict) and set(state) == {"list"} and state["list"] in (0, len(shapes)):
        wanted.update({f"opt__{i}": shapes[i] for i in range(state["list"])})
    elif isinstance(state, dict) and set(state) == {"dict"} and isinstance(state["dict"], dict):
        for key, n in state["dict"].items():
            if not (isinstance(key, str) and key.isidentifier() and n == len(shapes)):
                raise ValueError("its optimizer state does not match its parameters")
            wanted.update({f"opt_{key}_{i}": s for i, s in enumerate(shapes)})
    elif state is not None:
        raise ValueError("its optimizer state does not match its parameters")
    if opt.get("loss_scale") is True:
        wanted.update({f"scale_{i}": (1,) for i in range(3)})
    if train.get("has_best") is True:
        wanted.update({f"best_{i}": s for i, s in enumerate(shapes)})
        state_shapes = [wanted[k] for k in wanted if k.startswith("state_")]
        wanted.update({f"beststate_{i}": s for i, s in enumerate(state_shapes)})
    return wanted


def restore(path, model, opt, rng, history, loss=None, settings=None) -> Progress:
    """Load a checkpoint into a fresh run's model, optimizer, generator and history (the run's value
    parked on the model and optimizer, as a run starts from it); the run's progress."""
    header, arrays = io.read_npz(path, FORMAT, _members)
    _check_same_run(path, header, model, opt, loss, settings)
    try:
        shapes = [list(p.shape) for p in model.params]
        model.set_weights([arrays[f"param_{i}"] for i in range(len(shapes))])
        n_state = len(header.get("state_shapes") or [])
        if n_state:
            model.set_state([arrays[f"state_{i}"] for i in range(n_state)])
        opt.t = int(header["optimizer"]["t"])
        keys = opt.all_state_keys
        opt.state = _unflatten_state(header["optimizer"]["state"], arrays, model.backend, model.dtype, keys)
        if opt.scaler is not None and header["optimizer"].get("loss_scale"):
            opt.scaler.state = _loss_scale(arrays, model)
        opt.schedule.load_state_dict(header["optimizer"]["schedule"])
        rng.bit_generator.state = header["rng"]
        saved_history = header["history"]
        for key in history.__dataclass_fields__:
            if key in saved_history:
                setattr(history, key, saved_history[key])
        t = header["train"]
        best = None
        if t["has_best"]:
            best = (
                [model.backend.asarray(arrays[f"best_{i}"], model.dtype, copy=True) for i in range(len(shapes))],
                [model.backend.asarray(arrays[f"beststate_{i}"], model.dtype, copy=True) for i in range(n_state)],
            )
        return Progress.from_header(t, best)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"resume checkpoint {path!r} is damaged: {type(exc).__name__}: {exc}") from None


def _loss_scale(arrays, model) -> tuple:
    """The float16 loss scale's value from a checkpoint: (scale, good steps in a row, skipped steps)."""
    b = model.backend
    scale, good, skipped = (arrays[f"scale_{i}"].reshape(()) for i in range(3))
    return b.asarray(scale, model.dtype), b.asarray(good.astype(np.int32)), b.asarray(skipped.astype(np.int32))
