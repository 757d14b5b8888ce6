"""Git revisions of the repository being measured: full commit shas, and the first-parent commits
between two of them (what ``bisect`` searches). Every failure is a BenchError naming the revision and
what git said, raised before any measurement."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bench.errors import BenchError


def git(repo: Path, *arguments: str) -> str:
    """The stripped stdout of ``git -C repo ARGUMENTS``; BenchError with git's message when it fails."""
    try:
        finished = subprocess.run(["git", "-C", str(repo), *arguments], capture_output=True, text=True,
                                  check=False)
    except FileNotFoundError:
        raise BenchError("git is not installed (ab and bisect check out commits with it)") from None
    if finished.returncode:
        raise BenchError(f"git {' '.join(arguments)} failed in {repo}: "
                         f"{finished.stderr.strip() or f'exit status {finished.returncode}'}")
    return finished.stdout.strip()


def repository_root(folder: Path) -> Path:
    """The top folder of the git repository that holds ``folder``; BenchError when none does."""
    if not Path(folder).is_dir():
        raise BenchError(f"{folder} is not a folder: ab and bisect run from the repository's root")
    try:
        return Path(git(Path(folder), "rev-parse", "--show-toplevel"))
    except BenchError:
        raise BenchError(f"{folder} is not in a git repository: ab and bisect compare commits of this "
                         "repository, run them from its root") from None


def resolve(repo: Path, ref: str) -> str:
    """The full sha of the commit ``ref`` names (a branch, tag, sha or expression such as HEAD~3)."""
    if not ref or ref.startswith("-"):
        raise BenchError(f"{ref!r} is not a git revision")
    try:
        return git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    except BenchError:
        raise BenchError(f"unknown revision {ref!r}: no commit of {repo} has that name") from None


def first_parent_commits(repo: Path, good: str, bad: str) -> list[str]:
    """The first-parent commits after ``good`` up to ``bad`` (included), oldest first; BenchError
    unless ``good`` is a strict ancestor of ``bad``."""
    if good == bad:
        raise BenchError(f"--good and --bad are the same commit {good[:12]}: there is nothing to search")
    try:
        git(repo, "merge-base", "--is-ancestor", good, bad)
    except BenchError:
        raise BenchError(f"--good {good[:12]} is not an ancestor of --bad {bad[:12]}: bisect searches the "
                         "commits from good to bad") from None
    commits = git(repo, "rev-list", "--first-parent", "--reverse", bad, f"^{good}").split()
    if not commits or commits[-1] != bad:
        raise BenchError(f"--bad {bad[:12]} has no first-parent commits after --good {good[:12]}")
    return commits


def subject(repo: Path, sha: str) -> str:
    """The first line of commit ``sha``'s message."""
    return git(repo, "log", "-1", "--format=%s", sha)
