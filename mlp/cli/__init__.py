"""The ``mlp`` command: ``mlp train``, ``mlp predict``, ``mlp export`` and ``mlp bench``.

Bad flags and bad data files give a one-line error and exit status 2, no traceback. Each subcommand
is a module with its flags (``add``) and what it runs (``run``).
"""

from __future__ import annotations

import argparse
import functools
import sys
import warnings

from mlp.checks import DataWarning
from mlp.cli import bench, predict, train
from mlp.cli.args import Parser, fail

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    from mlp import __version__

    parser = Parser(prog="mlp", description="Multi-layer perceptrons on any array-API backend.")
    parser.add_argument("--version", action="version", version=f"mlp {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=Parser, metavar="{train,predict,export,bench}")
    for command in (train, predict, bench):
        command.add(sub, argparse.ArgumentDefaultsHelpFormatter)  # --help shows every default
    return parser


def _say(show, message, category, filename, lineno, file=None, line=None):
    """A data warning as the command line says it, ``warning: ...`` on standard error (no source
    line); any other warning as `show` shows it."""
    if not issubclass(category, DataWarning):
        return show(message, category, filename, lineno, file, line)
    print(f"warning: {message}", file=sys.stderr)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default", DataWarning)  # each said once, as a line of its own
            warnings.showwarning = functools.partial(_say, warnings.showwarning)
            return args.run(args)
    except (ValueError, TypeError, OSError) as exc:
        return fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    except FloatingPointError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        return fail("interrupted")


if __name__ == "__main__":
    sys.exit(main())
