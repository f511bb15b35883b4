"""Mini-batches: every epoch visits each sample once in a fresh random order.

``Batches`` draws the epoch's permutation on the host from the run's generator (so a seed
gives the same order on every backend), copies this process's share of it to the device
once per epoch, and gathers each mini-batch's rows with ``kernels.take_rows`` (into a
reused buffer where the backend offers one: the rows are still in cache when the first
product reads them). With several processes (``rank`` of ``size``) each keeps the
samples i with i mod size == rank and gets its rows of every global batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .backends.kernels import Kernels


class Batches:
    def __init__(
        self,
        X: Any,
        T: Any,
        n: int,
        batch_size: int | None,
        shuffle: bool,
        rng: np.random.Generator,
        backend: Any,
        kernels: Kernels,
        rank: int = 0,
        size: int = 1,
    ):
        """`X`, `T`: this process's samples (all of them in one process); `n`: the global count."""
        self.X, self.T, self.n = X, T, n
        self.batch_size = n if batch_size is None else min(batch_size, n)
        self.shuffle, self.rng = shuffle, rng
        self.backend, self.kernels = backend, kernels
        self.rank, self.size = rank, size
        self.starts = np.arange(0, n, self.batch_size)

    @property
    def sizes(self) -> list[int]:
        """Global batch sizes, in order (the last one may be partial)."""
        return [min(self.batch_size, self.n - s) for s in self.starts.tolist()]

    def epoch(self) -> Iterator[tuple[Any, Any, int, int]]:
        """(X rows, T rows, local count, global count) for each global mini-batch; the rows are
        None where this process owns none of the batch."""
        order = self.rng.permutation(self.n) if self.shuffle else np.arange(self.n)
        mine = order % self.size == self.rank
        counts = np.add.reduceat(mine.astype(np.int64), self.starts).tolist()
        idx = self.backend.asarray(order[mine] // self.size)  # one host-to-device copy per epoch
        at = 0
        for count, total in zip(counts, self.sizes):
            if count == 0:
                yield None, None, 0, total
                continue
            rows = idx[at : at + count]
            at += count
            yield self.kernels.take_rows(self.X, rows, "X"), self.kernels.take_rows(self.T, rows, "T"), count, total
