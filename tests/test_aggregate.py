"""Stage, flip and scale aggregation of raw network outputs (both recorded behaviours)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reference.aggregate import STAGE_AGGREGATIONS, ScaleOutputs, aggregate_outputs, flip_back
from reference.crowdpose import FLIP_INDEX

K = len(FLIP_INDEX)


def _outputs(batch: int, height: int, width: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random raw outputs of a network input of height x width: (low [B,2K,h/4,w/4], high [B,K,h/2,w/2])."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(batch, 2 * K, height // 4, width // 4, generator=g)
    high = torch.rand(batch, K, height // 2, width // 2, generator=g)
    return low, high


def _scale_outputs(scales, base_hw, flip, batch=1, seed=0):
    """Random outputs per scale (largest first) for an image whose scale-1 input is ``base_hw``."""
    items = []
    for i, s in enumerate(sorted(scales, reverse=True)):
        height, width = int(base_hw[0] * s), int(base_hw[1] * s)
        flipped = _outputs(batch, height, width, seed + 10 * i + 1) if flip else None
        items.append(ScaleOutputs(s, _outputs(batch, height, width, seed + 10 * i), flipped))
    return items


@pytest.mark.parametrize("mode", STAGE_AGGREGATIONS)
@pytest.mark.parametrize("scales", [(1,), (2, 1)], ids=["1", "2,1"])
@pytest.mark.parametrize("flip", [True, False], ids=["flip", "noflip"])
def test_shapes_for_a_640x480_image(mode, scales, flip):
    heatmaps, tags = aggregate_outputs(_scale_outputs(scales, (512, 704), flip), (704, 512), FLIP_INDEX, mode)
    assert heatmaps.shape == (1, K, 512, 704) and heatmaps.dtype == torch.float32
    assert tags.shape == (1, K, 512, 704, 2 if flip else 1) and tags.dtype == torch.float32


def _bilinear_matrix(n_out: int, n_in: int) -> np.ndarray:
    """[n_out, n_in] weights of a 1-D bilinear resize with align_corners False (half-pixel centres)."""
    matrix = np.zeros((n_out, n_in))
    for i in range(n_out):
        src = max((i + 0.5) * n_in / n_out - 0.5, 0.0)
        left = min(int(np.floor(src)), n_in - 1)
        right = min(left + 1, n_in - 1)
        matrix[i, left] += 1 - (src - left)
        matrix[i, right] += src - left
    return matrix


def _resize(maps: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize [..., h, w] numpy maps with the separable bilinear weights."""
    rows = _bilinear_matrix(height, maps.shape[-2])
    cols = _bilinear_matrix(width, maps.shape[-1])
    return rows @ maps @ cols.T


def _unflip(maps: np.ndarray) -> np.ndarray:
    return maps[:, list(FLIP_INDEX)][..., ::-1]


def test_hand_computed_small_case_both_modes():
    low, high = (t.numpy().astype(np.float64) for t in _outputs(1, 8, 12, seed=3))  # low 2x3, high 4x6
    low_f, high_f = (t.numpy().astype(np.float64) for t in _outputs(1, 8, 12, seed=4))
    outputs = [ScaleOutputs(1, *(tuple(torch.from_numpy(a).float() for a in pair) for pair in
                                 ((low, high), (low_f, high_f))))]
    base_h, base_w = 8, 12

    # 2020: low -> high size, average, flip back there, then project to base size.
    original = (_resize(low[:, :K], 4, 6) + high[:, :K]) / 2
    flipped = _unflip((_resize(low_f[:, :K], 4, 6) + high_f[:, :K]) / 2)
    heat_2020 = (_resize(original, base_h, base_w) + _resize(flipped, base_h, base_w)) / 2
    tags_2020 = np.stack([_resize(_resize(low[:, K:], 4, 6), base_h, base_w),
                          _resize(_unflip(_resize(low_f[:, K:], 4, 6)), base_h, base_w)], axis=-1)
    heatmaps, tags = aggregate_outputs(outputs, (base_w, base_h), FLIP_INDEX, "2020")
    np.testing.assert_allclose(heatmaps.numpy(), heat_2020, atol=1e-6)
    np.testing.assert_allclose(tags.numpy(), tags_2020, atol=1e-6)

    # mmpose 0.29: every stage straight to base size.
    original = (_resize(low[:, :K], base_h, base_w) + _resize(high[:, :K], base_h, base_w)) / 2
    flipped = (_resize(_unflip(low_f[:, :K]), base_h, base_w)
               + _resize(_unflip(high_f[:, :K]), base_h, base_w)) / 2
    tags_029 = np.stack([_resize(low[:, K:], base_h, base_w),
                         _resize(_unflip(low_f[:, K:]), base_h, base_w)], axis=-1)
    heatmaps_029, tags = aggregate_outputs(outputs, (base_w, base_h), FLIP_INDEX, "mmpose-0.29")
    np.testing.assert_allclose(heatmaps_029.numpy(), (original + flipped) / 2, atol=1e-6)
    np.testing.assert_allclose(tags.numpy(), tags_029, atol=1e-6)
    assert np.abs(heat_2020 - (original + flipped) / 2).max() > 1e-3  # the two behaviours really differ


@pytest.mark.parametrize("scales", [(1,), (2, 1)], ids=["1", "2,1"])
def test_modes_differ_on_random_outputs(scales):
    outputs = _scale_outputs(scales, (64, 96), flip=True, batch=2)
    heat_a, tags_a = aggregate_outputs(outputs, (96, 64), FLIP_INDEX, "mmpose-0.29")
    heat_b, tags_b = aggregate_outputs(outputs, (96, 64), FLIP_INDEX, "2020")
    assert (heat_a - heat_b).abs().max() > 1e-3
    assert (tags_a - tags_b).abs().max() > 1e-3
    # Same data, so they agree in the mean: the differences are in the resampling only.
    assert abs(heat_a.mean() - heat_b.mean()) < 1e-2


def test_flip_back_mirrors_and_swaps_left_right():
    maps = torch.zeros(1, K, 4, 10)
    maps[0, 0, 2, 1] = 1.0  # left shoulder channel, near the left edge
    maps[0, 12, 1, 3] = 2.0  # head maps to itself
    back = flip_back(maps, FLIP_INDEX)
    assert back[0, 1, 2, 8] == 1.0 and back[0, 0].abs().sum() == 0
    assert back[0, 12, 1, 6] == 2.0


@pytest.mark.parametrize("mode", STAGE_AGGREGATIONS)
def test_flip_equivariant_network_gives_the_unflipped_result(mode):
    # A perfect network's output for the mirrored input is the mirrored output with left/right swapped.
    original = _outputs(2, 32, 48, seed=7)
    low_channels = list(FLIP_INDEX) + [k + K for k in FLIP_INDEX]  # heatmaps, then tags
    mirrored = (torch.flip(original[0], [3])[:, low_channels],
                torch.flip(original[1], [3])[:, list(FLIP_INDEX)])
    with_flip = aggregate_outputs([ScaleOutputs(1, original, mirrored)], (48, 32), FLIP_INDEX, mode)
    without = aggregate_outputs([ScaleOutputs(1, original, None)], (48, 32), FLIP_INDEX, mode)
    torch.testing.assert_close(with_flip[0], without[0], atol=1e-6, rtol=0)
    torch.testing.assert_close(with_flip[1][..., 0], without[1][..., 0], atol=0, rtol=0)
    torch.testing.assert_close(with_flip[1][..., 1], without[1][..., 0], atol=1e-6, rtol=0)


def test_symmetric_map_survives_flip_averaging():
    # A left-right symmetric head heatmap, identical in both passes, aggregates to itself (resized).
    x = torch.arange(12.0)
    symmetric = torch.minimum(x, x.flip(0)).expand(1, 1, 8, 12)
    low = torch.zeros(1, 2 * K, 8, 12)
    high = torch.zeros(1, K, 16, 24)
    low[:, 12:13] = symmetric
    high[:, 12:13] = torch.nn.functional.interpolate(symmetric, size=(16, 24), mode="bilinear")
    outputs = [ScaleOutputs(1, (low, high), (low, high))]
    heatmaps, _ = aggregate_outputs(outputs, (48, 32), FLIP_INDEX, "mmpose-0.29")
    torch.testing.assert_close(heatmaps[0, 12], heatmaps[0, 12].flip(-1), atol=1e-6, rtol=0)
    no_flip, _ = aggregate_outputs([ScaleOutputs(1, (low, high), None)], (48, 32), FLIP_INDEX, "mmpose-0.29")
    torch.testing.assert_close(heatmaps, no_flip, atol=1e-6, rtol=0)


@pytest.mark.parametrize("mode", STAGE_AGGREGATIONS)
def test_multi_scale_averages_heatmaps_and_takes_tags_from_scale_one(mode):
    def constant(input_hw, heat, tag):
        h, w = input_hw
        low = torch.cat([torch.full((1, K, h // 4, w // 4), value) for value in (heat, tag)], dim=1)
        return low, torch.full((1, K, h // 2, w // 2), heat)

    outputs = [
        ScaleOutputs(2, constant((128, 192), 0.8, 100.0), constant((128, 192), 0.6, 100.0)),
        ScaleOutputs(1, constant((64, 96), 0.2, 1.0), constant((64, 96), 0.4, 3.0)),
    ]
    heatmaps, tags = aggregate_outputs(outputs, (96, 64), FLIP_INDEX, mode)
    torch.testing.assert_close(heatmaps, torch.full_like(heatmaps, 0.5))
    assert tags.shape == (1, K, 64, 96, 2)
    torch.testing.assert_close(tags[..., 0], torch.ones_like(tags[..., 0]))
    torch.testing.assert_close(tags[..., 1], torch.full_like(tags[..., 1], 3.0))


def test_single_scale_other_than_one_keeps_its_tags():
    outputs = _scale_outputs((2,), (32, 48), flip=False)
    heatmaps, tags = aggregate_outputs(outputs, (48, 32), FLIP_INDEX)
    assert heatmaps.shape == (1, K, 32, 48) and tags.shape == (1, K, 32, 48, 1)


def test_half_precision_outputs_are_aggregated_in_float32():
    low, high = _outputs(1, 32, 48, seed=1)
    heatmaps, tags = aggregate_outputs([ScaleOutputs(1, (low.bfloat16(), high.bfloat16()), None)], (48, 32),
                                       FLIP_INDEX)
    assert heatmaps.dtype == torch.float32 and tags.dtype == torch.float32


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        ([ScaleOutputs(1, (torch.zeros(1, K, 8, 8), torch.zeros(1, K, 16, 16)), None)], "first network"),
        ([ScaleOutputs(1, (torch.zeros(1, 2 * K, 8, 8), torch.zeros(1, 2 * K, 16, 16)), None)], "second net"),
        ([ScaleOutputs(1, (torch.zeros(1, 2 * K, 8, 8),), None)], "expected 2 network outputs"),
        ([ScaleOutputs(2, _outputs(1, 64, 64, 0), None), ScaleOutputs(0.5, _outputs(1, 16, 16, 0), None)],
         "scale 1"),
        ([], "no scale outputs"),
    ],
    ids=["low-channels", "high-channels", "one-output", "no-scale-1", "empty"],
)
def test_bad_outputs_raise_value_error(outputs, message):
    with pytest.raises(ValueError, match=message):
        aggregate_outputs(outputs, (32, 32), FLIP_INDEX)


def test_unknown_mode_is_rejected():
    with pytest.raises(ValueError, match="stage_aggregation"):
        aggregate_outputs(_scale_outputs((1,), (32, 32), False), (32, 32), FLIP_INDEX, "2019")


def _plainly_aggregated(scale_outputs, base_size, mode):
    """The aggregation written out plainly, every sum a new tensor and every tag map resized in its pass:
    what `aggregate_outputs` must equal bit for bit."""
    size_hw = (base_size[1], base_size[0])

    def resize(maps, hw):
        return maps if tuple(maps.shape[-2:]) == hw else torch.nn.functional.interpolate(
            maps, size=hw, mode="bilinear", align_corners=False)

    def one_pass(outputs, flipped):
        low, high = outputs
        maps = (low[:, :K], low[:, K:], high)
        if mode == "mmpose-0.29":
            if flipped:
                maps = tuple(flip_back(m, FLIP_INDEX) for m in maps)
            return (resize(maps[0], size_hw) + resize(maps[2], size_hw)) / 2, resize(maps[1], size_hw)
        stage_hw = tuple(high.shape[-2:])
        maps = (resize(maps[0], stage_hw), resize(maps[1], stage_hw), maps[2])
        if flipped:
            maps = tuple(flip_back(m, FLIP_INDEX) for m in maps)
        return resize((maps[0] + maps[2]) / 2, size_hw), resize(maps[1], size_hw)

    total, tags = None, None
    tag_scale = 1 if len(scale_outputs) > 1 else scale_outputs[0].scale
    for item in scale_outputs:
        heatmaps, pass_tags = one_pass(item.original, False)
        pass_tags = [pass_tags]
        if item.flipped is not None:
            flipped_heatmaps, flipped_tags = one_pass(item.flipped, True)
            heatmaps = (heatmaps + flipped_heatmaps) / 2
            pass_tags.append(flipped_tags)
        total = heatmaps if total is None else total + heatmaps
        if item.scale == tag_scale:
            tags = pass_tags
    return total / len(scale_outputs), torch.stack(tags, dim=-1)


@pytest.mark.parametrize("mode", STAGE_AGGREGATIONS)
@pytest.mark.parametrize("scales", [(1,), (2, 1), (2,)], ids=["1", "2,1", "2"])
@pytest.mark.parametrize("flip", [True, False], ids=["flip", "noflip"])
def test_in_place_sums_change_no_value_and_leave_the_outputs_alone(mode, scales, flip):
    """In-place sums and the tags resized once at the end give the plain formulation's values bit for
    bit, and the network outputs (of which the 2x pass's high stage already has the base size) stay
    as they were."""
    outputs = _scale_outputs(scales, (64, 96), flip, batch=2, seed=11)
    before = [tensor.clone() for item in outputs for pair in (item.original, item.flipped or ())
              for tensor in pair]
    heatmaps, tags = aggregate_outputs(outputs, (96, 64), FLIP_INDEX, mode)
    expected_heatmaps, expected_tags = _plainly_aggregated(outputs, (96, 64), mode)
    assert torch.equal(heatmaps, expected_heatmaps) and torch.equal(tags, expected_tags)
    after = [tensor for item in outputs for pair in (item.original, item.flipped or ()) for tensor in pair]
    assert all(torch.equal(old, new) for old, new in zip(before, after, strict=True))
