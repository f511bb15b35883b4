"""``mlp bench``: the flags of the benchmark driver (``mlp.bench``)."""

from __future__ import annotations

from mlp.cli.args import number, widths


def add(sub, formatter):
    """The ``bench`` subcommand and its flags."""
    b = sub.add_parser("bench", help="epoch cost per backend, GEMM roofline, peers", formatter_class=formatter)
    _flags(b)
    b.set_defaults(run=run)


def run(args):
    from mlp.bench import run_bench

    return run_bench(args)


def _flags(b):
    """The flags of ``mlp bench`` (every one documented; the defaults shown by --help)."""
    b.add_argument("--out", default="bench-out", help="folder for report.md, results.json and plots")
    b.add_argument(
        "--quick",
        action="store_true",
        help="the small grid: the headline epoch at batch 128 and 1024 with 3 repeats, and a small scaling "
        "study (add --no-scaling to skip it); about 4 minutes on 2 cores with numpy, torch and jax",
    )
    b.add_argument("--smoke", action="store_true", help="tiny sizes and one repeat, for tests")
    b.add_argument(
        "--backends",
        default=None,
        help="comma-separated backends (None: every available one but array_api_strict; --scaling-n: numpy)",
    )
    b.add_argument(
        "--batch-sizes",
        type=widths,
        default=None,
        help="comma-separated batch sizes of the headline epochs (None: the grid's, 128,1024)",
    )
    b.add_argument("--n", type=number(int), default=None, help="samples for the headline configuration")
    b.add_argument("--sizes", type=widths, default=None, help="headline architecture, e.g. 784,1024,1024,10")
    b.add_argument("--no-scaling", action="store_true", help="skip the scaling study in n and |W|")
    b.add_argument(
        "--repeats",
        type=number(int),
        default=None,
        help="timed epochs per measurement after the warm-up one; the median is reported (None: 3 quick, 5 full)",
    )
    b.add_argument("--no-peers", action="store_true", help="skip PyTorch and scikit-learn")
    b.add_argument(
        "--precision",
        choices=["fp32", "bf16", "fp16"],
        default="fp32",
        help="compute precision of the epochs (bf16/fp16: float32 weights, products and activations in 16 bits, "
        "beside PyTorch's torch.autocast loop in the same dtype)",
    )
    b.add_argument("--tf32", action="store_true", help="TF32 tensor cores for float32 products on GPUs")
    b.add_argument(
        "--scaling-n",
        action="store_true",
        help="instead: epoch time in n from 10^3 to --scaling-n-max samples, streamed from a file on disk",
    )
    b.add_argument("--scaling-n-max", type=number(int), default=None, help="largest n (None: 10^7)")
    b.add_argument(
        "--data-dir", default=None, help="where --scaling-n writes its dataset once (None: the system's temp folder)"
    )
