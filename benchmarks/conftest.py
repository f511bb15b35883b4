"""pytest-benchmark suites: ``pytest benchmarks --benchmark-only``.

Sizes come from MLP_BENCH_N (default 8192 samples) so the suite stays quick; the
headline 60,000-sample study is ``mlp bench``.
"""

from __future__ import annotations

import os

import pytest

from mlp import backends

N = int(os.environ.get("MLP_BENCH_N", "8192"))
BACKENDS = [b for b in backends.available() if b in ("numpy", "torch", "cupy", "torch-cuda")]


@pytest.fixture(params=BACKENDS)
def backend_name(request):
    return request.param
