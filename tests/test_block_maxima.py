"""Refine's CPU search (reference.grouping.block_maxima) is bit-identical to argmax over the whole
penalised map, mmpose's ``heatmap - round(sqrt(sum((tag - person_tag) ** 2)))``: broad maps of many
shapes, L = 1, 2, 4 and 8 tag values, ties, tags at exact rounding boundaries, degenerate maps."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from reference.grouping import block_maxima
from reference.grouping.block_maxima import first_maxima


def whole_map_argmax(heat: np.ndarray, tags: np.ndarray, person_tags: np.ndarray) -> np.ndarray:
    """The literal port's search, one person at a time over the whole map."""
    found = []
    for person_tag in person_tags:
        distance = ((tags - person_tag[None, None, :]) ** 2).sum(axis=2) ** 0.5
        found.append(np.argmax(heat - np.round(distance)))
    return np.array(found, dtype=np.int64)


def assert_as_whole_map(heat: np.ndarray, tags: np.ndarray, person_tags: np.ndarray) -> None:
    found, expected = first_maxima(heat, tags, person_tags), whole_map_argmax(heat, tags, person_tags)
    np.testing.assert_array_equal(found, expected)


def broad_maps(shape: tuple[int, int], num_tags: int, seed: int, tag_span: float = 1.5,
               noise: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """Smooth O(1) heatmaps and tags over ``tag_span`` units (like the fan-in network's), plus noise."""
    rng = np.random.default_rng(seed)

    def smooth(scale: float) -> np.ndarray:
        field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma=4, mode="nearest")
        return field / max(field.std(), 1e-6) * scale + rng.standard_normal(shape) * noise

    heat = smooth(0.5).astype(np.float32)
    tags = np.stack([smooth(tag_span / 2) for _ in range(num_tags)], axis=-1).astype(np.float32)
    return heat, np.ascontiguousarray(tags)


def person_tags_from(tags: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Person tags as refine sees them: float32 means of a few tags of the map."""
    rng = np.random.default_rng(seed + 1000)
    flat = tags.reshape(-1, tags.shape[-1])
    picks = rng.integers(0, len(flat), size=(count, 3))
    return flat[picks].mean(axis=1).astype(np.float32)


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (7, 1), (13, 17), (64, 64), (37, 91), (130, 70)])
@pytest.mark.parametrize("num_tags", [1, 2, 4])
def test_broad_maps_equal_whole_map_argmax(shape, num_tags):
    for seed in range(3):
        heat, tags = broad_maps(shape, num_tags, seed)
        person_tags = person_tags_from(tags, 12, seed)
        assert_as_whole_map(heat, tags, person_tags)


def test_eight_tag_values_sum_pairwise_like_numpy():
    heat, tags = broad_maps((40, 56), 8, seed=4)
    person_tags = person_tags_from(tags, 10, seed=4)
    assert_as_whole_map(heat, tags, person_tags)


@pytest.mark.parametrize("num_tags", [1, 2, 4])
def test_quantised_maps_tie_break_on_the_first_pixel_and_hit_rounding_boundaries(num_tags):
    """Heatmaps in steps of 1/8 (many equal scores) and tags and person tags on a 1/4 grid: distances
    are often exactly k + 0.5, where numpy's round goes to the even neighbour."""
    for seed in range(4):
        heat, tags = broad_maps((48, 72), num_tags, seed)
        heat = np.round(heat * 8) / np.float32(8)
        tags = np.round(tags * 4) / np.float32(4)
        person_tags = np.round(person_tags_from(tags, 16, seed) * 4) / np.float32(4)
        person_tags[:4] = tags.reshape(-1, num_tags)[[0, 5, 100, -1]] + np.float32(0.5)
        assert_as_whole_map(heat, tags, person_tags)


def test_small_heatmap_differences_that_round_away_in_the_score_still_tie_in_flat_order():
    """float32(h - 1) is equal for neighbouring small h: the first pixel of equal score wins, not the
    largest h."""
    rng = np.random.default_rng(7)
    heat = (0.3 + rng.integers(0, 4, size=(24, 40)) * np.float32(2 ** -26)).astype(np.float32)
    tags = np.ones((24, 40, 2), dtype=np.float32)
    tags[:, 20:] = 0.2  # two penalties: 1 on the left for a person tag at 0.2, 0 on the right
    person_tags = np.array([[0.2, 0.2], [1.0, 1.0], [3.0, 3.0]], dtype=np.float32)
    assert_as_whole_map(heat, tags, person_tags)


@pytest.mark.parametrize("case", ["constant heat", "equal tags", "one pixel", "far person tags"])
def test_degenerate_maps(case):
    heat, tags = broad_maps((33, 45), 2, seed=5)
    person_tags = person_tags_from(tags, 8, seed=5)
    if case == "constant heat":
        heat[:] = 0.25
    elif case == "equal tags":
        tags[:] = 0.5
    elif case == "one pixel":
        heat, tags = heat[:1, :1].copy(), tags[:1, :1].copy()
    else:
        person_tags += np.float32(40.0)
    assert_as_whole_map(heat, tags, person_tags)


def test_many_person_tags_and_none():
    heat, tags = broad_maps((20, 28), 2, seed=6)
    person_tags = person_tags_from(tags, 2000, seed=6)
    assert_as_whole_map(heat, tags, person_tags)
    assert first_maxima(heat, tags, person_tags[:0]).shape == (0,)


def test_noise_tags_change_within_every_block():
    """Tags that jump by several units from pixel to pixel: every block straddles rounding boundaries."""
    rng = np.random.default_rng(8)
    heat = rng.random((50, 60), dtype=np.float32)
    tags = rng.uniform(-3, 3, size=(50, 60, 2)).astype(np.float32)
    person_tags = rng.uniform(-3, 3, size=(20, 2)).astype(np.float32)
    assert_as_whole_map(heat, tags, person_tags)


@pytest.mark.parametrize(("where", "value", "message"), [
    ("heat", np.nan, "NaN"), ("tags", np.nan, "NaN"), ("heat", np.inf, "infinite"),
    ("tags", -np.inf, "infinite"),
])
def test_nan_and_infinity_are_errors(where, value, message):
    heat, tags = broad_maps((17, 19), 2, seed=9)
    (heat if where == "heat" else tags)[16, 18] = value
    with pytest.raises(ValueError, match=message):
        first_maxima(heat, tags, np.zeros((3, 2), np.float32))


def test_scoring_in_small_chunks_merges_ties_across_chunks(monkeypatch):
    """Candidate pixels are scored a chunk of blocks at a time: the per-chunk bests must merge exactly."""
    monkeypatch.setattr(block_maxima, "_PIXELS_PER_CHUNK", 3 * block_maxima.FINE ** 2)
    rng = np.random.default_rng(10)
    heat = np.round(rng.random((40, 48), dtype=np.float32) * 4) / np.float32(4)
    tags = np.round(rng.uniform(-2, 2, size=(40, 48, 2)) * 2).astype(np.float32) / np.float32(2)
    person_tags = np.round(rng.uniform(-2, 2, size=(9, 2)) * 2).astype(np.float32) / np.float32(2)
    assert_as_whole_map(heat, tags, person_tags)
