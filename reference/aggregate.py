"""Turn raw network outputs (per scale, original and flipped input) into heatmaps and tag maps at base size.

Shapes: B images, K joints, (h, w) the network input at one scale, (H, W) the base size (the input
at scale 1), L tag values per joint (2 with flip test: original and flipped, else 1).
Network outputs per forward pass: ``(low [B, 2K, h/4, w/4], high [B, K, h/2, w/2])``, where ``low``
holds K heatmaps then K tag maps and ``high`` holds K heatmaps.

Two recorded behaviours (``STAGE_AGGREGATIONS``):

* ``"mmpose-0.29"``: each stage's heatmaps are resized bilinearly (align_corners False) straight to
  (H, W) and averaged; the flipped pass is flipped back first; tags are the low-stage tags resized
  to (H, W). mmpose 0.29.0, after PR #906.
* ``"2020"``: the low output is resized to the high output's size, averaged there with the high
  heatmaps (flipped pass: resized, then flipped back), and only then resized to (H, W); tags take
  the same low -> high -> (H, W) route. HigherHRNet's ``lib/core/inference.py``, the code the
  published checkpoints were evaluated with.

Both then average original and flipped heatmaps, average heatmaps over scales, take tags from
scale 1 only (or the only scale) and stack original and flipped tags on a last axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

STAGE_AGGREGATIONS = ("mmpose-0.29", "2020")

NetworkOutputs = Sequence[torch.Tensor]
"""(low, high) raw outputs of one forward pass, see the module docstring."""


@dataclass(frozen=True)
class ScaleOutputs:
    """Raw network outputs at one test scale: for the input and (if flip test) the flipped input."""

    scale: float
    original: NetworkOutputs
    flipped: NetworkOutputs | None


def flip_back(maps: torch.Tensor, flip_index: Sequence[int]) -> torch.Tensor:
    """Mirror [B, C, h, w] maps along w and reorder channels so channel j holds joint ``flip_index[j]``."""
    return torch.flip(maps, [3])[:, list(flip_index)]


def resize_to(maps: torch.Tensor, size_hw: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize (align_corners False) of [B, C, h, w] maps to ``size_hw``; unchanged if already so."""
    if tuple(maps.shape[-2:]) == tuple(size_hw):
        return maps
    return F.interpolate(maps, size=size_hw, mode="bilinear", align_corners=False)


def _split(outputs: NetworkOutputs, num_joints: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(low heatmaps, low tags, high heatmaps) as float32, after checking the output contract."""
    if len(outputs) != 2:
        raise ValueError(f"expected 2 network outputs (1/4 and 1/2 resolution), got {len(outputs)}")
    low, high = (output.float() for output in outputs)
    if low.ndim != 4 or low.shape[1] != 2 * num_joints:
        raise ValueError(f"first network output must be [B, {2 * num_joints}, h, w], got {tuple(low.shape)}")
    if high.ndim != 4 or high.shape[1] != num_joints or high.shape[0] != low.shape[0]:
        raise ValueError(
            f"second network output must be [{low.shape[0]}, {num_joints}, h, w], got {tuple(high.shape)}"
        )
    return low[:, :num_joints], low[:, num_joints:], high


def _mmpose_pass(
    outputs: NetworkOutputs, size_hw: tuple[int, int], num_joints: int, flip_index: Sequence[int] | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(heatmaps at ``size_hw``, tags still to be resized to it) of one pass: maps flipped back first (if
    ``flip_index``), then each heatmap stage resized straight to ``size_hw`` and the stages averaged."""
    maps = _split(outputs, num_joints)
    if flip_index is not None:
        maps = tuple(flip_back(m, flip_index) for m in maps)
    low_heat, low_tags, high_heat = maps
    return _halved(_sum(low_heat, high_heat, size_hw)), low_tags


def _pass_2020(
    outputs: NetworkOutputs, size_hw: tuple[int, int], num_joints: int, flip_index: Sequence[int] | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(heatmaps at ``size_hw``, tags still to be resized to it) of one pass: low stage resized to the
    high stage's size, flipped back there (if ``flip_index``), heatmap stages averaged, then resized."""
    low_heat, low_tags, high_heat = _split(outputs, num_joints)
    stage_hw = tuple(high_heat.shape[-2:])
    maps = (resize_to(low_heat, stage_hw), resize_to(low_tags, stage_hw), high_heat)
    if flip_index is not None:
        maps = tuple(flip_back(m, flip_index) for m in maps)
    low_heat, low_tags, high_heat = maps
    return resize_to(_halved(low_heat + high_heat), size_hw), low_tags


def _sum(first: torch.Tensor, second: torch.Tensor, size_hw: tuple[int, int]) -> torch.Tensor:
    """``resize_to(first) + resize_to(second)`` as a new tensor, formed in place in a resize's output
    (float addition is commutative, so either can take the other); a new sum where neither was resized."""
    first_resized, second_resized = resize_to(first, size_hw), resize_to(second, size_hw)
    if first_resized is not first:
        return first_resized.add_(second_resized)
    if second_resized is not second:
        return second_resized.add_(first_resized)
    return first + second


def _halved(total: torch.Tensor) -> torch.Tensor:
    """``total / 2``, in place: ``total`` is a new tensor (a sum), never a network output."""
    return total.div_(2)


def _stacked(maps: Sequence[torch.Tensor]) -> torch.Tensor:
    """``torch.stack(maps, dim=-1)``; on the CPU into memory numpy allocates, which asks Linux for huge
    pages: a new buffer of tens of MB then takes a fraction of the page faults of torch's allocation."""
    if maps[0].device.type != "cpu":
        return torch.stack(maps, dim=-1)
    stacked = torch.from_numpy(np.empty((*maps[0].shape, len(maps)), dtype=np.float32))
    return torch.stack(maps, dim=-1, out=stacked)


_PASSES = {"mmpose-0.29": _mmpose_pass, "2020": _pass_2020}


def aggregate_outputs(
    scale_outputs: Sequence[ScaleOutputs],
    base_size: tuple[int, int],
    flip_index: Sequence[int],
    stage_aggregation: str = "mmpose-0.29",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Heatmaps [B, K, H, W] and tags [B, K, H, W, L] (float32, on the outputs' device) for
    ``base_size`` = (W, H), from the raw outputs of every test scale (largest scale first).

    Heatmaps: original and flipped averaged, then the mean over scales. Tags: from the scale-1 pass
    (or the only scale), [original, flipped] on the last axis. K = ``len(flip_index)``.

    Sums and halves are formed in place on new tensors (never on a network output), which spares large
    temporaries and changes no value. Each pass's maps are resized on their own, as mmpose does: a
    resize of more channels at once may round differently in the last bit.
    """
    if stage_aggregation not in _PASSES:
        raise ValueError(f"stage_aggregation must be one of {STAGE_AGGREGATIONS}, got {stage_aggregation!r}")
    if not scale_outputs:
        raise ValueError("no scale outputs to aggregate")
    tag_scale = 1 if len(scale_outputs) > 1 else scale_outputs[0].scale
    if all(item.scale != tag_scale for item in scale_outputs):
        raise ValueError(f"tags come from scale 1, which is missing from {[s.scale for s in scale_outputs]}")
    one_pass = _PASSES[stage_aggregation]
    size_hw = (int(base_size[1]), int(base_size[0]))
    num_joints = len(flip_index)
    heatmap_sum = None
    tags: list[torch.Tensor] = []
    for item in scale_outputs:
        heatmaps, scale_tags = one_pass(item.original, size_hw, num_joints, None)
        pass_tags = [scale_tags]
        if item.flipped is not None:
            flipped_heatmaps, flipped_tags = one_pass(item.flipped, size_hw, num_joints, flip_index)
            heatmaps = _halved(heatmaps.add_(flipped_heatmaps))
            pass_tags.append(flipped_tags)
        heatmap_sum = heatmaps if heatmap_sum is None else heatmap_sum.add_(heatmaps)
        if item.scale == tag_scale:
            tags = pass_tags
    resized_tags = [resize_to(pass_tags, size_hw) for pass_tags in tags]
    return heatmap_sum.div_(len(scale_outputs)), _stacked(resized_tags)
