"""Tables from files, read by the library made for them: CSV and Parquet through pyarrow
(``pip install mlp[data]``). A table is a dict of column name -> NumPy array: numbers as
float64 or int64 (a blank cell is NaN), text as str; duplicate column names are an error."""

from __future__ import annotations

import os

import numpy as np

__all__ = ["read_table", "read_arrow", "column_to_numpy", "ParquetRows", "parquet_column"]


def _pyarrow(path):
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ValueError(
            f"{path}: reading CSV and Parquet files needs pyarrow: pip install mlp[data] (or pip install pyarrow)"
        ) from None


def read_arrow(path):
    """(column names, pyarrow Table) of a .csv (header row, UTF-8 with or without BOM) or
    .parquet file; names stripped of spaces and distinct, at least one data row."""
    path = os.fspath(path)
    _pyarrow(path)
    import pyarrow as pa

    parquet = path.endswith((".parquet", ".pq"))
    try:
        if parquet:
            import pyarrow.parquet as pq

            table = pq.read_table(path)
        else:
            import pyarrow.csv as pc

            table = pc.read_csv(path)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read as {'Parquet' if parquet else 'CSV'} ({exc})") from None
    names = [n.strip() for n in table.column_names]
    seen = set()
    for n in names:
        if n in seen:
            raise ValueError(f"{path}: column name {n!r} appears more than once; columns must have distinct names")
        seen.add(n)
    if table.num_rows == 0:
        raise ValueError(f"{path}: a dataset needs a header row and at least one data row")
    return names, table


def column_to_numpy(col, where: str = "a column") -> np.ndarray:
    """A pyarrow column as NumPy: numbers as float64 or int64 (a blank cell is NaN), text as str.
    Nested values (lists, structs, maps) and text that is not UTF-8 are a ValueError naming
    `where` (the file and column) and the row."""
    import pyarrow as pa

    t = col.type
    if pa.types.is_integer(t) and col.null_count == 0:
        return col.to_numpy().astype(np.int64, copy=False)
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return col.cast(pa.float64()).to_numpy(zero_copy_only=False)
    if pa.types.is_boolean(t):
        return col.to_numpy(zero_copy_only=False).astype(bool) if col.null_count == 0 else _text(col)
    if pa.types.is_null(t):
        return np.full(len(col), np.nan)
    if pa.types.is_nested(t) or (pa.types.is_dictionary(t) and pa.types.is_nested(t.value_type)):
        raise ValueError(f"{where} holds {t} values (nested); a column must hold numbers or text")
    return _text(col, where)


def read_table(path) -> dict[str, np.ndarray]:
    """The columns of a .csv (header row, UTF-8 with or without BOM) or .parquet file."""
    names, table = read_arrow(path)
    return {name: column_to_numpy(col, f"{path}: column {name!r}") for name, col in zip(names, table.columns)}


def _text(col, where: str = "a column") -> np.ndarray:
    import pyarrow as pa

    try:
        values = col.cast("string").to_pylist()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        if pa.types.is_binary(col.type) or pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            raw = col.cast(pa.binary()).to_pylist()
            row = next((i for i, v in enumerate(raw) if v is not None and not _utf8(v)), None)
            if row is not None:
                raise ValueError(
                    f"{where} holds text that is not UTF-8 in data row {row + 1}; save it as UTF-8"
                ) from None
        raise ValueError(f"{where} holds {col.type} values that cannot be read as text ({exc})") from None
    return np.array(["" if v is None else v for v in values], dtype=str)


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


class ParquetRows:
    """The feature columns of a Parquet file as a read-only 2-D array of float64 rows, read one
    row group at a time and never whole: ``mlp.train`` and ``model.evaluate`` take it like a
    memory map (``X[rows]`` for sorted row indices, ``X[a:b]``). Row groups are read as batches
    ask for them and the last ``cache`` are kept, so a row group must fit in memory several times
    over (write files with ``row_group_size`` of about 100,000 rows, not pyarrow's million). Train
    with ``shuffle=BlockShuffle(X.block, 2)``: blocks of about a row group, two at a time, each
    group read about once per epoch (``mlp train`` does). ``rows`` restricts it to those file rows
    (a split). Blank cells are NaN (training names the rows); text columns are refused up front."""

    def __init__(self, path, columns=None, rows=None, cache: int = 6):
        path = os.fspath(path)
        _pyarrow(path)
        import threading

        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            self._file = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise ValueError(f"{path}: cannot read as Parquet ({exc})") from None
        schema = self._file.schema_arrow
        names = list(schema.names)
        columns = names if columns is None else list(columns)
        missing = [c for c in columns if c not in names]
        if missing:
            raise ValueError(f"{path}: no column(s) {missing}; columns are {names}")
        for c in columns:
            t = schema.field(c).type
            if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)):
                raise ValueError(f"{path}: feature column {c!r} holds {t}, not numbers; features must be numbers")
        self.path, self.columns = path, columns
        meta = self._file.metadata
        sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        self._starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        n_file = int(self._starts[-1])
        self.rows = None if rows is None else np.asarray(rows, dtype=np.int64)
        if self.rows is not None and self.rows.size and (self.rows.min() < 0 or self.rows.max() >= n_file):
            raise ValueError(f"{path}: rows must be in [0, {n_file}); got {self.rows.min()}..{self.rows.max()}")
        n = n_file if self.rows is None else int(self.rows.shape[0])
        self.shape, self.dtype, self.ndim = (n, len(columns)), np.dtype(np.float64), 2
        self._cache, self._keep = {}, int(cache)
        self._lock = threading.Lock()

    def __len__(self):
        return self.shape[0]

    @property
    def row_group_size(self) -> int:
        """The largest row group's rows."""
        return int(np.diff(self._starts).max()) if len(self._starts) > 1 else 0

    @property
    def block(self) -> int:
        """A ``BlockShuffle`` block for this view: the samples of about one row group (fewer where
        the view holds only some of the file's rows)."""
        share = self.shape[0] / max(int(self._starts[-1]), 1)
        return max(1, int(self.row_group_size * share))

    def subset(self, rows) -> ParquetRows:
        """The same file restricted to these of its rows (positions in this view)."""
        rows = np.asarray(rows, dtype=np.int64)
        mapped = rows if self.rows is None else self.rows[rows]
        return ParquetRows(self.path, self.columns, mapped, self._keep)

    def _group(self, g: int) -> np.ndarray:
        with self._lock:
            hit = self._cache.pop(g, None)
            if hit is None:
                table = self._file.read_row_group(g, columns=self.columns)
                hit = np.empty((table.num_rows, len(self.columns)))
                for j, col in enumerate(table.columns):
                    hit[:, j] = col.cast("double").to_numpy(zero_copy_only=False)
                while len(self._cache) >= self._keep:
                    self._cache.pop(next(iter(self._cache)))
            self._cache[g] = hit  # the most recent last
            return hit

    def __getitem__(self, key):
        if isinstance(key, tuple):
            rows = self[key[0]]
            return rows[(slice(None), *key[1:])]
        if isinstance(key, slice):
            idx = np.arange(*key.indices(self.shape[0]))
        elif isinstance(key, (int, np.integer)):
            return self[np.array([int(key)])][0]
        else:
            idx = np.asarray(key)
            if idx.dtype == bool:
                idx = np.flatnonzero(idx)
            idx = idx.astype(np.int64)
            if idx.size and (idx.min() < -self.shape[0] or idx.max() >= self.shape[0]):
                raise IndexError(f"row index out of range for {self.shape[0]} rows")
            idx = np.where(idx < 0, idx + self.shape[0], idx)
        file_rows = idx if self.rows is None else self.rows[idx]
        out = np.empty((idx.shape[0], self.shape[1]))
        groups = np.searchsorted(self._starts, file_rows, side="right") - 1
        for g in np.unique(groups):
            where = np.flatnonzero(groups == g)
            out[where] = self._group(int(g))[file_rows[where] - self._starts[g]]
        return out

    def __array__(self, dtype=None, copy=None):
        out = self[:]
        return out if dtype is None else out.astype(dtype)


def parquet_column(path, name) -> np.ndarray:
    """One column of a Parquet file, read whole (a label column: one value per row)."""
    _pyarrow(path)
    import pyarrow.parquet as pq

    return column_to_numpy(pq.read_table(os.fspath(path), columns=[name]).column(0), f"{path}: column {name!r}")
