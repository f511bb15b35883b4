"""The ``mlp`` command: ``mlp train`` and ``mlp bench``.

Bad flags and bad data files give a one-line error and exit status 2, no traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

PREFIX = "mlp: error:"  # every error the command prints starts with it


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{PREFIX} {message}\n")


def _widths(text):
    try:
        widths = [int(w) for w in text.split(",") if w.strip()] if text.strip() else []
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 256,256; got {text!r}") from None
    if any(w < 1 for w in widths):
        raise argparse.ArgumentTypeError(f"widths must be >= 1; got {text!r}")
    return widths


def _number(kind, zero=False, below_one=False):
    """An argparse type: a `kind` number > 0 (>= 0 with `zero`), and < 1 with `below_one`."""
    low = ">=" if zero else ">"
    what = "an integer" if kind is int else "a number"
    rule = f"in {'[' if zero else '('}0, 1)" if below_one else f"{low} 0"

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}; got {text!r}") from None
        if not ((value >= 0 if zero else value > 0) and (value < 1 or not below_one)):  # NaN fails too
            raise argparse.ArgumentTypeError(f"must be {rule}; got {text!r}")
        return value

    return parse


def build_parser():
    from . import backends
    from .activations import ACTIVATIONS
    from .data import DATASETS
    from .losses import LOSSES
    from .optim import OPTIMIZERS

    parser = _Parser(prog="mlp", description="Multi-layer perceptrons on any array-API backend.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    defaults = argparse.ArgumentDefaultsHelpFormatter  # --help shows every default
    t = sub.add_parser(
        "train",
        help="train an MLP and report test accuracy / MSE",
        formatter_class=defaults,
        description="Defaults chosen by benchmarks/defaults_study.py over seven datasets (README).",
    )
    src = t.add_mutually_exclusive_group()
    src.add_argument(
        "--data",
        metavar="PATH",
        help=".npz (X_train, y_train[, X_test, y_test]), .csv, a folder of MNIST IDX files, or a folder of "
        "X_train.npy, y_train.npy[, X_test.npy, y_test.npy] read as memory maps (data larger than memory)",
    )
    src.add_argument("--dataset", choices=sorted(DATASETS), default="digits", help="a built-in dataset")
    t.add_argument("--label", default="label", help="label column of a .csv file")
    t.add_argument(
        "--scale",
        choices=["standard", "minmax", "none"],
        default="standard",
        help="feature scaling fitted on the training data",
    )
    t.add_argument("--backend", choices=list(backends.NAMES), default=None, help="None: cupy with a GPU, else numpy")
    t.add_argument("--hidden", type=_widths, default=[256, 256], help="hidden widths, comma-separated")
    t.add_argument("--activation", choices=sorted(ACTIVATIONS), default="relu", help="hidden activation")
    t.add_argument("--loss", choices=sorted(LOSSES), default=None, help="None: cross_entropy, or mse for regression")
    t.add_argument(
        "--label-smoothing",
        type=_number(float, zero=True, below_one=True),
        default=0.0,
        help="label smoothing for cross-entropy",
    )
    t.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="adam", help="optimizer")
    t.add_argument(
        "--lr",
        type=_number(float),
        default=None,
        help="learning rate; None: the optimizer's own, as in PyTorch (adam 0.001, sgd 0.01)",
    )
    t.add_argument(
        "--momentum", type=_number(float, zero=True, below_one=True), default=0.9, help="momentum, for sgd and gd"
    )
    t.add_argument("--batch-size", type=_number(int), default=32, help="mini-batch size")
    t.add_argument(
        "--shuffle",
        choices=["full", "blocks", "none"],
        default="full",
        help="order of the samples each epoch: a full permutation, shuffled blocks of rows (for data read from "
        "disk: fewer random reads), or file order",
    )
    t.add_argument("--epochs", type=_number(int), default=30, help="epochs (at most, with --early-stopping)")
    t.add_argument(
        "--seed", type=_number(int, zero=True), default=0, help="seed of the initial weights and the shuffling"
    )
    t.add_argument("--dtype", choices=["float32", "float64"], default="float32", help="floating-point type")
    t.add_argument("--weight-decay", type=_number(float, zero=True), default=0.0, help="L2 penalty on the weights")
    t.add_argument(
        "--validation-fraction",
        type=_number(float, below_one=True),
        default=None,
        help="hold out this fraction of the training data (0.1 with --early-stopping)",
    )
    t.add_argument("--early-stopping", action="store_true", help="stop when the validation loss stops improving")
    t.add_argument("--plot", metavar="FILE", help="write loss (and validation) curves as a picture (.png, .svg, ...)")
    t.add_argument("--save", metavar="FILE", help="save the trained model (.npz)")
    t.add_argument("--checkpoint", metavar="FILE", help="write a checkpoint every --checkpoint-every epochs")
    t.add_argument("--checkpoint-every", type=_number(int), default=1, help="epochs between checkpoints")
    t.add_argument("--resume", metavar="FILE", help="resume from a checkpoint")
    t.add_argument("--distributed", action="store_true", help="data-parallel over MPI ranks (run under mpirun)")
    t.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")

    e = sub.add_parser("export", help="write a saved model (.npz) as a standard ONNX graph")
    e.add_argument("model", metavar="MODEL.npz", help="a model saved by mlp train --save or model.save")
    e.add_argument("out", metavar="MODEL.onnx", help="the ONNX file to write")

    b = sub.add_parser("bench", help="epoch-cost scaling study, GEMM roofline and peers", formatter_class=defaults)
    b.add_argument("--out", default="bench-out", help="folder for report.md, results.json and plots")
    b.add_argument(
        "--quick", action="store_true", help="small grid (about 4 minutes on 2 cores, three backends, --no-scaling)"
    )
    b.add_argument("--smoke", action="store_true", help="tiny sizes, for tests")
    b.add_argument(
        "--backends",
        default=None,
        help="comma-separated backends (None: every available one but array_api_strict; --scaling-n: numpy)",
    )
    b.add_argument("--batch-sizes", type=_widths, default=None)
    b.add_argument("--n", type=_number(int), default=None, help="samples for the headline configuration")
    b.add_argument("--sizes", type=_widths, default=None, help="headline architecture, e.g. 784,1024,1024,10")
    b.add_argument("--no-scaling", action="store_true", help="skip the scaling study")
    b.add_argument("--repeats", type=_number(int), default=None)
    b.add_argument("--no-peers", action="store_true", help="skip PyTorch and scikit-learn")
    b.add_argument(
        "--scaling-n",
        action="store_true",
        help="instead: epoch time in n from 10^3 to --scaling-n-max samples, streamed from a file on disk",
    )
    b.add_argument("--scaling-n-max", type=_number(int), default=None, help="largest n (None: 10^7)")
    b.add_argument(
        "--data-dir", default=None, help="where --scaling-n writes its dataset once (None: the system's temp folder)"
    )
    return parser


def _takes(factory, name) -> bool:
    """Whether an optimizer has a setting called `name` that its name leaves open (a preset fixes its own)."""
    import inspect

    return isinstance(factory, type) and name in inspect.signature(factory).parameters


def _fail(message):
    print(f"{PREFIX} {message}", file=sys.stderr)
    return 2


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            return run_train(args)
        if args.command == "export":
            import mlp

            mlp.load(args.model).to_onnx(args.out)
            print(f"wrote {args.out}")
            return 0
        from .bench import run_bench

        return run_bench(args)
    except (ValueError, TypeError, OSError) as exc:
        return _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    except FloatingPointError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail("interrupted")


def _check_outputs(args):
    """Every file the run will write can be written, before any training (errors name the flag)."""
    from .io import check_writable

    for flag in ("save", "checkpoint", "plot"):
        path = getattr(args, flag)
        if path is not None:
            check_writable(path, f"--{flag}")
    if args.plot is not None:
        from matplotlib.backend_bases import FigureCanvasBase

        ext = args.plot.rsplit(".", 1)[-1].lower() if "." in args.plot else ""
        formats = FigureCanvasBase.get_supported_filetypes()
        if ext not in formats:
            raise ValueError(f"--plot {args.plot!r} must end in a picture format, one of {sorted(formats)}")


def run_train(args):
    import mlp

    from . import backends, data
    from .batches import is_streamed

    backend = backends.get(args.backend or backends.best())  # first: a missing backend answers at once
    _check_outputs(args)
    ds = data.load_file(args.data, args.label) if args.data else data.load_dataset(args.dataset)  # random_state 0
    comm = None
    if args.distributed:
        from .distributed import MPIComm

        comm = MPIComm()
    is_root = comm is None or comm.rank == 0
    scaler = data.SCALERS[args.scale]().fit(ds.X_train)
    model, loss, opt = _model_loss_optimizer(args, ds, backend)
    t0 = time.perf_counter()
    streamed = is_streamed(ds.X_train)
    X_train = data.Transformed(ds.X_train, scaler.transform) if streamed else scaler.transform(ds.X_train)
    history = mlp.train(
        model,
        X_train,
        ds.y_train,
        shuffle=args.shuffle,
        loss=loss,
        optimizer=opt,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        validation_fraction=args.validation_fraction,
        early_stopping=args.early_stopping,
        progress=not args.no_progress and not args.json and is_root,
        checkpoint=args.checkpoint,
        checkpoint_every=args.checkpoint_every,
        resume=args.resume,
        distributed=comm,
    )
    backend.synchronize()
    result = _evaluate(model, ds, scaler, history, time.perf_counter() - t0)
    if is_root:
        _report(args, model, history, result)
    return 0


def _model_loss_optimizer(args, ds, backend):
    """The model, loss and optimizer the flags ask for; the loss says which output and how many."""
    import mlp

    from .optim import OPTIMIZERS

    classification = ds.task == "classification"
    loss = mlp.get_loss(args.loss or ("cross_entropy" if classification else "mse"), "--loss")
    if classification != loss.classification:
        kind, data_kind = ("regression", "class labels") if classification else ("classification", "real targets")
        raise ValueError(f"--loss {args.loss} is a {kind} loss, but {ds.name} has {data_kind}")
    n_targets = 1 if ds.y_train.ndim == 1 else ds.y_train.shape[1]
    sizes = [ds.n_features, *args.hidden, loss.n_outputs(ds.n_outputs if classification else None, n_targets)]
    model = mlp.MLP(sizes, args.activation, loss.output, backend=backend, dtype=args.dtype, seed=args.seed)
    momentum = {"momentum": args.momentum} if _takes(OPTIMIZERS[args.optimizer], "momentum") else {}
    opt = mlp.get_optimizer(args.optimizer, lr=args.lr, weight_decay=args.weight_decay, **momentum)
    if args.label_smoothing and isinstance(loss, mlp.CrossEntropy) and not isinstance(loss, mlp.KLDivergence):
        loss = type(loss)(label_smoothing=args.label_smoothing, from_logits=loss.from_logits)
    return model, loss, opt


def _evaluate(model, ds, scaler, history, seconds) -> dict:
    import numpy as np

    from . import data
    from .metrics import accuracy, mean_squared_error

    backend = model.backend
    result = {
        "backend": backend.name,
        "device": str(backend.device),
        "dataset": ds.name,
        "sizes": [model.n_features, *[layer.out_features for layer in model.layers if layer.out_features]],
        "epochs": history.epochs,
        "train_loss": history.loss[-1] if history.loss else None,
        "seconds": round(seconds, 3),
        "stop_reason": history.stop_reason,
    }
    if ds.X_test is not None:
        score, metric = (accuracy, "test_accuracy") if ds.task == "classification" else (mean_squared_error, "test_mse")
        total = 0.0
        for s, e in data.row_chunks(ds.X_test):  # one chunk for in-memory data of up to 64 MB
            out = model(scaler.transform(ds.X_test[s:e]))
            total += score(backend.asarray(np.asarray(ds.y_test[s:e])), out) * (e - s)
        result[metric] = total / ds.X_test.shape[0]
    if history.val_loss:
        result["val_loss"] = history.val_loss[-1]
    return result


def _report(args, model, history, result):
    """Save, plot and print (rank 0 only)."""
    if args.save:
        model.save(args.save)
        result["saved"] = args.save
    if args.plot:
        from .plotting import plot_history

        b = model.backend
        title = f"{result['dataset']}: {result['sizes']} {args.activation}, {b.name} ({b.device}), {args.dtype}"
        plot_history(history, args.plot, title)
        result["plot"] = args.plot
    if args.json:
        print(json.dumps(result))
        return
    b = model.backend
    lines = [
        f"{result['dataset']}: {result['sizes']} {args.activation}/{model.layers[-1].name} on {b.name} ({b.device}), "
        f"{args.dtype}",
        f"{history.epochs} epochs in {result['seconds']:.2f} s, final training loss {result['train_loss']:.4f}",
    ]
    if "test_accuracy" in result:
        lines.append(f"test accuracy: {result['test_accuracy']:.4f}")
    if "test_mse" in result:
        lines.append(f"test MSE: {result['test_mse']:.4f}")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
