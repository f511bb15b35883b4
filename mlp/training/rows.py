"""Row sources: the training data as a step reads it, made once at the door (``mlp.training.sources``).

- ``DeviceRows``: the data lives on the backend's device (this process's shard of it). The
  epoch's row indices go to the device in one copy and each batch is gathered with
  ``kernels.take_rows`` into a reused buffer.
- ``HostRows``: the data stays on the host, in a NumPy memory map or any array-like with row
  indexing (h5py, zarr, ``data.Transformed``); only the batches being used are read, each
  in row order (sequential reads within a batch), checked, cast, and copied to the device. A
  background thread gathers the next batch while the current step computes (``prefetch``).

Both give batches as (x, t, w, ids, count) and every sample once, in order, as ``chunks()``
(evaluation), so what reads them never asks which kind it holds.
"""

from __future__ import annotations

import contextlib
import numbers
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from mlp import backends
from mlp.backends.kernels import GENERIC, Kernels

__all__ = ["DeviceRows", "HostRows", "is_streamed"]


class DeviceRows:
    """Rows of arrays on the backend's device: this process's shard (its communicator says which).
    ``ids``: also give each batch its sample indices on the device (for dropout masks)."""

    checked_while_read = False  # checked whole at the door

    def __init__(
        self,
        X: Any,
        T: Any,
        backend: Any,
        kernels: Kernels = GENERIC,
        comm: Any = None,
        ids: bool = False,
        W: Any = None,
    ):
        self.X, self.T, self.W, self.backend, self.kernels, self.comm, self.ids = X, T, W, backend, kernels, comm, ids

    def shard(self, comm: Any, kernels: Kernels) -> DeviceRows:
        """This process's rows (all of them in one process), gathered with the run's kernels."""
        arrays = comm.shard(self.backend, self.X, self.T, *([] if self.W is None else [self.W]))
        X, T, W = (*arrays, None) if self.W is None else arrays
        return DeviceRows(X, T, self.backend, kernels, comm, self.ids, W)

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    def head(self, rows: int, targets: bool = False) -> Any:
        """The first `rows` samples' inputs (of this process's shard), with their targets if asked."""
        m = min(rows, self.n)
        return (self.X[:m, ...], self.T[:m, ...]) if targets else self.X[:m, ...]

    def sample(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Host copies of the rows `rows` (inputs as training sees them, targets)."""
        idx = self.backend.asarray(np.asarray(rows, dtype=np.int64))
        xp = self.backend.xp
        return self.backend.to_numpy(xp.take(self.X, idx, axis=0)), self.backend.to_numpy(xp.take(self.T, idx, axis=0))

    def will_need(self, blocks, block):
        pass

    def chunks(self, size: int | None = None) -> Iterator[tuple[Any, Any, Any, Any, int]]:
        """Every sample once (for evaluation): here, all of them in one piece."""
        yield self.X, self.T, self.W, None, self.n

    def batches(self, plan: Iterable[np.ndarray]) -> Iterator[tuple[Any, Any, Any, int]]:
        rows = list(plan)
        counts = [r.shape[0] for r in rows]
        flat = np.concatenate(rows) if rows else np.empty(0, np.int64)
        local = flat if self.comm is None else self.comm.local(flat)  # where a shard keeps each global row
        idx = self.backend.split(self.backend.asarray(local), counts)  # one copy per epoch
        ids = self.backend.split(self.backend.asarray(flat.astype(np.int32)), counts) if self.ids else None
        for i, count in enumerate(counts):
            if count == 0:
                yield None, None, None, None, 0
                continue
            sel = idx[i]
            bid = None if ids is None else ids[i]
            wb = None if self.W is None else self.kernels.take_rows(self.W, sel, "W")
            yield self.kernels.take_rows(self.X, sel, "X"), self.kernels.take_rows(self.T, sel, "T"), wb, bid, count


def is_streamed(X: Any) -> bool:
    """True for host data that training reads batch by batch instead of loading whole: a NumPy
    memory map, or an array-like with rows (shape, dtype, indexing) that is not an array."""
    if isinstance(X, np.memmap):
        return True
    if isinstance(X, (np.ndarray, list, tuple)) or hasattr(X, "__array_namespace__"):
        return False
    if type(X).__module__.split(".")[0] == "pandas":  # in memory: read whole, by position
        return False
    try:
        from array_api_compat import array_namespace

        array_namespace(X)
        return False  # an array of some library
    except TypeError:
        pass
    return all(hasattr(X, a) for a in ("shape", "dtype", "__getitem__")) and len(X.shape) >= 1


def _check_rows_like(X: Any, name: str, ndim: int | None = None) -> None:
    shape = getattr(X, "shape", None)
    if shape is None or not all(isinstance(s, numbers.Integral) for s in shape):
        raise TypeError(f"{name} must be an array or an array-like with a shape; got {type(X).__name__}")
    if ndim is not None and len(shape) != ndim:
        raise ValueError(f"{name} must be {ndim}-D; got shape {tuple(shape)}")
    kind = np.dtype(X.dtype).kind
    if kind not in "fiub":
        raise TypeError(f"{name} must hold real numbers; got dtype {X.dtype}")


class HostRows:
    """Rows of host arrays gathered batch by batch: `X` (n, d) and `y` (n,) or (n, k), memory
    maps or array-likes, never read whole. `rows` maps sample i to row rows[i] (a held-out
    split); `prepare_x`/`prepare_t` check and convert one batch on the host (errors name the
    rows); `upload` copies a host batch to the device. ``prefetch``: gather the next batch in a
    background thread while the current one is used. ``ids``: give each batch its sample
    indices on the device too (for dropout masks)."""

    checked_while_read = True  # a bad row is found when its batch is read, mid-epoch

    def __init__(
        self,
        X: Any,
        y: Any,
        prepare_x: Callable[[np.ndarray, str], np.ndarray],
        prepare_t: Callable[[np.ndarray, str], np.ndarray],
        upload: Callable[[np.ndarray], Any],
        rows: np.ndarray | None = None,
        prefetch: bool = True,
        reuse: bool = False,
        name: str = "X",
        ids: bool = False,
        w: np.ndarray | None = None,
    ):
        if type(y).__module__.split(".")[0] == "pandas":  # by position, never by the index's labels
            y = y.to_numpy()
        _check_rows_like(X, name, 2)
        _check_rows_like(y, name.replace("X", "y"))
        if y.shape[0] != X.shape[0]:
            raise ValueError(
                f"{name} and {name.replace('X', 'y')} must have the same number of rows; got {X.shape[0]} and "
                f"{y.shape[0]}"
            )
        if X.shape[0] == 0:
            raise ValueError(f"{name} must hold at least one sample; got shape {tuple(X.shape)}")
        self.X, self.y, self.rows = X, y, rows
        self.prepare_x, self.prepare_t, self.upload = prepare_x, prepare_t, upload
        self.prefetch, self.name, self.ids, self.w = bool(prefetch), name, bool(ids), w
        self.w_dtype = None  # the model's dtype for uploaded weights
        # NumPy arrays and memory maps are gathered straight into two alternating reused buffers
        self._host = backends.get("numpy").kernels() if reuse and isinstance(X, np.ndarray) else None
        self._turn = 0

    @property
    def n(self) -> int:
        return int(self.X.shape[0] if self.rows is None else self.rows.shape[0])

    def shard(self, comm: Any, kernels: Kernels) -> HostRows:
        """Itself: each process reads its rows of each batch (Batches.plan), nothing up front."""
        return self

    def subset(self, rows: np.ndarray, name: str) -> HostRows:
        """The same data restricted to samples `rows` (sorted), e.g. a training/validation split."""
        rows = np.sort(np.asarray(rows, dtype=np.int64))
        mapped = rows if self.rows is None else self.rows[rows]
        return HostRows(
            self.X,
            self.y,
            self.prepare_x,
            self.prepare_t,
            self.upload,
            mapped,
            prefetch=self.prefetch,
            reuse=self._host is not None,
            name=name,
            ids=self.ids,
            w=self.w,
        )

    def will_need(self, blocks, block):
        """Ask the OS to read these blocks of a memory-mapped file ahead (they are about to be used)."""
        X = self.X
        if self.rows is not None or not isinstance(X, np.memmap) or not getattr(X, "filename", None):
            return
        if not hasattr(os, "posix_fadvise"):
            return
        row_bytes = X.strides[0]
        with contextlib.suppress(OSError), open(X.filename, "rb") as f:
            for b in np.asarray(blocks).tolist():
                start = X.offset + b * block * row_bytes
                length = min(block, X.shape[0] - b * block) * row_bytes
                os.posix_fadvise(f.fileno(), start, length, os.POSIX_FADV_WILLNEED)

    def _check_files(self):
        """A memory-mapped file that shrank since it was opened (truncated by another process)
        would kill this one with a bus error on the next read: it is a ValueError naming it."""
        for a in (self.X, self.y):
            path = getattr(a, "filename", None) if isinstance(a, np.memmap) else None
            if path is None:
                continue
            path = os.fspath(path)
            try:
                size = os.stat(path).st_size
            except OSError as exc:
                raise ValueError(f"memory-mapped file {path!r} cannot be read any more ({exc})") from None
            need = a.offset + a.nbytes
            if size < need:
                raise ValueError(
                    f"memory-mapped file {path!r} was truncated while in use: {size:,} bytes, its array needs {need:,}"
                )

    def raw(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rows (sorted sample indices) of X and y as stored (no checks or conversion)."""
        self._check_files()
        file_rows = rows if self.rows is None else self.rows[rows]
        return np.asarray(self.X[file_rows]), np.asarray(self.y[file_rows])

    def gather(self, rows: np.ndarray) -> tuple[Any, Any, Any, int]:
        """One batch: the rows (sorted sample indices) read in order, checked, on the device."""
        count = int(rows.shape[0])
        if count == 0:
            return None, None, None, None, 0
        self._check_files()
        file_rows = rows if self.rows is None else self.rows[rows]
        where = f"rows {int(file_rows[0])}..{int(file_rows[-1])}"
        if self._host is not None:  # the step has used the other buffer's batch before this one is read
            self._turn ^= 1
            xb = self._host.take_rows(self.X, file_rows, ("X", self._turn))
        else:
            xb = np.asarray(self.X[file_rows])
        yb = np.asarray(self.y[file_rows])
        xb = self.prepare_x(xb, f"{self.name} ({where})")
        tb = self.prepare_t(yb, f"{self.name.replace('X', 'y')} ({where})")
        ids = self.upload(rows.astype(np.int32)) if self.ids else None
        wb = None if self.w is None else self.upload(self.w[file_rows].astype(xb.dtype))
        return self.upload(xb), self.upload(tb), wb, ids, count

    def batches(self, plan: Iterable[np.ndarray]) -> Iterator[tuple[Any, Any, Any, int]]:
        plan = iter(plan)
        first = next(plan, None)
        if first is None:
            return
        if not self.prefetch:
            yield self.gather(first)
            for rows in plan:
                yield self.gather(rows)
            return
        with ThreadPoolExecutor(1, thread_name_prefix="mlp-prefetch") as pool:
            pending = pool.submit(self.gather, first)
            for rows in plan:
                ready = pending.result()
                pending = pool.submit(self.gather, rows)
                yield ready
            yield pending.result()

    def head(self, rows: int, targets: bool = False) -> Any:
        """The first `rows` samples' inputs on the device, with their targets if asked."""
        xb, tb, *_ = self.gather(np.arange(min(rows, self.n)))
        return (xb, tb) if targets else xb

    def sample(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Host copies of the rows `rows` (inputs as training sees them, targets)."""
        rows = np.sort(np.asarray(rows, dtype=np.int64))
        file_rows = rows if self.rows is None else self.rows[rows]
        xb, yb = np.asarray(self.X[file_rows]), np.asarray(self.y[file_rows])
        return self.prepare_x(xb, self.name), self.prepare_t(yb, self.name.replace("X", "y"))

    def chunks(self, size: int = 4096) -> Iterator[tuple[Any, Any, Any, int]]:
        """Every sample once, in order, `size` rows at a time (for evaluation)."""
        return self.batches(np.arange(s, min(s + size, self.n)) for s in range(0, self.n, size))

    def raw_chunks(self, size: int) -> Iterator[np.ndarray]:
        """Every sample's X row once, as stored, `size` rows at a time (for fitting transforms)."""
        for s in range(0, self.n, size):
            yield self.raw(np.arange(s, min(s + size, self.n)))[0]
