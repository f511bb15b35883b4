"""Run under mpirun by tests/training/test_distributed.py: python mpi_worker.py MODE OUT.npz.

MODE train: data-parallel training, rank 0 saves the final weights and history.
MODE stream: the same, with X and y read batch by batch from memory-mapped .npy files.
MODE bf16: mixed precision (bfloat16 compute) on the torch backend.
MODE weighted: sample weights 0, 1, 2, 3, 0, ... (combined across ranks by weight sums).
MODE staged: the same as train, the gradients staged through host copies instead of reduced in place.
MODE state: the same with BatchNorm and Dropout (rank 0 saves weights then state).
MODE fail: rank 1 raises during epoch 2. MODE hang: rank 1 stops answering.
MODE disagree-seed / disagree-batch: rank 1 passes another seed / batch size (the job must abort)."""

from __future__ import annotations

import sys
import time

import numpy as np

import mlp
from mlp.training.distributed import MPIComm

mode, out = sys.argv[1], sys.argv[2]


rng = np.random.default_rng(0)


X, y = rng.normal(size=(203, 6)), rng.integers(0, 3, size=203)  # 203: uneven shards, partial batch


comm = MPIComm(timeout=5.0 if mode == "hang" else 60.0, device_buffers=False if mode == "staged" else None)


if mode == "stream":
    for name, a in (("X", X), ("y", y)):
        np.save(f"{out}.rank{comm.rank}.{name}.npy", a)
    X = np.load(f"{out}.rank{comm.rank}.X.npy", mmap_mode="r")
    y = np.load(f"{out}.rank{comm.rank}.y.npy", mmap_mode="r")


def misbehave(epoch, logs, model):
    if comm.rank == 1 and epoch == 1:
        if mode == "fail":
            raise ValueError("injected failure on rank 1")
        if mode == "hang":
            time.sleep(600)


extra = {"norm": "batch", "dropout": 0.25} if mode == "state" else {}


if mode == "bf16":  # mixed precision on the torch backend, float32 weights
    extra = {"backend": "torch", "dtype": "float32", "compute_dtype": "bfloat16"}


extra.setdefault("dtype", "float64")


model = mlp.MLP([6, 16, 3], "tanh", "softmax", seed=1 + comm.rank, **extra)  # rank 0's weights win


h = mlp.train(
    model,
    X,
    y,
    optimizer=mlp.SGD(0.1, momentum=0.9),
    epochs=4,
    batch_size=16 if mode == "disagree-batch" and comm.rank == 1 else 32,
    seed=6 if mode == "disagree-seed" and comm.rank == 1 else 5,
    sample_weight=np.arange(203) % 4 if mode == "weighted" else None,
    progress=False,
    distributed=comm,
    callbacks=[misbehave] if mode in ("fail", "hang") else [],
)


if comm.rank == 0:
    np.savez(out, *model.get_weights(), *model.get_state(), loss=np.array(h.loss))
