"""The outcome of one device-check step, and running a step so that its failure never stops the others."""

from __future__ import annotations

import dataclasses
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class StepOutcome:
    """One step: whether it passed, what it found (``detail``), its error if it failed, the reports
    it wrote, its wall time and the step's own data (``data``, e.g. the speed rows). A step that had
    nothing to check here (``skipped``) neither passes nor fails: its detail says why."""

    name: str
    passed: bool
    detail: str
    error: str | None = None
    reports: tuple[Path, ...] = ()
    seconds: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)
    skipped: bool = False

    @property
    def status(self) -> str:
        return "skipped" if self.skipped else "passed" if self.passed else "failed"

    @classmethod
    def skip(cls, name: str, why: str) -> StepOutcome:
        return cls(name, True, why, skipped=True)


def run_step(name: str, step: Callable[[], StepOutcome]) -> StepOutcome:
    """``step()``, timed; an exception becomes a failed outcome carrying the error and its last frame."""
    started = time.perf_counter()
    try:
        outcome = step()
    except Exception as error:  # a failing step is reported, and the others still run
        frame = traceback.extract_tb(error.__traceback__)[-1]
        outcome = StepOutcome(name, False, "raised", f"{type(error).__name__}: {error} "
                                                     f"({Path(frame.filename).name}:{frame.lineno})")
    return dataclasses.replace(outcome, name=name, seconds=time.perf_counter() - started)
