"""Turn a ``--checkpoint`` value (URL or local path) into a verified file with its sha256."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bench.checkpoint.download import DEADLINE_S, fetch_verified
from bench.checkpoint.hashing import hash_problem, sha256_of
from bench.checkpoint.registry import registry_entry
from bench.errors import BenchError


@dataclass(frozen=True)
class ResolvedCheckpoint:
    """A verified checkpoint file; ``source`` is the URL it came from, or the local path given."""

    path: Path
    sha256: str
    source: str


def resolve_checkpoint(spec: str, cache_dir: str | os.PathLike | None = None, progress: bool = True,
                       deadline: float = DEADLINE_S) -> ResolvedCheckpoint:
    """Download (``http(s)://`` URL, cached) or locate (any other value: a path) a checkpoint and verify it.

    A download may take ``deadline`` seconds in all. A local file works offline; its sha256 is checked
    against the hash prefix in its name and the registry pin for its name, when those exist.
    """
    if "://" in spec:
        path, digest = fetch_verified(spec, cache_dir, progress, deadline=deadline)
        return ResolvedCheckpoint(path, digest, spec)
    path = Path(spec).expanduser()
    if not path.is_file():
        raise BenchError(f"checkpoint {spec!r} is neither an http(s) URL nor an existing file")
    digest = sha256_of(path)
    entry = registry_entry(path.name)
    problem = hash_problem(path.name, digest, entry.sha256 if entry else None)
    if problem is not None:
        raise BenchError(f"checkpoint {path} failed verification: {problem}. The file is corrupted or "
                         "not the one its name says; download it again")
    return ResolvedCheckpoint(path.resolve(), digest, str(path))
