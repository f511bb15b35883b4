"""Data: the embedded digits, small generators, and user files (.npz, .csv, MNIST IDX, and
folders of .npy arrays opened as memory maps).

Everything is local: the digits ship inside scikit-learn, the rest is generated. Feature
scaling is part of the model (``mlp.nn.transforms``); ``Transformed`` applies any function to the
rows training reads. The task (classification or regression) of a file is inferred one way for
every format (``infer_task``), and the CLI's ``--task`` overrides it.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "Dataset",
    "infer_task",
    "load_dataset",
    "load_file",
    "DATASETS",
    "xor",
    "gate",
    "two_moons",
    "regression",
    "digits",
    "load_idx",
    "load_npy_folder",
    "Transformed",
    "row_chunks",
]

CHUNK_BYTES = 64 << 20  # rows read at a time when a pass over the data is needed


def row_chunks(X, chunk_bytes=None):
    """(start, stop) row ranges of about `chunk_bytes` (default CHUNK_BYTES) of float64 each, covering X."""
    chunk_bytes = CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    n = X.shape[0]
    row_bytes = max(1, int(np.prod(X.shape[1:], dtype=np.int64)) * 8)
    step = max(1, chunk_bytes // row_bytes)
    return [(s, min(s + step, n)) for s in range(0, n, step)]


def host_chunks(X, backend=None, n_features=None, name="X"):
    """X's rows as checked float64 host arrays, a chunk of about CHUNK_BYTES at a time: host data,
    memory maps and array-likes are read by row ranges, device arrays copied over by chunks."""
    from mlp.checks import check_host_X, is_host_data

    for s, e in row_chunks(X):
        host = is_host_data(X)
        part = X[s:e] if host else X[s:e, ...]  # device arrays: every axis named (the array API has no flat indexing)
        if not host and backend is not None:
            part = backend.to_numpy(part)
        yield check_host_X(part, n_features, f"{name} (rows {s}..{e - 1})")


@dataclass
class Dataset:
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    task: str = "classification"  # or "regression"
    name: str = ""
    feature_names: list | None = None
    task_reason: str = "the dataset's own task"
    notes: list = field(default_factory=list)  # what reading it did that a user should hear (rows dropped, ...)

    @property
    def n_features(self):
        return self.X_train.shape[1]

    @property
    def multilabel(self) -> bool:
        return self.task == "classification" and np.ndim(self.y_train) == 2

    @property
    def classes(self) -> np.ndarray | None:
        """The sorted distinct labels of the training targets (single-label classification)."""
        if self.task != "classification" or self.multilabel:
            return None
        return np.unique(np.asarray(self.y_train))


MAX_CLASSES = 10_000


def infer_task(y) -> tuple[str, str]:
    """(task, why) from the training targets, the same for every file format:

    - text or boolean labels: classification;
    - one column of whole numbers forming 0..K-1, 1..K or {-1, 1} (K <= 10,000): classification;
    - columns of 0/1 values only: multi-label classification;
    - anything else (other whole numbers, such as ages 20-80, or fractional values): regression.
    """
    y = np.asarray(y)
    if y.dtype.kind in "USOb":
        kinds = {"U": "text", "S": "text", "O": "text", "b": "boolean"}
        return "classification", f"y holds {kinds[y.dtype.kind]} labels"
    if y.dtype.kind not in "iuf":
        return "regression", f"y holds {y.dtype} values"
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        return "regression", "y holds NaN or infinity"
    whole = y.dtype.kind in "iu" or bool(np.all(np.round(y) == y))
    if not whole:
        return "regression", "y holds fractional values"
    values = np.unique(y)
    if y.ndim == 2:
        if set(values.tolist()) <= {0, 1}:
            return "classification", f"y holds {y.shape[1]} columns of 0/1 labels (multi-label)"
        return "regression", f"y holds {y.shape[1]} columns of real values"
    k = values.shape[0]
    lo, hi = values[0], values[-1]
    contiguous = (lo in (0, 1) and hi - lo + 1 == k) or set(values.tolist()) == {-1, 1}
    if contiguous and k <= MAX_CLASSES:
        return "classification", f"y holds {k} whole-number labels {_span(values)}"
    return "regression", f"y holds {k} whole numbers {_span(values)}, not class labels 0..K-1 or 1..K"


def _span(values):
    return f"{values[0]:g}..{values[-1]:g}" if values.shape[0] > 2 else "{" + ", ".join(f"{v:g}" for v in values) + "}"


class Transformed:
    """Rows of `X` passed through `transform` as they are read: an array-like (shape, dtype,
    row indexing) that training streams without transforming, or loading, the whole of X."""

    def __init__(self, X, transform, dtype=np.float64):
        self.X, self.transform = X, transform
        self.shape, self.dtype = tuple(X.shape), np.dtype(dtype)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, rows):
        return np.asarray(self.transform(self.X[rows]), dtype=self.dtype)


def _split(X, y, test_size, seed, stratify):
    from sklearn.model_selection import train_test_split

    arrays = (X,) if y is None else (X, y)
    return train_test_split(*arrays, test_size=test_size, random_state=seed, stratify=y if stratify else None)


def digits(seed=0, test_size=0.25) -> Dataset:
    """scikit-learn's 1,797 8x8 handwritten digits, split 75/25 stratified (random_state=seed)."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = _split(X.astype(np.float64), y, test_size, seed, True)
    return Dataset(X_tr, y_tr, X_te, y_te, "classification", "digits")


def xor(seed=0) -> Dataset:
    """The four XOR points, labels 0/1."""
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    return Dataset(X, np.array([0, 1, 1, 0]), task="classification", name="xor")


def gate(name, seed=0) -> Dataset:
    """Truth table of a Boolean gate (and, or, nand) on inputs {0, 1}, labels 0/1."""
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    table = {"and": [0, 0, 0, 1], "or": [0, 1, 1, 1], "nand": [1, 1, 1, 0]}
    if name not in table:
        raise ValueError(f"gate must be one of {sorted(table)}; got {name!r}")
    return Dataset(X, np.array(table[name]), task="classification", name=name)


def two_moons(n=1000, noise=0.2, seed=0) -> Dataset:
    from sklearn.datasets import make_moons

    X, y = make_moons(n_samples=n, noise=noise, random_state=seed)
    X_tr, X_te, y_tr, y_te = _split(X, y, 0.25, seed, True)
    return Dataset(X_tr, y_tr, X_te, y_te, "classification", "moons")


def regression(n=1000, n_features=8, noise=0.1, seed=0) -> Dataset:
    """y = sin(x·a) + (x·b)^2 / d + noise: a smooth nonlinear target."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features))
    a, b = rng.normal(size=n_features), rng.normal(size=n_features)
    y = np.sin(X @ a / np.sqrt(n_features)) + (X @ b) ** 2 / (2 * n_features) + noise * rng.normal(size=n)
    X_tr, X_te, y_tr, y_te = _split(X, y, 0.25, seed, False)
    return Dataset(X_tr, y_tr, X_te, y_te, "regression", "regression")


DATASETS = {
    "digits": digits,
    "xor": xor,
    "and": lambda seed=0: gate("and"),
    "or": lambda seed=0: gate("or"),
    "nand": lambda seed=0: gate("nand"),
    "moons": two_moons,
    "regression": regression,
}


def load_dataset(name, seed=0) -> Dataset:
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)}; got {name!r}")
    return DATASETS[name](seed=seed)


# -- user files ------------------------------------------------------------------
def _check_xy(X, y, path, part):
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2 or not np.issubdtype(X.dtype, np.number):
        raise ValueError(f"{path}: X_{part} must be a 2-D numeric array; got shape {X.shape}, dtype {X.dtype}")
    if y.shape[:1] != X.shape[:1]:
        raise ValueError(f"{path}: y_{part} must have {X.shape[0]} rows to match X_{part}; got shape {y.shape}")
    if y.ndim not in (1, 2) or y.dtype.kind not in "iufbUS":
        raise ValueError(f"{path}: y_{part} must be a 1-D or 2-D array of numbers or labels; got dtype {y.dtype}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{path}: X_{part} holds NaN or infinity")
    return X.astype(np.float64), y


def _dataset(X_tr, y_tr, X_te, y_te, name, feature_names=None) -> Dataset:
    task, why = infer_task(y_tr)
    return Dataset(X_tr, y_tr, X_te, y_te, task, name, feature_names, why)


def load_npz(path) -> Dataset:
    import zipfile

    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: cannot read as .npz (not a zip archive)")
    check_npz_sizes(path)
    arrays = {}
    try:
        with np.load(path, allow_pickle=False) as data:
            files = set(data.files)
            if not {"X_train", "y_train"} <= files:
                raise ValueError(f"{path}: an .npz dataset needs arrays X_train and y_train; it has {sorted(files)}")
            for k in sorted(files & set(NPY_PARTS)):
                try:
                    arrays[k] = data[k]
                except ValueError as exc:  # object arrays need pickle, which is never allowed
                    raise ValueError(f"{path}: array {k} cannot be read ({exc}); store numbers or strings") from None
    except ValueError:
        raise
    except Exception as exc:
        raise ValueError(f"{path}: cannot read as .npz ({type(exc).__name__}: {exc})") from None
    for k in ("X_train", "X_test"):
        if k in arrays and arrays[k].dtype.kind not in "iufb":
            raise ValueError(f"{path}: array {k} holds {arrays[k].dtype} values; features must be numbers")
    X_tr, y_tr = _check_xy(arrays["X_train"], arrays["y_train"], path, "train")
    X_te = y_te = None
    if "X_test" in arrays:
        if "y_test" not in arrays:
            raise ValueError(f"{path}: X_test needs y_test")
        X_te, y_te = _check_xy(arrays["X_test"], arrays["y_test"], path, "test")
        if X_te.shape[1] != X_tr.shape[1]:
            raise ValueError(f"{path}: X_test has {X_te.shape[1]} features but X_train has {X_tr.shape[1]}")
    return _dataset(X_tr, y_tr, X_te, y_te, os.path.basename(path))


def check_npz_sizes(path, names=("X_train", "y_train", "X_test", "y_test")) -> None:
    """Each array of an .npz declares (in its .npy header) the bytes its member holds, and no
    member holds more than its compressed size can (about 1032:1): checked before anything is
    allocated."""
    import zipfile

    from mlp.io.npz import read_npy_header

    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy") or info.filename[:-4] not in names:
                    continue
                if info.file_size > 1032 * info.compress_size + (1 << 20):
                    raise ValueError(
                        f"{path}: member {info.filename} claims {info.file_size:,} bytes, more than its "
                        f"{info.compress_size:,} compressed bytes can hold"
                    )
                with zf.open(info) as f:
                    shape, _, dtype = read_npy_header(f, info.filename[:-4], 10_000)
                    if dtype.hasobject:
                        continue  # refused below, by name, without unpickling
                    declared = math.prod(shape) * dtype.itemsize
                    if declared != info.file_size - f.tell():
                        raise ValueError(
                            f"{path}: array {info.filename[:-4]} declares shape {shape} of {dtype} "
                            f"({declared:,} bytes) but its member holds {info.file_size - f.tell():,}"
                        )
    except ValueError as exc:
        raise ValueError(str(exc) if str(exc).startswith(str(path)) else f"{path}: {exc}") from None
    except Exception as exc:
        raise ValueError(f"{path}: cannot read as .npz ({type(exc).__name__}: {exc})") from None


def load_csv(path, label="label", test_size=0.25, seed=0, stratify=None) -> Dataset:
    """A CSV with a header row; column `label` is the target (numbers or text labels), the others
    the features (numbers). Rows with a blank label are dropped, and a leading unnamed column that
    counts the rows (a saved pandas or R row index) is dropped, each said in ``notes``. Split into
    training and test rows (``test_size``, random_state `seed`; stratified by class for class
    labels unless ``stratify=False``), rows kept in file order."""
    return _load_table(path, label, test_size, seed, stratify)


def _load_table(path, label, test_size, seed, stratify=None) -> Dataset:
    """A CSV or Parquet file read whole: each feature column converted, checked and copied
    straight into the training and test arrays (no intermediate table of all features)."""
    from mlp.io.tables import column_to_numpy, read_arrow

    path = os.fspath(path)
    names, table = read_arrow(path)
    if label not in names:
        raise ValueError(f"{path}: no label column {label!r}; columns are {names}")
    features = [c for c in names if c != label]
    notes = []
    if features and _is_row_index(features[0], table.column(names.index(features[0]))):
        notes.append(f"{path}: column {features[0]!r} counts the rows (a saved row index): not used as a feature")
        features = features[1:]
    if not features:
        raise ValueError(f"{path}: it has only the label column {label!r}; a dataset needs feature columns too")
    y = column_to_numpy(table.column(names.index(label)), f"{path}: label column {label!r}")
    labelled = _labelled_rows(path, label, y, notes)
    y = _whole_labels(y, labelled)
    train, test = _split_rows(y[labelled], test_size, seed, stratify, path, notes)
    train, test = labelled[train], labelled[test]
    mixed = [c for c in features if _needs_encoding(table.column(names.index(c)))]
    if mixed:  # text, categories, booleans or blank cells: the model encodes the raw columns (mlp.Columns)
        import pyarrow as pa

        for c in mixed:
            _check_raw_column(path, c, table.column(names.index(c)))
        _refuse_infinity(path, table, names, features)
        raw = pa.table([table.column(names.index(c)) for c in features], names=features)
        shown = ", ".join(repr(c) for c in mixed[:5]) + (f" and {len(mixed) - 5} more" if len(mixed) > 5 else "")
        notes.append(
            f"{path}: {len(mixed)} feature columns hold text, categories, booleans or blank cells ({shown}): "
            "the model encodes them itself (mlp.Columns)"
        )
        ds = _dataset(raw.take(train), y[train], raw.take(test), y[test], os.path.basename(path), features)
        ds.notes = notes
        return ds
    X_tr, X_te = np.empty((train.shape[0], len(features))), np.empty((test.shape[0], len(features)))
    for j, name in enumerate(features):
        col = table.column(names.index(name))
        if not _scatter_float_chunks(col, j, ((train, X_tr), (test, X_te))):
            values = _numeric_column(path, name, column_to_numpy(col, f"{path}: feature column {name!r}"))
            X_tr[:, j], X_te[:, j] = values[train], values[test]
    del table
    ds = _dataset(X_tr, y[train], X_te, y[test], os.path.basename(path), features)
    ds.notes = notes
    return ds


def _check_raw_column(path, name, col) -> None:
    """A column the model will encode: dates and times, nested values and text that is not UTF-8 are
    a ValueError naming the file and the column (and the row)."""
    import pyarrow as pa

    from mlp.io.tables import column_to_numpy

    if pa.types.is_temporal(col.type):
        raise ValueError(
            f"{path}: feature column {name!r} holds {col.type} values, which mlp does not read as numbers or "
            "categories: turn them into columns that mean something for the task (e.g. days since a date, or "
            "year, month and weekday columns)"
        )
    column_to_numpy(col, f"{path}: feature column {name!r}")


def _refuse_infinity(path, table, names, features) -> None:
    """An infinite value in a number column: a ValueError naming the column and the data row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for c in features:
        col = table.column(names.index(c))
        if pa.types.is_floating(col.type) and pc.any(pc.is_inf(col)).as_py():
            row = int(np.argmax(np.isinf(col.to_numpy(zero_copy_only=False)))) + 1
            raise ValueError(f"{path}: feature column {c!r} holds infinity in data row {row}; values must be finite")


def _needs_encoding(col) -> bool:
    """A pyarrow column that is not all numbers: text, categories, booleans, a blank cell or NaN
    (a date column too: the encoding refuses it, naming the column)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = col.type
    if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)):
        return True
    if col.null_count:
        return True
    return bool(pa.types.is_floating(t) and pc.any(pc.is_nan(col)).as_py())


def _is_row_index(name: str, col) -> bool:
    """A column with no name (or pandas' 'Unnamed: 0') holding 0..n-1 or 1..n: the row index a
    pandas ``to_csv`` or an R ``write.csv`` writes first, not a feature."""
    import pyarrow as pa

    if name not in ("", "Unnamed: 0", "__index_level_0__"):
        return False
    if not (pa.types.is_integer(col.type) or pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        return False
    try:
        values = np.asarray(col.cast(pa.int64()).to_numpy(zero_copy_only=False))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return False
    n = values.shape[0]
    return bool(np.array_equal(values, np.arange(n)) or np.array_equal(values, np.arange(1, n + 1)))


def _labelled_rows(path, label, y, notes) -> np.ndarray:
    """The rows whose label is not blank (an empty cell: NaN or ""), those dropped said in `notes`;
    an infinite label is an error naming its row."""
    if y.dtype.kind in "iuf":
        yf = y.astype(np.float64)
        if np.any(np.isinf(yf)):
            row = int(np.argmax(np.isinf(yf))) + 1
            raise ValueError(f"{path}: label column {label!r} holds infinity in data row {row}")
        blank = np.isnan(yf)
    elif y.dtype.kind in "US":
        blank = np.char.strip(y.astype(str)) == ""
    else:
        blank = np.zeros(y.shape[0], dtype=bool)
    keep = np.flatnonzero(~blank)
    if blank.any():
        if keep.shape[0] == 0:
            raise ValueError(f"{path}: label column {label!r} is blank in every row")
        first = int(np.argmax(blank)) + 1
        notes.append(f"{path}: {int(blank.sum())} rows with a blank label {label!r} dropped (first: data row {first})")
    return keep


def _whole_labels(y, labelled):
    """Labels that were read as floats only because blank cells made the column fractional (1.0, 0.0
    with NaN) back as whole numbers; any other labels as they are."""
    if y.dtype.kind != "f" or labelled.shape[0] == y.shape[0]:
        return y
    kept = y[labelled]
    if not np.all(np.round(kept) == kept):
        return y
    out = np.zeros(y.shape, dtype=np.int64)
    out[labelled] = kept.astype(np.int64)
    return out


def _scatter_float_chunks(col, j, parts) -> bool:
    """Column j of each (rows, X) part from a float64 pyarrow column with no blank and no
    non-finite value, chunk by chunk without copying the column whole; False (nothing written)
    for any other column, which the general path converts and checks."""
    import pyarrow as pa

    if not pa.types.is_float64(col.type) or col.null_count:
        return False
    chunks = [np.asarray(c) for c in col.chunks]
    if not all(np.isfinite(c).all() for c in chunks):
        return False
    start = 0
    for c in chunks:
        stop = start + c.shape[0]
        for rows, X in parts:
            lo, hi = np.searchsorted(rows, [start, stop])
            X[lo:hi, j] = c[rows[lo:hi] - start]
        start = stop
    return True


def _split_rows(y, test_size=0.25, seed=0, stratify=None, path="data", notes=None):
    """The training and test rows (scikit-learn's split, random_state `seed`), each in file order.
    ``stratify``: None (by class where y holds class labels and every class has 2 rows or more, else
    not, said in `notes`), True (by class, or an error saying why not) or False."""
    from mlp.checks import check_fraction

    test_size = check_fraction(test_size, "test_size")
    n = y.shape[0]
    if n < 2:
        raise ValueError(f"{path}: it is split into training and test rows, so it needs at least 2 labelled rows")
    by = None
    if stratify is not False:
        classes = y.ndim == 1 and infer_task(y)[0] == "classification"
        counts = np.unique(y, return_counts=True)[1] if classes else None
        n_test = int(np.ceil(test_size * n))
        why = (
            "its labels are not class labels"
            if not classes
            else "a class has a single row"
            if counts.min() < 2
            else f"the test part ({n_test} rows) is smaller than the {counts.shape[0]} classes"
            if n_test < counts.shape[0] or n - n_test < counts.shape[0]
            else None
        )
        if why is None:
            by = y
        elif stratify:
            raise ValueError(f"{path}: cannot split stratified by class: {why}; split without (--no-stratify)")
        elif classes and notes is not None:
            notes.append(f"{path}: split without stratifying: {why}")
    parts = _split(np.arange(n), by, test_size, seed, by is not None)
    return np.sort(parts[0]), np.sort(parts[1])


# a Parquet file whose feature columns take more than this uncompressed is streamed, not read whole
PARQUET_IN_MEMORY = 1 << 30


def load_parquet(path, label="label", test_size=0.25, seed=0, in_memory=None, stratify=None) -> Dataset:
    """A Parquet file; column `label` is the target, the others the features (numbers). Blank labels
    and the split as ``load_csv``. The labels are read whole; the features too where they take at
    most ``PARQUET_IN_MEMORY`` bytes uncompressed (or ``in_memory=True``), else they stay on disk
    as ``ParquetRows`` read a row group at a time (train them with ``shuffle="blocks"``)."""
    from mlp.io.tables import ParquetRows, parquet_column

    path = os.fspath(path)
    rows_view = ParquetRows(path, columns=[])  # opens the file and its schema; reads no data
    names = list(rows_view._file.schema_arrow.names)
    if label not in names:
        raise ValueError(f"{path}: no label column {label!r}; columns are {names}")
    features = [c for c in names if c != label]
    if not features:
        raise ValueError(f"{path}: it has only the label column {label!r}; a dataset needs feature columns too")
    meta = rows_view._file.metadata
    size = sum(
        meta.row_group(g).column(j).total_uncompressed_size
        for g in range(meta.num_row_groups)
        for j in range(meta.num_columns)
        if meta.row_group(g).column(j).path_in_schema in features
    )
    if in_memory is None:
        in_memory = size <= PARQUET_IN_MEMORY
    if in_memory:
        return _load_table(path, label, test_size, seed, stratify)
    X = ParquetRows(path, features)  # text columns are refused here, blank cells where training reads them
    y = parquet_column(path, label)
    notes = []
    labelled = _labelled_rows(path, label, y, notes)
    train, test = _split_rows(y[labelled], test_size, seed, stratify, path, notes)  # the same split as read whole
    train, test = labelled[train], labelled[test]
    ds = _dataset(X.subset(train), y[train], X.subset(test), y[test], os.path.basename(path), features)
    ds.notes = notes
    return ds


def _numeric_column(path, name, values):
    if values.dtype.kind not in "iufb":
        bad = next((i for i, v in enumerate(values.tolist()) if not _is_number(v)), 0)
        cell = str(values[bad])
        what = "a blank cell" if not cell.strip() else f"text ({cell!r})"
        raise ValueError(
            f"{path}: feature column {name!r} holds {what} in data row {bad + 1}; features must be numbers"
        )
    values = values.astype(np.float64)
    if not np.all(np.isfinite(values)):
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        raise ValueError(f"{path}: feature column {name!r} has a blank or non-finite value in data row {bad + 1}")
    return values


def _is_number(v) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def _read_idx(path):
    """An IDX file of unsigned bytes (MNIST's format), plain or gzipped, read as a stream: the
    header first, then exactly the bytes it declares, never more than a file of this size can
    hold (gzip compresses at most about 1032:1)."""
    opener = gzip.open if path.endswith(".gz") else open
    limit = 1032 * os.path.getsize(path) + (1 << 20)
    try:
        with opener(path, "rb") as f:
            magic = f.read(4)
            if len(magic) < 4 or magic[:3] != b"\x00\x00\x08":
                raise ValueError(
                    f"{path}: not an IDX file of unsigned bytes: it starts with {magic.hex() or 'nothing'}, "
                    "expected 000008 and a dimension count"
                )
            ndim = magic[3]
            dims = f.read(4 * ndim)
            if ndim == 0 or len(dims) < 4 * ndim:
                raise ValueError(
                    f"{path}: IDX header declares {ndim} dimensions but the file ends after {4 + len(dims)} bytes"
                )
            shape = struct.unpack(">" + "I" * ndim, dims)
            size = math.prod(shape)
            if size > limit:
                raise ValueError(
                    f"{path}: IDX header declares shape {shape} ({size:,} bytes), more than a file of "
                    f"{os.path.getsize(path):,} bytes can hold"
                )
            raw = f.read(size + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None
    if len(raw) != size:
        more = "more" if len(raw) > size else "fewer"
        raise ValueError(f"{path}: IDX header says {shape} ({size:,} bytes) but the file holds {more} (truncated?)")
    return np.frombuffer(raw, dtype=np.uint8).reshape(shape)


def load_idx(folder) -> Dataset:
    """MNIST-style IDX files in `folder`: train-images/labels and t10k-images/labels (optionally .gz)."""

    def find(stem):
        for ext in ("", ".gz"):
            for sep in ("-", "."):
                p = os.path.join(folder, stem.replace("-idx", sep + "idx") + ext)
                if os.path.exists(p):
                    return p
        raise ValueError(f"{folder}: no {stem}[.gz] file")

    parts = {}
    for part, prefix in (("train", "train"), ("test", "t10k")):
        images, labels = find(f"{prefix}-images-idx3-ubyte"), find(f"{prefix}-labels-idx1-ubyte")
        X, y = _read_idx(images), _read_idx(labels)
        if X.ndim < 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
            raise ValueError(
                f"{folder}: {os.path.basename(labels)} holds {y.shape[0] if y.ndim else 0} labels but "
                f"{os.path.basename(images)} holds {X.shape[0]} images; they must match"
            )
        parts[part] = (X.reshape(X.shape[0], -1).astype(np.float64) / 255, y.astype(np.int64))
    (X_tr, y_tr), (X_te, y_te) = parts["train"], parts["test"]
    if X_te.shape[1] != X_tr.shape[1]:
        raise ValueError(f"{folder}: test images have {X_te.shape[1]} pixels but training images {X_tr.shape[1]}")
    return _dataset(X_tr, y_tr, X_te, y_te, "mnist")


NPY_PARTS = ("X_train", "y_train", "X_test", "y_test")


def load_npy_folder(folder) -> Dataset:
    """X_train.npy and y_train.npy (and X_test.npy, y_test.npy) in `folder`, opened as memory
    maps: nothing is read but the headers (and the labels, to tell the task and the classes)."""
    arrays = {}
    for part in NPY_PARTS:
        path = os.path.join(folder, part + ".npy")
        if not os.path.exists(path):
            continue
        try:
            arrays[part] = np.load(path, mmap_mode="r", allow_pickle=False)
        except Exception as exc:  # a damaged header raises SyntaxError, TokenError, EOFError, ...
            raise ValueError(f"{path}: cannot open as a .npy array ({type(exc).__name__}: {exc})") from None
    if not {"X_train", "y_train"} <= set(arrays):
        raise ValueError(f"{folder}: a folder dataset needs X_train.npy and y_train.npy; it has {sorted(arrays)}")
    if ("X_test" in arrays) != ("y_test" in arrays):
        raise ValueError(f"{folder}: X_test.npy and y_test.npy go together; it has only one of them")
    for part in ("train", "test"):
        if f"X_{part}" not in arrays:
            continue
        X, y = arrays[f"X_{part}"], arrays[f"y_{part}"]
        if X.ndim != 2 or X.dtype.kind not in "fiu":
            raise ValueError(
                f"{folder}: X_{part}.npy must be a 2-D numeric array; got shape {X.shape}, dtype {X.dtype}"
            )
        if y.ndim not in (1, 2) or y.dtype.kind not in "fiub":
            raise ValueError(f"{folder}: y_{part}.npy must be a 1-D or 2-D numeric array; got shape {y.shape}")
        if y.shape[0] != X.shape[0]:
            raise ValueError(
                f"{folder}: y_{part}.npy has {y.shape[0]} rows but X_{part}.npy has {X.shape[0]}; they must match"
            )
    if "X_test" in arrays and arrays["X_test"].shape[1] != arrays["X_train"].shape[1]:
        raise ValueError(
            f"{folder}: X_test.npy has {arrays['X_test'].shape[1]} features but X_train.npy has "
            f"{arrays['X_train'].shape[1]}"
        )
    name = os.path.basename(os.path.normpath(folder))
    y = np.asarray(arrays["y_train"])  # the labels are read (the task, the classes); the features stay on disk
    return _dataset(arrays["X_train"], y, arrays.get("X_test"), arrays.get("y_test"), name)


def load_file(path, label="label", seed=0, test_size=0.25, stratify=None) -> Dataset:
    """A dataset from a .npz, .csv or .parquet file, a folder of .npy arrays (memory-mapped), or a
    folder of MNIST IDX files. A table (.csv, .parquet) is split into training and test rows
    (``test_size``, ``stratify``: see ``load_csv``); the others hold their own split."""
    path = os.fspath(path)
    if os.path.isdir(path):
        if any(os.path.exists(os.path.join(path, p + ".npy")) for p in NPY_PARTS):
            return load_npy_folder(path)
        return load_idx(path)
    if not os.path.isfile(path):
        raise ValueError(f"data file {path!r} does not exist")
    if path.endswith(".npz"):
        return load_npz(path)
    if path.endswith(".csv"):
        return load_csv(path, label, test_size, seed, stratify)
    if path.endswith((".parquet", ".pq")):
        return load_parquet(path, label, test_size, seed, stratify=stratify)
    raise ValueError(f"data file {path!r} must be .npz, .csv, .parquet or a folder of MNIST IDX files")
