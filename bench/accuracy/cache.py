"""On-disk cache of per-image predictions, so that an interrupted run resumes where it stopped.

A cache directory holds one folder per key. The key hashes everything that can change a prediction:
checkpoint sha256, pipeline configuration, device type, torch version and the source of ``reference/``.
Each folder has ``key.json`` (what was hashed, for people) and append-only JSON-lines shards, one per
writer process, with one line per image: ``{"image_id": ..., "people": [{keypoints, score}, ...]}``.
JSON keeps float64 values exactly, so resumed results are bit-identical to an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import reference
from bench import atomic
from bench.errors import BenchError


def reference_code_version() -> str:
    """sha256 over the source files of the ``reference`` package (what turns an image into poses)."""
    digest = hashlib.sha256()
    for path in sorted(Path(reference.__file__).parent.rglob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


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

    def load(self) -> dict[int, list[dict]]:
        """All cached images of every shard; a torn last line (killed mid-write) is cut off and ignored."""
        cached: dict[int, list[dict]] = {}
        for shard in sorted(self.directory.glob("predictions-*.jsonl")):
            lines = _complete_lines(shard, truncate=shard == self.shard_path)
            for line_number, line in enumerate(lines, start=1):
                try:
                    record = json.loads(line)
                    cached[int(record["image_id"])] = record["people"]
                except (ValueError, KeyError, TypeError) as error:
                    raise BenchError(
                        f"{shard}:{line_number}: corrupt prediction cache entry ({error}); "
                        f"delete {self.directory} to start this run afresh"
                    ) from error
        return cached

    def append(self, entries: Iterable[tuple[int, list[dict]]]) -> None:
        """Append finished images and fsync, so a kill afterwards loses none of them."""
        lines = "".join(
            json.dumps({"image_id": int(image_id), "people": people}) + "\n" for image_id, people in entries
        )
        if not lines:
            return
        with open(self.shard_path, "a", encoding="utf-8") as handle:
            handle.write(lines)
            handle.flush()
            os.fsync(handle.fileno())


def _complete_lines(path: Path, truncate: bool) -> list[str]:
    """Lines of ``path`` up to its last newline. With ``truncate`` (only for this process's own shard:
    another writer may be mid-append to its own) a partial trailing line is cut off in place."""
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if truncate and end != len(data):
        with open(path, "r+b") as handle:
            handle.truncate(end)
    return [line for line in data[:end].decode("utf-8").splitlines() if line.strip()]
