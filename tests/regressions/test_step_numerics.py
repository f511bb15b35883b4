"""Training gives the very same bits as the recorded runs (``fixed_runs.py``): the weights, state and
losses of short runs over every optimizer, stateful layers, validation, weights, streaming, the generic
kernels and the scikit-learn estimators, recorded on the NumPy backend before the training step became
a value (TrainState in, TrainState out). A change to the step that changes any bit fails here.

The runs are made in a fresh process with OpenBLAS's Haswell kernels on one thread and NumPy's AVX2
loops, so that the bits are those of any x86-64 processor with AVX2 and FMA."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).parent
RECORDED = HERE / "step_numerics.npz"


def _pinned_env() -> dict:
    from numpy._core._multiarray_umath import __cpu_features__

    sys.path.insert(0, str(HERE))
    from fixed_runs import AVX512_TARGETS, PINNED

    env = {**os.environ, **PINNED}
    off = [t for t in AVX512_TARGETS if __cpu_features__.get(t)]
    if off:
        env["NPY_DISABLE_CPU_FEATURES"] = " ".join(off)
    return env


def _has_avx2_fma() -> bool:
    from numpy._core._multiarray_umath import __cpu_features__

    return platform.machine() in ("x86_64", "AMD64") and __cpu_features__.get("AVX2") and __cpu_features__.get("FMA3")


def test_fixed_runs_give_the_recorded_bits(tmp_path):
    if not _has_avx2_fma():
        pytest.skip("the recorded bits are those of x86-64 AVX2/FMA kernels; this processor has other ones")
    out = tmp_path / "now.npz"
    subprocess.run([sys.executable, str(HERE / "fixed_runs.py"), str(out)], check=True, env=_pinned_env(), timeout=600)
    with np.load(RECORDED) as want, np.load(out) as got:
        assert sorted(got.files) == sorted(want.files)
        differ = [k for k in want.files if got[k].dtype != want[k].dtype or not np.array_equal(got[k], want[k])]
        assert not differ, f"{len(differ)} arrays differ from the recorded runs, first: {differ[:5]}"
