"""Summary statistics of one stage's measured durations, as reports store them (no timing here)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

END_TO_END = "end_to_end"
"""The stage that spans a whole measured iteration."""

STAT_FIELDS = ("count", "mean_ms", "std_ms", "min_ms", "p50_ms", "p90_ms", "p99_ms", "max_ms")


@dataclass(frozen=True)
class StageStats:
    """Summary of one stage's measured durations in milliseconds.

    ``std_ms`` is the sample standard deviation (0 for a single sample); percentiles use linear
    interpolation between samples. ``in_iteration`` is False for stages timed outside an iteration
    (for example evaluation), which are therefore not part of ``end_to_end``.
    """

    count: int
    mean_ms: float
    std_ms: float
    min_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    in_iteration: bool = True

    @classmethod
    def from_samples(cls, samples_ms: list[float], in_iteration: bool = True) -> StageStats:
        if not samples_ms:
            raise ValueError("StageStats.from_samples needs at least one sample")
        values = np.asarray(samples_ms, dtype=np.float64)
        p50, p90, p99 = np.percentile(values, [50, 90, 99])
        return cls(
            count=int(values.size),
            mean_ms=float(values.mean()),
            std_ms=float(values.std(ddof=1)) if values.size > 1 else 0.0,
            min_ms=float(values.min()),
            p50_ms=float(p50),
            p90_ms=float(p90),
            p99_ms=float(p99),
            max_ms=float(values.max()),
            in_iteration=in_iteration,
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> StageStats:
        missing = [name for name in STAT_FIELDS if name not in data]
        if missing:
            raise ValueError(f"stage statistics lack {', '.join(missing)}")
        return cls(
            count=int(data["count"]),
            **{name: float(data[name]) for name in STAT_FIELDS[1:]},
            in_iteration=bool(data.get("in_iteration", True)),
        )
