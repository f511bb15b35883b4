"""The file format behind saved models and checkpoints: a portable .npz file.

Why npz: NumPy reads and writes it with no extra dependency, it is a zip archive whose
members carry CRC-32 checksums (a corrupted member fails to read), every backend can
load host arrays, and ``allow_pickle=False`` means a foreign file can never run code.
A JSON header (member ``__mlp__``) holds the format tag, the architecture and the dtype.
Writes are atomic: a temporary file in the same folder, fsync, then rename over the
target, so a crash never leaves a half-written file in place of a good one.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile

import numpy as np

__all__ = ["write_npz", "read_npz", "VERSION"]

VERSION = 1


_TMP_SUFFIX = ".mlp-tmp"


def check_writable(path, what="path") -> str:
    """The real path a save to `path` will write (a symlink's target), checked before any
    work: its folder exists and is writable, and it is not a folder."""
    real = os.path.realpath(os.fspath(path))
    folder = os.path.dirname(real)
    if not os.path.isdir(folder):
        raise ValueError(f"{what} must be in an existing folder; {folder!r} does not exist")
    if os.path.isdir(real):
        raise ValueError(f"{what} {os.fspath(path)!r} is a folder, not a file")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {os.fspath(path)!r} cannot be written: no write permission in {folder!r}")
    return real


def _remove_leftovers(folder):
    """Delete temporary files that interrupted saves (of processes no longer running) left here."""
    for name in os.listdir(folder):
        if not (name.startswith(".") and name.endswith(_TMP_SUFFIX)):
            continue
        try:
            pid = int(name[: -len(_TMP_SUFFIX)].rsplit(".", 2)[-2])
            os.kill(pid, 0)  # raises where no such process runs
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(folder, name))
        except (ValueError, IndexError, PermissionError, OSError):
            continue


def _mode_for(path):
    """The permissions a plain write would give: the existing file's, or 0o666 less the umask."""
    if os.path.exists(path):
        return os.stat(path).st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_npz(path, header: dict, arrays: dict) -> None:
    """Write `arrays` and a JSON `header` to `path` atomically: a temporary file in the same
    folder, fsync, rename over the target, fsync the folder. Saving onto a symlink writes
    its target; the file gets the permissions a plain write would."""
    path = check_writable(path)
    folder = os.path.dirname(path)
    _remove_leftovers(folder)
    payload = {"__mlp__": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)}
    payload.update(arrays)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.{os.getpid()}.", suffix=_TMP_SUFFIX, dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **payload)
            f.flush()
            os.fchmod(f.fileno(), _mode_for(path))
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself is durable
    finally:
        os.close(dir_fd)


def read_npz(path, expected_format):
    """(header, arrays) from an npz written by write_npz; a clear ValueError otherwise."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"path {path!r} does not exist or is not a file")
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path!r} is not a valid {expected_format} file (not an npz archive: truncated, corrupted or foreign)"
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            if "__mlp__" not in data.files:
                raise ValueError("it has no mlp header")
            header = json.loads(bytes(data["__mlp__"]).decode())
            arrays = {k: data[k] for k in data.files if k != "__mlp__"}
    except ValueError as exc:
        raise ValueError(f"{path!r} is not a valid {expected_format} file: {exc}") from None
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(
            f"{path!r} is not a valid {expected_format} file (truncated, corrupted or foreign): "
            f"{type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(header, dict) or header.get("format") != expected_format:
        got = header.get("format") if isinstance(header, dict) else type(header).__name__
        raise ValueError(f"{path!r} is not a {expected_format} file; its format is {got!r}")
    if header.get("version", 0) > VERSION:
        raise ValueError(f"{path!r} was written by a newer mlp (format version {header['version']} > {VERSION})")
    return header, arrays
