"""Grouping speed, fast path against the literal mmpose port, side by side (pytest-benchmark).

    pytest benchmarks/test_grouping_speed.py --benchmark-only

Each benchmark times the whole grouping of one image, ``group_keypoints`` (NMS and top-k, matching,
adjust, scores, refine), on rendered CrowdPose-style maps at 512x704 with flip-test tags (L=2), for
5, 20 and 30 people; group "grouping <N> people 512x704" holds the two paths. The literal port runs
first and its result is kept, so that each fast benchmark asserts identical poses and scores (a
correctness check; the speed target, fast >= 10x literal at 20 people, is read from the report).
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.speed.synthetic_maps import SyntheticMapsConfig, render_maps
from reference.grouping import group_keypoints

MATCHERS = {"literal": "munkres", "fast": "scipy"}
ROUNDS = {"literal": 2, "fast": 5}
PEOPLE = (5, 20, 30)


@pytest.fixture(scope="module")
def rendered() -> dict[int, tuple[np.ndarray, np.ndarray]]:
    maps = {}
    for people in PEOPLE:
        config = SyntheticMapsConfig(height=512, width=704, num_people=people, num_tag_dims=2, seed=0)
        found = render_maps(config)
        maps[people] = (found.heatmaps, found.tags)
    return maps


@pytest.fixture(scope="module")
def results() -> dict[tuple[int, str], tuple[np.ndarray, np.ndarray]]:
    """(people, path) -> (poses, scores) of the benchmarks run so far."""
    return {}


@pytest.mark.parametrize(("people", "path"), [(people, path) for people in PEOPLE for path in MATCHERS])
def test_grouping_speed(benchmark, rendered, results, people, path):
    benchmark.group = f"grouping {people} people 512x704"
    benchmark.extra_info.update(people=people, path=path, matcher=MATCHERS[path])
    heatmaps, tags = rendered[people]
    poses, scores = benchmark.pedantic(group_keypoints, args=(heatmaps, tags),
                                       kwargs={"matcher": MATCHERS[path]},
                                       rounds=ROUNDS[path], iterations=1, warmup_rounds=int(path == "fast"))
    results[people, path] = (poses, scores)
    other = "literal" if path == "fast" else "fast"
    if (people, other) not in results:
        results[people, other] = group_keypoints(heatmaps, tags, matcher=MATCHERS[other])
    expected_poses, expected_scores = results[people, other]
    np.testing.assert_array_equal(poses, expected_poses)
    np.testing.assert_array_equal(scores, expected_scores)
    assert len(poses) >= people // 2
