"""The command line's parsing pieces: a parser whose errors are one line with exit status 2, and
argument types that say what they expected."""

from __future__ import annotations

import argparse
import sys

__all__ = ["PREFIX", "Parser", "widths", "number", "fail"]

PREFIX = "mlp: error:"  # every error the command prints starts with it


class Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{PREFIX} {message}\n")


def widths(text):
    try:
        widths = [int(w) for w in text.split(",") if w.strip()] if text.strip() else []
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 256,256; got {text!r}") from None
    if any(w < 1 for w in widths):
        raise argparse.ArgumentTypeError(f"widths must be >= 1; got {text!r}")
    return widths


def number(kind, zero=False, below_one=False):
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


def fail(message):
    print(f"{PREFIX} {message}", file=sys.stderr)
    return 2
