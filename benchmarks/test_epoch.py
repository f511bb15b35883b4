"""One training epoch per backend x batch size x architecture, beside its GEMM-only work
and PyTorch eager on the same device."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import N

import mlp
from mlp.bench import peers, timing

ARCHS = {
    "784-512-512-10": [784, 512, 512, 10],
    "784-128-10": [784, 128, 10],
    "784-1024x3-10": [784, 1024, 1024, 1024, 10],
}


@pytest.fixture(scope="module")
def data():
    return timing.make_data(N, 784, 10)


@pytest.mark.parametrize("batch", [128, 1024])
@pytest.mark.parametrize("arch", list(ARCHS))
def test_mlp_epoch(benchmark, backend_name, batch, arch, data):
    X, y = data
    b = mlp.backends.get(backend_name)
    model = mlp.MLP(ARCHS[arch], "relu", "softmax", backend=b, seed=0)
    Xb, yb = b.asarray(X), b.asarray(y)
    opt = mlp.SGD(0.01, momentum=0.9)
    benchmark.extra_info.update(backend=backend_name, n=N, n_weights=timing.n_weights(ARCHS[arch]))

    def epoch():
        h = mlp.train(model, Xb, yb, optimizer=opt, epochs=1, batch_size=batch, progress=False)
        return h.loss[-1]

    assert np.isfinite(benchmark.pedantic(epoch, rounds=3, warmup_rounds=1))


@pytest.mark.parametrize("batch", [128, 1024])
def test_gemm_only_epoch(benchmark, backend_name, batch):
    sizes = ARCHS["784-512-512-10"]
    benchmark.extra_info.update(backend=backend_name, flops=timing.epoch_flops(sizes, N))
    benchmark.pedantic(lambda: peers.time_gemm_epoch(backend_name, sizes, N, batch, 1), rounds=3, warmup_rounds=1)


@pytest.mark.parametrize("batch", [128, 1024])
def test_torch_epoch(benchmark, batch, data):
    pytest.importorskip("torch")
    X, y = data
    benchmark.pedantic(
        lambda: peers.time_torch_epoch("cpu", ARCHS["784-512-512-10"], X, y, batch, 1), rounds=3, warmup_rounds=0
    )
