"""What a REF names and how it becomes a side: one code path for both kinds.

A REF is a commit of the repository (any git revision) or an environment, ``env:PATH`` naming a pip
requirements or constraints file (``bench.moved.environments``). Either way a side is a ``Setup``, a
source tree and an interpreter: a commit runs its own files with the current interpreter; an
environment runs the files of the current HEAD commit with its environment's interpreter. Both are
resolved (``resolve_ref``) before any work, so a bad REF is exit status 2; the tree is extracted and
the environment built (``prepare_side``) when the comparison starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.moved.checkouts import source_tree
from bench.moved.environments import (
    EnvironmentFile,
    environment_python,
    pinned_versions,
    read_environment_file,
)
from bench.moved.revisions import resolve
from bench.moved.runner import Setup

ENVIRONMENT_PREFIX = "env:"
COMMIT, ENVIRONMENT = "commit", "environment"
UNSAFE_IN_NAMES = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Ref:
    """A REF resolved: as it was named (``text``), the commit whose files it runs (full sha) and, for an
    environment, the file that makes it."""

    text: str
    commit: str
    environment: EnvironmentFile | None = None

    @property
    def kind(self) -> str:
        return COMMIT if self.environment is None else ENVIRONMENT

    @property
    def short(self) -> str:
        """How the output names it: a commit by its first 12 hex digits, an environment as named."""
        return self.commit[:12] if self.environment is None else self.text

    @property
    def label(self) -> str:
        """A name for its folders: the short sha, or ``env-`` and the file's stem."""
        if self.environment is None:
            return self.commit[:12]
        return "env-" + UNSAFE_IN_NAMES.sub("-", self.environment.path.stem)

    @property
    def key(self) -> str:
        """What its predictions are cached by: the commit, and the environment's key."""
        return self.commit if self.environment is None else f"{self.commit}-env-{self.environment.key}"


def resolve_ref(repo: Path, text: str) -> Ref:
    """``text`` as a Ref: ``env:PATH`` an environment on the HEAD commit, anything else a git revision;
    BenchError for an unknown revision or an unreadable environment file."""
    if text.startswith(ENVIRONMENT_PREFIX):
        return Ref(text, resolve(repo, "HEAD"), read_environment_file(Path(text[len(ENVIRONMENT_PREFIX):])))
    return Ref(text, resolve(repo, text))


@dataclass(frozen=True)
class Side:
    """One side of a comparison: its name ("base" or "head"), its REF, what it runs and, for an
    environment, the version of each distribution its file names as its interpreter finds it."""

    name: str
    ref: Ref
    setup: Setup
    packages: dict[str, str | None] = field(default_factory=dict)

    def describe(self) -> str:
        """One line: the REF, its kind, its commit and, for an environment, the file and versions."""
        line = f"{self.name}: {self.ref.text} ({self.ref.kind}"
        if self.ref.environment is None:
            return f"{line} {self.ref.commit})"
        versions = ", ".join(f"{name} {version or 'not installed'}"
                             for name, version in self.packages.items())
        return (f"{line} on commit {self.ref.commit}, file sha256 {self.ref.environment.sha256}, "
                f"interpreter {self.setup.python}): {versions or 'names no package'}")

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {"ref": self.ref.text, "kind": self.ref.kind, "commit": self.ref.commit,
                                  "python": str(self.setup.python)}
        if self.ref.environment is not None:
            record["environment"] = {"file": str(self.ref.environment.path),
                                     "sha256": self.ref.environment.sha256, "key": self.ref.environment.key,
                                     "packages": self.packages}
        return record


def prepare_side(name: str, ref: Ref, repo: Path, cache: Path) -> Side:
    """The side ``name`` of ``ref``: its commit's tree extracted and, for an environment, the
    environment built (SideFailed when pip fails) and its versions read and checked."""
    tree = source_tree(repo, ref.commit, cache)
    if ref.environment is None:
        return Side(name, ref, Setup(tree))
    python = environment_python(ref.environment, cache)
    return Side(name, ref, Setup(tree, python), pinned_versions(ref.environment, python))
