"""Download a checkpoint into the cache: resumable, verified, renamed into place only when complete.

Cache layout (``<cache>``: ``--cache-dir``, default torch hub's checkpoints folder):

- ``<cache>/<name>``: a registry checkpoint fetched from its registry URL (where torch hub puts it and
  where a file placed by hand is found);
- ``<cache>/by-url/<key>/<name>``: any other URL, ``<key>`` being the first 16 hex digits of the
  sha256 of the normalized URL, so that two URLs ending in the same file name never share a file.

The file goes to ``<name>.part`` beside its final place first, with ``<name>.part.json`` recording the
URL and the server's validators (ETag, Last-Modified). A later call resumes the ``.part`` with an HTTP
Range request only when the record names the same URL and the server still reports the same
validators; otherwise it restarts from zero (also when the server ignores Range). An empty body, or
one shorter than its Content-Length or Content-Range, is a failure. The whole download has a deadline,
checked between reads. The complete file's sha256 is checked against the hash prefix in its name and
the pinned digest, and only then is it renamed into place. A cached file is verified again before each
use; one that fails is deleted and downloaded again, with a warning.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from http.client import HTTPException, HTTPResponse
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import urlsplit, urlunsplit
from urllib.request import Request, urlopen

from tqdm import tqdm

from bench.atomic import write_json
from bench.checkpoint.hashing import check_full_sha256, hash_problem, sha256_of
from bench.checkpoint.registry import file_name_of, registry_entry
from bench.errors import BenchError
from bench.reading import read_json

CHUNK_BYTES = 1 << 20
TIMEOUT_S = 60.0
"""Longest wait for one network operation (connecting, one read)."""
DEADLINE_S = 1800.0
"""Longest time a whole download may take (``fetch --deadline``); ~100 MB at 60 KB/s."""
URL_KEY_DIGITS = 16
MAX_RECORD_BYTES = 1 << 16
CONTENT_RANGE = re.compile(r"bytes\s+(?:(?P<start>[0-9]+)-(?P<end>[0-9]+)|\*)/(?P<total>[0-9]+|\*)")
DECIMAL = re.compile(r"[0-9]+")
VALIDATOR_HEADERS = {"etag": "ETag", "last_modified": "Last-Modified"}
"""The record's keys for the response headers that tell one version of the file from another."""


class RangeNotSatisfiable(Exception):
    """HTTP 416 to a resume request; ``total`` is the file size if the server said it, ``validator``
    the response's :func:`validator_of`."""

    def __init__(self, total: int | None, validator: dict[str, str | None]) -> None:
        super().__init__(total)
        self.total = total
        self.validator = validator


@dataclass(frozen=True)
class Transfer:
    """One download of ``url`` to ``target``: each network operation waits at most ``timeout`` s, and
    the whole download must end by ``expires`` (a ``time.monotonic()`` value, ``deadline`` s after it
    started)."""

    url: str
    target: Path
    timeout: float
    deadline: float
    expires: float

    @property
    def part(self) -> Path:
        return self.target.with_name(self.target.name + ".part")

    @property
    def record(self) -> Path:
        """The ``.part`` file's record: the URL and validators it was started with."""
        return self.target.with_name(self.target.name + ".part.json")

    def seconds_left(self) -> float:
        return self.expires - time.monotonic()


def default_cache_dir() -> Path:
    """Torch hub's checkpoint folder (``$TORCH_HOME/hub/checkpoints``), shared with torchvision & co."""
    import torch  # only for the folder's name: finding and verifying a file needs no torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def fetch(url: str, cache_dir: str | os.PathLike | None = None, progress: bool = True,
          sha256: str | None = None, timeout: float = TIMEOUT_S, deadline: float = DEADLINE_S) -> Path:
    """Path of the verified checkpoint at ``url`` in the cache, downloading it if needed.

    ``sha256``: full digest to require; by default the one pinned in ``bench/published.toml`` for
    this file name (if any). The hash prefix in the file name is always checked. ``deadline``: seconds
    the download may take in all; the partial file is kept for the next call when it runs out.
    """
    return fetch_verified(url, cache_dir, progress, sha256, timeout, deadline)[0]


def fetch_verified(url: str, cache_dir: str | os.PathLike | None = None, progress: bool = True,
                   sha256: str | None = None, timeout: float = TIMEOUT_S,
                   deadline: float = DEADLINE_S) -> tuple[Path, str]:
    """Like :func:`fetch`, and also return the file's sha256 (so callers need not hash it again)."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise BenchError(f"cannot download {url!r}: only http:// and https:// URLs are supported")
    target = cache_path(url, cache_dir)
    name = target.name
    pinned = expected_sha256(name, sha256)
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
    transfer = Transfer(url, target, timeout, deadline, time.monotonic() + deadline)
    download(transfer, progress)
    digest = sha256_of(transfer.part)
    problem = hash_problem(name, digest, pinned)
    if problem is not None:
        discard(transfer)
        raise BenchError(f"the download of {url} failed verification: {problem}. The downloaded file "
                         "was deleted; if the server's file changed, check the URL and the pinned sha256")
    os.replace(transfer.part, target)
    transfer.record.unlink(missing_ok=True)
    return target, digest


def cache_path(url: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the file at ``url`` is cached (see the module's docstring): ``<cache>/<name>`` for a
    registry checkpoint's own URL, else ``<cache>/by-url/<key>/<name>``."""
    name = file_name_of(url)
    root = Path(cache_dir if cache_dir is not None else default_cache_dir()).expanduser()
    entry = registry_entry(name)
    if entry is not None and normalized_url(entry.url) == normalized_url(url):
        return root / name
    key = hashlib.sha256(normalized_url(url).encode()).hexdigest()[:URL_KEY_DIGITS]
    return root / "by-url" / key / name


def normalized_url(url: str) -> str:
    """``url`` as the cache tells URLs apart: scheme and host in lower case (they are case-insensitive),
    no fragment (it is never sent to the server)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, parts.query, ""))


def expected_sha256(file_name: str, sha256: str | None) -> str | None:
    """The full digest to require: the caller's, else the registry's pin for this file name."""
    if sha256 is not None:
        return check_full_sha256(sha256.lower(), "sha256")
    entry = registry_entry(file_name)
    return entry.sha256 if entry else None


def discard(transfer: Transfer) -> None:
    """Delete the ``.part`` file and its record (they hold nothing worth resuming)."""
    transfer.part.unlink(missing_ok=True)
    transfer.record.unlink(missing_ok=True)


def download(transfer: Transfer, progress: bool) -> None:
    """Bring the ``.part`` file to the complete file, resuming it when it belongs to this URL's current
    version; BenchError on an empty or short body, or when the deadline passes (``.part`` kept)."""
    opened = open_remaining(transfer)
    if opened is None:
        return
    response, offset = opened
    with response:
        expected = expected_size(response, offset)
        if not offset:
            write_record(transfer, response.headers)
        with transfer.part.open("ab" if offset else "wb") as handle, tqdm(
            total=expected, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
            desc=transfer.target.name, disable=not progress,
        ) as bar:
            try:
                while chunk := response.read1(CHUNK_BYTES):
                    handle.write(chunk)
                    bar.update(len(chunk))
                    if transfer.seconds_left() <= 0:
                        raise expired(transfer)
            except (OSError, HTTPException) as error:
                if transfer.seconds_left() <= 0:
                    raise expired(transfer) from error
                raise interrupted(transfer, handle.tell(), expected, error) from error
            handle.flush()
            os.fsync(handle.fileno())
            received = handle.tell()
    check_complete(transfer, received, expected)


def check_complete(transfer: Transfer, received: int, expected: int | None) -> None:
    """BenchError when the body fell short of what the headers announced (``.part`` kept for resuming)
    or the file is empty (``.part`` deleted: an empty file is no checkpoint, and nothing to resume)."""
    if expected is not None and received < expected:
        raise interrupted(transfer, received, expected, "the server ended the response early")
    if received == 0:
        discard(transfer)
        raise BenchError(f"the server sent an empty file for {transfer.url}: that is no checkpoint, and "
                         "nothing was kept; check the URL")


def expected_size(response: HTTPResponse, offset: int) -> int | None:
    """The size the file must reach once ``response``'s body (written from ``offset``) is complete: the
    largest that its Content-Length and (for a 206) its Content-Range announce; None if neither does."""
    length = response.headers.get("Content-Length", "").strip()
    sizes = [offset + int(length)] if DECIMAL.fullmatch(length) else []
    match = CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
    if response.status == 206 and match and match["end"]:
        sizes.append(int(match["total"]) if match["total"].isdigit() else int(match["end"]) + 1)
    return max(sizes, default=None)


def open_remaining(transfer: Transfer) -> tuple[HTTPResponse, int] | None:
    """A response with the bytes the ``.part`` file still lacks and the offset they start at; None if it
    has all of them.

    Restarts from byte 0 when the ``.part`` file has no record of this URL, when the server ignores the
    Range request (200), answers another range or reports other validators than those recorded, or
    answers 416 without saying that ``.part`` already has the whole file.
    """
    recorded = recorded_validator(transfer)
    offset = transfer.part.stat().st_size if recorded is not None else 0
    if not offset:
        return open_url(transfer, 0), 0
    try:
        response = open_url(transfer, offset)
    except RangeNotSatisfiable as error:
        if error.total == offset and error.validator == recorded:
            return None
        return open_url(transfer, 0), 0
    if response.status != 206:
        return response, 0
    if range_start(response) == offset and validator_of(response.headers) == recorded:
        return response, offset
    response.close()
    return open_url(transfer, 0), 0


def write_record(transfer: Transfer, headers: Mapping[str, str]) -> None:
    """Record the URL and validators of a ``.part`` file about to be started, so that only a later
    download of the same URL and version resumes it."""
    write_json(transfer.record, {"url": normalized_url(transfer.url), **validator_of(headers)})


def recorded_validator(transfer: Transfer) -> dict[str, str | None] | None:
    """The validators recorded when the ``.part`` file was started; None when it cannot be resumed: it
    is missing, or its record is missing, unreadable or names another URL."""
    if not transfer.part.is_file():
        return None
    try:
        record = read_json(transfer.record, "partial download record", MAX_RECORD_BYTES)
    except BenchError:
        return None
    if not isinstance(record, dict) or record.get("url") != normalized_url(transfer.url):
        return None
    return {key: record.get(key) for key in VALIDATOR_HEADERS}


def validator_of(headers: Mapping[str, str]) -> dict[str, str | None]:
    """The headers that identify the version of the file served (None where absent), keyed as recorded."""
    return {key: headers.get(header) for key, header in VALIDATOR_HEADERS.items()}


def open_url(transfer: Transfer, offset: int) -> HTTPResponse:
    """GET the URL (from byte ``offset`` when > 0); network and HTTP failures become BenchErrors, and so
    does the deadline: no operation waits past it by more than the timeout."""
    if transfer.seconds_left() <= 0:
        raise expired(transfer)
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        return urlopen(Request(transfer.url, headers=headers),
                       timeout=min(transfer.timeout, transfer.seconds_left()))
    except HTTPError as error:
        if error.code == 416 and offset:
            match = CONTENT_RANGE.fullmatch(error.headers.get("Content-Range", "").strip())
            total = int(match["total"]) if match and match["total"].isdigit() else None
            raise RangeNotSatisfiable(total, validator_of(error.headers)) from error
        raise BenchError(unreachable(transfer, f"HTTP {error.code} {error.reason}")) from error
    except (OSError, HTTPException) as error:
        if transfer.seconds_left() <= 0:
            raise expired(transfer) from error
        raise BenchError(unreachable(transfer, getattr(error, "reason", error))) from error


def range_start(response: HTTPResponse) -> int | None:
    """The byte offset a 206 response starts at (its Content-Range start), None if it does not say."""
    match = CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
    return int(match["start"]) if match and match["start"] else None


def unreachable(transfer: Transfer, reason: object) -> str:
    """The message for a failed request: what went wrong and how to provide the file by hand."""
    return (f"could not download {transfer.url}: {reason}. Download it elsewhere and pass the local path "
            f"with --checkpoint PATH, or place it at {transfer.target}")


def interrupted(transfer: Transfer, received: int, total: int | None, reason: object) -> BenchError:
    """The error for a transfer cut short; the ``.part`` file stays for the next call to resume."""
    of_total = f" of {total}" if total is not None else ""
    return BenchError(f"the download of {transfer.url} stopped after {received}{of_total} bytes ({reason}); "
                      f"the partial file {transfer.part} is kept: run the same command again to resume")


def expired(transfer: Transfer) -> BenchError:
    """The error for a download still running at its deadline; the ``.part`` file stays for resuming."""
    return BenchError(f"the download of {transfer.url} did not finish within its deadline of "
                      f"{transfer.deadline:g} s; the partial file {transfer.part} is kept: run the same "
                      "command again to resume it (with a larger --deadline on a slow connection)")
