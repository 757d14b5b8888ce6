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

On the same maps, group "match broad fan-in seed 5 512x704" times the match stage (stage 2) alone, fast
and literal; group "match ties broad fan-in seed 5 512x704" times the tie solver of the fast path on the
cost matrices it is handed there (10 of 13 joints, where another optimum would group differently), the
vectorized port (``reference.grouping.hungarian``) against the munkres package it reproduces, each
asserting the other's pairs.
"""

from __future__ import annotations

import numpy as np
import pytest
from munkres import Munkres

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
from reference.grouping import match as match_module
from reference.grouping.hungarian import munkres_assignment

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
def broad_candidates() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The broad case's candidates (stage 1): values, locations, tags of one image."""
    heatmaps, tags = network_maps(BROAD_IMAGE_ID, "fan-in", BROAD_SEED)
    candidates = nms_topk(heatmaps[None], tags[None])
    return candidates.values[0], candidates.locations[0], candidates.tags[0]


@pytest.fixture(scope="module")
def broad(broad_candidates) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The broad case: people before refine (found by the fast stages 1-3), heatmaps, tags."""
    heatmaps, tags = network_maps(BROAD_IMAGE_ID, "fan-in", BROAD_SEED)
    return adjust_people(match_candidates(*broad_candidates), heatmaps), heatmaps, tags


@pytest.fixture(scope="module")
def broad_ties(broad_candidates) -> list[np.ndarray]:
    """The cost matrices the fast match stage hands its tie solver on the broad case (copies)."""
    handed: list[np.ndarray] = []

    def recording(cost: np.ndarray) -> list[tuple[int, int]]:
        handed.append(cost.copy())
        return munkres_assignment(cost)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(match_module, "munkres_assignment", recording)
        match_candidates(*broad_candidates)
    return handed


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


@pytest.mark.parametrize("path", list(MATCHERS))
def test_match_speed_on_broad_maps(benchmark, broad_candidates, results, path):
    benchmark.group = f"match broad fan-in seed {BROAD_SEED} 512x704"
    benchmark.extra_info.update(path=path, matcher=MATCHERS[path])
    config = GroupingConfig(matcher=MATCHERS[path])
    people = benchmark.pedantic(match_candidates, args=(*broad_candidates, config),
                                rounds=BROAD_ROUNDS[path], iterations=1, warmup_rounds=int(path == "fast"))
    results["broad match", path] = people
    other = "literal" if path == "fast" else "fast"
    if ("broad match", other) not in results:
        results["broad match", other] = match_candidates(*broad_candidates,
                                                         GroupingConfig(matcher=MATCHERS[other]))
    np.testing.assert_array_equal(people, results["broad match", other])
    assert len(people) == 59


TIE_SOLVERS = {
    "port": munkres_assignment,
    "munkres": lambda cost: [(int(row), int(col)) for row, col in Munkres().compute(cost.copy())],
}


@pytest.mark.parametrize("solver", list(TIE_SOLVERS))
def test_tie_solver_speed_on_broad_maps(benchmark, broad_ties, results, solver):
    benchmark.group = f"match ties broad fan-in seed {BROAD_SEED} 512x704"
    benchmark.extra_info.update(solver=solver, matrices=len(broad_ties),
                                shapes=[list(cost.shape) for cost in broad_ties])
    solve = TIE_SOLVERS[solver]
    pairs = benchmark.pedantic(lambda: [solve(cost) for cost in broad_ties],
                               rounds=5 if solver == "port" else 3, iterations=1, warmup_rounds=1)
    results["broad ties", solver] = pairs
    other = "munkres" if solver == "port" else "port"
    if ("broad ties", other) not in results:
        results["broad ties", other] = [TIE_SOLVERS[other](cost) for cost in broad_ties]
    assert pairs == results["broad ties", other]
    assert len(broad_ties) >= 5
