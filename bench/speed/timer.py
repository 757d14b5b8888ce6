"""Per-stage latency measurement with warm-up exclusion and correct CUDA synchronisation.

Usage::

    timer = StageTimer(warmup=2, device="cuda")
    for _ in range(2 + 10):
        with timer.iteration():           # also times the whole iteration as ``end_to_end``
            predictor.predict_batch(images, observer=timer)   # start(stage) / stop(stage) per stage
            with timer.stage("evaluate"):                     # or a block of the caller's own
                ...
    stats = timer.stats()                 # stage -> StageStats (ms) with its samples, warm-up left out

A ``StageTimer`` is a ``reference.stages.StageObserver``: the pipeline tells it when each of its stages
starts and stops, so the stages timed are the ones that run.

On CPU each stage is read from ``time.perf_counter_ns`` (or an injected clock). On CUDA a pair of
CUDA events brackets each stage, and the device is synchronised once at the end of the iteration
before the elapsed times are read, so asynchronous kernels are charged to the stage that queued them
without adding a synchronisation point inside the iteration.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

import torch

from bench.reports.stats import END_TO_END, StageStats


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
        self._open: dict[str, tuple[_CudaEventPair | int, contextlib.AbstractContextManager]] = {}

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

    def start(self, name: str) -> None:
        """Start timing stage ``name`` (inside or outside an iteration); ``stop(name)`` ends it."""
        if name in self._open:
            raise RuntimeError(f"stage {name!r} is already being timed")
        if self._pending is None:
            self._outside_iteration.add(name)
        annotation = self._annotation(name)
        annotation.__enter__()
        if self.uses_cuda_events:
            mark: _CudaEventPair | int = _CudaEventPair()
            mark.start.record()
        else:
            mark = self.clock()
        self._open[name] = (mark, annotation)

    def stop(self, name: str) -> None:
        """Stop timing stage ``name`` and keep its duration (unless in warm-up)."""
        if name not in self._open:
            raise RuntimeError(f"stage {name!r} was not started")
        mark, annotation = self._open.pop(name)
        if isinstance(mark, _CudaEventPair):
            mark.end.record()
            if self._pending is not None:
                self._pending.append((name, mark))
            else:
                mark.end.synchronize()
                if self.measuring:
                    self._add(name, mark.elapsed_ms())
        else:
            elapsed_ms = (self.clock() - mark) / 1e6
            if self.measuring:
                self._add(name, elapsed_ms)
        annotation.__exit__(None, None, None)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the enclosed block as stage ``name``; a block that raises is not recorded."""
        self.start(name)
        try:
            yield
        except BaseException:
            self._discard(name)
            raise
        self.stop(name)

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
        """Statistics and raw samples per stage, in the order the stages were first recorded."""
        return {
            name: StageStats.from_samples(values, in_iteration=name not in self._outside_iteration)
            for name, values in self._samples.items()
        }

    def _discard(self, name: str) -> None:
        """Forget the running stage ``name`` without recording it."""
        _, annotation = self._open.pop(name)
        annotation.__exit__(None, None, None)

    def _add(self, name: str, elapsed_ms: float) -> None:
        self._samples.setdefault(name, []).append(elapsed_ms)

    def _annotation(self, name: str) -> contextlib.AbstractContextManager:
        return torch.profiler.record_function(name) if self.annotate else contextlib.nullcontext()
