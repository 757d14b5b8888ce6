"""Grouping speed, fast path against the literal mmpose port, side by side (pytest-benchmark).

    pytest benchmarks/test_grouping_speed.py --benchmark-only

Each benchmark times the whole grouping of one image, ``group_keypoints`` (NMS and top-k, matching,
adjust, scores, refine), on rendered CrowdPose-style maps at 512x704 with flip-test tags (L=2), for
5, 20 and 30 people; group "grouping <N> people 512x704" holds the two paths. The literal port runs
first and its result is kept, so that each fast benchmark asserts identical poses and scores (a
correctness check; the speed target, fast >= 10x literal at 20 people, is read from the report).

The broad case, group "refine broad fan-in seed 5 512x704": refine alone (stage 5, the one broad maps make
expensive), fast and literal, on the maps the fan-in weights give on sample image 103319
(``bench.speed.network_maps``, computed once per session with the network, a few seconds): 59 people, 602
joints missing before refine. Each asserts the same refined people as the other path.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.speed.network_maps import BROAD_IMAGE_ID, BROAD_SEED, network_maps
from bench.speed.synthetic_maps import SyntheticMapsConfig, render_maps
from reference.grouping import (
    GroupingConfig,
    adjust_people,
    group_keypoints,
    match_candidates,
    nms_topk,
    refine_people,
)

MATCHERS = {"literal": "munkres", "fast": "scipy"}
ROUNDS = {"literal": 2, "fast": 5}
BROAD_ROUNDS = {"literal": 1, "fast": 5}
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
def results() -> dict[tuple[int | str, str], object]:
    """(people, path) -> (poses, scores), and ("broad", path) -> refined people, of the benchmarks run so
    far."""
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


@pytest.fixture(scope="module")
def broad() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The broad case: people before refine (found by the fast stages 1-3), heatmaps, tags."""
    heatmaps, tags = network_maps(BROAD_IMAGE_ID, "fan-in", BROAD_SEED)
    candidates = nms_topk(heatmaps[None], tags[None])
    people = match_candidates(candidates.values[0], candidates.locations[0], candidates.tags[0])
    return adjust_people(people, heatmaps), heatmaps, tags


@pytest.mark.parametrize("path", list(MATCHERS))
def test_refine_speed_on_broad_maps(benchmark, broad, results, path):
    benchmark.group = f"refine broad fan-in seed {BROAD_SEED} 512x704"
    people, heatmaps, tags = broad
    missing = int((people[:, :, 2] == 0).sum())
    benchmark.extra_info.update(people=len(people), missing_joints=missing, path=path, matcher=MATCHERS[path])
    config = GroupingConfig(matcher=MATCHERS[path])
    refined = benchmark.pedantic(refine_people, args=(people, heatmaps, tags, config),
                                 rounds=BROAD_ROUNDS[path], iterations=1, warmup_rounds=int(path == "fast"))
    results["broad", path] = refined
    other = "literal" if path == "fast" else "fast"
    if ("broad", other) not in results:
        other_config = GroupingConfig(matcher=MATCHERS[other])
        results["broad", other] = refine_people(people, heatmaps, tags, other_config)
    np.testing.assert_array_equal(refined, results["broad", other])
    assert missing > 100
