"""Atomic file writes (a reader sees the old file or the whole new one, never a partial write), and
checking before any work that an output folder or file can be written."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.errors import BenchError


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then rename it over ``path``."""
    path = Path(path)
    with _complete_temporary(path, data) as tmp:
        os.replace(tmp, path)
    return path


def write_new(folder: str | os.PathLike, stem: str, suffix: str, data: bytes, attempts: int = 999) -> Path:
    """Write ``data`` as the first free name of ``folder/stem{suffix}``, ``stem-2{suffix}``, ... and
    return its path. The name is claimed by hard-linking a complete temporary file, which fails when
    the name exists: two writers never share a name, and no empty or partial file ever appears
    under it (not even when the disk fills up)."""
    folder = Path(folder)
    with _complete_temporary(folder / f"{stem}{suffix}", data) as tmp:
        for attempt in range(1, attempts + 1):
            path = folder / (f"{stem}{suffix}" if attempt == 1 else f"{stem}-{attempt}{suffix}")
            try:
                os.link(tmp, path)
            except FileExistsError:
                continue
            return path
    raise BenchError(f"{folder}: {attempts} files named {stem}*{suffix} already exist")


@contextmanager
def _complete_temporary(path: Path, data: bytes) -> Iterator[str]:
    """A temporary file beside ``path`` holding ``data``, written and synced; removed afterwards
    unless the block renamed it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give what open() would
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        yield tmp
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> Path:
    return write_bytes(path, json_bytes(obj, indent))


def json_bytes(obj: Any, indent: int | None = 2) -> bytes:
    """``obj`` as the JSON text files hold (UTF-8, keys in insertion order, a final newline)."""
    return (json.dumps(obj, indent=indent, sort_keys=False) + "\n").encode("utf-8")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


MAX_NAME_BYTES = 240
"""Longest name of a file the bench writes, in bytes: file systems take 255, and an atomic write first
writes a temporary file named ``.<name>.<8 random characters>.tmp``, 14 bytes longer (a download's
``.part.json`` companion, 10)."""

MIN_FREE_BYTES = 64 * 1024**2
"""Free space an output folder must have before a run starts (creating an empty file succeeds on a full
disk, so writability alone does not show it): a report is tens of KB, a row's results JSON a few MB
on the sample and up to a few hundred MB on the full test set."""


def check_writable_folder(path: str | os.PathLike, flag: str) -> Path:
    """Create the folder ``path`` if needed, prove it writable with a temporary file and check that its
    disk has :data:`MIN_FREE_BYTES` free, so that a run fails before any work rather than after it.
    BenchError (naming ``flag``) when it is a file, cannot be created or written, or lacks the space."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise BenchError(f"{flag} {path} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
        free = shutil.disk_usage(path).free
    except OSError as error:
        raise BenchError(f"{flag} {path} cannot be created or written: {error.strerror or error}") from None
    if free < MIN_FREE_BYTES:
        raise BenchError(f"{flag} {path} is on a disk with {free:,} bytes free, less than the "
                         f"{MIN_FREE_BYTES:,} a run needs to write its files; free some space first")
    return path


def check_writable_file(path: str | os.PathLike, flag: str) -> Path:
    """Like ``check_writable_folder`` for the folder of the file ``path``; ``path`` must not be a folder."""
    path = Path(path)
    if path.is_dir():
        raise BenchError(f"{flag} {path} is a folder, not a file")
    check_writable_folder(path.parent, f"the folder of {flag}")
    return path
