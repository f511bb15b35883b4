"""Data: the embedded digits, small generators, and user files (.npz, .csv, MNIST IDX, and
folders of .npy arrays opened as memory maps).

Everything is local: the digits ship inside scikit-learn, the rest is generated.
``Standardizer`` is fitted on training data only, reading it in chunks (a memory map is never
loaded whole); ``Transformed`` applies a fitted scaler to the rows training reads.
"""

from __future__ import annotations

import gzip
import os
import struct
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Dataset",
    "Standardizer",
    "MinMaxScaler",
    "SCALERS",
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


def row_chunks(X, chunk_bytes=CHUNK_BYTES):
    """(start, stop) row ranges of about `chunk_bytes` each, covering X."""
    n = X.shape[0]
    row_bytes = max(1, int(np.prod(X.shape[1:], dtype=np.int64)) * np.dtype(X.dtype).itemsize)
    step = max(1, chunk_bytes // row_bytes)
    return [(s, min(s + step, n)) for s in range(0, n, step)]


@dataclass
class Dataset:
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    task: str = "classification"  # or "regression"
    name: str = ""

    @property
    def n_features(self):
        return self.X_train.shape[1]

    @property
    def n_outputs(self):
        if self.task == "classification":
            return int(max(self.y_train.max(), -1 if self.y_test is None else self.y_test.max())) + 1
        return 1 if self.y_train.ndim == 1 else self.y_train.shape[1]


class Standardizer:
    """x ← (x - mean) / std with statistics of the training data (std 0 → 1)."""

    def fit(self, X):
        """Mean and standard deviation in float64, chunk by chunk (Chan et al.'s pairwise update)."""
        n, mean, m2 = 0, 0.0, 0.0
        for s, e in row_chunks(X):
            c = np.asarray(X[s:e], dtype=np.float64)
            cm = c.mean(axis=0)
            cm2 = ((c - cm) ** 2).sum(axis=0)
            k = e - s
            delta = cm - mean
            mean = mean + delta * (k / (n + k))
            m2 = m2 + cm2 + delta**2 * (n * k / (n + k))
            n += k
        self.mean_ = np.asarray(mean, dtype=np.float64)
        std = np.sqrt(m2 / n)
        self.scale_ = np.where(std > 0, std, 1.0)
        return self

    def transform(self, X):
        return (np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_

    def fit_transform(self, X):
        return self.fit(X).transform(X)


class MinMaxScaler(Standardizer):
    """x ← (x - min) / (max - min) with the training data's range (a constant column → 0)."""

    def fit(self, X):
        lo = hi = None
        for s, e in row_chunks(X):
            c = np.asarray(X[s:e], dtype=np.float64)
            lo = c.min(axis=0) if lo is None else np.minimum(lo, c.min(axis=0))
            hi = c.max(axis=0) if hi is None else np.maximum(hi, c.max(axis=0))
        self.mean_ = lo
        span = hi - lo
        self.scale_ = np.where(span > 0, span, 1.0)
        return self


class Identity(Standardizer):
    def fit(self, X):
        self.mean_, self.scale_ = np.zeros(X.shape[1]), np.ones(X.shape[1])
        return self


SCALERS = {"minmax": MinMaxScaler, "standard": Standardizer, "none": Identity}


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

    return train_test_split(X, y, test_size=test_size, random_state=seed, stratify=y if stratify else None)


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
def _task_of(y):
    y = np.asarray(y)
    if np.issubdtype(y.dtype, np.integer) or (y.ndim == 1 and np.all(np.mod(y, 1) == 0) and len(np.unique(y)) <= 100):
        return "classification"
    return "regression"


def _check_xy(X, y, path, part):
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2 or not np.issubdtype(X.dtype, np.number):
        raise ValueError(f"{path}: X_{part} must be a 2-D numeric array; got shape {X.shape}, dtype {X.dtype}")
    if y.shape[:1] != X.shape[:1]:
        raise ValueError(f"{path}: y_{part} must have {X.shape[0]} rows to match X_{part}; got shape {y.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{path}: X_{part} holds NaN or infinity")
    return X.astype(np.float64), y


def load_npz(path) -> Dataset:
    import zipfile

    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: cannot read as .npz (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as data:
            files = set(data.files)
            if not {"X_train", "y_train"} <= files:
                raise ValueError(f"{path}: an .npz dataset needs arrays X_train and y_train; it has {sorted(files)}")
            arrays = {k: data[k] for k in files}
    except ValueError:
        raise
    except Exception as exc:
        raise ValueError(f"{path}: cannot read as .npz ({type(exc).__name__}: {exc})") from None
    X_tr, y_tr = _check_xy(arrays["X_train"], arrays["y_train"], path, "train")
    X_te = y_te = None
    if "X_test" in arrays:
        if "y_test" not in arrays:
            raise ValueError(f"{path}: X_test needs y_test")
        X_te, y_te = _check_xy(arrays["X_test"], arrays["y_test"], path, "test")
        if X_te.shape[1] != X_tr.shape[1]:
            raise ValueError(f"{path}: X_test has {X_te.shape[1]} features but X_train has {X_tr.shape[1]}")
    return Dataset(X_tr, y_tr, X_te, y_te, _task_of(y_tr), os.path.basename(path))


def load_csv(path, label="label", test_size=0.25, seed=0) -> Dataset:
    """A CSV with a header row; column `label` is the target, the others the features."""
    import csv

    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read as CSV ({exc})") from None
    if len(rows) < 2:
        raise ValueError(f"{path}: a CSV dataset needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    if label not in header:
        raise ValueError(f"{path}: no label column {label!r}; columns are {header}")
    try:
        data = np.array([[float(v) for v in r] for r in rows[1:] if r], dtype=np.float64)
    except ValueError as exc:
        raise ValueError(f"{path}: every value must be a number ({exc})") from None
    if data.ndim != 2 or data.shape[1] != len(header):
        raise ValueError(f"{path}: rows must have {len(header)} values like the header")
    j = header.index(label)
    X, y = np.delete(data, j, axis=1), data[:, j]
    task = _task_of(y)
    if task == "classification":
        y = y.astype(np.int64)
    X, y = _check_xy(X, y, path, "train")
    X_tr, X_te, y_tr, y_te = _split(X, y, test_size, seed, False)
    return Dataset(X_tr, y_tr, X_te, y_te, task, os.path.basename(path))


def _read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    ndim = raw[3]
    shape = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise ValueError(f"{path}: IDX header says {shape} but holds {body.size} bytes (truncated?)")
    return body.reshape(shape)


def load_idx(folder) -> Dataset:
    """MNIST-style IDX files in `folder`: train-images/labels and t10k-images/labels (optionally .gz)."""

    def find(stem):
        for ext in ("", ".gz"):
            for sep in ("-", "."):
                p = os.path.join(folder, stem.replace("-idx", sep + "idx") + ext)
                if os.path.exists(p):
                    return p
        raise ValueError(f"{folder}: no {stem}[.gz] file")

    X_tr = _read_idx(find("train-images-idx3-ubyte"))
    X_tr = X_tr.reshape(X_tr.shape[0], -1)
    y_tr = _read_idx(find("train-labels-idx1-ubyte")).astype(np.int64)
    X_te = _read_idx(find("t10k-images-idx3-ubyte"))
    X_te = X_te.reshape(X_te.shape[0], -1)
    y_te = _read_idx(find("t10k-labels-idx1-ubyte")).astype(np.int64)
    return Dataset(X_tr.astype(np.float64) / 255, y_tr, X_te.astype(np.float64) / 255, y_te, "classification", "mnist")


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
        except (ValueError, OSError) as exc:
            raise ValueError(f"{path}: cannot open as a .npy array ({exc})") from None
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
    y = arrays["y_train"]
    task = "classification" if y.dtype.kind in "iub" and y.ndim == 1 else "regression"
    name = os.path.basename(os.path.normpath(folder))
    return Dataset(arrays["X_train"], y, arrays.get("X_test"), arrays.get("y_test"), task, name)


def load_file(path, label="label", seed=0) -> Dataset:
    """A dataset from a .npz or .csv file, a folder of .npy arrays (memory-mapped), or a folder
    of MNIST IDX files."""
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
        return load_csv(path, label, seed=seed)
    raise ValueError(f"data file {path!r} must be .npz, .csv or a folder of MNIST IDX files")
