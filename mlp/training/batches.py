"""Mini-batches: every epoch visits each sample once, in an order drawn from the run's generator.

``Batches`` draws the order on the host (so a seed gives the same batches on every backend)
and hands each global batch's rows, sorted, to a row source (``mlp.training.rows``).

The order is one of:

- ``True``/``"full"``: a uniform random permutation of all rows each epoch (the default; exact).
  It costs 8 bytes per row on the host, and on data read from disk every batch reads rows
  scattered over the whole file.
- ``BlockShuffle(block, window)`` or ``"blocks"``: the rows are cut into contiguous blocks of
  ``block`` rows; the blocks are visited in a random order, ``window`` blocks at a time, and
  the rows of each window are permuted together. Every row is still visited once per epoch,
  but a batch mixes rows of only ``window`` blocks, so data sorted by class or by time stays
  partly correlated within a batch (choose ``block * window`` well above the length of such
  runs). Reads stay within ``window`` contiguous regions of the file, and the order needs
  memory for the block order and one window only.
- ``False``/``"none"``: rows in file order.

With several processes, each keeps the rows of every global batch that its communicator says
it owns (``comm.mine``: the rows i with i mod size == rank).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

__all__ = ["BlockShuffle", "Batch", "Batches", "as_order"]


@dataclass(frozen=True)
class BlockShuffle:
    """Shuffle blocks of ``block`` contiguous rows, and rows within windows of ``window`` blocks."""

    block: int = 1024
    window: int = 16

    def __post_init__(self):
        from mlp.checks import check_positive_int

        check_positive_int(self.block, "BlockShuffle block")
        check_positive_int(self.window, "BlockShuffle window")


def as_order(shuffle: Any) -> str | BlockShuffle:
    """'full', 'none' or a BlockShuffle, from what ``train(shuffle=...)`` takes."""
    if isinstance(shuffle, BlockShuffle):
        return shuffle
    if isinstance(shuffle, (bool, np.bool_)):
        return "full" if shuffle else "none"
    if shuffle in ("full", "none"):
        return shuffle
    if shuffle == "blocks":
        return BlockShuffle()
    raise ValueError(
        f"shuffle must be True, False, 'full', 'none', 'blocks' or a BlockShuffle(block, window); got {shuffle!r}"
    )


class Batch(NamedTuple):
    """One mini-batch as a step takes it. ``x``/``t``/``w``: this process's inputs, targets and
    sample weights (None: unweighted; all None where it owns none of the batch); ``rows``: their
    sample indices on the device (for dropout masks), or None; ``count``/``total``: this process's
    and the global batch's sample counts; ``weight``/``total_weight``: the same in sample weights
    (the counts when unweighted), by which processes' losses and gradients are combined."""

    x: Any
    t: Any
    w: Any
    rows: Any
    count: int
    total: int
    weight: float
    total_weight: float


class Batches:
    def __init__(
        self,
        source: Any,
        n: int,
        batch_size: int | None,
        shuffle: Any,
        rng: np.random.Generator,
        comm: Any = None,
        weights: np.ndarray | None = None,
    ):
        """`source`: the rows to gather; `n`: the global sample count; `comm`: which rows of each batch
        this process owns (None: one process); `weights`: the host sample weights of all n samples
        (None: unweighted)."""
        self.source, self.n, self.weights = source, n, weights
        self.batch_size = n if batch_size is None else min(batch_size, n)
        self.order, self.rng = as_order(shuffle), rng
        self.comm = comm
        self.starts = np.arange(0, n, self.batch_size)

    @property
    def sizes(self) -> list[int]:
        """Global batch sizes, in order (the last one may be partial)."""
        return [min(self.batch_size, self.n - s) for s in self.starts.tolist()]

    def plan(self) -> Iterator[np.ndarray]:
        """Each global batch's rows that this process owns, sorted (one epoch); the global batches'
        and this process's weight sums, in order, go to ``self._sums``."""
        self._sums = []
        for rows in self._global_batches():
            rows = np.sort(rows)
            mine = rows if self.comm is None else self.comm.mine(rows)
            if self.weights is None:
                self._sums.append((float(mine.shape[0]), float(rows.shape[0])))
            else:
                self._sums.append((float(self.weights[mine].sum()), float(self.weights[rows].sum())))
            yield mine

    def _global_batches(self) -> Iterator[np.ndarray]:
        n, B = self.n, self.batch_size
        if self.order == "none":
            for s in self.starts.tolist():
                yield np.arange(s, min(s + B, n))
            return
        if self.order == "full":
            order = self.rng.permutation(n)
            for s in self.starts.tolist():
                yield order[s : s + B]
            return
        yield from _cut(self._block_order(), B)

    def _block_order(self) -> Iterator[np.ndarray]:
        """Windows of rows: blocks in a random order, rows permuted within each window."""
        block, window = self.order.block, self.order.window
        blocks = self.rng.permutation(-(-self.n // block))
        for w in range(0, blocks.shape[0], window):
            rows = np.concatenate([np.arange(b * block, min((b + 1) * block, self.n)) for b in blocks[w : w + window]])
            self.source.will_need(blocks[w : w + window], block)
            yield self.rng.permutation(rows)

    def epoch(self) -> Iterator[Batch]:
        """Each global mini-batch of one epoch (a ``Batch``)."""
        for i, ((xb, tb, wb, ids, count), total) in enumerate(zip(self.source.batches(self.plan()), self.sizes)):
            weight, total_weight = self._sums[i]
            yield Batch(xb, tb, wb, ids, count, total, weight, total_weight)


def _cut(pieces: Iterable[np.ndarray], B: int) -> Iterator[np.ndarray]:
    """Batches of B rows from consecutive pieces (the last batch takes what is left)."""
    pending = np.empty(0, dtype=np.int64)
    for piece in pieces:
        pending = np.concatenate([pending, piece])
        while pending.shape[0] >= B:
            yield pending[:B]
            pending = pending[B:]
    if pending.shape[0]:
        yield pending
