"""Grouping: parity with mmpose 0.29.0's fixtures, hand-computed cases, and the public API's contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reference.grouping import (
    HIGHERHRNET_CROWDPOSE_JOINT_ORDER,
    GroupingConfig,
    adjust_people,
    group_batch,
    group_keypoints,
    match_candidates,
    nms_topk,
    person_scores,
    refine_people,
)
from reference.grouping.match import has_deciding_tie, solve_fast, solve_with_munkres, solve_with_scipy
from reference.grouping.nms import _dilated, _shifted, window_maximum

MATCHERS = ("scipy", "munkres")
COORDINATE_TOLERANCE = 1e-5


def _load_case(mmpose_fixtures, case: int) -> dict[str, np.ndarray]:
    with np.load(mmpose_fixtures / f"mmpose_group_case{case}.npz") as data:
        return dict(data)


@pytest.mark.parametrize("case", [0, 1])
def test_nms_topk_matches_mmpose(mmpose_fixtures, case):
    data = _load_case(mmpose_fixtures, case)
    candidates = nms_topk(torch.from_numpy(data["heatmaps"]), torch.from_numpy(data["tags"]))
    np.testing.assert_array_equal(candidates.values, data["topk_val_k"])
    np.testing.assert_array_equal(candidates.locations, data["topk_loc_k"])
    np.testing.assert_array_equal(candidates.tags, data["topk_tag_k"])


@pytest.mark.parametrize("matcher", MATCHERS)
@pytest.mark.parametrize("case", [0, 1])
def test_stages_match_mmpose(mmpose_fixtures, case, matcher):
    data = _load_case(mmpose_fixtures, case)
    config = GroupingConfig(matcher=matcher)
    heatmaps, tags = data["heatmaps"][0], data["tags"][0]
    matched = match_candidates(data["topk_val_k"][0], data["topk_loc_k"][0], data["topk_tag_k"][0], config)
    np.testing.assert_allclose(matched, data["matched"], rtol=0, atol=COORDINATE_TOLERANCE)
    adjusted = adjust_people(matched, heatmaps, config)
    np.testing.assert_allclose(adjusted, data["adjusted"], rtol=0, atol=COORDINATE_TOLERANCE)
    np.testing.assert_allclose(person_scores(adjusted), data["scores"], rtol=0, atol=1e-6)
    refined = refine_people(adjusted, heatmaps, tags, config)
    np.testing.assert_allclose(refined, data["grouped"], rtol=0, atol=COORDINATE_TOLERANCE)


@pytest.mark.parametrize("matcher", MATCHERS)
@pytest.mark.parametrize("case", [0, 1])
def test_group_keypoints_matches_mmpose(mmpose_fixtures, case, matcher):
    data = _load_case(mmpose_fixtures, case)
    poses, scores = group_keypoints(data["heatmaps"][0], data["tags"][0], matcher=matcher)
    grouped = data["grouped"]
    assert poses.shape == (len(grouped), 14, 4) and poses.dtype == np.float32
    np.testing.assert_allclose(poses[..., :3], grouped[..., :3], rtol=0, atol=COORDINATE_TOLERANCE)
    np.testing.assert_allclose(poses[..., 3], grouped[..., 3:].mean(axis=2), rtol=0, atol=1e-6)
    np.testing.assert_allclose(scores, data["scores"], rtol=0, atol=1e-6)


def test_fixture_case1_refine_filled_a_joint_below_the_threshold(mmpose_fixtures):
    """Guards the fixture itself: refine must have work to do for the parity test to mean something."""
    data = _load_case(mmpose_fixtures, 1)
    filled = (data["adjusted"][..., 2] == 0) & (data["grouped"][..., 2] > 0)
    assert filled.any()
    assert (data["grouped"][..., 3:][filled] == 0).all()


# ---- stage 1: NMS and top-k -------------------------------------------------------------------------

@pytest.mark.parametrize("kernel", [1, 3, 5, 7])
@pytest.mark.parametrize("shape", [(2, 3, 17, 23), (1, 1, 2, 9), (1, 2, 1, 1)])
@pytest.mark.parametrize("values", ["normal", "plateaus"])
def test_window_maximum_equals_max_pool(kernel, shape, values):
    """Both implementations (OpenCV's dilate on the CPU, shifted maxima elsewhere, run here on the CPU)
    give MaxPool2d's values exactly, at the border, on plateaus and with infinities."""
    generator = torch.Generator().manual_seed(kernel)
    maps = torch.randn(shape, generator=generator)
    if values == "plateaus":
        maps = torch.randint(-2, 2, shape, generator=generator).float()
        maps[..., 0, 0] = -torch.inf
        maps.view(-1)[-1] = torch.inf
    expected = torch.nn.functional.max_pool2d(maps, kernel, 1, kernel // 2)
    for implementation in (window_maximum, _dilated, _shifted):
        assert torch.equal(implementation(maps, kernel), expected), implementation.__name__


def test_nms_keeps_every_pixel_of_a_plateau():
    heatmaps = torch.zeros(1, 1, 12, 12)
    heatmaps[0, 0, 3:5, 4:6] = 0.5  # 2x2 plateau: every pixel equals its window maximum
    heatmaps[0, 0, 9, 9] = 0.8
    heatmaps[0, 0, 9, 10] = 0.3  # beside a higher pixel: suppressed
    candidates = nms_topk(heatmaps, torch.zeros(1, 1, 12, 12, 2), GroupingConfig(max_num_people=6))
    values, locations = candidates.values[0, 0], candidates.locations[0, 0]
    assert values.tolist() == pytest.approx([0.8, 0.5, 0.5, 0.5, 0.5, 0.0])
    assert locations[0].tolist() == [9, 9]
    assert sorted(map(tuple, locations[1:5].tolist())) == [(4, 3), (4, 4), (5, 3), (5, 4)]


def test_nms_topk_reads_tags_at_the_peaks_and_caps_at_map_size():
    heatmaps = torch.zeros(1, 2, 3, 4)
    heatmaps[0, 1, 2, 3] = 0.9
    tags = torch.arange(2 * 3 * 4 * 2, dtype=torch.float32).reshape(1, 2, 3, 4, 2)
    candidates = nms_topk(heatmaps, tags)  # max_num_people 30 > 12 pixels
    assert candidates.values.shape == (1, 2, 12)
    assert candidates.locations[0, 1, 0].tolist() == [3, 2]
    assert candidates.tags[0, 1, 0].tolist() == tags[0, 1, 2, 3].tolist()


# ---- stage 2: matching, hand-computed -----------------------------------------------------------------

def _candidates(rows: list[list[tuple[float, float]]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """values [K,M], locations [K,M,2], tags [K,M,1] from per-joint lists of (value, tag); the location
    of candidate m of joint k is (10*k + m, 0) so tests can tell the candidates apart."""
    num_joints, width = len(rows), max(len(row) for row in rows)
    values = np.zeros((num_joints, width), dtype=np.float32)
    tags = np.zeros((num_joints, width, 1), dtype=np.float32)
    locations = np.zeros((num_joints, width, 2), dtype=np.int64)
    for joint, row in enumerate(rows):
        for index, (value, tag) in enumerate(row):
            values[joint, index], tags[joint, index, 0] = value, tag
            locations[joint, index] = (10 * joint + index, 0)
    return values, locations, tags


def _xs(people: np.ndarray) -> list[list[int]]:
    """Per person, the x of each joint (-1 when missing)."""
    return [[int(x) if value > 0 else -1 for x, value in zip(person[:, 0], person[:, 2], strict=True)]
            for person in people]


@pytest.mark.parametrize("matcher", MATCHERS)
def test_matching_groups_by_tag_and_starts_people_for_strangers(matcher):
    values, locations, tags = _candidates([
        [(0.9, 0.0), (0.8, 5.0)],
        [(0.7, 5.2), (0.6, 9.0), (0.5, 0.3)],
        [(0.05, 0.1)],  # below detection_threshold: ignored
    ])
    people = match_candidates(values, locations, tags, GroupingConfig(matcher=matcher))
    assert _xs(people) == [[0, 12, -1], [1, 10, -1], [-1, 11, -1]]
    np.testing.assert_array_equal(people[0, 1], [12, 0, 0.5, np.float32(0.3)])


@pytest.mark.parametrize("matcher", MATCHERS)
def test_equal_first_tags_share_one_person_like_mmpose_dict_keys(matcher):
    values, locations, tags = _candidates([[(0.9, 1.0), (0.8, 1.0)], [(0.7, 1.1)]])
    people = match_candidates(values, locations, tags, GroupingConfig(matcher=matcher))
    assert _xs(people) == [[1, 10]]  # the second candidate overwrote the first one's joint


@pytest.mark.parametrize("matcher", MATCHERS)
@pytest.mark.parametrize(("group_limit", "ignore_too_much", "expected"), [
    # joint 1's tag 20.1 belongs to the third person, who is beyond max_num_people = 2
    ("mmpose-0.29", False, [[0, 11], [1, -1], [2, 10]]),
    ("mmpose-0.29", True, [[0, 11], [1, -1]]),
    ("2020", False, [[0, 11], [1, -1], [2, -1], [-1, 10]]),
    ("2020", True, [[0, -1], [1, -1], [2, -1]]),
])
def test_people_limit_semantics(matcher, group_limit, ignore_too_much, expected):
    values, locations, tags = _candidates([[(0.9, 0.0), (0.8, 10.0), (0.7, 20.0)], [(0.6, 20.1), (0.5, 0.1)]])
    config = GroupingConfig(max_num_people=2, group_limit=group_limit, ignore_too_much=ignore_too_much,
                            matcher=matcher)
    assert _xs(match_candidates(values, locations, tags, config)) == expected


@pytest.mark.parametrize("matcher", MATCHERS)
def test_joint_order_decides_who_starts_people(matcher):
    values, locations, tags = _candidates([[(0.9, 0.0), (0.8, 10.0)], [(0.7, 10.2)]])
    default = match_candidates(values, locations, tags, GroupingConfig(matcher=matcher))
    reversed_config = GroupingConfig(matcher=matcher, joint_order=(1, 0))
    reversed_order = match_candidates(values, locations, tags, reversed_config)
    assert _xs(default) == [[0, -1], [1, 10]]
    assert _xs(reversed_order) == [[1, 10], [0, -1]]


def test_higherhrnet_joint_order_visits_hips_after_ankles():
    assert HIGHERHRNET_CROWDPOSE_JOINT_ORDER.index(11) < HIGHERHRNET_CROWDPOSE_JOINT_ORDER.index(7)
    assert sorted(HIGHERHRNET_CROWDPOSE_JOINT_ORDER) == list(range(14))


@pytest.mark.parametrize("matcher", MATCHERS)
def test_no_candidate_above_threshold_gives_no_people(matcher):
    values, locations, tags = _candidates([[(0.09, 0.0)], [(0.05, 1.0)]])
    people = match_candidates(values, locations, tags, GroupingConfig(matcher=matcher))
    assert people.shape == (0, 2, 4) and people.dtype == np.float32


def test_a_float32_value_of_threshold_counts_as_above_it_like_mmpose():
    values, locations, tags = _candidates([[(0.1, 0.0)]])  # float32(0.1) > 0.1 in float64
    assert len(match_candidates(values, locations, tags)) == 1


# ---- assignment ties ----------------------------------------------------------------------------------

TIED_COST = np.array([[100.0, 100.0, 1e10]] * 3) - 0.5  # three candidates, two people, all equal


def test_munkres_and_scipy_break_a_tie_differently():
    assert solve_with_munkres(TIED_COST.copy()) == [(0, 2), (1, 1), (2, 0)]
    assert solve_with_scipy(TIED_COST) == [(0, 0), (1, 1), (2, 2)]


def test_fast_solver_lets_munkres_decide_a_deciding_tie():
    acceptable = np.ones((3, 2), dtype=bool)
    assert has_deciding_tie(TIED_COST, solve_with_scipy(TIED_COST), acceptable)
    assert solve_fast(TIED_COST.copy(), acceptable) == [(0, 2), (1, 1), (2, 0)]


def test_ties_that_change_nothing_keep_scipys_answer():
    cost = np.array([[-0.9, 300.0, 1e10], [500.0, 500.0, 1e10], [500.0, 500.0, 1e10]])
    acceptable = np.array([[True, False], [False, False], [False, False]])
    pairs = solve_with_scipy(cost)
    assert not has_deciding_tie(cost, pairs, acceptable)  # rows 1 and 2 tie, but both start people
    assert solve_fast(cost.copy(), acceptable) == pairs


def test_a_unique_optimum_has_no_tie():
    cost = np.array([[-0.9, 200.0], [300.0, -0.8]])
    assert not has_deciding_tie(cost, solve_with_scipy(cost), np.eye(2, dtype=bool))


@pytest.mark.parametrize("matcher", MATCHERS)
def test_tied_candidates_group_as_munkres_decides(matcher):
    # people with tags 0.0 and 0.2; three candidates with tag 0.1 and equal values tie for them
    values, locations, tags = _candidates([[(0.9, 0.0), (0.8, 0.2)], [(0.5, 0.1), (0.5, 0.1), (0.5, 0.1)]])
    people = match_candidates(values, locations, tags, GroupingConfig(matcher=matcher))
    assert _xs(people) == [[0, 12], [1, 11], [-1, 10]]


# ---- stages 3 to 5, hand-computed ---------------------------------------------------------------------

def _single_person_maps() -> tuple[np.ndarray, np.ndarray]:
    """2 joints on a 16x20 map: joint 0 peaks at (5, 6) with a higher right and lower neighbours, joint 1
    has only a faint pixel (0.05, under the detection threshold) at (14, 3) in the person's tag."""
    heatmaps = np.zeros((2, 16, 20), dtype=np.float32)
    heatmaps[0, 6, 5], heatmaps[0, 6, 6], heatmaps[0, 7, 5] = 0.9, 0.4, 0.2
    heatmaps[1, 3, 14] = 0.05
    heatmaps[1, 10, 2] = 0.08  # brighter, but in another person's tag
    tags = np.full((2, 16, 20, 2), 3.0, dtype=np.float32)
    tags[1, 10, 2] = 7.0
    return heatmaps, tags


@pytest.mark.parametrize("matcher", MATCHERS)
def test_adjust_score_and_refine_by_hand(matcher):
    heatmaps, tags = _single_person_maps()
    poses, scores = group_keypoints(heatmaps, tags, matcher=matcher)
    # joint 0: +0.25 toward the larger right neighbour, +0.25 toward the larger lower one, then +0.5
    np.testing.assert_array_equal(poses[0, 0], [5.75, 6.75, np.float32(0.9), 3.0])
    # joint 1 filled by refine: neighbours tie at 0, so -0.25 on both axes; no tag is recorded
    np.testing.assert_array_equal(poses[0, 1], [14.25, 3.25, np.float32(0.05), 0.0])
    np.testing.assert_array_equal(scores, [np.float32(0.45)])


@pytest.mark.parametrize("matcher", MATCHERS)
def test_refine_only_fills_missing_joints(matcher):
    heatmaps, tags = _single_person_maps()
    people = np.zeros((1, 2, 5), dtype=np.float32)
    people[0, 0] = (5.75, 6.75, 0.9, 3.0, 3.0)
    people[0, 1] = (1.0, 1.0, 0.3, 3.0, 3.0)  # present, though the map disagrees: kept
    refined = refine_people(people, heatmaps, tags, GroupingConfig(matcher=matcher))
    np.testing.assert_array_equal(refined, people)


@pytest.mark.parametrize("matcher", MATCHERS)
def test_empty_maps_give_no_people(matcher):
    poses, scores = group_keypoints(np.zeros((14, 24, 32)), np.zeros((14, 24, 32, 2)), matcher=matcher)
    assert poses.shape == (0, 14, 4) and scores.shape == (0,)


@pytest.mark.parametrize("matcher", MATCHERS)
def test_single_tag_maps_may_omit_the_last_axis(matcher):
    heatmaps, tags = _single_person_maps()
    with_axis = group_keypoints(heatmaps, tags[..., :1], matcher=matcher)
    without_axis = group_keypoints(heatmaps, tags[..., 0], matcher=matcher)
    for left, right in zip(with_axis, without_axis, strict=True):
        np.testing.assert_array_equal(left, right)


def test_numpy_float64_and_torch_inputs_agree():
    heatmaps, tags = _single_person_maps()
    from_numpy = group_keypoints(heatmaps.astype(np.float64), tags.astype(np.float64))
    from_torch = group_keypoints(torch.from_numpy(heatmaps), torch.from_numpy(tags))
    for left, right in zip(from_numpy, from_torch, strict=True):
        np.testing.assert_array_equal(left, right)


def test_group_batch_returns_people_with_all_tag_columns():
    heatmaps, tags = _single_person_maps()
    (people, scores), = group_batch(torch.from_numpy(heatmaps)[None], torch.from_numpy(tags)[None])
    assert people.shape == (1, 2, 5) and scores.shape == (1,)


def test_switching_off_adjust_and_refine():
    heatmaps, tags = _single_person_maps()
    poses, _ = group_keypoints(heatmaps, tags, adjust=False, refine=False)
    np.testing.assert_array_equal(poses[0, :, :3], [[5, 6, np.float32(0.9)], [0, 0, 0]])


# ---- configuration and errors -------------------------------------------------------------------------

def test_defaults_are_mmpose_crowdpose_test_cfg():
    config = GroupingConfig()
    assert (config.max_num_people, config.nms_kernel, config.detection_threshold, config.tag_threshold) \
        == (30, 5, 0.1, 1.0)
    assert config.use_detection_val and not config.ignore_too_much and config.adjust and config.refine
    assert (config.matcher, config.group_limit, config.joint_order) == ("scipy", "mmpose-0.29", None)


@pytest.mark.parametrize(("settings", "field"), [
    ({"max_num_people": 0}, "max_num_people"),
    ({"nms_kernel": 4}, "nms_kernel"),
    ({"detection_threshold": -0.1}, "detection_threshold"),
    ({"tag_threshold": float("nan")}, "tag_threshold"),
    ({"matcher": "hungarian"}, "matcher"),
    ({"group_limit": "2021"}, "group_limit"),
    ({"joint_order": (0, 0, 1)}, "joint_order"),
])
def test_invalid_settings_name_the_field(settings, field):
    with pytest.raises(ValueError, match=field):
        GroupingConfig(**settings)


def test_unknown_settings_are_named():
    with pytest.raises(TypeError, match="nms_padding"):
        group_keypoints(np.zeros((1, 4, 4)), np.zeros((1, 4, 4)), nms_padding=2)


def test_non_boolean_switch_is_rejected():
    with pytest.raises(TypeError, match="refine"):
        GroupingConfig(refine="yes")


@pytest.mark.parametrize(("heatmaps", "tags", "message"), [
    (np.zeros((4, 4)), np.zeros((4, 4)), "heatmaps must be"),
    (np.zeros((1, 4, 4)), np.zeros((1, 4, 5)), "tags must be"),
    (np.zeros((1, 4, 4), dtype=bool), np.zeros((1, 4, 4)), "numbers"),
    ([[[0.0]]], np.zeros((1, 1, 1)), "numpy array or a torch tensor"),
])
def test_bad_maps_are_named(heatmaps, tags, message):
    with pytest.raises((ValueError, TypeError), match=message):
        group_keypoints(heatmaps, tags)


def test_nan_in_heatmaps_is_an_error():
    heatmaps = np.zeros((2, 8, 8), dtype=np.float32)
    heatmaps[1, 3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        group_keypoints(heatmaps, np.zeros((2, 8, 8)))


@pytest.mark.parametrize("matcher", MATCHERS)
def test_nan_in_tags_read_by_refine_is_an_error(matcher):
    heatmaps, tags = _single_person_maps()
    tags[1, 12, 12] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        group_keypoints(heatmaps, tags, matcher=matcher)


def test_refine_needs_a_found_joint_per_person():
    heatmaps, tags = _single_person_maps()
    with pytest.raises(ValueError, match="person 0"):
        refine_people(np.zeros((1, 2, 5)), heatmaps, tags)


def test_adjust_rejects_joints_outside_the_map():
    heatmaps, _ = _single_person_maps()
    people = np.zeros((1, 2, 5), dtype=np.float32)
    people[0, 0] = (25, 3, 0.5, 0, 0)
    with pytest.raises(ValueError, match="outside"):
        adjust_people(people, heatmaps)


def test_joint_order_must_cover_the_candidates_joints():
    values, locations, tags = _candidates([[(0.9, 0.0)], [(0.8, 0.0)]])
    with pytest.raises(ValueError, match="joint_order"):
        match_candidates(values, locations, tags, GroupingConfig(joint_order=(0, 1, 2)))
