"""StageTimer and StageStats: exact statistics with a fake clock, warm-up batches left out, batches whose
stages run in two threads, end_to_end as the time per batch, CUDA events."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from bench.reports.stats import END_TO_END, STAT_FIELDS, StageStats
from bench.speed.timer import StageTimer


class FakeClock:
    """A nanosecond clock that only moves when the test says so."""

    def __init__(self) -> None:
        self.now_ns = 0

    def __call__(self) -> int:
        return self.now_ns

    def advance(self, ms: float) -> None:
        self.now_ns += round(ms * 1e6)


def run_batches(timer: StageTimer, clock: FakeClock, durations: list[dict[str, float]],
                gap_ms: float = 0.0, first: int = 0) -> None:
    """Batches ``first``, ``first + 1``, ...: each runs its stages one after the other, then finishes."""
    for index, stages in enumerate(durations, start=first):
        batch = timer.batch(index)
        for name, ms in stages.items():
            batch.start(name)
            clock.advance(ms)
            batch.stop(name)
            clock.advance(gap_ms)
        timer.finished(index)


def test_stats_are_exact_with_a_fake_clock():
    clock = FakeClock()
    timer = StageTimer(clock=clock)
    run_batches(timer, clock, [{"forward": ms} for ms in (1.0, 2.0, 3.0, 4.0)])
    stats = timer.stats()["forward"]
    assert stats.count == 4
    assert stats.mean_ms == pytest.approx(2.5)
    assert stats.std_ms == pytest.approx(np.std([1, 2, 3, 4], ddof=1))
    assert (stats.min_ms, stats.max_ms) == (1.0, 4.0)
    assert stats.p50_ms == pytest.approx(2.5)
    assert stats.p90_ms is None and stats.p99_ms is None  # 4 samples support the median only
    assert stats.samples_ms == pytest.approx((1.0, 2.0, 3.0, 4.0))


@pytest.mark.parametrize(("count", "reported"), [
    (1, {"p50_ms"}), (9, {"p50_ms"}), (10, {"p50_ms", "p90_ms"}), (99, {"p50_ms", "p90_ms"}),
    (100, {"p50_ms", "p90_ms", "p99_ms"}),
])
def test_percentiles_are_reported_from_enough_samples(count, reported):
    stats = StageStats.from_samples(list(np.arange(count, dtype=float)))
    assert {name for name in ("p50_ms", "p90_ms", "p99_ms") if getattr(stats, name) is not None} == reported
    if "p90_ms" not in reported:
        assert stats.percentile_cell("p90_ms") == f"n={count} < 10"
    assert stats.percentile_cell("p50_ms") == stats.p50_ms


def test_percentiles_of_many_samples():
    samples = list(np.random.default_rng(3).exponential(5.0, size=1001))
    stats = StageStats.from_samples(samples)
    for field, q in (("p50_ms", 50), ("p90_ms", 90), ("p99_ms", 99)):
        assert getattr(stats, field) == pytest.approx(np.percentile(samples, q))
    assert stats.min_ms <= stats.p50_ms <= stats.p90_ms <= stats.p99_ms <= stats.max_ms


def test_warmup_batches_are_left_out():
    clock = FakeClock()
    timer = StageTimer(warmup=2, clock=clock)
    run_batches(timer, clock, [{"forward": ms} for ms in (100.0, 50.0, 1.0, 2.0, 3.0)])
    assert timer.samples("forward") == pytest.approx([1.0, 2.0, 3.0])
    assert timer.stats()[END_TO_END].count == 3


def test_end_to_end_is_the_time_from_one_finish_to_the_next():
    """One after the other, a batch's end_to_end covers its stages and the gaps between them."""
    clock = FakeClock()
    timer = StageTimer(clock=clock)
    run_batches(timer, clock, [{"read_image": 2.0, "forward": 10.0, "group": 5.0}] * 3, gap_ms=0.5)
    stats = timer.stats()
    assert list(stats) == ["read_image", "forward", "group", END_TO_END]
    assert stats[END_TO_END].samples_ms == pytest.approx((18.5, 18.5, 18.5))
    assert all(s.in_iteration for s in stats.values())


def test_overlapping_batches_give_the_time_per_batch_not_the_sum_of_stages():
    """Batch i+1's forward runs while batch i decodes (as in the overlapped schedule): each batch's
    stages keep their own durations, and end_to_end is the wall time between finishes."""
    clock = FakeClock()
    timer = StageTimer(clock=clock)
    for index in range(4):  # forward 10 ms, decode 6 ms, the next forward beside the decoding
        batch = timer.batch(index)
        batch.start("forward")
        if index:
            previous = timer.batch(index - 1)
            previous.start("decode")
            clock.advance(6.0)
            previous.stop("decode")
            timer.finished(index - 1)
            clock.advance(4.0)
        else:
            clock.advance(10.0)
        batch.stop("forward")
    samples = timer.samples(END_TO_END)
    assert samples == pytest.approx([16.0, 10.0, 10.0])  # the first includes its own forward
    assert timer.samples("forward") == pytest.approx([10.0] * 4)
    assert timer.samples("decode") == pytest.approx([6.0] * 3)


def test_stages_of_one_batch_may_run_in_another_thread():
    clock = FakeClock()
    timer = StageTimer(clock=clock)
    batch = timer.batch(0)
    batch.start("forward")
    batch.stop("forward")

    def decode() -> None:
        stages = timer.batch(0)
        stages.start("match")
        clock.advance(3.0)
        stages.stop("match")
        timer.finished(0)

    thread = threading.Thread(target=decode)
    thread.start()
    thread.join()
    assert timer.samples("match") == [3.0] and timer.samples(END_TO_END) == [3.0]


def test_a_stage_outside_the_batches_is_marked_separate():
    clock = FakeClock()
    timer = StageTimer(warmup=1, clock=clock)
    run_batches(timer, clock, [{"forward": 1.0}] * 2)
    with timer.stage("evaluate"):
        clock.advance(7.0)
    with timer.stage("evaluate"):
        clock.advance(9.0)
    stats = timer.stats()
    assert not stats["evaluate"].in_iteration and stats["forward"].in_iteration
    assert timer.samples("evaluate") == pytest.approx([7.0, 9.0])


def test_recorded_durations_respect_the_warmup_and_add_up_within_a_batch():
    timer = StageTimer(warmup=1, clock=FakeClock())
    timer.batch(0).record("read_image", 3.0)
    timer.batch(1).record("read_image", 4.0)
    timer.batch(1).record("read_image", 1.5)
    assert timer.samples("read_image") == [5.5]


def test_a_failing_separate_stage_is_not_recorded_and_stages_cannot_overlap_in_a_batch():
    clock = FakeClock()
    timer = StageTimer(clock=clock)
    with pytest.raises(RuntimeError, match="boom"), timer.stage("evaluate"):
        raise RuntimeError("boom")
    assert timer.samples("evaluate") == []
    batch = timer.batch(0)
    batch.start("forward")
    with pytest.raises(RuntimeError, match="already being timed"):
        batch.start("forward")
    with pytest.raises(RuntimeError, match="was not started"):
        batch.stop("match")


def test_stats_round_trip_and_validation():
    stats = StageStats.from_samples([1.0, 5.0], in_iteration=False)
    assert StageStats.from_dict(stats.to_dict()) == stats
    assert set(STAT_FIELDS) <= set(stats.to_dict())
    assert stats.to_dict()["samples_ms"] == [1.0, 5.0]
    with pytest.raises(ValueError, match="p90_ms"):
        StageStats.from_dict({k: v for k, v in stats.to_dict().items() if k != "p90_ms"})
    with pytest.raises(ValueError, match="p99_ms must be null for count=2"):
        StageStats.from_dict({**stats.to_dict(), "p99_ms": 5.0})
    with pytest.raises(ValueError, match="samples_ms has 3 values, count says 2"):
        StageStats.from_dict({**stats.to_dict(), "samples_ms": [1.0, 2.0, 3.0]})
    assert StageStats.from_dict({**stats.to_dict(), "samples_ms": None}).samples_ms is None
    with pytest.raises(ValueError, match="at least one"):
        StageStats.from_samples([])
    with pytest.raises(ValueError, match="warmup"):
        StageTimer(warmup=-1)


def test_single_sample_has_zero_spread():
    stats = StageStats.from_samples([4.2])
    assert stats.std_ms == 0.0
    assert stats.p50_ms == stats.min_ms == stats.max_ms == pytest.approx(4.2)


class FakeCudaEvents:
    """Stands in for torch.cuda.Event/synchronize: events take the fake clock's time when recorded,
    and reading an elapsed time before the end event was synchronised fails, as it would on a GPU."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.synchronize_calls = 0
        fake = self

        class Event:
            def __init__(self, enable_timing: bool = False) -> None:
                assert enable_timing
                self.time_ns = None
                self.synchronized = False

            def record(self) -> None:
                self.time_ns = fake.clock()
                self.synchronized = False

            def synchronize(self) -> None:
                self.synchronized = True
                fake.synchronize_calls += 1

            def elapsed_time(self, end: Event) -> float:
                assert end.synchronized, "elapsed_time read before synchronising"
                return (end.time_ns - self.time_ns) / 1e6

        self.Event = Event

    def synchronize(self, device=None) -> None:
        self.synchronize_calls += 1


def test_cuda_stages_are_read_when_their_batch_finishes_and_skip_the_warmup(monkeypatch):
    clock = FakeClock()
    fake = FakeCudaEvents(clock)
    monkeypatch.setattr(torch.cuda, "Event", fake.Event)
    monkeypatch.setattr(torch.cuda, "synchronize", fake.synchronize)
    timer = StageTimer(warmup=1, device="cuda", clock=clock)
    assert timer.uses_cuda_events
    run_batches(timer, clock, [{"forward": 9.0, "group": 9.0}, {"forward": 3.0, "group": 1.0},
                               {"forward": 5.0, "group": 2.0}])
    assert fake.synchronize_calls == 6  # each stage's end event, when its batch finished
    assert timer.samples("forward") == pytest.approx([3.0, 5.0])
    assert timer.samples("group") == pytest.approx([1.0, 2.0])
    assert timer.samples(END_TO_END) == pytest.approx([4.0, 7.0])
    with timer.stage("evaluate"):
        clock.advance(6.0)
    assert timer.samples("evaluate") == pytest.approx([6.0])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_events_charge_queued_kernels_to_their_stage():
    timer = StageTimer(warmup=1, device="cuda")
    x = torch.randn(2048, 2048, device="cuda")
    for index in range(3):
        batch = timer.batch(index)
        batch.start("matmul")
        for _ in range(20):
            x = (x @ x).clamp_(-1, 1)
        batch.stop("matmul")
        timer.finished(index)
    stats = timer.stats()
    assert stats["matmul"].count == 2 and stats["matmul"].mean_ms > 0.1
    assert stats["matmul"].mean_ms <= stats[END_TO_END].mean_ms * 1.01
