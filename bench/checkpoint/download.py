"""Download a checkpoint into the cache: resumable, verified, renamed into place only when complete.

The file goes to ``<cache>/<name>.part`` first. A later call resumes it with an HTTP Range request
(restarting from zero when the server ignores Range), checks its sha256 against the hash prefix in the
file name and the pinned registry digest, and only then renames it to ``<cache>/<name>``. A cached
file is verified again before each use; one that fails is deleted and downloaded again, with a warning
(it is truncated, corrupted or another file, and useless either way).
"""

from __future__ import annotations

import os
import re
import warnings
from http.client import HTTPException, HTTPResponse
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

from tqdm import tqdm

from bench.checkpoint.hashing import check_full_sha256, hash_problem, sha256_of
from bench.checkpoint.registry import file_name_of, registry_entry
from bench.errors import BenchError

CHUNK_BYTES = 1 << 20
TIMEOUT_S = 60.0
CONTENT_RANGE = re.compile(r"bytes\s+(?:(?P<start>\d+)-\d+|\*)/(?P<total>\d+|\*)")


class RangeNotSatisfiable(Exception):
    """HTTP 416 to a resume request; ``total`` is the file size if the server said it."""

    def __init__(self, total: int | None) -> None:
        super().__init__(total)
        self.total = total


def default_cache_dir() -> Path:
    """Torch hub's checkpoint folder (``$TORCH_HOME/hub/checkpoints``), shared with torchvision & co."""
    import torch  # only for the folder's name: finding and verifying a file needs no torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def fetch(url: str, cache_dir: str | os.PathLike | None = None, progress: bool = True,
          sha256: str | None = None, timeout: float = TIMEOUT_S) -> Path:
    """Path of the verified checkpoint at ``url`` in the cache, downloading it if needed.

    ``sha256``: full digest to require; by default the one pinned in ``bench/published.toml`` for
    this file name (if any). The hash prefix in the file name is always checked.
    """
    return fetch_verified(url, cache_dir, progress, sha256, timeout)[0]


def fetch_verified(url: str, cache_dir: str | os.PathLike | None = None, progress: bool = True,
                   sha256: str | None = None, timeout: float = TIMEOUT_S) -> tuple[Path, str]:
    """Like :func:`fetch`, and also return the file's sha256 (so callers need not hash it again)."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise BenchError(f"cannot download {url!r}: only http:// and https:// URLs are supported")
    name = file_name_of(url)
    pinned = expected_sha256(name, sha256)
    target = Path(cache_dir if cache_dir is not None else default_cache_dir()).expanduser() / name
    if target.is_file():
        digest = sha256_of(target)
        problem = hash_problem(name, digest, pinned)
        if problem is None:
            return target, digest
        warnings.warn(f"cached checkpoint {target} failed verification ({problem}); "
                      "deleting it and downloading it again", stacklevel=2)
        target.unlink()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BenchError(f"cannot create the checkpoint cache folder {target.parent}: {error}. "
                         "Pass a writable folder (--checkpoint-cache-dir for reproduce, --cache-dir for "
                         "fetch)") from error
    part = target.with_name(name + ".part")
    download(url, part, target, progress, timeout)
    digest = sha256_of(part)
    problem = hash_problem(name, digest, pinned)
    if problem is not None:
        part.unlink()
        raise BenchError(f"the download of {url} failed verification: {problem}. The downloaded file "
                         "was deleted; if the server's file changed, check the URL and the pinned sha256")
    os.replace(part, target)
    return target, digest


def expected_sha256(file_name: str, sha256: str | None) -> str | None:
    """The full digest to require: the caller's, else the registry's pin for this file name."""
    if sha256 is not None:
        return check_full_sha256(sha256.lower(), "sha256")
    entry = registry_entry(file_name)
    return entry.sha256 if entry else None


def download(url: str, part: Path, target: Path, progress: bool, timeout: float) -> None:
    """Bring ``part`` to the complete file, resuming from its current size when possible."""
    opened = open_remaining(url, part, target, timeout)
    if opened is None:
        return
    response, offset = opened
    with response:
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else None
        with part.open("ab" if offset else "wb") as handle, tqdm(
            total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024, desc=part.stem,
            disable=not progress,
        ) as bar:
            try:
                while chunk := response.read(CHUNK_BYTES):
                    handle.write(chunk)
                    bar.update(len(chunk))
            except (OSError, HTTPException) as error:
                raise interrupted(url, part, handle.tell(), total, error) from error
            handle.flush()
            os.fsync(handle.fileno())
            received = handle.tell()
    if total is not None and received < total:
        raise interrupted(url, part, received, total, "the server closed the connection")


def open_remaining(url: str, part: Path, target: Path, timeout: float) -> tuple[HTTPResponse, int] | None:
    """A response with the bytes ``part`` still lacks and the offset they start at; None if it has all.

    Restarts from byte 0 when the server ignores the Range request (200), answers another range, or
    answers 416 without saying that ``part`` already has the whole file.
    """
    offset = part.stat().st_size if part.is_file() else 0
    try:
        response = open_url(url, offset, target, timeout)
    except RangeNotSatisfiable as error:
        if error.total == offset:
            return None
        return open_url(url, 0, target, timeout), 0
    if response.status != 206:
        return response, 0
    if range_start(response) == offset:
        return response, offset
    response.close()
    return open_url(url, 0, target, timeout), 0


def open_url(url: str, offset: int, target: Path, timeout: float) -> HTTPResponse:
    """GET ``url`` (from byte ``offset`` when > 0); network and HTTP failures become BenchErrors."""
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        return urlopen(Request(url, headers=headers), timeout=timeout)
    except HTTPError as error:
        if error.code == 416 and offset:
            match = CONTENT_RANGE.fullmatch(error.headers.get("Content-Range", "").strip())
            total = int(match["total"]) if match and match["total"].isdigit() else None
            raise RangeNotSatisfiable(total) from error
        raise BenchError(unreachable(url, f"HTTP {error.code} {error.reason}", target)) from error
    except (OSError, HTTPException) as error:
        raise BenchError(unreachable(url, getattr(error, "reason", error), target)) from error


def range_start(response: HTTPResponse) -> int | None:
    """The byte offset a 206 response starts at (its Content-Range start), None if it does not say."""
    match = CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
    return int(match["start"]) if match and match["start"] else None


def unreachable(url: str, reason: object, target: Path) -> str:
    """The message for a failed request: what went wrong and how to provide the file by hand."""
    return (f"could not download {url}: {reason}. Download it elsewhere and pass the local path with "
            f"--checkpoint PATH, or place it at {target}")


def interrupted(url: str, part: Path, received: int, total: int | None, reason: object) -> BenchError:
    """The error for a transfer cut short; the ``.part`` file stays for the next call to resume."""
    of_total = f" of {total}" if total is not None else ""
    return BenchError(f"the download of {url} stopped after {received}{of_total} bytes ({reason}); "
                      f"the partial file {part} is kept: run the same command again to resume")
