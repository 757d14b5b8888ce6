"""Step: the project's gpu-marked tests (`pytest -m gpu`) in a child process, summary captured."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from bench.devicecheck.outcome import StepOutcome
from bench.devicecheck.processes import run_bounded, tail

SUMMARY_LINE = re.compile(r"^=*\s*(\d+ (passed|failed|skipped|deselected|error|errors|xfailed|xpassed)\b.*?)"
                          r"\s*=*$")


def run_gpu_tests(tests_dir: Path, timeout_s: float) -> StepOutcome:
    """Passed when pytest exits 0 and at least one gpu test passed; skipped (not passed) when it exits 0
    having passed none (every gpu test skipped itself); ``detail`` is pytest's summary line (e.g.
    "4 passed, 566 deselected in 9.1s")."""
    command = [sys.executable, "-m", "pytest", "-m", "gpu", str(tests_dir), "-q", "-p", "no:cacheprovider"]
    finished = run_bounded(command, timeout_s)
    summary = pytest_summary(finished.stdout)
    data = {"command": command, "exit_code": finished.returncode, "summary": summary}
    if finished.returncode == 0 and not summary_count(summary, "passed"):
        return StepOutcome("gpu tests", True, f"skipped: no gpu test passed or failed ({summary})",
                           data=data, skipped=True)
    passed = finished.returncode == 0
    output = finished.stdout + finished.stderr
    error = None if passed else f"pytest exit status {finished.returncode}: {tail(output)}"
    return StepOutcome("gpu tests", passed, summary or "no pytest summary line", error, data=data)


def pytest_summary(output: str) -> str | None:
    """pytest's final counts line ("3 passed, 1 skipped, 566 deselected in 6.32s"), or None."""
    found = [match.group(1) for line in output.splitlines() if (match := SUMMARY_LINE.match(line.strip()))]
    return found[-1] if found else None


def summary_count(summary: str | None, outcome: str) -> int:
    """How many tests pytest's summary line counts as ``outcome`` ("passed", "skipped", ...)."""
    match = re.search(rf"(\d+) {outcome}\b", summary or "")
    return int(match.group(1)) if match else 0
