"""Name registries: a class that declares ``name`` (and ``aliases``: alias -> constructor
settings) makes itself known where it is defined; this is the one place that does it."""

from __future__ import annotations

from collections.abc import Callable


def preset(cls: type, settings: dict) -> Callable:
    """A factory for `cls` with fixed `settings` (keywords given later override them)."""

    def make(**kw):
        return cls(**{**settings, **kw})

    return make


def register(table: dict, cls: type) -> None:
    """Put `cls` under its own ``name`` and its ``aliases`` in `table` (a subclass that does
    not name itself is not a new entry)."""
    if "name" in cls.__dict__:
        table[cls.name] = cls
        for alias, settings in cls.__dict__.get("aliases", {}).items():
            table[alias] = preset(cls, settings)
