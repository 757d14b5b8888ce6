"""Grouping on synthetic CrowdPose-style crowds (bench.speed.synthetic_maps): the literal munkres port is the
oracle for the fast path, and the generator itself draws what it claims."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.errors import BenchError
from bench.speed.synthetic_maps import CROWDPOSE_MAP_SIZES, SyntheticMapsConfig, render_maps
from reference.grouping import GroupingConfig, group_batch, group_keypoints, match_candidates, nms_topk
from reference.grouping.block_maxima import first_maxima
from reference.grouping.fast import first_maxima_whole_maps

SMALL = {"height": 128, "width": 160}
# 40 people on a larger map: more than max_num_people (30) and more than the 30 candidates per joint
CROWD = SyntheticMapsConfig(height=256, width=320, num_people=40, min_person_height=0.12,
                            max_person_height=0.35, seed=7)
LIMITS = [("mmpose-0.29", False), ("mmpose-0.29", True), ("2020", False), ("2020", True)]


def _assert_same(left: tuple[np.ndarray, ...], right: tuple[np.ndarray, ...]) -> None:
    for a, b in zip(left, right, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("seed", "num_people", "num_tag_dims"),
                         [(0, 5, 2), (1, 20, 2), (2, 20, 1), (3, 12, 2)])
def test_fast_path_equals_literal_port(seed, num_people, num_tag_dims):
    config = SyntheticMapsConfig(**SMALL, seed=seed, num_people=num_people, num_tag_dims=num_tag_dims)
    maps = render_maps(config)
    fast = group_keypoints(maps.heatmaps, maps.tags)
    assert len(fast[0]) >= num_people // 2
    _assert_same(fast, group_keypoints(maps.heatmaps, maps.tags, matcher="munkres"))


@pytest.mark.parametrize(("group_limit", "ignore_too_much"), LIMITS)
def test_more_people_than_max_num_people_fast_equals_literal(group_limit, ignore_too_much):
    maps = render_maps(SyntheticMapsConfig(**SMALL, num_people=14, seed=8))
    settings = {"group_limit": group_limit, "ignore_too_much": ignore_too_much, "max_num_people": 8}
    fast = group_keypoints(maps.heatmaps, maps.tags, **settings)
    _assert_same(fast, group_keypoints(maps.heatmaps, maps.tags, matcher="munkres", **settings))


def _matched(maps, **settings) -> np.ndarray:
    candidates = nms_topk(maps.heatmaps[None], maps.tags[None])
    return match_candidates(candidates.values[0], candidates.locations[0], candidates.tags[0],
                            GroupingConfig(**settings))


def test_crowd_people_counts_follow_the_limit_semantics():
    crowd = render_maps(CROWD)
    found_joints = {key: (_matched(crowd, group_limit=key[0], ignore_too_much=key[1])[..., 2] > 0).sum(axis=1)
                    for key in LIMITS}
    assert len(found_joints["mmpose-0.29", False]) > 30
    assert len(found_joints["mmpose-0.29", True]) == 30
    assert len(found_joints["2020", False]) > 30
    assert (found_joints["2020", False][30:] == 1).all()  # beyond the first 30 nobody is matched again
    assert len(found_joints["2020", True]) <= 30


@pytest.mark.parametrize("matcher", ["scipy", "munkres"])
def test_batch_equals_one_image_at_a_time(matcher):
    images = [render_maps(SyntheticMapsConfig(**SMALL, seed=seed, num_people=8)) for seed in (10, 11, 12)]
    heatmaps = torch.from_numpy(np.stack([image.heatmaps for image in images]))
    tags = torch.from_numpy(np.stack([image.tags for image in images]))
    config = GroupingConfig(matcher=matcher)
    batched = group_batch(heatmaps, tags, config)
    for index, result in enumerate(batched):
        _assert_same(result, group_batch(heatmaps[index:index + 1], tags[index:index + 1], config)[0])


@pytest.mark.parametrize("num_tag_dims", [1, 2])
def test_whole_map_refine_search_equals_the_block_cpu_search(num_tag_dims):
    """The GPU refine scores whole maps; run on the CPU here, it must find the same maxima."""
    maps = render_maps(SyntheticMapsConfig(**SMALL, num_people=10, num_tag_dims=num_tag_dims, seed=9))
    offsets = np.random.default_rng(0).normal(0, 0.3, (10, num_tag_dims))
    person_tags = (maps.person_tags[:, None] + offsets).astype(np.float32)
    pairs = torch.arange(14).repeat_interleave(10)
    heatmaps, tags = torch.from_numpy(maps.heatmaps)[None], torch.from_numpy(maps.tags)[None]
    whole = first_maxima_whole_maps(heatmaps, tags, torch.zeros_like(pairs), pairs,
                                    torch.from_numpy(person_tags).repeat(14, 1))
    for joint in range(14):
        heatmap, tag = maps.heatmaps[joint], maps.tags[joint]
        np.testing.assert_array_equal(whole[joint * 10:(joint + 1) * 10].numpy(),
                                      first_maxima(heatmap, tag, person_tags))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_maps_group_like_cpu_maps():
    maps = render_maps(SyntheticMapsConfig(**SMALL, num_people=12, seed=6))
    on_cpu = group_keypoints(maps.heatmaps, maps.tags)
    on_cuda = group_keypoints(torch.from_numpy(maps.heatmaps).cuda(), torch.from_numpy(maps.tags).cuda())
    _assert_same(on_cpu, on_cuda)


def test_uncrowded_people_are_found_where_they_were_drawn():
    config = SyntheticMapsConfig(height=256, width=320, num_people=4, missing_joint_rate=0.0,
                                 min_person_height=0.4, max_person_height=0.5, seed=5)
    maps = render_maps(config)
    poses, scores = group_keypoints(maps.heatmaps, maps.tags)
    assert len(poses) == maps.visible.any(axis=1).sum()
    for pose, score in zip(poses, scores, strict=True):
        person = np.argmin(np.abs(maps.person_tags - pose[:, 3][pose[:, 3] != 0].mean()))
        drawn = maps.visible[person]
        error = np.linalg.norm(pose[drawn, :2] - maps.joints[person, drawn], axis=1)
        assert error.max() < 1.5
        # a drawn peak is >= 0.5 * exp(-1/16) at its nearest pixel; the score averages over all 14 joints
        assert score >= 0.46 * drawn.sum() / 14


# ---- the generator ------------------------------------------------------------------------------------

def test_rendering_is_deterministic_per_seed():
    first, again = (render_maps(SyntheticMapsConfig(**SMALL, num_people=6, seed=3)) for _ in range(2))
    other = render_maps(SyntheticMapsConfig(**SMALL, num_people=6, seed=4))
    np.testing.assert_array_equal(first.heatmaps, again.heatmaps)
    np.testing.assert_array_equal(first.tags, again.tags)
    assert not np.array_equal(first.heatmaps, other.heatmaps)


@pytest.mark.parametrize(("height", "width"), CROWDPOSE_MAP_SIZES)
def test_shapes_at_crowdpose_map_sizes(height, width):
    maps = render_maps(SyntheticMapsConfig(height=height, width=width, num_people=2, num_tag_dims=1))
    assert maps.heatmaps.shape == (14, height, width) and maps.heatmaps.dtype == np.float32
    assert maps.tags.shape == (14, height, width, 1) and maps.tags.dtype == np.float32
    assert maps.joints.shape == (2, 14, 2) and maps.visible.shape == (2, 14)
    assert maps.person_tags.shape == (2,)


def test_peaks_at_visible_joints_carry_their_persons_tag_and_the_background_stays_below_threshold():
    config = SyntheticMapsConfig(**SMALL, num_people=6, seed=2)
    maps = render_maps(config)
    person, joint = np.nonzero(maps.visible)
    xs, ys = np.rint(maps.joints[person, joint]).astype(int).T
    assert (maps.heatmaps[joint, ys, xs] > 0.4).all()
    own_tag = np.abs(maps.tags[joint, ys, xs] - maps.person_tags[person, None]).max(axis=1) < 0.3
    assert own_tag.mean() > 0.9  # the rest lie under a brighter peak of someone else

    near_a_peak = np.zeros(maps.heatmaps.shape, dtype=bool)
    for j, y, x in zip(joint, ys, xs, strict=True):
        near_a_peak[j, max(0, y - 8):y + 9, max(0, x - 8):x + 9] = True
    assert maps.heatmaps[~near_a_peak].max() < config.noise_level + 1e-3
    assert len(np.unique(maps.person_tags)) == config.num_people


def test_missing_joints_are_left_out():
    maps = render_maps(SyntheticMapsConfig(**SMALL, num_people=10, missing_joint_rate=0.3, seed=1))
    assert 0.1 < 1 - maps.visible.mean() < 0.6


@pytest.mark.parametrize("settings", [{"num_people": -1}, {"missing_joint_rate": 1.0}, {"sigma": 0.0},
                                      {"min_person_height": 0.7}])
def test_bad_generator_settings_are_named(settings):
    with pytest.raises(BenchError, match=next(iter(settings))):
        SyntheticMapsConfig(**settings)
