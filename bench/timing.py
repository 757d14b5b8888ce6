"""Per-stage latency measurement with warm-up exclusion and correct CUDA synchronisation.

Usage::

    timer = StageTimer(warmup=2, device="cuda")
    for _ in range(2 + 10):
        with timer.iteration():           # also times the whole iteration as ``end_to_end``
            with timer.stage("forward"):
                ...
    stats = timer.stats()                 # stage -> StageStats (ms), warm-up iterations left out

On CPU each stage is read from ``time.perf_counter_ns`` (or an injected clock). On CUDA a pair of
CUDA events brackets each stage, and the device is synchronised once at the end of the iteration
before the elapsed times are read, so asynchronous kernels are charged to the stage that queued them
without adding a synchronisation point inside the iteration.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import numpy as np
import torch

END_TO_END = "end_to_end"

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


class _CudaEventPair:
    """Start and end events of one stage on the current CUDA stream."""

    def __init__(self) -> None:
        self.start = torch.cuda.Event(enable_timing=True)
        self.end = torch.cuda.Event(enable_timing=True)

    def elapsed_ms(self) -> float:
        return float(self.start.elapsed_time(self.end))


class StageTimer:
    """Collects durations of named stages over iterations; the first ``warmup`` iterations are dropped.

    Args:
        warmup: number of leading iterations whose measurements are discarded.
        device: "cpu" or a CUDA device ("cuda", "cuda:1", torch.device); selects the clock.
        clock: nanosecond clock for CPU timing (default ``time.perf_counter_ns``); inject a fake one
            in tests.
        annotate: also label each stage with ``torch.profiler.record_function`` (for traces).
    """

    def __init__(
        self,
        warmup: int = 0,
        device: str | torch.device = "cpu",
        clock: Callable[[], int] = time.perf_counter_ns,
        annotate: bool = False,
    ) -> None:
        if warmup < 0:
            raise ValueError(f"warmup must be >= 0, got {warmup}")
        self.warmup = warmup
        self.device = torch.device(device)
        self.clock = clock
        self.annotate = annotate
        self.iterations_started = 0
        self._measuring_override: bool | None = None
        self._samples: dict[str, list[float]] = {}
        self._outside_iteration: set[str] = set()
        self._pending: list[tuple[str, _CudaEventPair]] | None = None

    @property
    def uses_cuda_events(self) -> bool:
        return self.device.type == "cuda"

    @property
    def measuring(self) -> bool:
        """Whether stages are recorded now: set explicitly, or else once ``warmup`` iterations are done
        (for the current iteration, or between iterations for the next one)."""
        if self._measuring_override is not None:
            return self._measuring_override
        current = self.iterations_started - 1 if self._pending is not None else self.iterations_started
        return current >= self.warmup

    @measuring.setter
    def measuring(self, value: bool) -> None:
        """Switch recording on or off by hand, overriding the warm-up count."""
        self._measuring_override = bool(value)

    @contextlib.contextmanager
    def iteration(self) -> Iterator[None]:
        """One iteration; its stages are kept only once the warm-up is over. Times ``end_to_end``."""
        if self._pending is not None:
            raise RuntimeError("StageTimer.iteration() cannot be nested")
        self.iterations_started += 1
        self._pending = []
        recorded = self.measuring
        try:
            with self.stage(END_TO_END):
                yield
        finally:
            pending, self._pending = self._pending, None
        if self.uses_cuda_events and pending:
            torch.cuda.synchronize(self.device)
            if recorded:
                for name, events in pending:
                    self._add(name, events.elapsed_ms())

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the enclosed block as stage ``name``; may be used inside or outside an iteration."""
        inside = self._pending is not None
        if not inside:
            self._outside_iteration.add(name)
        with self._annotation(name):
            if self.uses_cuda_events:
                events = _CudaEventPair()
                events.start.record()
                yield
                events.end.record()
                if inside:
                    self._pending.append((name, events))
                else:
                    events.end.synchronize()
                    if self.measuring:
                        self._add(name, events.elapsed_ms())
            else:
                start = self.clock()
                yield
                elapsed_ms = (self.clock() - start) / 1e6
                if self.measuring:
                    self._add(name, elapsed_ms)

    def record(self, name: str, elapsed_ms: float) -> None:
        """Add a duration measured elsewhere (kept only outside warm-up)."""
        if self._pending is None:
            self._outside_iteration.add(name)
        if self.measuring:
            self._add(name, float(elapsed_ms))

    def samples(self, name: str) -> list[float]:
        """Recorded durations of ``name`` in milliseconds, in measurement order."""
        return list(self._samples.get(name, []))

    def stats(self) -> dict[str, StageStats]:
        """Statistics per stage, in the order the stages were first recorded."""
        return {
            name: StageStats.from_samples(values, in_iteration=name not in self._outside_iteration)
            for name, values in self._samples.items()
        }

    def _add(self, name: str, elapsed_ms: float) -> None:
        self._samples.setdefault(name, []).append(elapsed_ms)

    def _annotation(self, name: str) -> contextlib.AbstractContextManager:
        return torch.profiler.record_function(name) if self.annotate else contextlib.nullcontext()
