"""Tables from files, read by the library made for them: CSV and Parquet through pyarrow
(``pip install mlp[data]``). A table is a dict of column name -> NumPy array: numbers as
float64 or int64 (a blank cell is NaN), text as str; duplicate column names are an error."""

from __future__ import annotations

import os

import numpy as np

__all__ = ["read_table"]


def _pyarrow(path):
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ValueError(
            f"{path}: reading CSV and Parquet files needs pyarrow: pip install mlp[data] (or pip install pyarrow)"
        ) from None


def read_table(path) -> dict[str, np.ndarray]:
    """The columns of a .csv (header row, UTF-8 with or without BOM) or .parquet file."""
    path = os.fspath(path)
    _pyarrow(path)
    import pyarrow as pa

    try:
        if path.endswith((".parquet", ".pq")):
            import pyarrow.parquet as pq

            table = pq.read_table(path)
        else:
            import pyarrow.csv as pc

            table = pc.read_csv(path)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, UnicodeDecodeError) as exc:
        raise ValueError(
            f"{path}: cannot read as {'Parquet' if path.endswith(('.parquet', '.pq')) else 'CSV'} ({exc})"
        ) from None
    names = [n.strip() for n in table.column_names]
    seen = set()
    for n in names:
        if n in seen:
            raise ValueError(f"{path}: column name {n!r} appears more than once; columns must have distinct names")
        seen.add(n)
    if table.num_rows == 0:
        raise ValueError(f"{path}: a dataset needs a header row and at least one data row")
    out = {}
    for name, col in zip(names, table.columns):
        t = col.type
        if pa.types.is_integer(t) and col.null_count == 0:
            out[name] = col.to_numpy().astype(np.int64)
        elif pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
            out[name] = col.cast(pa.float64()).to_numpy(zero_copy_only=False)
        elif pa.types.is_boolean(t):
            out[name] = col.to_numpy(zero_copy_only=False).astype(bool) if col.null_count == 0 else _text(col)
        elif pa.types.is_null(t):
            out[name] = np.full(table.num_rows, np.nan)
        else:
            out[name] = _text(col)
    return out


def _text(col) -> np.ndarray:
    values = col.cast("string").to_pylist()
    return np.array(["" if v is None else v for v in values], dtype=str)
