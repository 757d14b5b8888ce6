"""Geometry between an image and the network input: the forward warp matrix and the way back.

``center`` is the image point (x, y) that lands in the middle of the network input and ``scale``
is the (width, height) of the image region the input covers, in units of ``PIXEL_STD`` pixels,
as in mmpose 0.29.0 (``use_udp`` False).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

PIXEL_STD = 200.0


def affine_matrix(
    center: Sequence[float], scale: Sequence[float], output_size: Sequence[int]
) -> np.ndarray:
    """2x3 float64 matrix mapping image pixels to a ``output_size`` = (w, h) input, no rotation.

    Built from three float32 point pairs with ``cv2.getAffineTransform``, like mmpose's
    ``get_affine_transform``: the center goes to the output middle, a point half the region width
    above it goes half the output width above the middle, and a third point completes a right angle.
    """
    region_width = float(scale[0]) * PIXEL_STD
    out_w, out_h = float(output_size[0]), float(output_size[1])
    src_middle = np.array(center, dtype=np.float64)
    dst_middle = np.array([out_w * 0.5, out_h * 0.5])
    src = _three_points(src_middle, src_middle + [0.0, -0.5 * region_width])
    dst = _three_points(dst_middle, dst_middle + [0.0, -0.5 * out_w])
    return cv2.getAffineTransform(src, dst)


def _three_points(middle: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """float32 [3, 2]: ``middle``, ``upper`` and ``upper`` plus (middle - upper) turned 90 degrees."""
    points = np.zeros((3, 2), dtype=np.float32)
    points[0] = middle
    points[1] = upper
    direction = points[0] - points[1]
    points[2] = points[1] + np.array([-direction[1], direction[0]], dtype=np.float32)
    return points


def to_image_coords(
    points: np.ndarray, center: Sequence[float], scale: Sequence[float], map_size: Sequence[int]
) -> np.ndarray:
    """Map (x, y) in the first two columns of ``points`` [..., >=2] from a map of ``map_size`` = (w, h).

    Direct scale and shift in float64 (mmpose 0.29.0 ``transform_preds``): x_img = x * region_w / w
    + center_x - region_w / 2, likewise y. Other columns are copied unchanged.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim < 1 or points.shape[-1] < 2:
        raise ValueError(f"points need (x, y) in the first 2 columns of the last axis, got {points.shape}")
    region = np.asarray(scale, dtype=np.float64) * PIXEL_STD
    ratio = region / np.asarray(map_size, dtype=np.float64)
    mapped = points.copy()
    mapped[..., :2] = points[..., :2] * ratio + np.asarray(center, dtype=np.float64) - region * 0.5
    return mapped
