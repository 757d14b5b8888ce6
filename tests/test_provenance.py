"""Every report records the git commit of the checkout that ran it (the installed case is in
test_packaging)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helpers import reproduce_record

from bench.reports.provenance import PACKAGE_ROOT, code_provenance
from bench.reports.writing import new_report

REPO = Path(__file__).parents[1]


def git(*arguments: str, cwd: Path = REPO) -> str:
    completed = subprocess.run(["git", *arguments], cwd=cwd, capture_output=True, text=True, check=True)
    return completed.stdout.strip()


@pytest.fixture(scope="module")
def checkout_commit() -> str:
    if not (REPO / ".git").exists():
        pytest.skip(f"{REPO} is not a git checkout (an sdist or a copy): no commit to compare with")
    return git("rev-parse", "HEAD")


def test_a_report_records_the_commit_of_the_checkout_that_ran_it(checkout_commit):
    assert PACKAGE_ROOT == REPO.resolve()
    report = new_report("reproduce", reproduce_record(), command=["test"])
    host = report.environment.host
    assert host.git_commit == checkout_commit
    assert host.code_source == f"git checkout at {REPO.resolve()}"
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    assert host.git_dirty is dirty


def test_a_folder_inside_a_checkout_is_not_the_checkout(tmp_path):
    """A package copied into a subfolder of a checkout (an environment inside the repo, say) does not
    take the checkout's commit: only the top of a checkout is one."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    inner = tmp_path / "venv" / "site-packages"
    inner.mkdir(parents=True)
    assert code_provenance(inner.resolve())["git_commit"] is None
    assert code_provenance(tmp_path.resolve())["code_source"] == f"git checkout at {tmp_path.resolve()}"
