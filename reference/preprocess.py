"""Test-time preprocessing of one RGB image, as mmpose 0.29.0's bottom-up pipeline (``use_udp`` False).

For every test scale (largest first) the image is warped, keeping its aspect ratio and centred,
into an input whose sides are multiples of 64 derived from ``input_size``, then scaled to [0, 1]
and normalised with the ImageNet mean and std. Everything here is a pure function of the image and
the settings, so worker processes can run it ahead of the device.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from reference.transforms import PIXEL_STD, affine_matrix

SIZE_MULTIPLE = 64
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


class ImageError(ValueError, TypeError):
    """The image is not an RGB uint8 [H, W, 3] array (catchable as ValueError or TypeError)."""


@dataclass(frozen=True)
class ImageFrame:
    """Where an image sits in the scale-1 network input, which is also the aggregated map size.

    base_size: (w, h) of the scale-1 input. center: image pixel (x, y) at the input middle.
    scale: (w, h) of the image region the input covers, in ``PIXEL_STD`` pixel units.
    """

    base_size: tuple[int, int]
    center: tuple[int, int]
    scale: tuple[float, float]


@dataclass(frozen=True)
class PreparedImage:
    """Network inputs of one image, float32 [3, h_s, w_s] per scale (largest scale first)."""

    inputs: tuple[np.ndarray, ...]
    frame: ImageFrame


def ceil_to_multiple(value: float, base: int = SIZE_MULTIPLE) -> int:
    """Smallest multiple of ``base`` that is >= ``value``."""
    return math.ceil(value / base) * base


def check_resize_settings(input_size: int, scales: Sequence[float]) -> None:
    """Raise ValueError/TypeError unless ``input_size`` is a positive int and ``scales`` positive numbers."""
    if isinstance(input_size, bool) or not isinstance(input_size, int):
        raise TypeError(f"input_size must be an int, got {type(input_size).__name__}")
    if input_size <= 0:
        raise ValueError(f"input_size must be positive, got {input_size}")
    if isinstance(scales, str) or not isinstance(scales, Sequence) or len(scales) == 0:
        raise ValueError(f"scales must be a non-empty sequence of numbers, got {scales!r}")
    for value in scales:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"scales must hold numbers, got {value!r} in {scales!r}")
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"scales must be positive and finite, got {value!r} in {scales!r}")
    if len(set(scales)) != len(scales):
        raise ValueError(f"scales must not repeat a value, got {scales!r}")


def check_image(image: np.ndarray) -> None:
    """Raise ``ImageError`` unless ``image`` is a uint8 [H, W, 3] numpy array with H, W >= 1."""
    if not isinstance(image, np.ndarray):
        raise ImageError(f"image must be a numpy array (RGB uint8 [H, W, 3]), got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ImageError(f"image must have dtype uint8 (RGB [H, W, 3]), got {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ImageError(f"image must have shape [H, W, 3] with H, W >= 1, got {image.shape}")


def _resize_geometry(
    height: int, width: int, input_size: int, current_scale: float, min_scale: float
) -> tuple[tuple[int, int], tuple[int, int], tuple[float, float]]:
    """(input (w, h), center, scale) at ``current_scale``: the short side becomes the 64-aligned
    ``min_scale * input_size`` times ``current_scale / min_scale``, the long side keeps the aspect
    ratio rounded up to 64; the covered region is widened along the long side to the input's aspect."""
    min_input = ceil_to_multiple(min_scale * input_size)
    factor = current_scale / min_scale
    if width < height:
        input_w = int(min_input * factor)
        input_h = int(ceil_to_multiple(min_input / width * height) * factor)
        scale = (width / PIXEL_STD, input_h / input_w * width / PIXEL_STD)
    else:
        input_h = int(min_input * factor)
        input_w = int(ceil_to_multiple(min_input / height * width) * factor)
        scale = (input_w / input_h * height / PIXEL_STD, height / PIXEL_STD)
    center = (round(width / 2.0), round(height / 2.0))
    return (input_w, input_h), center, scale


def image_frame(height: int, width: int, input_size: int, scales: Sequence[float]) -> ImageFrame:
    """Base size (input size at scale 1), center and scale of an ``height`` x ``width`` image."""
    base_size, center, scale = _resize_geometry(height, width, input_size, 1.0, min(scales))
    return ImageFrame(base_size=base_size, center=center, scale=scale)


def input_sizes(
    height: int, width: int, input_size: int, scales: Sequence[float]
) -> tuple[tuple[int, int], ...]:
    """Network input (w, h) for each scale, largest scale first. Images with equal sizes batch together."""
    min_scale = min(scales)
    return tuple(
        _resize_geometry(height, width, input_size, s, min_scale)[0] for s in sorted(scales, reverse=True)
    )


@dataclass(frozen=True)
class InputLimits:
    """Bounds on the work per image, checked before anything is allocated: the pixels of its largest
    network input and its aspect ratio (long side over short side). The short side is resized to the
    input size and the long side keeps the aspect, so a 2000x20 image would need a 51200x512 input
    (tens of GB). The defaults (an 8:1 aspect, 2^23 pixels: 1024 x 8192 at scale 2 of input size
    512) leave room above ordinary photographs at every test scale."""

    max_pixels: int = 1 << 23
    max_aspect_ratio: float = 8.0

    def __post_init__(self) -> None:
        if isinstance(self.max_pixels, bool) or not isinstance(self.max_pixels, int) or self.max_pixels < 1:
            raise ValueError(f"max_pixels must be a positive int, got {self.max_pixels!r}")
        if not (isinstance(self.max_aspect_ratio, numbers.Real) and self.max_aspect_ratio >= 1
                and math.isfinite(self.max_aspect_ratio)):
            raise ValueError(f"max_aspect_ratio must be a finite number >= 1, got {self.max_aspect_ratio!r}")


DEFAULT_LIMITS = InputLimits()


def input_limit_problem(height: int, width: int, input_size: int, scales: Sequence[float],
                        limits: InputLimits) -> str | None:
    """Why a ``height`` x ``width`` image exceeds ``limits`` at these settings, or None."""
    input_w, input_h = input_sizes(height, width, input_size, scales)[0]
    aspect = max(height, width) / min(height, width)
    needs = f"a {width}x{height} image needs a {input_w}x{input_h} network input"
    if aspect > limits.max_aspect_ratio:
        return f"{needs}: its aspect ratio {aspect:.1f} is over the limit {limits.max_aspect_ratio:g}"
    if input_w * input_h > limits.max_pixels:
        return f"{needs}: {input_w * input_h:,} pixels, over the limit of {limits.max_pixels:,}"
    return None


def normalize_image(image: np.ndarray) -> np.ndarray:
    """uint8 RGB [H, W, 3] -> float32 [3, H, W]: divided by 255, minus ImageNet mean, over its std."""
    scaled = image.astype(np.float32) / np.float32(255.0)
    return np.ascontiguousarray(((scaled - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1))


def preprocess_image(
    image: np.ndarray, input_size: int = 512, scales: Sequence[float] = (1,)
) -> PreparedImage:
    """Warp and normalise an RGB uint8 [H, W, 3] ``image`` for every scale in ``scales`` (largest first).

    The warp is ``cv2.warpAffine`` (bilinear, zero border) with ``affine_matrix`` of that scale.
    """
    check_image(image)
    check_resize_settings(input_size, scales)
    height, width = image.shape[:2]
    min_scale = min(scales)
    pixels = np.ascontiguousarray(image)
    inputs = []
    for current_scale in sorted(scales, reverse=True):
        size, center, scale = _resize_geometry(height, width, input_size, current_scale, min_scale)
        warped = cv2.warpAffine(
            pixels, affine_matrix(center, scale, size), size,
            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0,
        )
        inputs.append(normalize_image(warped))
    return PreparedImage(inputs=tuple(inputs), frame=image_frame(height, width, input_size, scales))
