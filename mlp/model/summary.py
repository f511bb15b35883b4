"""``model.summary()``: the layers, their output shapes and parameter counts, |W|, the flops of a
training step per sample, the dtypes, the backend and the device."""

from __future__ import annotations

import numpy as np

__all__ = ["summary", "step_flops"]


def step_flops(model) -> int:
    """Floating-point operations per sample of one training step (forward and backward): the
    matrix products exactly (2 per multiply-add: forward, weight gradient, and input gradient
    except for the first layer with weights), element-wise layers approximately."""
    net = model.net
    total, width = 0, net.n_features
    for i, layer in enumerate(net.layers):
        if i >= net.n_input:
            total += layer.flops(width, first=i == net.first_param)
        width = net.widths[i]
    return int(total)


def summary(model, compact: bool = False) -> str:
    b = model.backend
    counts = [sum(int(np.prod(p.shape)) for p in model.params[sl]) for sl in model.net.param_slices]
    states = [sum(int(np.prod(s.shape)) for s in model.state[sl]) for sl in model.net.state_slices]
    dtype = b.dtype_name(model.dtype)
    compute = b.dtype_name(model.compute_dtype)
    precision = dtype if compute == dtype else f"{dtype} weights, {compute} compute"
    flops = step_flops(model)
    raw = "" if model.net.n_input else ", no input scaling"  # mlp.MLP's default, as scikit-learn's and Keras'
    table = "" if model.columns is None else f"table: {model.columns.describe()}"
    if compact:
        kinds = " → ".join(type(layer).__name__ for layer in model.layers)
        return (
            f"{kinds}: {model.n_features} → {model.n_outputs}{raw}, |W| = {model.n_params:,} parameters, "
            f"{flops:,} flops per sample per step, {precision} on {b.name} ({b.device})"
        ) + (f"\n{table}" if table else "")
    rows = [("#", "layer", "output shape", "parameters", "state")]
    for i, layer in enumerate(model.layers):
        rows.append((str(i), repr(layer), f"(batch, {model.net.widths[i]})", f"{counts[i]:,}", f"{states[i]:,}"))
    widths = [max(len(r[c]) for r in rows) for c in range(5)]
    line = "  ".join("-" * w for w in widths)
    out = [f"{type(model).__name__} on {b.name} ({b.device}), {precision}"] + ([table] if table else []) + [line]
    for j, r in enumerate(rows):
        out.append("  ".join(cell.ljust(w) if c < 2 else cell.rjust(w) for c, (cell, w) in enumerate(zip(r, widths))))
        if j == 0:
            out.append(line)
    out += [line]
    if raw:
        out.append("input: the features as given, no input scaling (scale='robust' or 'standard' fits one)")
    out += [
        f"|W| = {model.n_params:,} trainable parameters, {sum(states):,} state values",
        f"{flops:,} flops per sample per training step (forward and backward)",
    ]
    return "\n".join(out)
