"""Batched grouping on the maps' device: one copy per direction, the same people as image by image, the
GPU's whole-map refine (run here on the CPU) equal to the CPU kernel, and mmpose's fixtures in one batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.speed.synthetic_maps import SyntheticMapsConfig, render_maps
from reference.grouping import GroupingConfig, fast, group_batch, match_candidates, nms_topk
from reference.grouping.batched import adjust_batch, people_to_device, people_to_host, refine_batch
from reference.grouping.transfer import to_device, to_host

SMALL = {"height": 128, "width": 160}
PEOPLE_COUNTS = (0, 5, 20, 0, 9)  # images without people among others, in one batch


def _maps(num_tag_dims: int, counts=PEOPLE_COUNTS) -> tuple[torch.Tensor, torch.Tensor]:
    configs = [SyntheticMapsConfig(**SMALL, seed=seed, num_people=count, num_tag_dims=num_tag_dims)
               for seed, count in enumerate(counts)]
    images = [render_maps(config) for config in configs]
    heatmaps = np.stack([image.heatmaps for image in images])
    heatmaps[np.array(counts) == 0] = 0  # no peaks at all: no candidates above the threshold
    return torch.from_numpy(heatmaps), torch.from_numpy(np.stack([image.tags for image in images]))


def _assert_same(left: list, right: list) -> None:
    assert len(left) == len(right)
    for (people, scores), (other_people, other_scores) in zip(left, right, strict=True):
        assert people.dtype == other_people.dtype == np.float32 and scores.dtype == other_scores.dtype
        np.testing.assert_array_equal(people, other_people)
        np.testing.assert_array_equal(scores, other_scores)


def test_packed_copies_round_trip_exactly():
    floats = np.array([[np.nan, -0.0, np.inf], [1e-40, -3.5, 7.0]], dtype=np.float32)
    integers = np.array([0, -5, 2**31 - 1])
    on_device = to_device((floats, integers, np.zeros((0, 3), dtype=np.float32)), torch.device("cpu"))
    assert [tensor.dtype for tensor in on_device] == [torch.float32, torch.int64, torch.float32]
    back = to_host(on_device)
    assert back[0].view(np.int32).tolist() == floats.view(np.int32).tolist()  # bit patterns, NaN included
    assert back[1].tolist() == integers.tolist() and back[2].shape == (0, 3)


def test_only_float32_and_integers_travel_packed():
    with pytest.raises(TypeError, match="array 1"):
        to_device((np.zeros(2, dtype=np.float32), np.zeros(2)), torch.device("cpu"))
    with pytest.raises(TypeError, match="tensor 0"):
        to_host((torch.zeros(2, dtype=torch.bool),))


@pytest.mark.parametrize("num_tag_dims", [1, 2])
@pytest.mark.parametrize(("adjust", "refine"), [(True, True), (True, False), (False, True)])
def test_batch_with_uneven_people_equals_each_image_and_the_literal_port(num_tag_dims, adjust, refine):
    heatmaps, tags = _maps(num_tag_dims)
    config = GroupingConfig(adjust=adjust, refine=refine)
    batched = group_batch(heatmaps, tags, config)
    assert [len(people) for people, _ in batched][:4:3] == [0, 0] and len(batched[2][0]) >= 10
    _assert_same(batched, [group_batch(heatmaps[index:index + 1], tags[index:index + 1], config)[0]
                           for index in range(len(heatmaps))])
    literal = GroupingConfig(adjust=adjust, refine=refine, matcher="munkres")
    _assert_same(batched, group_batch(heatmaps, tags, literal))


def test_a_batch_copies_to_the_host_twice(monkeypatch):
    """The candidates come to the host in one copy and the grouped people in one; nothing else does."""
    heatmaps, tags = _maps(2)
    copies = []
    original = torch.Tensor.cpu

    def counted(tensor, *args, **kwargs):
        copies.append(tuple(tensor.shape))
        return original(tensor, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "cpu", counted)
    group_batch(heatmaps, tags)
    assert len(copies) == 2


def _matched_batch(heatmaps: torch.Tensor, tags: torch.Tensor):
    config = GroupingConfig()
    candidates = nms_topk(heatmaps, tags, config)
    people = [match_candidates(*image, config) for image in
              zip(candidates.values, candidates.locations, candidates.tags, strict=True)]
    return adjust_batch(people_to_device(people, heatmaps.device), heatmaps)


@pytest.mark.parametrize("num_tag_dims", [1, 2])
@pytest.mark.parametrize("chunk_bytes", [fast.WHOLE_MAP_BYTES, 1])
def test_whole_map_refine_over_the_batch_equals_the_cpu_kernel(monkeypatch, num_tag_dims, chunk_bytes):
    """The GPU's refine (whole maps, all pairs of all images, in chunks; one pair per chunk with 1 byte)
    run on the CPU finds the very pixels the per-map CPU kernel finds."""
    monkeypatch.setattr(fast, "WHOLE_MAP_BYTES", chunk_bytes)
    heatmaps, tags = _maps(num_tag_dims, counts=(6, 0, 14))
    batch = _matched_batch(heatmaps, tags)
    assert batch.host_missing.shape[1] > 20
    whole = people_to_host(refine_batch(batch, heatmaps, tags, whole_maps=True))
    pruned = people_to_host(refine_batch(batch, heatmaps, tags, whole_maps=False))
    for left, right in zip(whole, pruned, strict=True):
        np.testing.assert_array_equal(left, right)


def test_whole_map_refine_names_nan():
    heatmaps, tags = _maps(2, counts=(6,))
    batch = _matched_batch(heatmaps, tags)
    tags[0, batch.host_missing[1, 0]] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        refine_batch(batch, heatmaps, tags, whole_maps=True)


def test_mmpose_fixtures_group_as_mmpose_in_one_batch(mmpose_fixtures):
    cases = [dict(np.load(mmpose_fixtures / f"mmpose_group_case{case}.npz")) for case in (0, 1)]
    heatmaps = np.concatenate([case["heatmaps"] for case in cases] + [np.zeros_like(cases[0]["heatmaps"])])
    tags = np.concatenate([case["tags"] for case in cases] + [cases[0]["tags"]])
    grouped = group_batch(torch.from_numpy(heatmaps), torch.from_numpy(tags))
    for (people, scores), case in zip(grouped, cases, strict=False):
        np.testing.assert_allclose(people, case["grouped"], rtol=0, atol=1e-5)
        np.testing.assert_allclose(scores, case["scores"], rtol=0, atol=1e-6)
    assert grouped[2][0].shape == (0, 14, 5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("num_tag_dims", [1, 2])
def test_cuda_batch_groups_like_the_cpu_batch(num_tag_dims):
    heatmaps, tags = _maps(num_tag_dims)
    _assert_same(group_batch(heatmaps.cuda(), tags.cuda()), group_batch(heatmaps, tags))
