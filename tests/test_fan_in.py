"""The "fan-in" synthetic fill (bench.testing.synthetic_weights.fan_in_state_dict) follows its rule to
the bit, and on its broad maps the fast grouping equals the literal munkres port."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from munkres import Munkres

import reference.grouping.match as match
from bench.speed.network_maps import network_maps
from bench.testing.synthetic_weights import LOW_OUTPUT, deterministic_state_dict, fan_in_state_dict
from bench.weights import SYNTHETIC_FILLS
from reference.crowdpose import NUM_JOINTS
from reference.grouping import group_keypoints
from reference.grouping.hungarian import munkres_assignment
from reference.model import higher_hrnet_w32

# the float64 sum over the 1810 filled tensors, keys in sorted() order
FAN_IN_CHECKSUMS = {3: 54990.40628692364, 5: 54938.93009588045}


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return higher_hrnet_w32()


@pytest.mark.parametrize("seed", sorted(FAN_IN_CHECKSUMS))
def test_fan_in_fill_gives_the_documented_checksum(model, seed):
    weights = fan_in_state_dict(model, seed=seed)
    assert len(weights) == 1810 and list(weights) == list(model.state_dict())
    assert sum(weights[key].double().sum().item() for key in sorted(weights)) == FAN_IN_CHECKSUMS[seed]


def test_fan_in_fill_scales_by_fan_in_and_shrinks_the_tag_channels(model):
    weights = fan_in_state_dict(model, seed=3)
    fixture = deterministic_state_dict(model, seed=3)
    assert SYNTHETIC_FILLS["fan-in"] is fan_in_state_dict
    # BatchNorm statistics are drawn as in the fixtures' rule (the first key in sorted order draws first)
    first = sorted(weights)[0]
    assert torch.equal(weights[first], fixture[first])
    conv = weights["backbone.conv1.weight"]  # [64, 3, 3, 3]: fan-in 27
    assert abs(float(conv.std()) - 0.6 / 27 ** 0.5) < 0.02
    low = weights[f"{LOW_OUTPUT}.weight"]
    heat_std, tag_std = float(low[:NUM_JOINTS].std()), float(low[NUM_JOINTS:].std())
    assert 0.05 < tag_std / heat_std < 0.2


@pytest.mark.slow
def test_fast_grouping_equals_the_literal_port_on_fan_in_maps(monkeypatch):
    """Seed 3: 30 people on sample image 106848, many of their joints found by refine, and tied joints
    in the match stage, each settled by the vectorized port exactly as munkres 1.1.4 settles it."""
    heatmaps, tags = network_maps(106848, "fan-in", 3)
    solved: list[tuple[np.ndarray, list[tuple[int, int]]]] = []

    def recording(cost: np.ndarray) -> list[tuple[int, int]]:
        solved.append((cost.copy(), munkres_assignment(cost)))
        return solved[-1][1]

    monkeypatch.setattr(match, "munkres_assignment", recording)
    fast = group_keypoints(heatmaps, tags)
    literal = group_keypoints(heatmaps, tags, matcher="munkres")
    assert len(fast[0]) == 30 and len(solved) >= 5
    np.testing.assert_array_equal(fast[0], literal[0])
    np.testing.assert_array_equal(fast[1], literal[1])
    for cost, pairs in solved:
        assert pairs == [(int(row), int(col)) for row, col in Munkres().compute(cost.copy())]
