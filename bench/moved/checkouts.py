"""A commit's files as a folder of their own: extracted once with ``git archive`` into the cache,
under the commit's full sha, and reused by every later ``ab`` or ``bisect`` that names it.

``git archive`` registers nothing in the repository (``git worktree add`` would add an entry under
``.git/worktrees`` for every cached commit) and leaves its checkout, index and refs alone: other work
in the same clone goes on undisturbed. A tree is extracted into a temporary folder beside its final
place and renamed there whole (``built_once``, which the environments use too), so a reader never sees
half a tree and two concurrent runs do not collide (the second keeps the first one's tree).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.errors import BenchError

TREES = "trees"
"""The cache's subfolder of extracted commits, one folder per full sha."""


def source_tree(repo: Path, sha: str, cache: Path) -> Path:
    """The folder holding commit ``sha``'s tracked files (``cache/trees/SHA``), extracted if absent."""
    return built_once(Path(cache) / TREES / sha, lambda staging: _extract(repo, sha, staging))


def built_once(final: Path, build: Callable[[Path], None]) -> Path:
    """``final``, made by ``build(staging)`` into an empty temporary folder beside it and renamed into
    place whole, unless it exists; a failed build leaves nothing behind."""
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name[:16]}-"))
    try:
        build(staging)
        try:
            os.rename(staging, final)
        except OSError:
            if not final.is_dir():  # not a concurrent run's finished folder: a real failure
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def _extract(repo: Path, sha: str, folder: Path) -> None:
    """Stream ``git archive SHA`` into ``folder`` (tar's "data" filter: no links out, no devices)."""
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(["git", "-C", str(repo), "archive", "--format=tar", sha],
                                   stdout=subprocess.PIPE, stderr=errors)
        problem = None
        try:
            with tarfile.open(fileobj=process.stdout, mode="r|") as archive:
                archive.extractall(folder, filter="data")
        except tarfile.TarError as error:
            problem = str(error)
        finally:
            process.stdout.close()
            process.wait()
        errors.seek(0)
        message = errors.read().decode(errors="replace").strip()
    if process.returncode and message:
        raise BenchError(f"git archive {sha[:12]} failed: {message}")
    if problem or process.returncode:
        why = problem or f"git exit status {process.returncode}"
        raise BenchError(f"cannot extract commit {sha[:12]}: {why}")
