"""`bench reproduce` and `bench profile` run the one pipeline of reference.pipeline: a stage function
wrapped once is reached by both through the same stage, and the profile times exactly that call."""

from __future__ import annotations

import time
import traceback

import pytest
from helpers import TinyPoseNet

import reference.grouping.decode as grouping_decode
from bench.__main__ import main
from bench.checkpoint import sha256_of
from bench.speed.profile import ProfileConfig, run_profile
from bench.testing.synthetic_data import write_mini_dataset
from bench.testing.synthetic_weights import calibrated_state_dict, save_mmpose_checkpoint

pytestmark = pytest.mark.slow


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


def test_reproduce_and_profile_reach_the_matcher_through_the_same_stage(monkeypatch, tmp_path):
    matcher = CountingMatcher(grouping_decode.match_candidates)
    monkeypatch.setattr(grouping_decode, "match_candidates", matcher)

    ((report, _), _) = run_profile(ProfileConfig(device="cpu", iters=2, warmup=0, input_size=64,
                                                 batch_sizes=(1, 2), out_dir=tmp_path / "profile"),
                                   model=TinyPoseNet())
    profiled, matcher.stacks = matcher.stacks, []
    assert len(profiled) == 2 + 2 * 2  # one call per image: 2 iterations of batch 1, then of batch 2

    root = write_mini_dataset(tmp_path / "mini", num_images=2, seed=4)
    staging = tmp_path / "tame.pth"
    save_mmpose_checkpoint(calibrated_state_dict(), staging)
    checkpoint = staging.rename(tmp_path / f"tame-{sha256_of(staging)[:8]}_20260101.pth")
    code = main(["reproduce", "--checkpoint", str(checkpoint), "--data-root", str(root), "--scales", "1",
                 "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"), "--workers", "0",
                 "--no-sample"])
    assert code == 0
    reproduced = matcher.stacks
    assert len(reproduced) == 2  # one call per image

    # the same pipeline path below each command's own driver: Predictor.decode -> group_batch -> matcher
    tails = {stack[stack.index("decode"):] for stack in profiled + reproduced}
    assert len(tails) == 1 and next(iter(tails))[:2] == ("decode", "group_batch")
    assert all("predict_batch" in stack for stack in profiled)  # profile: predict_batch drives both halves
    assert all("_worker" in stack for stack in reproduced)  # reproduce: the runner's decoding thread


def test_the_match_stage_times_the_matcher_it_runs(monkeypatch, tmp_path):
    matcher = CountingMatcher(grouping_decode.match_candidates)
    monkeypatch.setattr(grouping_decode, "match_candidates", matcher)
    ((report, _),) = run_profile(ProfileConfig(device="cpu", iters=3, warmup=0, input_size=64,
                                               out_dir=tmp_path / "profile"), model=TinyPoseNet())
    match = report.timings["match"]
    assert match.count == 3 == len(matcher.stacks)
    assert match.mean_ms * match.count >= 1000 * matcher.seconds
