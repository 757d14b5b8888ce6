"""Per-stage durations of the network batches of a running schedule, warm-up left out: the one clock.

A ``StageTimer`` is the ``Clock`` of ``bench.accuracy.runner``: the schedule asks it for one observer
per network batch (``batch(index)``), which the pipeline tells when each of the batch's stages starts
and stops, in whichever thread runs it (the network half in the calling thread, the decoding half in
the decoding thread), and which takes durations measured elsewhere (``record``: the read time from a
worker process). ``finished(index)`` marks the batch done; ``end_to_end`` of a batch is the wall time
from the previous batch's finish to its own, so with stages overlapping it is the time the schedule
spends per batch (``images/s = batch / end_to_end``), and without overlap it is the batch's whole run.
The first ``warmup`` batches are left out of every statistic. A stage timed outside the batches
(``stage(name)``, e.g. evaluation) is recorded as separate from them.

On CPU each stage is read from ``time.perf_counter_ns`` (or an injected clock). On CUDA a pair of CUDA
events brackets each stage of a batch, and the events are synchronised when the batch is finished, so
asynchronous kernels are charged to the stage that queued them without a synchronisation point inside
the batch.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

import torch

from bench.reports.stats import END_TO_END, StageStats


class _CudaEventPair:
    """Start and end events of one stage on the current CUDA stream."""

    def __init__(self) -> None:
        self.start = torch.cuda.Event(enable_timing=True)
        self.end = torch.cuda.Event(enable_timing=True)
        self.start.record()

    def elapsed_ms(self) -> float:
        self.end.synchronize()
        return float(self.start.elapsed_time(self.end))


class _BatchStages:
    """The observer of one network batch: its stages' marks while they run, its finished CUDA stages."""

    def __init__(self, timer: StageTimer, index: int) -> None:
        self.timer = timer
        self.index = index
        self.running: dict[str, tuple[_CudaEventPair | int, contextlib.AbstractContextManager]] = {}
        self.pending: list[tuple[str, _CudaEventPair]] = []

    def start(self, stage: str) -> None:
        if stage in self.running:
            raise RuntimeError(f"stage {stage!r} of batch {self.index} is already being timed")
        annotation = self.timer.annotation(stage)
        annotation.__enter__()
        mark = _CudaEventPair() if self.timer.uses_cuda_events else self.timer.clock()
        self.running[stage] = (mark, annotation)

    def stop(self, stage: str) -> None:
        if stage not in self.running:
            raise RuntimeError(f"stage {stage!r} of batch {self.index} was not started")
        mark, annotation = self.running.pop(stage)
        if isinstance(mark, _CudaEventPair):
            mark.end.record()
            self.pending.append((stage, mark))
        else:
            self.record(stage, (self.timer.clock() - mark) / 1e6)
        annotation.__exit__(None, None, None)

    def record(self, stage: str, elapsed_ms: float) -> None:
        self.timer.add(stage, self.index, float(elapsed_ms))


class StageTimer:
    """Collects durations of named stages per network batch; the first ``warmup`` batches are dropped.

    Args:
        warmup: number of leading batches (by index) whose measurements are discarded.
        device: "cpu" or a CUDA device ("cuda", "cuda:1", torch.device); selects the clock.
        clock: nanosecond clock for CPU timing and ``end_to_end`` (default ``time.perf_counter_ns``);
            inject a fake one in tests.
        annotate: also label each stage with ``torch.profiler.record_function`` (for traces).
    """

    def __init__(self, warmup: int = 0, device: str | torch.device = "cpu",
                 clock: Callable[[], int] = time.perf_counter_ns, annotate: bool = False) -> None:
        if warmup < 0:
            raise ValueError(f"warmup must be >= 0, got {warmup}")
        self.warmup = warmup
        self.device = torch.device(device)
        self.clock = clock
        self.annotate = annotate
        self._lock = threading.Lock()
        self._samples: dict[str, dict[int, float]] = {}
        self._separate: dict[str, list[float]] = {}
        self._batches: dict[int, _BatchStages] = {}
        self._last_finish: int | None = None

    @property
    def uses_cuda_events(self) -> bool:
        return self.device.type == "cuda"

    def batch(self, index: int) -> _BatchStages:
        """The observer of network batch ``index`` (created on first use)."""
        with self._lock:
            if self._last_finish is None:  # the schedule's clock starts with its first batch
                self._last_finish = self.clock()
            return self._batches.setdefault(index, _BatchStages(self, index))

    def finished(self, index: int) -> None:
        """Batch ``index`` is done: its CUDA stages are read, and its ``end_to_end`` is the time since
        the previous batch finished."""
        stages = self.batch(index)
        for stage, events in stages.pending:
            stages.record(stage, events.elapsed_ms())
        stages.pending.clear()
        now = self.clock()
        with self._lock:
            elapsed_ms, self._last_finish = (now - self._last_finish) / 1e6, now
            del self._batches[index]
        self.add(END_TO_END, index, elapsed_ms)

    def add(self, stage: str, index: int, elapsed_ms: float) -> None:
        """Keep ``elapsed_ms`` of ``stage`` for batch ``index`` (added up if the stage ran twice)."""
        with self._lock:
            durations = self._samples.setdefault(stage, {})
            durations[index] = durations.get(index, 0.0) + elapsed_ms

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the enclosed block as a stage outside the batches; a block that raises is not recorded."""
        with self.annotation(name):
            if self.uses_cuda_events:
                torch.cuda.synchronize(self.device)
            start = self.clock()
            yield
            if self.uses_cuda_events:
                torch.cuda.synchronize(self.device)
            self._separate.setdefault(name, []).append((self.clock() - start) / 1e6)

    def samples(self, name: str) -> list[float]:
        """Recorded durations of ``name`` in milliseconds: per measured batch in batch order, or per
        call of a separate stage."""
        if name in self._separate:
            return list(self._separate[name])
        with self._lock:
            durations = dict(self._samples.get(name, {}))
        return [ms for index, ms in sorted(durations.items()) if index >= self.warmup]

    def stats(self) -> dict[str, StageStats]:
        """Statistics and raw samples per stage, in the order the stages were first recorded; stages
        of the batches first (``in_iteration``), then the separate ones."""
        stats = {name: StageStats.from_samples(self.samples(name)) for name in list(self._samples)
                 if self.samples(name)}
        stats.update({name: StageStats.from_samples(values, in_iteration=False)
                      for name, values in self._separate.items()})
        return stats

    def annotation(self, name: str) -> contextlib.AbstractContextManager:
        return torch.profiler.record_function(name) if self.annotate else contextlib.nullcontext()
