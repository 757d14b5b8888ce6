"""Which code made a report: the git commit of the checkout ``bench`` runs from, or why it is unknown.

Light on purpose (no torch, no numpy), so that it can be checked on an installed copy in a bare
interpreter. The checkout is the folder that holds the ``bench`` package; an installed copy (a wheel in
site-packages) is no checkout even when its environment lives inside one, so its commit is unknown and
the record says so.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import bench

PACKAGE_ROOT = Path(bench.__file__).resolve().parent.parent
"""The folder holding the ``bench`` package: a checkout's root, or site-packages for an installed copy."""


def code_provenance(root: Path = PACKAGE_ROOT) -> dict[str, object]:
    """``git_commit`` and ``git_dirty`` of the checkout at ``root`` (tracked files changed), and
    ``code_source``, which says where the code came from; the commit and flag are None, and the
    source says why, when ``root`` is not the top of a git checkout."""
    toplevel = _git(root, "rev-parse", "--show-toplevel")
    if toplevel is None or Path(toplevel.strip()).resolve() != root:
        return {"git_commit": None, "git_dirty": None,
                "code_source": f"installed package at {root} (not a git checkout): commit unknown"}
    commit = _git(root, "rev-parse", "HEAD")
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit.strip() if commit else None,
            "git_dirty": bool(status.strip()) if status is not None else None,
            "code_source": f"git checkout at {root}"}


def _git(root: Path, *arguments: str) -> str | None:
    """stdout of ``git -C root ARGUMENTS``, or None when git is missing, fails or hangs."""
    try:
        completed = subprocess.run(["git", "-C", str(root), *arguments], capture_output=True, text=True,
                                   timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return completed.stdout if completed.returncode == 0 else None
