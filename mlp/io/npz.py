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
import math
import os
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable

import numpy as np

__all__ = ["write_npz", "atomic_write", "read_npz", "check_writable", "VERSION"]

VERSION = 2


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
        except (ValueError, IndexError, OSError):
            continue


def _mode_for(path):
    """The permissions a plain write would give: the existing file's, or 0o666 less the umask."""
    if os.path.exists(path):
        return os.stat(path).st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_npz(path, header: dict, arrays: dict) -> None:
    """Write `arrays` and a JSON `header` to `path` atomically (``atomic_write``)."""
    payload = {"__mlp__": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)}
    payload.update(arrays)
    atomic_write(path, lambda f: np.savez(f, **payload))


def atomic_write(path, write: Callable) -> None:
    """``write(binary file)`` into a temporary file in the target's folder, fsync, rename over
    the target, fsync the folder: a crash never leaves a half-written file in its place.
    Writing onto a symlink writes its target; the file gets the permissions a plain write
    would; temporaries left by interrupted writes of dead processes are removed."""
    path = check_writable(path)
    folder = os.path.dirname(path)
    _remove_leftovers(folder)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.{os.getpid()}.", suffix=_TMP_SUFFIX, dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
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


HEADER_LIMIT = 1 << 20  # bytes of JSON header
_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# What a damaged or foreign file can raise while it is read; each becomes a ValueError naming the file.
_DAMAGED = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    OSError,
    EOFError,
    KeyError,
    IndexError,
    TypeError,
    UnicodeDecodeError,
    json.JSONDecodeError,
    RecursionError,
    NotImplementedError,
    RuntimeError,
    OverflowError,
    MemoryError,
    zlib.error,
    struct.error,
    AttributeError,
)


class _OtherFormat(ValueError):
    pass


def memory_budget(path) -> int:
    """The most bytes of arrays a file of this size may declare: weights barely compress, so
    more than ten times the file is a zip bomb or a lie, not a model."""
    return 10 * os.path.getsize(path) + (1 << 20)


def read_npz(path, expected_format, expect: Callable[[dict], dict[str, tuple]]):
    """(header, arrays) from an npz written by write_npz; a ValueError naming the file otherwise.

    Untrusted files are safe to read: the JSON header is read first (at most HEADER_LIMIT
    bytes) and checked by ``expect(header)``, which returns the members it needs and their
    declared shapes; their total size must fit ``memory_budget``; then only those members
    are read, each checked (float dtype, declared shape, size) before its data is, and
    CRC-checked to the end. Nothing is allocated or decompressed beyond what the header
    declares."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"path {path!r} does not exist or is not a file")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = {info.filename: info for info in zf.infolist()}
            if "__mlp__.npy" not in infos:
                raise ValueError("it has no mlp header")
            raw = _read_member(zf, infos["__mlp__.npy"], None, (np.dtype(np.uint8),), HEADER_LIMIT)
            header = json.loads(raw.tobytes().decode())
            if not isinstance(header, dict) or header.get("format") != expected_format:
                got = header.get("format") if isinstance(header, dict) else type(header).__name__
                raise _OtherFormat(f"{path!r} is not a {expected_format} file; its format is {str(got)[:40]!r}")
            version = header.get("version", 0)
            if not isinstance(version, int) or version > VERSION:
                raise ValueError(f"it was written by a newer mlp (format version {version!r} > {VERSION})")
            wanted = expect(header)
            declared = sum(8 * math.prod(shape) for shape in wanted.values())
            if declared > memory_budget(path):
                raise ValueError(
                    f"its header declares {declared:,} bytes of arrays, more than a file of "
                    f"{os.path.getsize(path):,} bytes can hold"
                )
            arrays = {}
            for key, shape in wanted.items():
                if f"{key}.npy" not in infos:
                    raise ValueError(f"it has no member {key!r}")
                arrays[key] = _read_member(zf, infos[f"{key}.npy"], tuple(shape), _FLOAT_DTYPES, 8 * math.prod(shape))
    except _OtherFormat as exc:
        raise ValueError(str(exc)) from None
    except ValueError as exc:
        raise ValueError(f"{path!r} is not a valid {expected_format} file: {exc}") from None
    except _DAMAGED as exc:
        raise ValueError(
            f"{path!r} is not a valid {expected_format} file (truncated, corrupted or foreign): "
            f"{type(exc).__name__}: {exc}"
        ) from None
    return header, arrays


def read_npy_header(f, name: str, max_header_size: int) -> tuple:
    """(shape, fortran order, dtype) from the .npy header at `f`'s position, which is left at the
    data; a version numpy does not know is a ValueError naming the array."""
    major, _ = np.lib.format.read_magic(f)
    read_header = {1: np.lib.format.read_array_header_1_0, 2: np.lib.format.read_array_header_2_0}.get(major)
    if read_header is None:
        raise ValueError(f"member {name!r} has an unknown .npy version {major}")
    return read_header(f, max_header_size=max_header_size)


def _read_member(zf, info, shape, dtypes, limit):
    """One .npy member: its header is checked (dtype, shape, size within `limit` bytes)
    before its data is read; the data is read to the end, so the zip CRC is checked."""
    name = info.filename[:-4]
    if info.file_size > limit + 4096:  # the .npy header is at most a few KB
        raise ValueError(f"member {name!r} is larger ({info.file_size:,} bytes) than its declared contents")
    with zf.open(info) as f:
        got_shape, fortran, dtype = read_npy_header(f, name, 4096)
        if dtype not in dtypes or fortran:
            raise ValueError(f"member {name!r} holds {dtype} data; expected {' or '.join(map(str, dtypes))}")
        if shape is not None and tuple(got_shape) != shape:
            raise ValueError(f"member {name!r} has shape {tuple(got_shape)}; its header declares {shape}")
        if len(got_shape) != 1 and shape is None:
            raise ValueError(f"member {name!r} must be 1-D; got shape {tuple(got_shape)}")
        nbytes = math.prod(got_shape) * dtype.itemsize
        if nbytes > limit:
            raise ValueError(f"member {name!r} declares {nbytes:,} bytes, more than the {limit:,} allowed")
        data = f.read(nbytes)
        if len(data) != nbytes or f.read(1):
            raise ValueError(f"member {name!r} does not hold the {nbytes:,} bytes its shape needs")
    return np.frombuffer(bytearray(data), dtype=dtype).reshape(got_shape)
