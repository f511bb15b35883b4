"""``mlp predict`` and ``mlp export``: a saved model's predictions on raw features, and its ONNX graph."""

from __future__ import annotations

import os
import sys

from mlp import backends


def add(sub, formatter):
    """The ``predict`` and ``export`` subcommands and their flags."""
    p = sub.add_parser(
        "predict",
        help="predict with a saved model: labels, probabilities or values",
        formatter_class=formatter,
        description="Reads raw features (the saved model applies its own scaling) and writes one row per sample.",
    )
    p.add_argument("model", metavar="MODEL.npz", help="a model saved by mlp train --save or model.save")
    p.add_argument(
        "data",
        metavar="DATA",
        help=".csv or .parquet (the model's feature columns by name where it knows them, else every column but "
        "--label; text, categories and blank cells where the model was trained on such a table), .npy (a 2-D "
        "array) or .npz (its X, X_test or X_train array)",
    )
    p.add_argument("--out", metavar="FILE", default=None, help="write .csv or .npy; None: CSV on standard output")
    p.add_argument("--proba", action="store_true", help="class probabilities instead of labels")
    p.add_argument("--label", default="label", help="a label column of a .csv/.parquet to leave out of the features")
    p.add_argument("--backend", choices=list(backends.NAMES), default="numpy", help="backend to predict on")

    e = sub.add_parser("export", help="write a saved model (.npz) as a standard ONNX graph")
    e.add_argument("model", metavar="MODEL.npz", help="a model saved by mlp train --save or model.save")
    e.add_argument("out", metavar="MODEL.onnx", help="the ONNX file to write")
    e.add_argument(
        "--encoded",
        action="store_true",
        help="a model trained on a table: input X is the encoded rows (model.columns.encode), not one input per column",
    )
    e.add_argument(
        "--probabilities",
        action="store_true",
        help="add output P: the class probabilities predict_proba gives (softmax or sigmoid of the scores Y)",
    )
    p.set_defaults(run=run)
    e.set_defaults(run=export)


def export(args):
    import mlp

    mlp.load(args.model).to_onnx(args.out, probabilities=args.probabilities, encoded=args.encoded)
    print(f"wrote {args.out}")
    return 0


# -- mlp predict -------------------------------------------------------------------------------
def _read_features(path, model, label):
    """The feature matrix of DATA for `model`: by column name where the model knows its feature
    names, else by position; another feature count is an error naming both."""
    import numpy as np

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"data file {path!r} does not exist")
    if path.endswith((".csv", ".parquet", ".pq")) and model.columns is not None:
        from mlp.io.tables import read_arrow

        return model.columns.encode(read_arrow(path)[1], path)  # the raw columns, by name, encoded as in training
    if path.endswith((".csv", ".parquet", ".pq")):
        from mlp.io.tables import read_table

        columns = read_table(path)
        if model.feature_names is not None:
            missing = [c for c in model.feature_names if c not in columns]
            if missing:
                raise ValueError(f"{path}: it lacks the model's feature columns {missing[:10]}")
            names = model.feature_names
        else:
            names = [c for c in columns if c != label]
        from mlp.data import _numeric_column

        X = np.column_stack([_numeric_column(path, c, columns[c]) for c in names])
    elif path.endswith((".npy", ".npz")):
        X = _read_npy_features(path)
    else:
        raise ValueError(f"data file {path!r} must be .csv, .parquet, .npy or .npz")
    if X.ndim != 2 or X.shape[1] != model.n_features:
        got = X.shape[1] if X.ndim == 2 else f"shape {X.shape}"
        raise ValueError(f"{path}: the model takes {model.n_features} features; the data has {got}")
    return X


def _read_npy_features(path):
    """X from an .npy (memory-mapped) or an .npz (X, X_test or X_train), checked before anything is
    allocated; a damaged file is a ValueError naming it."""
    import zipfile

    import numpy as np

    from mlp.data import check_npz_sizes

    try:
        if path.endswith(".npy"):
            return np.load(path, mmap_mode="r", allow_pickle=False)
        if not zipfile.is_zipfile(path):
            raise ValueError(f"{path}: cannot read as .npz (not a zip archive)")
        check_npz_sizes(path, ("X", "X_test", "X_train"))
        with np.load(path, allow_pickle=False) as z:
            key = next((k for k in ("X", "X_test", "X_train") if k in z.files), None)
            if key is None:
                raise ValueError(
                    f"{path}: an .npz for prediction needs an array X (or X_test, X_train); it has {z.files}"
                )
            return z[key]
    except ValueError as exc:
        raise ValueError(str(exc) if path in str(exc) else f"{path}: {exc}") from None
    except Exception as exc:  # a damaged archive or header: BadZipFile, EOFError, SyntaxError, ...
        raise ValueError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None


def run(args):
    import numpy as np

    import mlp
    from mlp.data import row_chunks

    model = mlp.load(args.model, backend=args.backend)
    X = _read_features(args.data, model, args.label)
    head = model.output_head()
    if args.proba and not head.classification:
        raise ValueError(f"--proba needs a classifier; {args.model!r} is a regressor")
    parts = []
    for s, e in row_chunks(X):
        rows = np.asanyarray(X[s:e])  # encoded rows stay marked as such
        if not head.classification:
            out = np.asarray(model.backend.to_numpy(model(rows)))
        elif args.proba:
            out = model.predict_proba(rows)
        else:
            out = model.predict_labels(rows)
        parts.append(out)
    out = np.concatenate(parts)
    if head.classification and args.proba:
        labels = model.classes if model.classes is not None and head.kind != "multilabel" else None
        names = [f"p_{c}" for c in (labels if labels is not None else range(out.shape[1]))]
    elif head.classification:
        names = ["label"] if out.ndim == 1 else [f"label_{j}" for j in range(out.shape[1])]
    else:
        names = ["prediction"] if out.shape[1] == 1 else [f"prediction_{j}" for j in range(out.shape[1])]
    if out.ndim == 2 and out.shape[1] == 1 and not args.proba:
        out = out[:, 0]
    _write_predictions(args.out, out, names)
    return 0


def _write_predictions(path, out, names):
    import csv
    import io

    import numpy as np

    from mlp.io.npz import atomic_write

    if path is not None and path.endswith(".npy"):
        atomic_write(path, lambda f: np.save(f, out, allow_pickle=False))
        print(f"wrote {out.shape[0]} predictions to {path}", file=sys.stderr)
        return
    if path is not None and not path.endswith(".csv"):
        raise ValueError(f"--out {path!r} must end in .csv or .npy")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(names)
    rows = out.reshape(out.shape[0], -1)
    w.writerows(r.tolist() for r in rows)
    if path is None:
        sys.stdout.write(buf.getvalue())
        return
    atomic_write(path, lambda f: f.write(buf.getvalue().encode()))
    print(f"wrote {out.shape[0]} predictions to {path}", file=sys.stderr)
