"""Data-parallel training over MPI (mpi4py): each process holds a shard of the data, every
global mini-batch is split across processes, and gradients are summed with one all-reduce
per step, so P processes compute exactly the gradient one process would (up to the order of
floating-point sums).

Sharding: rank p holds samples i with i mod P == p. Every rank draws the same global
permutation each epoch (same seed), and processes the samples of each global batch that it
owns; gradients are weighted by the local count and summed, then divided by the global batch
size. Parameters are broadcast from rank 0 at the start. Only rank 0 shows progress and
writes files. Collectives have a deadline: a rank that fails aborts the whole job (MPI_Abort)
with a message, and a rank that waits longer than ``timeout`` seconds for its peers does the
same, instead of hanging.

Gradients cross the network in one flat buffer per step, packed where the arrays live: host
memory (NumPy), or GPU memory where the MPI library is CUDA-aware (Open MPI's
MPIX_Query_cuda_support, or MLP_MPI_CUDA_AWARE=1), so that the device-to-host and host-to-device
copies of every gradient disappear. Elsewhere (a GPU with an MPI that is not CUDA-aware) each
gradient is staged through host memory; ``MPIComm(device_buffers=False)`` forces that. NCCL
would reduce on the GPUs' own links; it is not used.

``LocalComm`` is the single-process communicator: the training loop is the same with one
process or many.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager

import numpy as np

__all__ = ["LocalComm", "MPIComm", "as_comm"]


class LocalComm:
    """One process: every collective is the identity."""

    rank, size = 0, 1
    traceable = True  # its collectives are identities: a step with it can be compiled whole

    def setup(self, model, n, settings=None):
        """Agree on the parameters, state and run settings (one process: nothing to agree on)."""

    def allsum(self, x):
        """Sums over every process's batch rows (BatchNorm's statistics): here, the local sums."""
        return x

    def shard(self, backend, *arrays):
        """This process's samples of in-memory data (one process: all of them)."""
        return arrays

    def mine(self, rows):
        """The rows of a global batch that this process owns (one process: all of them)."""
        return rows

    def local(self, rows):
        """Where this process's shard keeps the global rows `rows` (one process: where they are)."""
        return rows

    def combine(self, model, value, sunk, local_n, global_n):
        """The global batch's loss and sink contents from this process's (one process: as they are)."""
        return value, sunk

    @contextmanager
    def guard(self):
        """Where a failure must end every process (one process: nothing to do)."""
        yield


class MPIComm:
    """An MPI communicator with the few collectives data-parallel training needs."""

    traceable = False  # collectives read and write host buffers during a step

    def __init__(self, comm=None, timeout=120.0, device_buffers=None):
        try:
            from mpi4py import MPI
        except ImportError as exc:
            raise ValueError(
                f"distributed training needs mpi4py and an MPI library ({exc}); "
                "pip install mpi4py, with Open MPI or MPICH installed"
            ) from None
        self.MPI = MPI
        self.comm = comm if comm is not None else MPI.COMM_WORLD
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds; got {timeout}")
        self.timeout = float(timeout)
        if device_buffers not in (None, True, False):
            raise TypeError(f"device_buffers must be True, False or None; got {device_buffers!r}")
        self.device_buffers = device_buffers

    @staticmethod
    def cuda_aware() -> bool:
        """Whether the MPI library reads GPU memory itself (Open MPI's MPIX_Query_cuda_support, or
        MLP_MPI_CUDA_AWARE=1 for an MPI that cannot say)."""
        import ctypes
        import os

        if os.environ.get("MLP_MPI_CUDA_AWARE") in ("0", "1"):
            return os.environ["MLP_MPI_CUDA_AWARE"] == "1"
        try:
            query = ctypes.CDLL(None).MPIX_Query_cuda_support
        except (AttributeError, OSError):
            return False
        query.restype = ctypes.c_int
        return bool(query())

    def _direct(self, backend) -> bool:
        """Whether gradients go to MPI in the backend's own buffer (host memory, or GPU memory with a
        CUDA-aware MPI) instead of being staged through host copies."""
        if self.device_buffers is not None:
            return self.device_buffers and (backend.shares_host_memory or backend.cuda_memory)
        return backend.shares_host_memory or (backend.cuda_memory and self.cuda_aware())

    # -- failure handling -------------------------------------------------------------------
    def abort(self, message, code=1):
        sys.stderr.write(f"mlp: error: rank {self.rank} of {self.size}: {message}; aborting all ranks\n")
        sys.stderr.flush()
        self.comm.Abort(code)

    def _wait(self, request, what):
        deadline = time.monotonic() + self.timeout
        while not request.Test():
            if time.monotonic() > deadline:
                self.abort(f"{what} did not complete within {self.timeout:g} s (a peer failed or hangs)", 3)
            time.sleep(0)

    def allreduce_sum(self, buf, what="gradient all-reduce"):
        """In-place sum of a float buffer over all ranks (host memory, or GPU memory with a CUDA-aware
        MPI), with the deadline."""
        self._wait(self.comm.Iallreduce(self.MPI.IN_PLACE, buf, op=self.MPI.SUM), what)
        return buf

    def bcast(self, buf, what="parameter broadcast"):
        self._wait(self.comm.Ibcast(buf, root=0), what)
        return buf

    # -- training hooks ------------------------------------------------------------------------
    def setup(self, model, n, settings=None):
        """Broadcast rank 0's parameters and state; check that every rank runs the same run: the
        same `n` samples and the same settings (seed, batch size, shuffling, layers, dtypes, loss,
        optimizer, data fingerprint). A difference is an error naming the rank and both values."""
        backend, xp = model.backend, model.xp
        for arrays in (model.params, model.state):
            for i, p in enumerate(arrays):
                dtype = np.float64 if p.dtype == xp.float64 else np.float32
                host = np.ascontiguousarray(backend.to_numpy(p), dtype=dtype)
                self.bcast(host)
                arrays[i] = backend.asarray(host, model.dtype, copy=True)
        sizes = np.array([n], dtype=np.int64)
        counts = np.empty(self.size, dtype=np.int64)
        self._wait(self.comm.Iallgather(sizes, counts), "dataset size check")
        if not np.all(counts == n):
            raise ValueError(f"every rank must pass the same dataset to train (n={n}); ranks got {counts.tolist()}")
        if n < self.size:
            raise ValueError(f"{n} samples cannot be sharded over {self.size} processes")
        if settings is not None:
            self._same_settings(settings)

    def _gather_bytes(self, data: bytes, what: str) -> list[bytes]:
        mine = np.frombuffer(data, dtype=np.uint8)
        lengths = np.empty(self.size, dtype=np.int64)
        self._wait(self.comm.Iallgather(np.array([mine.size], dtype=np.int64), lengths), what)
        out = np.empty(int(lengths.sum()), dtype=np.uint8)
        self._wait(self.comm.Iallgatherv(mine, [out, lengths.tolist()]), what)
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        return [out[a:b].tobytes() for a, b in zip(bounds[:-1], bounds[1:])]

    def _same_settings(self, settings: dict):
        import json

        mine = json.dumps(settings, sort_keys=True, default=str).encode()
        ranks = [json.loads(b) for b in self._gather_bytes(mine, "run settings check")]
        ref = ranks[0]
        for r, other in enumerate(ranks[1:], start=1):
            for key in [*ref, *(k for k in other if k not in ref)]:  # the settings' own order: the data last
                if ref.get(key) != other.get(key):
                    a, b = json.dumps(other.get(key))[:200], json.dumps(ref.get(key))[:200]
                    raise ValueError(
                        f"the ranks do not run the same training: rank {r}'s {key} is {a}, rank 0's is {b}; "
                        "every rank must pass the same settings and data"
                    )

    def allsum(self, x):
        """x summed over every rank (a small device array: BatchNorm's per-feature sums)."""
        from array_api_compat import array_namespace, device, is_numpy_array

        from mlp import backends

        host = x if is_numpy_array(x) else backends.infer(x).to_numpy(x)
        buf = np.ascontiguousarray(host, dtype=np.float64)
        self.allreduce_sum(buf, "batch statistics all-reduce")
        return array_namespace(x).asarray(buf.astype(host.dtype), device=device(x))

    def shard(self, backend, *arrays):
        """This rank's rows (rank, rank + size, ...) of in-memory data; streamed data is read by
        rows as each batch needs them, so it is not sharded up front."""
        own = backend.asarray(np.arange(self.rank, arrays[0].shape[0], self.size))
        return tuple(backend.xp.take(a, own, axis=0) for a in arrays)

    def mine(self, rows):
        """The rows of a global batch that this rank owns: i mod size == rank."""
        return rows[rows % self.size == self.rank]

    def local(self, rows):
        """Where this rank's shard (rows rank, rank + size, ...) keeps the global rows `rows`."""
        return rows // self.size

    def _combine_direct(self, model, value, sunk, local_n, global_n):
        backend, xp = model.backend, model.xp
        shapes = [tuple(p.shape) for p in model.params]
        sizes = [int(np.prod(s)) for s in shapes]
        if local_n:
            flat = [xp.reshape(g, (-1,)) for g in sunk] + [xp.reshape(xp.astype(value, model.dtype), (1,))]
            buf = xp.concat(flat) * local_n
        else:
            buf = backend.zeros((sum(sizes) + 1,), model.dtype)
        backend.synchronize(buf)  # the buffer is written before MPI reads it
        self.allreduce_sum(buf)
        buf = buf / global_n
        pieces = backend.split(buf, [*sizes, 1])
        out = [xp.reshape(piece, s) for piece, s in zip(pieces, shapes)]
        return xp.reshape(pieces[-1], ()), out

    @contextmanager
    def guard(self):
        """A failure on this rank aborts every rank: none is left waiting in a collective."""
        try:
            yield
        except BaseException as exc:
            if self.size > 1:
                self.abort(f"{type(exc).__name__}: {exc}")
            raise

    def combine(self, model, value, sunk, local_n, global_n):
        """The global batch's mean loss (on the device, as one process has it) and sink contents from
        each rank's (one all-reduce).

        A sink holds beta·target + alpha·g with target equal on every rank, so the
        count-weighted mean over ranks is beta·target + alpha·(global mean gradient): the
        all-reduce is exact whatever the optimizer asked backward to accumulate.

        Directly (host backends; GPU ones with a CUDA-aware MPI): the gradients are packed into
        one flat buffer on the device (one concatenation), reduced in place there, and cut back
        into views; otherwise each gradient is staged through a host buffer and copied back."""
        if self._direct(model.backend):
            return self._combine_direct(model, value, sunk, local_n, global_n)
        backend = model.backend
        shapes = [tuple(p.shape) for p in model.params]
        sizes = [int(np.prod(s)) for s in shapes]
        dtype = np.float64 if model.dtype == model.xp.float64 else np.float32
        buf = np.zeros(sum(sizes) + 1, dtype=dtype)
        if local_n:
            at = 0
            for g, k in zip(sunk, sizes):
                buf[at : at + k] = backend.to_numpy(g).reshape(-1)
                at += k
            buf[:-1] *= local_n
            buf[-1] = float(backend.to_numpy(value)) * local_n
        self.allreduce_sum(buf)
        buf /= global_n
        out, at = [], 0
        for s, k in zip(shapes, sizes):
            out.append(backend.asarray(buf[at : at + k].reshape(s), model.dtype, copy=True))
            at += k
        return backend.asarray(buf[-1:].reshape(()), model.dtype), out


def as_comm(distributed):
    """The communicator for train's `distributed` argument (None/False: one process)."""
    if distributed is None or distributed is False:
        return LocalComm()
    if isinstance(distributed, (MPIComm, LocalComm)):
        return distributed
    if distributed is True:
        return MPIComm()
    raise TypeError(f"distributed must be True or an MPIComm; got {type(distributed).__name__}")
