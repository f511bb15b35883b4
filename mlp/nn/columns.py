"""A table's columns as the rows a network takes: the first stage of a model trained on a table.

``Columns.fit(table)`` learns, from the training rows, what each column is and how to encode it;
``encode(table)`` turns any table with those columns into float64 rows (on the host):

- a number column: its value, a missing cell (NaN, None, a blank CSV cell) replaced by the training
  median, and where the training rows had missing cells a 0/1 "was missing" column after it. A
  text column of numbers but for a few marker texts ('?', 'unknown': at most 3, in at most 5% of
  the cells) is a number column whose markers are missing cells, said with a DataWarning;
- a category column (text, pandas ``category``, booleans): one-hot over the categories seen in
  training when there are at most ``onehot_max`` of them; above that, one column holding the
  category's code (1..K, 0 for "unknown"), which the model's ``Embedding`` layer turns into a
  learned vector. A category rarer than ``min_count`` training rows (of an embedded column) is
  "unknown" too (silently: they are listed), so that slot is trained. At predict time a category
  never seen in training is "unknown" (no one-hot column set; embedding slot 0), said once per
  call with a DataWarning.
  A missing category cell is the category "" (its own category where training had it);
- date and time columns are refused, naming the column and what to turn them into.

Its output is laid out as [numbers and indicators, one-hot blocks, codes]: the model's scaler
scales the first part and leaves the codes (``Transform(passthrough=...)``). The fitted encoder is
plain data (names, medians, categories), saved in the model file's header; ``to_onnx`` exports
the graph after it (the encoded rows are its input, ``encode`` makes them; ``output_names``
names them).

A table is a pandas DataFrame, a pyarrow Table, a dict of column name -> 1-D values, or a 2-D
array whose columns are in the training table's order.
"""

from __future__ import annotations

import warnings

import numpy as np

from mlp.checks import DataWarning, callers_stacklevel, check_positive_int

__all__ = ["Columns", "Encoded", "is_table", "needs_columns", "missing_markers", "ONEHOT_MAX"]

ONEHOT_MAX = 16  # categories above this get a learned embedding instead of one-hot columns
MIN_COUNT = 2  # categories of an embedded column seen in fewer training rows share the "unknown" slot


class Encoded(np.ndarray):
    """Rows ``Columns.encode`` made (a float64 NumPy array, and its slices): a model takes them as they
    are, without encoding them again."""


def is_table(X) -> bool:
    """A pandas DataFrame, a pyarrow Table or a dict of columns (not an array)."""
    mod = type(X).__module__.split(".")[0]
    if isinstance(X, dict):
        return mod != "scipy"  # a scipy DOK sparse array is a dict of (row, column) keys
    return (mod == "pandas" and hasattr(X, "columns")) or (mod == "pyarrow" and hasattr(X, "column_names"))


def needs_columns(X, name: str = "X") -> bool:
    """True where `X` is a table that a plain float matrix cannot stand for: a column of text,
    categories or booleans, or a missing number. Date columns are refused here, naming them."""
    if not is_table(X):
        return False
    names, get = _table(X, name)
    for c in names:
        values = get(c)
        if _kind(values) == "category" or (values.dtype.kind == "f" and np.isnan(values).any()):
            return True
    return False


class Columns:
    """The fitted encoding of a table's columns (module docstring). ``specs``: one dict per column,
    {"name", "kind": "number", "median", "indicator"} or {"name", "kind": "category",
    "categories": [...], "embed": bool}."""

    def __init__(self, specs: list[dict], onehot_max: int = ONEHOT_MAX, min_count: int = MIN_COUNT):
        self.specs = [dict(s) for s in specs]
        self.onehot_max = check_positive_int(onehot_max, "Columns onehot_max")
        self.min_count = check_positive_int(min_count, "Columns min_count")
        if not self.specs:
            raise ValueError("Columns needs at least one column")
        cats = [s for s in self.specs if s["kind"] == "category"]
        self._index = [{c: i for i, c in enumerate(s["categories"])} for s in cats]
        self._rare = [{*s.get("rare", ())} for s in cats]

    # -- fitting ---------------------------------------------------------------------------------
    @classmethod
    def fit(cls, X, onehot_max: int = ONEHOT_MAX, min_count: int = MIN_COUNT, name: str = "X") -> Columns:
        """The encoding of table `X`'s columns, learned from its rows."""
        onehot_max = check_positive_int(onehot_max, "onehot_max")
        min_count = check_positive_int(min_count, "min_count")
        names, get = _table(X, name)
        if not names:
            raise ValueError(f"{name} has no columns")
        specs = []
        for c in names:
            values = get(c)
            if values.shape[0] == 0:
                raise ValueError(f"{name} must hold at least one row")
            markers = missing_markers(values) if _kind(values) == "category" else None
            if markers:
                rows = np.flatnonzero(np.isin(_categories(values), markers))
                warnings.warn(
                    f"{name} column {c!r} holds numbers, and {', '.join(repr(m) for m in markers)} in {rows.size} "
                    f"rows (first: row {int(rows[0])}): read as missing numbers",
                    DataWarning,
                    stacklevel=callers_stacklevel(),
                )
            if _kind(values) == "number" or markers is not None:
                v = _numbers(values, name, c, markers or ())
                missing = np.isnan(v)
                if missing.all():
                    raise ValueError(f"{name} column {c!r} is blank in every row: drop it (there is nothing to learn)")
                median = float(np.median(v[~missing]))
                spec = {"name": c, "kind": "number", "median": median, "indicator": bool(missing.any())}
                specs.append(spec if not markers else {**spec, "missing_text": markers})
            else:
                cats, counts = np.unique(_categories(values), return_counts=True)
                embed = cats.shape[0] > onehot_max
                rare = counts < min_count if embed else np.zeros(cats.shape[0], dtype=bool)
                specs.append(
                    {
                        "name": c,
                        "kind": "category",
                        "categories": [str(s) for s in cats[~rare]],
                        "embed": bool(embed),
                        "rare": [str(s) for s in cats[rare]],
                    }
                )
        return cls(specs, onehot_max, min_count)

    # -- what it makes ---------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """The table's column names, in the training table's order."""
        return [s["name"] for s in self.specs]

    @property
    def embedded(self) -> list[dict]:
        """The category columns given a learned embedding (their codes end the encoded rows)."""
        return [s for s in self.specs if s["kind"] == "category" and s["embed"]]

    @property
    def cardinalities(self) -> list[int]:
        """Per embedded column, its embedding slots: its categories plus "unknown" (slot 0)."""
        return [len(s["categories"]) + 1 for s in self.embedded]

    @property
    def n_codes(self) -> int:
        """How many encoded columns are category codes (at the end)."""
        return len(self.embedded)

    @property
    def output_names(self) -> list[str]:
        """The encoded columns' names: ``col``, ``col (missing)``, ``col=category``, ``col (code)``."""
        dense, onehot, codes = [], [], []
        for s in self.specs:
            if s["kind"] == "number":
                dense += [s["name"]] + ([f"{s['name']} (missing)"] if s["indicator"] else [])
            elif s["embed"]:
                codes.append(f"{s['name']} (code)")
            else:
                onehot += [f"{s['name']}={c}" for c in s["categories"]]
        return dense + onehot + codes

    @property
    def n_features(self) -> int:
        """The width of the encoded rows."""
        return len(self.output_names)

    def describe(self) -> str:
        """One line: how many columns of each kind, and what became of them."""
        num = [s for s in self.specs if s["kind"] == "number"]
        cat = [s for s in self.specs if s["kind"] == "category"]
        parts = [f"{len(num)} number columns"]
        if any(s["indicator"] for s in num):
            parts[-1] += f" ({sum(s['indicator'] for s in num)} with missing cells: median + indicator)"
        if cat:
            emb = sum(s["embed"] for s in cat)
            more = f", {emb} embedded: over {self.onehot_max} categories" if emb else ""
            parts.append(f"{len(cat)} category columns ({len(cat) - emb} one-hot{more})")
        return ", ".join(parts) + f" -> {self.n_features} encoded columns"

    # -- encoding --------------------------------------------------------------------------------
    def encode(self, X, name: str = "X") -> np.ndarray:
        """Float64 rows (n, ``n_features``) of table `X` (or of a 2-D array in the training column order)."""
        if is_table(X):
            names, get = _table(X, name)
            missing = [c for c in self.names if c not in names]
            if missing:
                raise ValueError(f"{name} lacks the model's columns {missing[:10]}; it has {names[:20]}")
        else:
            get = _positional(X, self.names, name)
        cols = {c: get(c) for c in self.names}
        n = next(iter(cols.values())).shape[0]
        if any(v.shape[0] != n for v in cols.values()):
            raise ValueError(f"{name}'s columns must all have {n} rows")
        if n == 0:
            raise ValueError(f"{name} must hold at least one sample")
        dense, onehot, codes = [], [], []
        cat_i = 0
        for s in self.specs:
            values = cols[s["name"]]
            if s["kind"] == "number":
                v = _numbers(values, name, s["name"], s.get("missing_text", ()))
                miss = np.isnan(v)
                dense.append(np.where(miss, s["median"], v))
                if s["indicator"]:
                    dense.append(miss.astype(np.float64))
                continue
            index, rare = self._index[cat_i], self._rare[cat_i]
            cat_i += 1
            cats = _categories(values)
            uniq, inverse = np.unique(cats, return_inverse=True)
            pos = np.array([index.get(str(u), -1) for u in uniq.tolist()], dtype=np.int64)[inverse.reshape(-1)]
            unknown = pos < 0
            unseen = unknown & ~np.isin(cats, list(rare)) if rare else unknown  # rare ones are unknown silently
            if unseen.any():
                first = int(np.argmax(unseen))
                warnings.warn(
                    f"{name} column {s['name']!r}: {int(unseen.sum())} rows hold categories not seen in training "
                    f"(first: {str(cats[first])!r} in row {first}); they are encoded as 'unknown'",
                    DataWarning,
                    stacklevel=callers_stacklevel(),
                )
            if s["embed"]:
                codes.append((pos + 1).astype(np.float64))  # slot 0: unknown
            else:
                block = np.zeros((n, len(index)))
                rows = np.flatnonzero(~unknown)
                block[rows, pos[rows]] = 1.0
                onehot.append(block)
        parts = [p.reshape(n, -1) for p in dense + onehot + codes]
        return np.concatenate(parts, axis=1).view(Encoded)

    # -- ONNX ----------------------------------------------------------------------------------
    def onnx_inputs(self) -> list[tuple[str, str]]:
        """(input name, "double" or "string") per table column, in the training table's order."""
        return [(s["name"], "double" if s["kind"] == "number" else "string") for s in self.specs]

    def onnx(self, graph) -> str:
        """The encoding as ONNX nodes from one (batch, 1) input per column (numbers as doubles, NaN
        for a missing cell; categories as text, "" for a missing cell, booleans as "True"/"False"):
        the name of the encoded float64 rows. Categories map through ai.onnx.ml's LabelEncoder."""
        i64 = np.int64
        dense, onehot, codes = [], [], []
        for s in self.specs:
            x = s["name"]
            if s["kind"] == "number":
                missing = graph.node("IsNaN", [x])
                dense.append(graph.node("Where", [missing, graph.const([[s["median"]]], "median"), x]))
                if s["indicator"]:
                    dense.append(graph.node("Cast", [missing], to=11))  # double
                continue
            cats = s["categories"]
            embed = s["embed"]
            keys = cats if cats else [""]  # a LabelEncoder needs a key: no category seen maps all to unknown
            values = list(range(1, len(cats) + 1)) if embed else list(range(len(cats)))
            index = graph.node(
                "LabelEncoder",
                [x],
                domain="ai.onnx.ml",
                keys_strings=keys,
                values_int64s=values if cats else [0 if embed else -1],
                default_int64=0 if embed else -1,
            )
            if embed:
                codes.append(graph.node("Cast", [index], to=11))
            else:
                hit = graph.node("Equal", [index, graph.const([list(range(len(cats)))], "categories", i64)])
                onehot.append(graph.node("Cast", [hit], to=11))
        return graph.node("Concat", dense + onehot + codes, axis=1)

    # -- saving ------------------------------------------------------------------------------
    def config(self) -> dict:
        return {"specs": self.specs, "onehot_max": self.onehot_max, "min_count": self.min_count}

    @classmethod
    def from_config(cls, config, where: str = "the file") -> Columns:
        """A Columns from ``config()``'s dict, checked (a damaged header is a ValueError naming `where`)."""
        try:
            specs = config["specs"]
            if not isinstance(specs, list) or not 1 <= len(specs) <= 1_000_000:
                raise ValueError("specs must be a non-empty list")
            for s in specs:
                if not isinstance(s, dict) or not isinstance(s.get("name"), str):
                    raise ValueError(f"column spec {str(s)[:60]} has no name")
                if s.get("kind") == "number":
                    if not isinstance(s.get("median"), (int, float)) or not np.isfinite(s["median"]):
                        raise ValueError(f"column {s['name']!r} has no finite median")
                    if not isinstance(s.get("indicator"), bool):
                        raise ValueError(f"column {s['name']!r} has no indicator setting")
                    marks = s.get("missing_text", [])
                    if not isinstance(marks, list) or not all(isinstance(m, str) for m in marks):
                        raise ValueError(f"column {s['name']!r} has missing-value texts that are not a list of text")
                elif s.get("kind") == "category":
                    cats = s.get("categories")
                    if not isinstance(cats, list) or not all(isinstance(c, str) for c in cats):
                        raise ValueError(f"column {s['name']!r} has no list of categories")
                    if len(set(cats)) != len(cats) or not isinstance(s.get("embed"), bool):
                        raise ValueError(f"column {s['name']!r} has repeated categories or no embed setting")
                    rare = s.get("rare", [])
                    if not isinstance(rare, list) or not all(isinstance(c, str) for c in rare):
                        raise ValueError(f"column {s['name']!r} has rare categories that are not a list of text")
                else:
                    raise ValueError(f"column spec {str(s)[:60]} has an unknown kind")
            return cls(specs, config.get("onehot_max", ONEHOT_MAX), config.get("min_count", MIN_COUNT))
        except (TypeError, KeyError, ValueError) as exc:
            raise ValueError(f"{where} holds an invalid table encoding: {exc}") from None

    def __eq__(self, other):
        return isinstance(other, Columns) and self.config() == other.config()

    def __repr__(self) -> str:
        return f"Columns({self.describe()})"


# -- reading a table's columns -------------------------------------------------------------------
def _table(X, name):
    """(column names, name -> 1-D NumPy values) of a DataFrame, pyarrow Table or dict."""
    mod = type(X).__module__.split(".")[0]
    if mod == "pandas":
        names = [str(c) for c in X.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"{name} has repeated column names; columns must have distinct names")
        by = dict(zip(names, X.columns))
        return names, lambda c: _pandas_values(X[by[c]], name, c)
    if mod == "pyarrow":
        names = [str(c) for c in X.column_names]
        return names, lambda c: _arrow_values(X.column(names.index(c)), name, c)
    names = [str(c) for c in X]
    by = dict(zip(names, X))
    return names, lambda c: _plain_values(X[by[c]], name, c)


def _positional(X, names, name):
    from mlp.checks import host_array

    A = host_array(X, name, numeric=False)
    if A.ndim != 2 or A.shape[1] != len(names):
        raise ValueError(
            f"{name} must be a table with the columns {names[:10]} (a DataFrame, pyarrow Table or dict), or a 2-D "
            f"array of {len(names)} columns in that order; got shape {A.shape}"
        )
    return lambda c: _plain_values(A[:, names.index(c)], name, c)


def _refuse_time(kind: str, name: str, col: str) -> None:
    raise TypeError(
        f"{name} column {col!r} holds {kind} values, which mlp does not read as numbers or categories: "
        "turn them into columns that mean something for the task (e.g. days since a date, or year, month "
        "and weekday columns)"
    )


def _pandas_values(s, name, col) -> np.ndarray:
    text = str(s.dtype)
    if text.startswith(("datetime64", "timedelta64", "period")):
        _refuse_time(text, name, col)
    if text == "category":
        return np.asarray(s.astype(object).to_numpy(), dtype=object)
    if text in ("bool", "boolean"):
        return np.asarray(s.astype(object).to_numpy(), dtype=object)
    if hasattr(s.dtype, "numpy_dtype") and np.dtype(s.dtype.numpy_dtype).kind in "iuf":
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    return _plain_values(s.to_numpy(), name, col)


def _arrow_values(col, name, c) -> np.ndarray:
    import pyarrow as pa

    from mlp.io.tables import column_to_numpy

    t = col.type
    if pa.types.is_temporal(t):
        _refuse_time(str(t), name, c)
    if pa.types.is_dictionary(t):
        col = col.cast(t.value_type)
    values = column_to_numpy(col, f"{name} column {c!r}")
    return values.astype(object) if values.dtype.kind == "b" else values


def _plain_values(v, name, col) -> np.ndarray:
    v = np.asarray(v)
    if v.ndim != 1:
        raise ValueError(f"{name} column {col!r} must be 1-D; got shape {v.shape}")
    if v.dtype.kind in "mM":
        _refuse_time(str(v.dtype), name, col)
    if v.dtype.kind == "b":
        return v.astype(object)
    if v.dtype.kind in "iuf":
        return v.astype(np.float64)
    if v.dtype.kind == "O":
        from datetime import date, datetime, time, timedelta

        first = next((x for x in v.tolist() if isinstance(x, (date, datetime, time, timedelta))), None)
        if first is not None:
            _refuse_time(type(first).__name__, name, col)
    return v


def _kind(values: np.ndarray) -> str:
    return "number" if values.dtype.kind in "iuf" else "category"


def _is_missing(v) -> bool:
    return v is None or (isinstance(v, float) and v != v) or type(v).__name__ in ("NAType", "NaTType")


def _categories(values: np.ndarray) -> np.ndarray:
    """Each value as its category's text: a missing cell (None, NaN, NA, blank) is ""."""
    if values.dtype.kind in "US":
        return np.char.strip(values.astype(str))
    if values.dtype.kind in "iuf":
        out = np.array([repr(float(v)) if v == v else "" for v in values.tolist()], dtype=object)
        return out.astype(str)
    return np.array(["" if _is_missing(v) else str(v).strip() for v in values.tolist()], dtype=str)


def missing_markers(values: np.ndarray) -> list[str] | None:
    """The texts of a text column that otherwise holds numbers ('?', 'unknown', ...: at most 3
    distinct texts in at most 5% of the filled cells; [] where every filled cell is a number), or
    None for a column of categories."""
    cats, counts = np.unique(_categories(values), return_counts=True)
    filled = cats != ""
    cats, counts = cats[filled], counts[filled]
    if cats.size == 0:
        return None
    text = np.array([not _is_number(c) for c in cats.tolist()])
    if text.sum() > 3 or counts[text].sum() > 0.05 * counts.sum():
        return None
    return [str(c) for c in cats[text]]


def _is_number(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def _numbers(values: np.ndarray, name, col, missing_text=()) -> np.ndarray:
    """A number column as float64, missing cells (and the texts `missing_text`) NaN; other text is
    missing too, said with a DataWarning naming the column and the first row; an infinity is a
    ValueError naming the column and the row."""
    if values.dtype.kind in "iuf":
        v = values.astype(np.float64)
    else:
        v = np.empty(values.shape[0])
        text = []
        for i, x in enumerate(values.tolist()):
            if _is_missing(x) or (isinstance(x, str) and (not x.strip() or x.strip() in missing_text)):
                v[i] = np.nan
                continue
            try:
                v[i] = float(x)
            except (TypeError, ValueError):
                v[i] = np.nan
                text.append((i, x))
        if text:
            warnings.warn(
                f"{name} column {col!r} holds numbers, but {len(text)} rows hold text that is not a number (first: "
                f"{str(text[0][1])!r} in row {text[0][0]}): read as missing numbers",
                DataWarning,
                stacklevel=callers_stacklevel(),
            )
    bad = np.isinf(v)
    if bad.any():
        raise ValueError(f"{name} column {col!r} holds infinity in row {int(np.argmax(bad))}; values must be finite")
    return v
