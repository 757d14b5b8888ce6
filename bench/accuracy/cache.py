"""On-disk cache of per-image predictions, so that an interrupted run resumes where it stopped.

A cache directory holds one folder per key. The key hashes everything that can change a prediction:
checkpoint sha256, pipeline configuration, device type, torch version and the source of ``reference/``.
Each folder has ``key.json`` (what was hashed, for people) and append-only JSON-lines shards, one per
writer rank, with one line per image: ``{"image_id", "image_sha256", "people": [{keypoints, score},
...], "key", "check"}``. A line counts only when its own checksum (``check``) holds, it names this
folder's key (a line copied from another cache does not) and the image file still has the content
digest it was predicted from, so a replaced image is predicted again and a damaged
line costs only its image. Appends and repairs hold an exclusive lock on the shard, so two runs
sharing a cache folder never interleave lines. JSON keeps float64 values exactly, so resumed results
are bit-identical to an uninterrupted run.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import warnings
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import reference
from bench import atomic
from bench.errors import BenchError
from bench.reading import read_bytes, sha256_of
from bench.sources import source_digest


def reference_code_version() -> str:
    """sha256 over the source files of the ``reference`` package (what turns an image into poses)."""
    return source_digest(Path(reference.__file__).parent)


def cache_key(fields: Mapping[str, Any]) -> str:
    """A short stable hash of JSON-serialisable ``fields``."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]


class PredictionCache:
    """Per-image predictions under ``root/<key>/``; this process appends to its own shard file."""

    def __init__(self, root: str | os.PathLike, fields: Mapping[str, Any], shard_name: str = "rank0"):
        self.fields = dict(fields)
        self.key = cache_key(self.fields)
        self.directory = Path(root) / self.key
        self.directory.mkdir(parents=True, exist_ok=True)
        manifest = self.directory / "key.json"
        if not manifest.exists():
            atomic.write_json(manifest, self.fields)
        self.shard_path = self.directory / f"predictions-{shard_name}.jsonl"

    def load(self, digests: Mapping[int, str]) -> dict[int, list[dict]]:
        """Cached images of every shard whose content digest is still ``digests[image_id]``. A torn last
        line (killed mid-write) is cut off; a line failing its checksum is dropped with a warning."""
        cached: dict[int, list[dict]] = {}
        damaged = []
        for shard in sorted(self.directory.glob("predictions-*.jsonl")):
            with _locked(shard):
                lines = _complete_lines(shard, truncate=shard == self.shard_path)
            for line_number, line in enumerate(lines, start=1):
                record = _checked_record(line)
                if record is None or record["key"] != self.key:
                    damaged.append(f"{shard.name}:{line_number}")
                elif digests.get(record["image_id"]) == record["image_sha256"]:
                    cached[record["image_id"]] = record["people"]
        if damaged:
            warnings.warn(f"{self.directory}: {len(damaged)} damaged prediction cache line(s) dropped "
                          f"({', '.join(damaged[:5])}); those images are predicted again", stacklevel=2)
        return cached

    def append(self, entries: Iterable[tuple[int, str, list[dict]]]) -> None:
        """Append finished (image_id, image_sha256, people) and fsync, so a kill afterwards loses none."""
        lines = "".join(_line(self.key, int(image_id), digest, people)
                        for image_id, digest, people in entries)
        if not lines:
            return
        with _locked(self.shard_path), open(self.shard_path, "a", encoding="utf-8") as handle:
            handle.write(lines)
            handle.flush()
            os.fsync(handle.fileno())


def check_writable(root: Path, flag: str) -> None:
    """Prove, before any work, that the cache under ``root`` can be written: the folder, and each cache
    folder and shard already in it, which a run may resume from (it locks every shard it reads by opening
    it for appending, and writes its results file into its folder). Otherwise a run whose every image is
    cached would fail only at the end. BenchError naming ``flag`` and the path."""
    atomic.check_writable_folder(root, flag)
    for folder in sorted(manifest.parent for manifest in root.glob("*/key.json")):
        atomic.check_writable_folder(folder, flag)
        for shard in sorted(folder.glob("predictions-*.jsonl")):
            try:
                with open(shard, "a", encoding="utf-8"):
                    pass
            except OSError as error:
                raise BenchError(f"{flag}: the prediction cache shard {shard} cannot be written: "
                                 f"{error.strerror or error}") from None


def image_digests(paths: Mapping[int, Path]) -> dict[int, str]:
    """sha256 of each image file's bytes, by image id (read in a few threads; unreadable files are
    left out, and their decoding names them later)."""
    def digest(path: Path) -> str | None:
        try:
            return sha256_of(path, "image")
        except BenchError:
            return None

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        found = dict(zip(paths, pool.map(digest, paths.values()), strict=True))
    return {image_id: value for image_id, value in found.items() if value is not None}


def _line(key: str, image_id: int, digest: str, people: list[dict]) -> str:
    body = {"image_id": image_id, "image_sha256": digest, "people": people, "key": key}
    return json.dumps({**body, "check": _checksum(body)}) + "\n"


def _checksum(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def _checked_record(line: str) -> dict | None:
    """The record of a cache line, or None when it is not valid JSON or fails its checksum."""
    try:
        record = json.loads(line)
        body = {name: record[name] for name in ("image_id", "image_sha256", "people", "key")}
        return body if record["check"] == _checksum(body) and isinstance(body["image_id"], int) else None
    except (ValueError, KeyError, TypeError):
        return None


@contextmanager
def _locked(path: Path):
    """An exclusive advisory lock on ``path`` (created if missing) while the block runs."""
    with open(path, "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _complete_lines(path: Path, truncate: bool) -> list[str]:
    """Lines of ``path`` up to its last newline. With ``truncate`` (only for this process's own shard:
    another writer may be mid-append to its own) a partial trailing line is cut off in place."""
    data = read_bytes(path, "prediction cache shard")
    end = data.rfind(b"\n") + 1
    if truncate and end != len(data):
        with open(path, "r+b") as handle:
            handle.truncate(end)
    return [line for line in data[:end].decode("utf-8").splitlines() if line.strip()]
