"""Per-stage speed of the pipeline, one benchmark per stage (pytest-benchmark, `nox -s benchmark`).

Grouping stages run on rendered 20-person maps at 512x704 (the aggregated-map size of a 640x480
CrowdPose image) with flip-test tags; decode and preprocessing on a bundled sample image; the
network forward on a 256x256 input (batch 1, synthetic weights) so that the suite stays short on a
CPU. Groups: "input", "grouping-512x704", "forward-256".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bench.data import read_image
from bench.synthetic_maps import SyntheticMapsConfig, render_maps
from bench.synthetic_weights import deterministic_state_dict
from reference.grouping import GroupingConfig, adjust_people, match_candidates, nms_topk, refine_people
from reference.model import higher_hrnet_w32
from reference.pipeline import Predictor

SAMPLE_IMAGE = Path(__file__).parents[1] / "bench" / "assets" / "crowdpose_sample" / "103319.jpg"
MAP_CONFIG = SyntheticMapsConfig(height=512, width=704, num_people=20, num_tag_dims=2, seed=0)


@pytest.fixture(scope="module")
def maps() -> tuple[torch.Tensor, torch.Tensor]:
    rendered = render_maps(MAP_CONFIG)
    return torch.from_numpy(rendered.heatmaps[None]), torch.from_numpy(rendered.tags[None])


@pytest.fixture(scope="module")
def candidates(maps):
    return nms_topk(*maps, GroupingConfig())


@pytest.fixture(scope="module")
def matched(candidates) -> np.ndarray:
    return match_candidates(*first_image(candidates), GroupingConfig())


def first_image(candidates) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return candidates.values[0], candidates.locations[0], candidates.tags[0]


@pytest.fixture(scope="module")
def network() -> torch.nn.Module:
    model = higher_hrnet_w32()
    model.load_state_dict(deterministic_state_dict(model, seed=0))
    return model


def test_decode(benchmark):
    benchmark.group = "input"
    image = benchmark(read_image, SAMPLE_IMAGE)
    assert image.shape == (480, 640, 3)


def test_preprocess(benchmark):
    benchmark.group = "input"
    predictor = Predictor(torch.nn.Identity(), scales=(1,))
    batch = benchmark(predictor.preprocess, [read_image(SAMPLE_IMAGE)])
    assert batch.base_size == (704, 512)


def test_nms_topk(benchmark, maps):
    benchmark.group = "grouping-512x704"
    found = benchmark(nms_topk, *maps, GroupingConfig())
    assert found.values.shape == (1, 14, 30)


@pytest.mark.parametrize("matcher", ["scipy", "munkres"])
def test_match(benchmark, candidates, matcher):
    benchmark.group = "grouping-512x704"
    config = GroupingConfig(matcher=matcher)
    people = benchmark(match_candidates, *first_image(candidates), config)
    assert abs(len(people) - MAP_CONFIG.num_people) <= MAP_CONFIG.num_people // 2


def test_adjust(benchmark, matched, maps):
    benchmark.group = "grouping-512x704"
    adjusted = benchmark(adjust_people, matched, maps[0][0], GroupingConfig())
    assert adjusted.shape == matched.shape


def test_refine(benchmark, matched, maps):
    benchmark.group = "grouping-512x704"
    config = GroupingConfig()
    adjusted = adjust_people(matched, maps[0][0], config)
    refined = benchmark(refine_people, adjusted, maps[0][0], maps[1][0], config)
    assert (refined[:, :, 2] > 0).sum() >= (adjusted[:, :, 2] > 0).sum()


def test_forward(benchmark, network):
    benchmark.group = "forward-256"
    x = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        low, high = benchmark.pedantic(network, args=(x,), rounds=3, iterations=1, warmup_rounds=1)
    assert low.shape == (1, 28, 64, 64) and high.shape == (1, 14, 128, 128)
