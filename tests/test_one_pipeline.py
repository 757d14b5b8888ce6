"""`bench reproduce` and `bench profile` run the one schedule (``bench.schedule``) over the one pipeline
of reference.pipeline: a stage function wrapped once is reached by both through the same stage, and the
profile times exactly that call."""

from __future__ import annotations

import time
import traceback

import pytest
from helpers import TinyPoseNet

import reference.grouping.group as grouping_group
from bench.accuracy.reproduce import run_reproduction
from bench.accuracy.settings import ReproduceConfig
from bench.data.dataset import DataConfig
from bench.evaluation.bootstrap import BootstrapSettings
from bench.speed.profile import ProfileConfig, run_profile
from bench.testing.synthetic_data import write_mini_dataset

PATH = ("_decode_all", "decode", "group_batch")
"""The frames of the schedule's decoding task down to the matcher, in order (the executor's thread adds
frames of its own around them)."""


class CountingMatcher:
    """Wraps ``match_candidates``: counts calls, keeps the call stack (function names) and the time."""

    def __init__(self, wrapped):
        self.wrapped = wrapped
        self.stacks: list[tuple[str, ...]] = []
        self.seconds = 0.0

    def __call__(self, *args, **kwargs):
        self.stacks.append(tuple(frame.name for frame in traceback.extract_stack()[:-1]))
        start = time.perf_counter()
        try:
            return self.wrapped(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start


@pytest.mark.parametrize("schedule", ["overlapped", "serial"])
def test_reproduce_and_profile_run_the_same_schedule_to_the_same_stage(monkeypatch, tmp_path, schedule):
    """Both commands drive ``bench.schedule.run_schedule``; below it the same pipeline path reaches the
    matcher (the decoding half, in the decoding thread), once per image."""
    matcher = CountingMatcher(grouping_group.match_candidates)
    monkeypatch.setattr(grouping_group, "match_candidates", matcher)

    ((report, _), _) = run_profile(ProfileConfig(device="cpu", iters=2, warmup=0, input_size=64,
                                                 batch_sizes=(1, 2), out_dir=tmp_path / "profile",
                                                 schedule=schedule), model=TinyPoseNet())
    profiled, matcher.stacks = matcher.stacks, []
    assert len(profiled) >= 2 + 2 * 2  # one call per image: 2 batches of 1, then of 2 (or one more each)

    root = write_mini_dataset(tmp_path / "mini", num_images=2, seed=4)
    config = ReproduceConfig(data=DataConfig(data_root=root), scales=((1.0,),), out=str(tmp_path / "out"),
                             cache_dir=str(tmp_path / "cache"), workers=0, sample=False,
                             bootstrap=BootstrapSettings(resamples=0))
    assert run_reproduction(config, model=TinyPoseNet()).exit_code == 0
    reproduced = matcher.stacks
    assert len(reproduced) == 2  # one call per image

    paths = {tuple(name for name in stack if name in PATH) for stack in profiled + reproduced}
    assert paths == {PATH}


def test_the_match_stage_times_the_matcher_it_runs(monkeypatch, tmp_path):
    matcher = CountingMatcher(grouping_group.match_candidates)
    monkeypatch.setattr(grouping_group, "match_candidates", matcher)
    ((report, _),) = run_profile(ProfileConfig(device="cpu", iters=3, warmup=0, input_size=64,
                                               out_dir=tmp_path / "profile"), model=TinyPoseNet())
    match = report.timings["match"]
    assert match.count == len(matcher.stacks) >= 3  # every call measured (no warm-up), none other
    assert match.mean_ms * match.count >= 1000 * matcher.seconds
