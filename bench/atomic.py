"""Atomic file writes (a reader sees the old file or the whole new one, never a partial write), and
checking before any work that an output folder or file can be written."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from bench.errors import BenchError


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give what open() would
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> Path:
    return write_text(path, json.dumps(obj, indent=indent, sort_keys=False) + "\n")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_writable_folder(path: str | os.PathLike, flag: str) -> Path:
    """Create the folder ``path`` if needed and prove it writable with a temporary file, so that a run
    fails before any work rather than after it. BenchError (naming ``flag``) when it is a file, cannot
    be created or cannot be written."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise BenchError(f"{flag} {path} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise BenchError(f"{flag} {path} cannot be created or written: {error.strerror or error}") from None
    return path


def check_writable_file(path: str | os.PathLike, flag: str) -> Path:
    """Like ``check_writable_folder`` for the folder of the file ``path``; ``path`` must not be a folder."""
    path = Path(path)
    if path.is_dir():
        raise BenchError(f"{flag} {path} is a folder, not a file")
    check_writable_folder(path.parent, f"the folder of {flag}")
    return path
