"""Reading input files safely: regular files only, sizes bounded before allocation, structured text
parsed with its nesting bounded.

Every file the harness takes from a user (images, ground truth, results, reports, checkpoints, TOML
tables, cache shards) is opened here, so one mechanism answers for all of them:

- A FIFO, socket, device or folder would block a read forever or mean something else; the file is
  opened without blocking and refused unless it is a regular file.
- A size limit is checked on the open file (``fstat``) before a byte is read.
- JSON and TOML nested deeper than :data:`MAX_NESTING` are refused (the parsers would raise
  ``RecursionError`` or hand later code a structure it cannot walk).

Every refusal is a :class:`BenchError` naming what the file is, its path and what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from bench.errors import BenchError

MAX_NESTING = 64
"""Deepest nesting of JSON arrays/objects or TOML tables/arrays accepted (reports nest about 6 deep)."""

MAX_JSON_BYTES = 2 * 1024**3
"""Largest JSON file read (ground truth, results, reports): CrowdPose's test annotations are ~20 MB and
the results of one row on the full test set a few hundred MB."""

MAX_TOML_BYTES = 4 * 1024**2
"""Largest TOML file read (``--config``, sweeps, expected tables, ``published.toml``: a few KB each)."""

FILE_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
              (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
              (stat.S_ISBLK, "a block device"))


@contextmanager
def open_regular(path: str | os.PathLike, what: str, max_bytes: int | None = None) -> Iterator[BinaryIO]:
    """``path`` opened for binary reading, once it is known to be a regular file of at most
    ``max_bytes`` bytes. Opening does not block (a FIFO with no writer would); the check is made on
    the opened file, so a file swapped in between cannot slip past it."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise BenchError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise BenchError(f"{what} {path} is a folder, not a file") from None
    except OSError as error:
        raise BenchError(f"cannot read {what} {path}: {error.strerror or error}") from None
    try:
        info = os.fstat(fd)
        kind = next((name for test, name in FILE_KINDS if test(info.st_mode)), None)
        if kind is not None or not stat.S_ISREG(info.st_mode):
            raise BenchError(f"{what} {path} is {kind or 'not a regular file'}; only regular files are read")
        if max_bytes is not None and info.st_size > max_bytes:
            raise BenchError(f"{what} {path} has {info.st_size:,} bytes, more than the limit of "
                             f"{max_bytes:,} bytes")
        os.set_blocking(fd, True)
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with handle:
        yield handle


def read_bytes(path: str | os.PathLike, what: str, max_bytes: int | None = None) -> bytes:
    """The bytes of the regular file ``path`` (see :func:`open_regular`)."""
    with open_regular(path, what, max_bytes) as handle:
        try:
            return handle.read()
        except OSError as error:
            raise BenchError(f"cannot read {what} {path}: {error.strerror or error}") from None


def read_text(path: str | os.PathLike, what: str, max_bytes: int | None = None) -> str:
    """The UTF-8 text of the regular file ``path``."""
    data = read_bytes(path, what, max_bytes)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BenchError(f"{what} {path} is not UTF-8 text (byte {error.start})") from None


def read_json(path: str | os.PathLike, what: str, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """The parsed JSON file ``path``; BenchError naming ``what`` when it is not readable JSON of at most
    ``max_bytes`` bytes and :data:`MAX_NESTING` levels."""
    return parse_json(read_bytes(path, what, max_bytes), f"{what} {path}")


def parse_json(data: bytes | str, source: str) -> Any:
    """``data`` parsed as JSON; BenchError naming ``source`` (and line and column) when it is not JSON
    or nests deeper than :data:`MAX_NESTING`. Non-finite numbers (NaN, Infinity) are parsed as Python
    does; the readers of the values decide whether they are allowed."""
    try:
        value = json.loads(data)
    except json.JSONDecodeError as error:
        raise BenchError(f"{source} is not valid JSON: {error.msg} at line {error.lineno} "
                         f"column {error.colno} (char {error.pos})") from None
    except UnicodeDecodeError as error:
        raise BenchError(f"{source} is not UTF-8 text (byte {error.start}); expected JSON") from None
    except RecursionError:
        raise BenchError(f"{source} nests deeper than {MAX_NESTING} levels") from None
    except ValueError as error:  # e.g. an integer of more digits than Python converts
        raise BenchError(f"{source} is not usable JSON: {error}") from None
    check_nesting(value, source)
    return value


def read_toml(path: str | os.PathLike, what: str, max_bytes: int = MAX_TOML_BYTES) -> dict[str, Any]:
    """The parsed TOML file ``path``; BenchError naming ``what`` when it cannot be used."""
    text = read_text(path, what, max_bytes)
    try:
        value = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise BenchError(f"{path}: the {what} is not valid TOML: {error}") from None
    except RecursionError:
        raise BenchError(f"{path}: the {what} nests deeper than {MAX_NESTING} levels") from None
    check_nesting(value, f"{what} {path}")
    return value


def check_nesting(value: Any, source: str) -> None:
    """BenchError when ``value`` (parsed JSON or TOML) nests deeper than :data:`MAX_NESTING`; walks
    without recursion, so any depth is checked safely."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth >= MAX_NESTING:
                    raise BenchError(f"{source} nests deeper than {MAX_NESTING} levels")
                pending.append((child, depth + 1))


def sha256_of(path: str | os.PathLike, what: str = "file") -> str:
    """Hex sha256 of the regular file ``path``, read in chunks (checkpoints are ~100 MB)."""
    with open_regular(path, what) as handle:
        try:
            return hashlib.file_digest(handle, "sha256").hexdigest()
        except OSError as error:
            raise BenchError(f"cannot read {what} {path}: {error.strerror or error}") from None
