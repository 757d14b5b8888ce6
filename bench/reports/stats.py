"""Statistics of one stage's measured durations, as reports store them (no timing here).

A stage keeps its raw per-iteration samples next to the summary, so that comparisons can test the
samples rather than summaries. A percentile is reported only where the sample count supports it
(``PERCENTILE_MIN_SAMPLES``): the p99 of 3 samples is the maximum under another name, so it is null
instead, and views say why (``percentile_cell``). The median (p50) is defined for any sample, so it is
always reported; how far it can be trusted is what ``bench.reports.speed_verdicts`` judges.

Every stage also carries its coefficient of variation (``cv``, standard deviation / mean), as pyperf
reports it. A stage whose samples vary by more than ``CV_LIMIT`` of their mean was measured on a machine
too unsteady to judge it (``unstable_stages``), and ``bench compare`` does not decide it. Where the
batches cycle through inputs of different sizes (a profile of the bundled sample alternates its two
images), that is judged within each input (``steadiness``): the images' own difference in cost is the
workload, not the machine's unsteadiness.

Every duration is checked where a ``StageStats`` is made (so also where a report is read): one NaN,
infinite or negative sample would make the rank test and the medians say nothing ("no change" for a
3x slowdown), so such statistics are refused rather than compared.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

from bench.reports.typed import from_data

END_TO_END = "end_to_end"
"""The stage that spans a whole measured iteration."""

STAT_FIELDS = ("count", "mean_ms", "std_ms", "min_ms", "p50_ms", "p90_ms", "p99_ms", "max_ms")
PERCENTILES = {"p50_ms": 50, "p90_ms": 90, "p99_ms": 99}
PERCENTILE_MIN_SAMPLES = {"p50_ms": 1, "p90_ms": 10, "p99_ms": 100}
"""Fewest samples for which a percentile is reported: the q-th percentile needs about 100 / (100 - q)
samples before it differs from the maximum (p90: 10, p99: 100); the median needs one."""


def supported_percentiles(count: int) -> tuple[str, ...]:
    """The percentile fields that ``count`` samples support."""
    return tuple(name for name, minimum in PERCENTILE_MIN_SAMPLES.items() if count >= minimum)


CV_LIMIT = 0.10
"""Largest coefficient of variation (std / mean) of a stage's samples that is taken as a steady
measurement: pyperf warns above 10% too. Above it `bench profile` warns and `bench compare` calls the
stage "unstable" rather than faster or slower."""

MIN_RELATIVE_CHANGE = 0.10
"""Smallest change of a stage's median that `bench compare` calls faster or slower (``--threshold``):
a smaller one, however significant, is "same"."""


def coefficient_of_variation(count: int, mean_ms: float, std_ms: float) -> float | None:
    """std / mean of a stage's samples; None for a single sample or a zero mean (no spread to judge)."""
    return std_ms / mean_ms if count > 1 and mean_ms > 0 else None


def steadiness(stats: StageStats, cycle: int = 1) -> float | None:
    """How much a stage's samples vary: the coefficient of variation within each input, where the
    measured batches cycle through ``cycle`` inputs (batch i fed input i % cycle; a stage of an
    iteration only). Pooled over the inputs, ``sqrt(sum_j (n_j - 1) cv_j^2 / sum_j (n_j - 1))``; the plain
    ``stats.cv`` for one input, a stage outside the iterations, absent samples, or too few to tell."""
    if cycle <= 1 or not stats.in_iteration or stats.samples_ms is None or stats.count < 2 * cycle:
        return stats.cv
    samples = np.asarray(stats.samples_ms, dtype=np.float64)
    weighted, degrees = 0.0, 0
    for phase in range(cycle):
        group = samples[phase::cycle]
        mean = float(group.mean())
        if group.size > 1 and mean > 0:
            weighted += (group.size - 1) * (float(group.std(ddof=1)) / mean) ** 2
            degrees += group.size - 1
    return math.sqrt(weighted / degrees) if degrees else stats.cv


def unstable_stages(timings: Mapping[str, StageStats], limit: float = CV_LIMIT,
                    cycle: int = 1) -> dict[str, float]:
    """The stages whose samples vary by more than ``limit`` of their mean (``steadiness`` with the
    inputs' ``cycle``), with how much, in the timings' order."""
    varying = {stage: steadiness(stats, cycle) for stage, stats in timings.items()}
    return {stage: cv for stage, cv in varying.items() if cv is not None and cv > limit}


@dataclass(frozen=True)
class StageStats:
    """Summary of one stage's measured durations in milliseconds, and the samples themselves.

    ``std_ms`` is the sample standard deviation (0 for a single sample); percentiles use linear
    interpolation between samples and are None where ``count`` does not support them
    (``PERCENTILE_MIN_SAMPLES``). ``samples_ms`` are the durations in measurement order; None for
    reports written before samples were kept (schema < 3). ``in_iteration`` is False for stages timed
    outside an iteration (for example evaluation), which are therefore not part of ``end_to_end``.
    """

    count: int
    mean_ms: float
    std_ms: float
    min_ms: float
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float
    in_iteration: bool = True
    samples_ms: tuple[float, ...] | None = None
    cv: float | None = None

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"count must be at least 1, got {self.count}")
        durations = [(name, getattr(self, name)) for name in STAT_FIELDS[1:]]
        durations += [(f"samples_ms[{index}]", value) for index, value in enumerate(self.samples_ms or ())]
        for name, value in durations:
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} is {value!r}: durations must be finite and at least 0 ms")
        for name in PERCENTILES:
            supported = self.count >= PERCENTILE_MIN_SAMPLES[name]
            if supported != (getattr(self, name) is not None):
                raise ValueError(f"{name} must be {'a number' if supported else 'null'} for "
                                 f"count={self.count} (reported from {PERCENTILE_MIN_SAMPLES[name]} samples)")
        if self.samples_ms is not None and len(self.samples_ms) != self.count:
            raise ValueError(f"samples_ms has {len(self.samples_ms)} values, count says {self.count}")
        derived = coefficient_of_variation(self.count, self.mean_ms, self.std_ms)
        if self.cv is None:
            object.__setattr__(self, "cv", derived)
        elif derived is None or not math.isclose(self.cv, derived, rel_tol=1e-6, abs_tol=1e-12):
            raise ValueError(f"cv is {self.cv!r}, but std_ms / mean_ms is {derived!r}")

    @classmethod
    def from_samples(cls, samples_ms: list[float], in_iteration: bool = True) -> StageStats:
        if not samples_ms:
            raise ValueError("StageStats.from_samples needs at least one sample")
        values = np.asarray(samples_ms, dtype=np.float64)
        supported = supported_percentiles(values.size)
        percentiles = {name: float(np.percentile(values, PERCENTILES[name])) if name in supported else None
                       for name in PERCENTILES}
        return cls(
            count=int(values.size),
            mean_ms=float(values.mean()),
            std_ms=float(values.std(ddof=1)) if values.size > 1 else 0.0,
            min_ms=float(values.min()),
            max_ms=float(values.max()),
            in_iteration=in_iteration,
            samples_ms=tuple(values.tolist()),
            **percentiles,
        )

    def percentile_cell(self, name: str) -> float | str:
        """The percentile ``name`` for a table, or why it is not reported (e.g. "n=3 < 10")."""
        value = getattr(self, name)
        return f"n={self.count} < {PERCENTILE_MIN_SAMPLES[name]}" if value is None else value

    def to_dict(self) -> dict:
        data = asdict(self)
        data["samples_ms"] = None if self.samples_ms is None else list(self.samples_ms)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> StageStats:
        """Statistics from their JSON data, typed like every report record (``bench.reports.typed``)."""
        return from_data(cls, data, "stage")
