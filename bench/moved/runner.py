"""How one side of a comparison runs, as three functions a test can replace (``Runner``).

A side is a ``Setup``: a source tree and the interpreter that runs it (the current one for a commit
REF, an environment's own for an environment REF; ``bench.moved.sides``). The real runner
(``subprocess_runner``) runs each side in a subprocess, ``PYTHON -P -m bench ...``, with the side's
source tree first on ``PYTHONPATH`` (``-P`` keeps the current folder off ``sys.path``, so the checkout
of the repository being worked in cannot shadow the tree). The current folder stays the caller's, so
relative paths in the pass-through options mean what they mean there.

Each side's output goes to the folder it is given: the reports (read back with the project's report
loader, ``load_report``, so a side's numbers are the ones its report holds) and the command's output
as a log, whose last lines are the reason given when the side fails.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench import atomic
from bench.errors import BenchError
from bench.reports.compare import report_paths
from bench.reports.schema import Report, load_report

PROFILE_ROUND = ("--iters", "8", "--min-time", "0", "--schedule", "serial")
"""Each round's profile: 8 measured batches (after its warm-up), no time floor, one stage at a time
(options after ``--`` may override these). Rounds are many and short; each round's minimum is what the
statistics pair, and 8 batches give a burst of interference room to pass (the A/A and A/B runs in the
README were measured so). Serial, because under the overlapped schedule the decoding stages run beside
the next forward and their times carry its contention: on the 2-core CPU a refine stage made slower by
a sleep was still inconclusive after 16 overlapped rounds of 3 batches, and "slower" after 12 serial
ones."""

REPRODUCE_RESULTS = (0, 1)
"""Exit statuses of ``bench reproduce`` that wrote a report (1: a row failed its published numbers,
which does not make its predictions any less comparable)."""

LOG_TAIL_LINES = 12


class SideFailed(BenchError):
    """A side that cannot be run: it does not import its own ``bench``, or its command failed. ``bisect``
    skips such a commit, giving this as the reason; ``ab`` stops with it."""


@dataclass(frozen=True)
class Setup:
    """What a side runs: a source tree, and the Python interpreter that runs it (by default this one)."""

    tree: Path
    python: Path = field(default_factory=lambda: Path(sys.executable))


@dataclass(frozen=True)
class Runner:
    """How a side runs, given its setup and an empty output folder: ``check(setup)`` raises SideFailed
    when it does not build; ``profile_round(setup, out)`` returns one short profile's samples,
    {stage: [ms, ...]}; ``predictions(setup, out)`` returns the reproduce report (or results file)
    holding its predictions."""

    check: Callable[[Setup], None]
    profile_round: Callable[[Setup, Path], dict[str, list[float]]]
    predictions: Callable[[Setup, Path], Path]


def subprocess_runner(profile_options: Sequence[str] = (), reproduce_options: Sequence[str] = ()) -> Runner:
    """The real runner: ``python -m bench profile`` / ``reproduce`` of the setup, with these options."""
    return Runner(check=check_imports,
                  profile_round=functools.partial(profile_round, options=tuple(profile_options)),
                  predictions=functools.partial(reproduce_predictions, options=tuple(reproduce_options)))


def run_python(setup: Setup, arguments: Sequence[str], log: Path) -> int:
    """Run the setup's ``python -P ARGUMENTS`` with its tree first on PYTHONPATH; its output is written
    to ``log`` and its exit status returned."""
    path = [str(setup.tree), *filter(None, [os.environ.get("PYTHONPATH")])]
    finished = subprocess.run([str(setup.python), "-P", *arguments], capture_output=True, check=False,
                              env=dict(os.environ, PYTHONPATH=os.pathsep.join(path)))
    atomic.write_bytes(log, finished.stdout + finished.stderr)
    return finished.returncode


def failure(what: str, code: int, log: Path) -> SideFailed:
    """The SideFailed of a command that exited with ``code``, quoting the last lines of its ``log``."""
    lines = log.read_text(encoding="utf-8", errors="replace").replace("\r", "\n").splitlines()
    tail = "\n  ".join(line for line in lines if line.strip())
    tail = "\n  ".join(tail.splitlines()[-LOG_TAIL_LINES:])
    return SideFailed(f"{what} exited with status {code} (output in {log}):\n  {tail}")


def check_imports(setup: Setup) -> None:
    """SideFailed unless ``python -m bench`` of the setup imports, and imports its tree's own ``bench``
    (not one installed in its interpreter's environment)."""
    tree = setup.tree
    log = tree.parent / f".{tree.name}-imports.log"
    script = "import bench, bench.__main__; print(bench.__file__)"
    code = run_python(setup, ["-c", script], log)
    if code:
        raise failure(f"importing its bench with {setup.python}", code, log)
    imported = Path(log.read_text(encoding="utf-8").strip().splitlines()[-1]).resolve()
    if not imported.is_relative_to(Path(tree).resolve()):
        raise SideFailed(f"the interpreter {setup.python} imports bench from {imported}, not from {tree}: "
                         "an installed bench must not shadow PYTHONPATH")


def reports_in(folder: Path, kind: str, what: str) -> dict[Path, Report]:
    """The ``kind`` reports a side wrote into ``folder``, by path; SideFailed when there are none or one
    is unreadable."""
    try:
        reports = {path: load_report(path) for path in report_paths([folder])}
    except BenchError as error:
        raise SideFailed(f"{what}: {error}") from None
    chosen = {path: report for path, report in reports.items() if report.kind == kind}
    if not chosen:
        raise SideFailed(f"{what} wrote no {kind} report into {folder}")
    return chosen


def profile_round(setup: Setup, out: Path, options: tuple[str, ...] = ()) -> dict[str, list[float]]:
    """One short ``bench profile`` of ``setup`` into ``out``: {stage: samples in ms}. Stages are named
    by the case's label as well where the options profile more than one case."""
    log = out / "profile.log"
    arguments = ["-m", "bench", "profile", *PROFILE_ROUND, *options, "--out", str(out / "reports")]
    code = run_python(setup, arguments, log)
    if code:
        raise failure("`python -m bench profile`", code, log)
    reports = list(reports_in(out / "reports", "profile", "`python -m bench profile`").values())
    prefix = (lambda report: f"{report.config.label}: ") if len(reports) > 1 else (lambda report: "")
    return {prefix(report) + stage: list(stats.samples_ms or (stats.p50_ms,))
            for report in reports for stage, stats in report.timings.items()}


def reproduce_predictions(setup: Setup, out: Path, options: tuple[str, ...] = ()) -> Path:
    """One ``bench reproduce`` of ``setup`` into ``out``, with a prediction cache of its own (a cache
    shared between commits is keyed by ``reference/`` alone and would hide a change in ``bench``),
    unless the options bring a ``--config``; returns its report."""
    config = []
    if "--config" not in options:
        cache = json.dumps(str((out / "prediction-cache").resolve()))  # a JSON string is a TOML string
        written = atomic.write_text(out / "ab-config.toml", f"[reproduce]\ncache_dir = {cache}\n")
        config = ["--config", str(written)]
    log = out / "reproduce.log"
    arguments = ["-m", "bench", "reproduce", *options, *config, "--out", str(out / "reports")]
    code = run_python(setup, arguments, log)
    if code not in REPRODUCE_RESULTS:
        raise failure("`python -m bench reproduce`", code, log)
    return max(reports_in(out / "reports", "reproduce", "`python -m bench reproduce`"))
