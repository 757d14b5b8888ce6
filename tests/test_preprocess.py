"""Preprocessing (resize-align, warp, normalisation) and the geometry back to the image."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from reference.preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageError,
    ceil_to_multiple,
    image_frame,
    input_sizes,
    normalize_image,
    preprocess_image,
)
from reference.transforms import affine_matrix, to_image_coords


@pytest.mark.parametrize(
    ("height", "width", "base_size", "center", "scale"),
    [
        (480, 640, (704, 512), (320, 240), (3.3, 2.4)),  # sample 103319.jpg
        (425, 640, (832, 512), (320, 212), (3.453125, 2.125)),  # sample 106848.jpg: round(212.5) = 212
        (640, 480, (512, 704), (240, 320), (2.4, 3.3)),  # portrait
        (333, 517, (832, 512), (258, 166), (832 / 512 * 333 / 200, 333 / 200)),  # 258.5, 166.5: to even
        (3, 2, (512, 768), (1, 2), (2 / 200, 768 / 512 * 2 / 200)),  # tiny portrait
        (512, 512, (512, 512), (256, 256), (512 / 200, 512 / 200)),  # square
    ],
)
def test_frame_matches_documented_examples(height, width, base_size, center, scale):
    frame = image_frame(height, width, 512, (1,))
    assert frame.base_size == base_size
    assert frame.center == center
    assert frame.scale == pytest.approx(scale, rel=1e-12)


@pytest.mark.parametrize(
    ("height", "width", "input_size", "scales", "sizes"),
    [
        (480, 640, 512, (1,), ((704, 512),)),
        (480, 640, 512, (1, 2), ((1408, 1024), (704, 512))),
        (425, 640, 512, (2, 1), ((1664, 1024), (832, 512))),
        (480, 640, 256, (1, 0.5), ((384, 256), (192, 128))),  # min scale 0.5: 128 -> 192 wide, doubled
        (640, 480, 512, (2, 1), ((1024, 1408), (512, 704))),
    ],
)
def test_input_sizes_per_scale_largest_first(height, width, input_size, scales, sizes):
    assert input_sizes(height, width, input_size, scales) == sizes


def test_base_size_is_scale_one_with_min_scale_rounding():
    # With min scale 0.5 the base (scale-1) size is twice the 64-aligned half-size input.
    assert image_frame(480, 640, 256, (1, 0.5)).base_size == (384, 256)
    assert image_frame(480, 640, 256, (1,)).base_size == (384, 256)
    assert image_frame(480, 700, 256, (1, 0.5)).base_size == (384, 256)  # 186.7 -> 192, x2
    assert image_frame(480, 700, 256, (1,)).base_size == (384, 256)  # 373.3 -> 384


def test_ceil_to_multiple():
    assert [ceil_to_multiple(v) for v in (1, 64, 64.0001, 511.5, 512, 0)] == [64, 64, 128, 512, 512, 0]


def test_affine_matrix_is_uniform_scale_about_center():
    matrix = affine_matrix((320, 240), (3.3, 2.4), (704, 512))
    k = 704 / 660
    expected = np.array([[k, 0, 352 - 320 * k], [0, k, 256 - 240 * k]])
    np.testing.assert_allclose(matrix, expected, atol=1e-4)


def _pattern(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth random RGB image (so bilinear warps are well defined) plus noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = 127 + 60 * np.sin(xx[..., None] / 7.0 + np.arange(3)) * np.cos(yy[..., None] / 5.0)
    return np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize(
    ("height", "width", "scales"), [(480, 640, (2, 1)), (97, 61, (1,)), (425, 640, (1,))]
)
def test_warp_equals_cv2_with_documented_matrix(height, width, scales):
    image = _pattern(height, width)
    prepared = preprocess_image(image, 512, scales)
    frame = prepared.frame
    assert len(prepared.inputs) == len(scales)
    for tensor, scale, size in zip(
        prepared.inputs, sorted(scales, reverse=True), input_sizes(height, width, 512, scales), strict=True
    ):
        # Center and region do not depend on the scale; the output size does.
        region = np.array(frame.scale)
        matrix = affine_matrix(frame.center, region, size)
        warped = cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderValue=0)
        assert tensor.dtype == np.float32 and tensor.shape == (3, size[1], size[0])
        np.testing.assert_array_equal(tensor, normalize_image(warped), err_msg=f"scale {scale}")


def test_normalisation_values():
    image = np.zeros((4, 6, 3), dtype=np.uint8)
    image[:, :3] = 255
    image[:, 3:] = (0, 128, 51)
    chw = normalize_image(image)
    assert chw.shape == (3, 4, 6) and chw.dtype == np.float32 and chw.flags.c_contiguous
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(chw[:, 0, 0], (1 - mean) / std, rtol=1e-6)
    np.testing.assert_allclose(chw[:, 2, 4], (np.array([0, 128, 51]) / 255 - mean) / std, rtol=1e-6)
    np.testing.assert_array_equal(IMAGENET_MEAN, mean.astype(np.float32))
    np.testing.assert_array_equal(IMAGENET_STD, std.astype(np.float32))


def test_padding_is_zero_pixels_after_normalisation():
    # 640x500 is 655.36 wide at height 512, aligned to 704: columns at the sides are padding.
    prepared = preprocess_image(np.full((500, 640, 3), 200, np.uint8), 512, (1,))
    tensor = prepared.inputs[0]
    np.testing.assert_allclose(tensor[:, 256, 0], -IMAGENET_MEAN / IMAGENET_STD, rtol=1e-6)
    np.testing.assert_allclose(tensor[:, 256, 352], (200 / 255 - IMAGENET_MEAN) / IMAGENET_STD, rtol=1e-6)


def test_non_contiguous_rgb_view_is_accepted():
    bgr = _pattern(60, 80, seed=3)
    rgb_view = bgr[..., ::-1]
    got = preprocess_image(rgb_view, 128, (1,)).inputs[0]
    np.testing.assert_array_equal(got, preprocess_image(np.ascontiguousarray(rgb_view), 128, (1,)).inputs[0])


@pytest.mark.parametrize(("height", "width"), [(480, 640), (640, 480), (425, 640), (7, 3)])
def test_to_image_coords_inverts_the_warp(height, width):
    frame = image_frame(height, width, 512, (1,))
    matrix = affine_matrix(frame.center, frame.scale, frame.base_size)
    points = np.random.default_rng(1).uniform(0, [width, height], size=(20, 2))
    in_input = points @ matrix[:, :2].T + matrix[:, 2]
    extra = np.arange(20.0)[:, None]
    back = to_image_coords(np.hstack([in_input, extra]), frame.center, frame.scale, frame.base_size)
    assert back.dtype == np.float64
    np.testing.assert_allclose(back[:, :2], points, atol=1e-3)
    np.testing.assert_array_equal(back[:, 2:], extra)


def test_to_image_coords_is_documented_formula():
    got = to_image_coords(np.array([[[10.0, 20.0, 0.7]]]), (320, 240), (3.3, 2.4), (704, 512))
    np.testing.assert_allclose(got, [[[10 * 660 / 704 + 320 - 330, 20 * 480 / 512 + 240 - 240, 0.7]]])


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((8, 8, 3), np.float32),
        np.zeros((8, 8, 3), np.uint16),
        np.zeros((8, 8), np.uint8),
        np.zeros((8, 8, 4), np.uint8),
        np.zeros((0, 8, 3), np.uint8),
        [[[0, 0, 0]]],
    ],
    ids=["float32", "uint16", "gray", "rgba", "empty", "list"],
)
def test_bad_image_is_rejected_with_clear_error(bad):
    with pytest.raises(ImageError, match="image must"):
        preprocess_image(bad)
    assert issubclass(ImageError, ValueError) and issubclass(ImageError, TypeError)


@pytest.mark.parametrize(
    ("input_size", "scales", "error"),
    [(0, (1,), ValueError), (512.0, (1,), TypeError), (512, (), ValueError), (512, (1, -2), ValueError),
     (512, (1, 1), ValueError), (512, ("1",), TypeError), (512, (float("nan"),), ValueError)],
)
def test_bad_settings_are_rejected(input_size, scales, error):
    with pytest.raises(error, match="input_size|scales"):
        preprocess_image(np.zeros((8, 8, 3), np.uint8), input_size, scales)
