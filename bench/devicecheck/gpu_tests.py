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
    """Passed when pytest exits 0 with at least one gpu test collected; ``detail`` is pytest's summary
    line (e.g. "4 passed, 566 deselected in 9.1s")."""
    command = [sys.executable, "-m", "pytest", "-m", "gpu", str(tests_dir), "-q", "-p", "no:cacheprovider"]
    finished = run_bounded(command, timeout_s)
    summary = pytest_summary(finished.stdout)
    passed = finished.returncode == 0
    output = finished.stdout + finished.stderr
    error = None if passed else f"pytest exit status {finished.returncode}: {tail(output)}"
    return StepOutcome("gpu tests", passed, summary or "no pytest summary line", error,
                       data={"command": command, "exit_code": finished.returncode, "summary": summary})


def pytest_summary(output: str) -> str | None:
    """pytest's final counts line ("3 passed, 1 skipped, 566 deselected in 6.32s"), or None."""
    found = [match.group(1) for line in output.splitlines() if (match := SUMMARY_LINE.match(line.strip()))]
    return found[-1] if found else None
