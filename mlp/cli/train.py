"""``mlp train``: train an MLP on a built-in dataset or a file, and report its test metrics."""

from __future__ import annotations

import argparse
import json
import sys
import time

from mlp import backends
from mlp import defaults as chosen
from mlp.cli.args import number, widths
from mlp.data import DATASETS
from mlp.losses import LOSSES
from mlp.nn.activations import ACTIVATIONS
from mlp.nn.transforms import TRANSFORMS
from mlp.optim import OPTIMIZERS


def add(sub, formatter):
    """The ``train`` subcommand and its flags."""
    t = sub.add_parser(
        "train",
        help="train an MLP and report its test metrics",
        formatter_class=formatter,
        description="Defaults chosen by benchmarks/defaults_study.py over several datasets (README).",
    )
    for flags in (_data_flags, _model_flags, _optimizer_flags, _run_flags):
        flags(t)
    t.set_defaults(run=run)


def _data_flags(t):
    src = t.add_mutually_exclusive_group()
    src.add_argument(
        "--data",
        metavar="PATH",
        help=".npz (X_train, y_train[, X_test, y_test]), .csv or .parquet (a --label column; split by --test-size), a "
        "folder of MNIST IDX files, or a folder of X_train.npy, y_train.npy[, X_test.npy, y_test.npy] read as "
        "memory maps (data larger than memory)",
    )
    src.add_argument("--dataset", choices=sorted(DATASETS), default="digits", help="a built-in dataset")
    t.add_argument("--label", default="label", help="label column of a .csv or .parquet file")
    t.add_argument(
        "--test-size",
        type=number(float, below_one=True),
        default=0.25,
        metavar="F",
        help="the fraction of a .csv or .parquet file's labelled rows held out for the test (0 < F < 1)",
    )
    t.add_argument(
        "--stratify",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="split a .csv or .parquet file by class (None: where the labels are class labels and every class "
        "has 2 rows or more, else not, said)",
    )
    t.add_argument(
        "--task",
        choices=["classification", "regression"],
        default=None,
        help="None: inferred from the training targets (classification for text labels and whole numbers "
        "0..K-1, 1..K or -1/1; regression otherwise), and said",
    )
    t.add_argument(
        "--scale",
        choices=[*sorted(TRANSFORMS), "none"],
        default=chosen.SCALE,
        help="feature scaling fitted on the training data, saved as part of the model (robust: median and IQR, "
        "then a smooth clip of extreme values)",
    )
    t.add_argument(
        "--scale-targets",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="standardize regression targets inside the model (mean 0, std 1 while learning; predictions in "
        "the targets' units). None: on for several regression outputs (their units differ), off for one (a study: "
        "benchmarks/results/target-scale-2026-12-06)",
    )


def _model_flags(t):
    t.add_argument("--backend", choices=list(backends.NAMES), default=None, help="None: cupy with a GPU, else numpy")
    t.add_argument("--hidden", type=widths, default=list(chosen.HIDDEN), help="hidden widths, comma-separated")
    t.add_argument("--activation", choices=sorted(ACTIVATIONS), default=chosen.ACTIVATION, help="hidden activation")
    t.add_argument("--norm", choices=["batch", "layer"], default=None, help="normalization after each hidden layer")
    t.add_argument(
        "--residual",
        action="store_true",
        help="hidden layers after the first as pre-norm residual blocks x + Dropout(act(Dense(Norm(x)))) (all "
        "hidden widths equal; --norm, layer by default)",
    )
    t.add_argument(
        "--ensemble",
        type=number(int),
        default=1,
        metavar="K",
        help="K independent members side by side, trained in one batched step, their outputs averaged",
    )
    t.add_argument("--csv-log", metavar="FILE", default=None, help="one CSV row per epoch (mlp.CSVLogger)")
    t.add_argument(
        "--tensorboard", metavar="DIR", default=None, help="TensorBoard scalars per epoch (needs mlp[tensorboard])"
    )
    t.add_argument(
        "--dropout", type=number(float, zero=True, below_one=True), default=0.0, help="dropout rate of hidden layers"
    )
    t.add_argument(
        "--loss",
        choices=sorted(LOSSES),
        default=None,
        help="None: cross_entropy for classes, bce for multi-label 0/1 columns, mse for regression",
    )
    t.add_argument(
        "--label-smoothing",
        type=number(float, zero=True, below_one=True),
        default=None,
        help="label smoothing, for the cross-entropy losses only (None: 0)",
    )


def _optimizer_flags(t):
    t.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default=chosen.OPTIMIZER, help="optimizer")
    t.add_argument(
        "--lr",
        type=number(float),
        default=None,
        help="learning rate; None: the optimizer's own, as in PyTorch (adam 0.001, sgd 0.01)",
    )
    _rate_flags(t)
    _step_flags(t)


def _rate_flags(t):
    """The learning rate over the run: the range test, the schedule, warmup, the moving average."""
    t.add_argument(
        "--find-lr",
        nargs="?",
        const="",
        default=None,
        metavar="PLOT.png",
        help="first run the learning-rate range test (mlp.lr_find: 100 steps from 1e-7 to 10), say its "
        "suggestion and train with it; with a file name, plot the test there (matplotlib)",
    )
    t.add_argument(
        "--lr-schedule",
        choices=["constant", "cosine", "linear", "onecycle"],
        default="constant",
        help="the learning rate step by step: constant; cosine or linear decay to 0 over the run (after "
        "--warmup); onecycle (PyTorch's OneCycleLR: up from lr/25 over 30%% of the steps, then down)",
    )
    t.add_argument(
        "--ema",
        type=number(float, below_one=True),
        default=None,
        metavar="DECAY",
        help="keep an exponential moving average of the weights (e.g. 0.999), updated after every step; the "
        "saved and evaluated model holds it",
    )
    t.add_argument(
        "--warmup",
        type=number(int, zero=True),
        default=0,
        metavar="STEPS",
        help="steps of linear warmup from 0 to the learning rate, before --lr-schedule's decay",
    )


def _step_flags(t):
    """Momentum, batches and epochs."""
    t.add_argument(
        "--momentum",
        type=number(float, zero=True, below_one=True),
        default=None,
        help="momentum, for the optimizers that have one (sgd, gd); None: theirs (0)",
    )
    t.add_argument("--batch-size", type=number(int), default=chosen.BATCH_SIZE, help="mini-batch size")
    t.add_argument(
        "--accumulate",
        type=number(int),
        default=1,
        metavar="K",
        help="gradients of K mini-batches summed before each update (as one K-times larger batch, with one "
        "mini-batch's activations in memory)",
    )
    t.add_argument(
        "--class-weight",
        choices=["balanced"],
        default=None,
        help="balanced: weight each class by n / (K · its count), as scikit-learn (None: every sample alike)",
    )
    t.add_argument(
        "--shuffle",
        choices=["full", "blocks", "none"],
        default=None,
        help="order of the samples each epoch: a full permutation, shuffled blocks of rows (fewer random reads; "
        "a Parquet file's row groups, two at a time), or file order. None: full for data in memory, blocks for "
        "data read from disk (memory maps, a Parquet file too large to read whole)",
    )
    t.add_argument("--epochs", type=number(int), default=chosen.EPOCHS, help="epochs (at most, with --early-stopping)")
    t.add_argument(
        "--seed", type=number(int, zero=True), default=0, help="seed of the initial weights and the shuffling"
    )
    t.add_argument(
        "--dtype", choices=["float32", "float64"], default="float32", help="floating-point type of the weights"
    )
    t.add_argument(
        "--precision",
        choices=["fp32", "bf16", "fp16"],
        default="fp32",
        help="compute precision: bf16/fp16 run products and activations in 16 bits with --dtype weights (mixed "
        "precision; fp16 with dynamic loss scaling), on backends that have the type (torch, jax, cupy)",
    )


def _run_flags(t):
    t.add_argument("--tf32", action="store_true", help="TF32 tensor cores for float32 products on GPUs")
    t.add_argument(
        "--weight-decay",
        type=number(float, zero=True),
        default=None,
        help="L2 penalty on the weights; None: the optimizer's own (adamw 0.01, the others 0)",
    )
    t.add_argument(
        "--validation-fraction",
        type=number(float, below_one=True),
        default=None,
        help="hold out this fraction of the training data (0.1 with --early-stopping)",
    )
    t.add_argument("--early-stopping", action="store_true", help="stop when the validation loss stops improving")
    t.add_argument("--plot", metavar="FILE", help="write loss (and validation) curves as a picture (.png, .svg, ...)")
    t.add_argument("--save", metavar="FILE", help="save the trained model (.npz): the whole predictor")
    t.add_argument("--checkpoint", metavar="FILE", help="write a checkpoint every --checkpoint-every epochs")
    t.add_argument("--checkpoint-every", type=number(int), default=1, help="epochs between checkpoints")
    t.add_argument("--resume", metavar="FILE", help="resume from a checkpoint")
    t.add_argument("--distributed", action="store_true", help="data-parallel over MPI ranks (run under mpirun)")
    t.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--verbose", action="store_true", help="one line per epoch (loss, validation metrics, time)")


def _check_outputs(args):
    """Every file the run will write can be written, before any training (errors name the flag)."""
    from mlp.io.npz import check_writable

    for flag in ("save", "checkpoint", "plot"):
        path = getattr(args, flag)
        if path is not None:
            check_writable(path, f"--{flag}")
    if args.plot is not None:
        try:
            from matplotlib.backend_bases import FigureCanvasBase
        except ImportError:
            raise ValueError("--plot needs matplotlib: pip install mlp[plot]") from None
        ext = args.plot.rsplit(".", 1)[-1].lower() if "." in args.plot else ""
        formats = FigureCanvasBase.get_supported_filetypes()
        if ext not in formats:
            raise ValueError(f"--plot {args.plot!r} must end in a picture format, one of {sorted(formats)}")


# -- mlp train -----------------------------------------------------------------------------
def run(args):
    import mlp
    from mlp import backends, data

    backend = backends.get(args.backend or backends.best())  # first: a missing backend answers at once
    if args.tf32:
        backends.set_tf32(True)
    _check_outputs(args)
    if args.data:  # random_state 0
        ds = data.load_file(args.data, args.label, test_size=args.test_size, stratify=args.stratify)
    else:
        ds = data.load_dataset(args.dataset)
    for note in ds.notes:
        print(f"note: {note}", file=sys.stderr)
    task, why = _task(args, ds)
    comm = None
    if args.distributed:
        from mlp.training.distributed import MPIComm

        comm = MPIComm()
    is_root = comm is None or comm.rank == 0
    model, loss, opt = _model_loss_optimizer(args, ds, task, backend)
    talk = is_root and not args.json
    if talk:
        print(f"task: {task} ({why})")
        print(model.summary(compact=True), flush=True)
    if args.find_lr is not None:
        _find_lr(args, model, loss, opt, ds, talk)
    callbacks = [_EpochLines(args.epochs)] if args.verbose and talk else []
    if args.csv_log:
        callbacks.append(mlp.CSVLogger(args.csv_log))
    if args.tensorboard:
        callbacks.append(mlp.TensorBoard(args.tensorboard))
    t0 = time.perf_counter()
    history = mlp.train(
        model,
        ds.X_train,
        ds.y_train,
        shuffle=_order(args.shuffle, ds.X_train),
        loss=loss,
        optimizer=opt,
        epochs=args.epochs,
        batch_size=args.batch_size,
        accumulate=args.accumulate,
        seed=args.seed,
        validation_fraction=args.validation_fraction,
        early_stopping=args.early_stopping,
        progress=not args.no_progress and talk and not args.verbose,
        checkpoint=args.checkpoint,
        checkpoint_every=args.checkpoint_every,
        resume=args.resume,
        distributed=comm,
        callbacks=callbacks,
        class_weight=args.class_weight,
    )
    backend.synchronize()
    result = _evaluate(model, ds, task, why, history, time.perf_counter() - t0)
    if is_root:
        _report(args, model, loss, history, result)
    return 0


def _task(args, ds) -> tuple[str, str]:
    """The task and why: the flag's, checked against the targets, or the inferred one."""
    import numpy as np

    if args.task is None:
        if args.data is None:
            return ds.task, f"the built-in {ds.name} dataset; --task overrides"
        return ds.task, f"inferred: {ds.task_reason}; --task overrides"
    y = np.asarray(ds.y_train)
    if args.task == "regression" and y.dtype.kind in "USOb":
        raise ValueError(f"--task regression needs numeric targets, but {ds.name}'s y holds text labels")
    if args.task == "classification" and y.dtype.kind == "f" and not np.all(np.round(y) == y):
        raise ValueError(
            f"--task classification needs class labels, but {ds.name}'s y holds fractional values; use --task "
            "regression"
        )
    ds.task = args.task
    return args.task, "--task"


def _order(shuffle, X):
    """The epoch order: as asked, or full for data in memory and blocks for data on disk (a
    Parquet file's row groups, two at a time: each read once per epoch)."""
    import numpy as np

    from mlp.io.tables import ParquetRows
    from mlp.training.batches import BlockShuffle

    if isinstance(X, ParquetRows):
        if shuffle in (None, "blocks"):
            return BlockShuffle(X.block, 2)
        return shuffle
    if shuffle is None:
        return "blocks" if isinstance(X, np.memmap) else "full"
    return shuffle


def _model_loss_optimizer(args, ds, task, backend):
    """The model, loss and optimizer the flags ask for; the loss says which output and how many.
    Flags that the chosen loss or optimizer would ignore are errors naming both."""
    import numpy as np

    import mlp
    from mlp.nn.columns import is_table

    classification = task == "classification"
    multilabel = classification and np.ndim(ds.y_train) == 2
    # an ensemble's members share no softmax: its classifier takes the scores (softmax cross-entropy)
    single = "softmax_cross_entropy" if args.ensemble > 1 else "cross_entropy"
    name = args.loss or ("mse" if not classification else "bce" if multilabel else single)
    loss = mlp.get_loss(name, "--loss")
    if classification != loss.classification:
        kind = "regression" if classification else "classification"
        raise ValueError(
            f"--loss {args.loss} is a {kind} loss, but the task is {task} ({ds.task_reason}); pass --task "
            f"{'regression' if classification else 'classification'} to train a {kind} model"
        )
    if args.label_smoothing is not None:
        if not isinstance(loss, mlp.CrossEntropy) or isinstance(loss, mlp.KLDivergence):
            raise ValueError(
                f"--label-smoothing applies to the cross-entropy losses only; --loss {loss.name} would ignore it"
            )
        loss = type(loss)(label_smoothing=args.label_smoothing, from_logits=loss.from_logits)
    classes = None
    if classification and not multilabel:
        classes = ds.classes
        if ds.y_test is not None:
            unseen = sorted({str(v) for v in np.setdiff1d(np.asarray(ds.y_test), classes).tolist()})
            if unseen:
                raise ValueError(f"{ds.name}: the test labels {unseen[:10]} never occur in the training labels")
        n_out = loss.n_outputs(len(classes))
    else:
        n_out = 1 if np.ndim(ds.y_train) == 1 else ds.y_train.shape[1]
    first = ds.n_features
    if is_table(ds.X_train):  # mixed columns: the model encodes them (mlp.Columns), fitted on the training rows
        first = mlp.Columns.fit(ds.X_train, name=args.data)
    sizes = [first, *args.hidden, n_out]
    scale_targets = _scale_targets(args, classification, loss, n_out)
    model = mlp.MLP(
        sizes,
        args.activation,
        loss.output,
        backend=backend,
        dtype=args.dtype,
        seed=args.seed,
        scale=None if args.scale == "none" else args.scale,
        dropout=args.dropout,
        norm=args.norm,
        classes=classes,
        compute_dtype={"fp32": None, "bf16": "bfloat16", "fp16": "float16"}[args.precision],
        scale_targets=scale_targets,
        residual=args.residual,
        ensemble=args.ensemble,
    )
    model.feature_names = ds.feature_names
    return model, loss, _optimizer(args)


def _optimizer(args):
    """The optimizer the flags ask for; a flag it would ignore is an error naming both."""
    import mlp
    from mlp.optim import accepts

    settings = {}
    if args.momentum is not None:
        if not accepts(args.optimizer, "momentum"):
            raise ValueError(
                f"--momentum applies to optimizers with momentum (sgd, gd); --optimizer {args.optimizer} would "
                "ignore it"
            )
        settings["momentum"] = args.momentum
    if args.weight_decay is not None:
        settings["weight_decay"] = args.weight_decay
    settings["schedule"] = _schedule(args)
    if args.ema is not None:
        settings["ema"] = args.ema
    return mlp.get_optimizer(args.optimizer, lr=args.lr, **settings)


def _scale_targets(args, classification, loss, n_out) -> bool:
    """--scale-targets, or mlp.defaults.SCALE_TARGETS ("multi-output": several regression outputs) for a
    regression loss on an identity output."""
    if args.scale_targets and (classification or loss.output != "identity"):
        raise ValueError(
            f"--scale-targets standardizes regression targets; --loss {loss.name} "
            f"{'takes class labels' if classification else f'ends in {loss.output}'}"
        )
    if args.scale_targets is None:
        wanted = chosen.SCALE_TARGETS is True or (chosen.SCALE_TARGETS == "multi-output" and n_out > 1)
        return wanted and not classification and loss.output == "identity"
    return args.scale_targets


def _find_lr(args, model, loss, opt, ds, talk):
    """--find-lr: the range test, its suggestion said and set as the optimizer's rate."""
    import mlp

    if args.lr is not None:
        raise ValueError("--find-lr chooses the learning rate; --lr gives one: pass one of them")
    result = mlp.lr_find(
        model,
        ds.X_train,
        ds.y_train,
        optimizer=opt,
        loss=loss,
        batch_size=args.batch_size,
        seed=args.seed,
        plot=args.find_lr or None,
    )
    if result.suggestion is None:
        raise ValueError("--find-lr: the loss never fell over the rates tried (1e-7 to 10); give --lr instead")
    opt.lr = result.suggestion
    if talk:
        where = f" (plot: {args.find_lr})" if args.find_lr else ""
        print(
            f"learning rate: {result.suggestion:.3g}, the steepest fall of the loss over {len(result.lrs)} steps{where}"
        )


def _schedule(args):
    """The per-step learning-rate schedule of --lr-schedule and --warmup (None: constant)."""
    import mlp

    if args.lr_schedule == "onecycle":
        if args.warmup:
            raise ValueError("--warmup does not apply to --lr-schedule onecycle, which rises over 30% of the steps")
        return mlp.OneCycle()
    if args.lr_schedule == "constant":
        return mlp.WarmupCosine(warmup_steps=args.warmup, min_factor=1.0) if args.warmup else None
    return {"cosine": mlp.WarmupCosine, "linear": mlp.WarmupLinear}[args.lr_schedule](warmup_steps=args.warmup)


class _EpochLines:
    """--verbose: one line per epoch, as Keras prints them."""

    def __init__(self, epochs):
        self.epochs, self.t = epochs, time.perf_counter()

    def __call__(self, epoch, logs, model):
        now = time.perf_counter()
        parts = [f"{k}: {v:.4f}" for k, v in logs.items() if k not in ("lr", "batches")]
        print(f"Epoch {epoch + 1}/{self.epochs} - {now - self.t:.2f}s - " + " - ".join(parts), flush=True)
        self.t = now


def _evaluate(model, ds, task, why, history, seconds) -> dict:
    backend = model.backend
    result = {
        "backend": backend.name,
        "device": str(backend.device),
        "dataset": ds.name,
        "task": task,
        "task_reason": why,
        "sizes": list(model.sizes),
        "epochs": history.epochs,
        "train_loss": history.loss[-1] if history.loss else None,
        "seconds": round(seconds, 3),
        "stop_reason": history.stop_reason,
        "best_epoch": history.best_epoch,
        "warnings": list(history.warnings),
    }
    if ds.X_test is not None:
        metrics = model.evaluate(ds.X_test, ds.y_test)  # the saved model's own predictions: raw data in
        result["test_samples"] = int(ds.X_test.shape[0])
        for key, value in metrics.items():
            result[f"test_{key}"] = value
    if history.val_loss:
        result["val_loss"] = history.val_loss[-1]
    if history.val_accuracy:
        result["val_accuracy"] = history.val_accuracy[-1]
    return result


_STOPS = {
    "max_epochs": "ran every epoch asked for",
    "early_stopping": "early stopping: the validation loss stopped improving",
    "tol": "the training loss stopped improving by more than tol",
    "callback": "a callback asked to stop",
}


def _report(args, model, loss, history, result):
    """Save, plot and print (rank 0 only)."""
    from mlp.losses import SquaredError

    written = []
    if args.save:
        model.save(args.save)
        result["saved"] = args.save
        written.append(f"model {args.save}")
    if args.plot:
        from mlp.plotting import plot_history

        b = model.backend
        title = f"{result['dataset']}: {result['sizes']} {args.activation}, {b.name} ({b.device}), {args.dtype}"
        plot_history(history, args.plot, title)
        result["plot"] = args.plot
        written.append(f"plot {args.plot}")
    if args.checkpoint:
        written.append(f"checkpoint {args.checkpoint}")
    if args.json:
        print(json.dumps(result))
        return
    b = model.backend
    stop = _STOPS.get(history.stop_reason, history.stop_reason)
    loss_note = " (½·MSE)" if isinstance(loss, SquaredError) else ""
    if model.net.target_scale is not None:  # the loss of the standardized targets
        loss_note = f"{loss_note[:-1]} of the standardized targets)" if loss_note else " (standardized targets)"
    lines = [
        f"{result['dataset']}: {result['sizes']} {args.activation}/{model.output} on {b.name} ({b.device}), "
        f"{args.dtype}",
        f"trained {history.epochs} epochs in {result['seconds']:.2f} s ({stop})",
        f"final training loss {result['train_loss']:.4f}{loss_note}",
    ]
    if history.val_loss:
        best = f", best epoch {history.best_epoch}" if history.best_epoch else ""
        val = f"validation loss {history.val_loss[-1]:.4f}"
        if history.val_accuracy:
            val += f", accuracy {history.val_accuracy[-1]:.4f}"
        lines.append(val + best)
    if "test_accuracy" in result:
        lines.append(f"test accuracy: {result['test_accuracy']:.4f} ({result['test_samples']} samples)")
    if "test_label_accuracy" in result:
        lines.append(f"test per-label accuracy: {result['test_label_accuracy']:.4f}")
    if "test_mse" in result:
        lines.append(
            f"test MSE: {result['test_mse']:.4f}, R²: {result['test_r2']:.4f} ({result['test_samples']} samples)"
        )
    for w in history.warnings:
        lines.append(f"warning: {w}")
    if written:
        lines.append("wrote " + ", ".join(written))
    print("\n".join(lines))
