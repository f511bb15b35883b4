"""``mlp bench`` from its parsed flags: the study or the streamed scaling study, written to a folder."""

from __future__ import annotations

import contextlib
import json
import os
import time

from mlp import backends as _backends
from mlp.bench.report import NO_MATPLOTLIB, has_matplotlib, plot_scaling, report_markdown
from mlp.bench.streamed import run_scaling_n
from mlp.bench.study import run_study


def matmul_precision():
    """JAX's float32 products in full float32 during the benchmarks, as every other backend's (on
    GPUs its default is TF32, which would compare another arithmetic); TF32 where
    ``mlp.backends.set_tf32(True)`` asked for it everywhere."""
    try:
        import jax
    except ImportError:
        return contextlib.nullcontext()
    return jax.default_matmul_precision("tensorfloat32" if _backends.tf32() else "highest")


def run_bench(args):
    mode = "smoke" if args.smoke else ("quick" if args.quick else "full")
    if args.scaling_n:
        return run_scaling_n(args, mode)
    backends = [b.strip() for b in args.backends.split(",")] if args.backends else None
    for b in backends or []:
        _backends.get(b)  # clear error for unknown / unavailable names
    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()
    with matmul_precision():
        result = _study(args, mode, backends)
    result["seconds"] = time.perf_counter() - t0
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(result, f, indent=1)
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write(report_markdown(result))
    plots = "and scaling plots" if result["scaling"] else "(no scaling study)"
    if result["scaling"] and has_matplotlib():
        plot_scaling(result, args.out)
    elif result["scaling"]:
        plots = f"(no plots: {NO_MATPLOTLIB})"
    print(report_markdown(result))
    print(f"wrote {args.out}/report.md, results.json {plots} in {result['seconds']:.0f} s")
    return 0


def _study(args, mode, backends):
    if args.tf32:
        _backends.set_tf32(True)
    return run_study(
        mode,
        backends,
        args.batch_sizes,
        args.n,
        args.repeats,
        peers=not args.no_peers,
        sizes=args.sizes,
        scaling=not args.no_scaling,
        precisions=(args.precision,),
    )
