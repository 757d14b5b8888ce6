"""StageTimer and StageStats: exact statistics with a fake clock, warm-up exclusion, CUDA events."""

from __future__ import annotations

import time

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


def run_iterations(timer: StageTimer, clock: FakeClock, durations: list[dict[str, float]],
                   gap_ms: float = 0.0) -> None:
    for stages in durations:
        with timer.iteration():
            for name, ms in stages.items():
                with timer.stage(name):
                    clock.advance(ms)
                clock.advance(gap_ms)


def test_stats_are_exact_with_a_fake_clock():
    clock = FakeClock()
    timer = StageTimer(clock=clock)
    run_iterations(timer, clock, [{"forward": ms} for ms in (1.0, 2.0, 3.0, 4.0)])
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


def test_warmup_iterations_are_excluded():
    clock = FakeClock()
    timer = StageTimer(warmup=2, clock=clock)
    assert not timer.measuring
    run_iterations(timer, clock, [{"forward": ms} for ms in (100.0, 50.0, 1.0, 2.0, 3.0)])
    assert timer.measuring
    assert timer.samples("forward") == pytest.approx([1.0, 2.0, 3.0])
    assert timer.stats()[END_TO_END].count == 3


def test_end_to_end_covers_the_stages_and_the_gaps_between_them():
    clock = FakeClock()
    timer = StageTimer(clock=clock)
    run_iterations(timer, clock, [{"decode": 2.0, "forward": 10.0, "group": 5.0}] * 3, gap_ms=0.5)
    stats = timer.stats()
    assert list(stats) == ["decode", "forward", "group", END_TO_END]
    assert stats[END_TO_END].mean_ms == pytest.approx(2.0 + 10.0 + 5.0 + 3 * 0.5)
    assert all(s.in_iteration for s in stats.values())


def test_stage_outside_an_iteration_is_marked_separate():
    clock = FakeClock()
    timer = StageTimer(warmup=1, clock=clock)
    run_iterations(timer, clock, [{"forward": 1.0}] * 2)
    with timer.stage("evaluate"):
        clock.advance(7.0)
    timer.record("evaluate", 9.0)
    stats = timer.stats()
    assert not stats["evaluate"].in_iteration
    assert timer.samples("evaluate") == pytest.approx([7.0, 9.0])
    assert stats["forward"].in_iteration


def test_record_respects_the_warmup():
    timer = StageTimer(warmup=1, clock=FakeClock())
    with timer.iteration():
        timer.record("copy", 3.0)
    with timer.iteration():
        timer.record("copy", 4.0)
    assert timer.samples("copy") == [4.0]


def test_a_failing_stage_is_not_recorded_and_the_timer_recovers():
    clock = FakeClock()
    timer = StageTimer(clock=clock)
    with pytest.raises(RuntimeError, match="boom"), timer.iteration(), timer.stage("forward"):
        raise RuntimeError("boom")
    run_iterations(timer, clock, [{"forward": 2.0}])
    assert timer.samples("forward") == [2.0]


def test_iterations_cannot_nest():
    timer = StageTimer(clock=FakeClock())
    with pytest.raises(RuntimeError, match="nested"), timer.iteration(), timer.iteration():
        pass


def test_real_clock_measures_sleep():
    timer = StageTimer()
    with timer.iteration(), timer.stage("sleep"):
        time.sleep(0.02)
    assert 15.0 < timer.samples("sleep")[0] < 1000.0


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


def test_measuring_can_be_switched_by_hand():
    clock = FakeClock()
    timer = StageTimer(clock=clock)
    timer.measuring = False
    run_iterations(timer, clock, [{"forward": 50.0}])
    timer.measuring = True
    run_iterations(timer, clock, [{"forward": 2.0}])
    assert timer.samples("forward") == [2.0]


class FakeCudaEvents:
    """Stands in for torch.cuda.Event/synchronize: events take the fake clock's time when recorded,
    and reading an elapsed time before the device was synchronised fails, as it would on a GPU."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.synchronized = False
        self.synchronize_calls = 0
        fake = self

        class Event:
            def __init__(self, enable_timing: bool = False) -> None:
                assert enable_timing
                self.time_ns = None

            def record(self) -> None:
                self.time_ns = fake.clock()
                fake.synchronized = False

            def synchronize(self) -> None:
                fake.synchronize()

            def elapsed_time(self, end: Event) -> float:
                assert fake.synchronized, "elapsed_time read before synchronising"
                return (end.time_ns - self.time_ns) / 1e6

        self.Event = Event

    def synchronize(self, device=None) -> None:
        self.synchronized = True
        self.synchronize_calls += 1


def test_cuda_path_synchronises_once_per_iteration_and_skips_warmup(monkeypatch):
    clock = FakeClock()
    fake = FakeCudaEvents(clock)
    monkeypatch.setattr(torch.cuda, "Event", fake.Event)
    monkeypatch.setattr(torch.cuda, "synchronize", fake.synchronize)
    timer = StageTimer(warmup=1, device="cuda")
    assert timer.uses_cuda_events
    run_iterations(timer, clock, [{"forward": 9.0, "group": 9.0}, {"forward": 3.0, "group": 1.0},
                                  {"forward": 5.0, "group": 2.0}])
    assert fake.synchronize_calls == 3
    assert timer.samples("forward") == pytest.approx([3.0, 5.0])
    assert timer.samples("group") == pytest.approx([1.0, 2.0])
    assert timer.samples(END_TO_END) == pytest.approx([4.0, 7.0])
    with timer.stage("evaluate"):
        clock.advance(6.0)
    assert timer.samples("evaluate") == pytest.approx([6.0])
    assert fake.synchronize_calls == 4


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_events_charge_queued_kernels_to_their_stage():
    timer = StageTimer(warmup=1, device="cuda")
    x = torch.randn(2048, 2048, device="cuda")
    for _ in range(3):
        with timer.iteration():
            with timer.stage("matmul"):
                for _ in range(20):
                    x = (x @ x).clamp_(-1, 1)
            with timer.stage("host"):
                time.sleep(0.001)
    stats = timer.stats()
    assert stats["matmul"].count == 2
    assert stats["matmul"].mean_ms > 0.1
    parts = stats["matmul"].mean_ms + stats["host"].mean_ms
    assert parts <= stats[END_TO_END].mean_ms * 1.01
