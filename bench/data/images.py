"""Reading image files to pixels as mmpose does (the ``read_image`` stage), and a quick check that a
file can be read. Both read the image's width and height from its header first and refuse an image of
more than :data:`MAX_IMAGE_PIXELS` pixels before anything is decoded: a PNG of one colour compresses
about 1000:1, so a file of under 1 MB can decode to gigabytes."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from bench.errors import BenchError
from bench.reading import read_bytes

MAX_IMAGE_PIXELS = 50_000_000
"""Most pixels (width x height) an image may have: 150 MB once decoded to RGB. CrowdPose's images have
at most a few megapixels and a camera's photo at most ~50; a larger image is refused before decoding."""

NOT_DECODABLE = "not a decodable image"


def image_problem(path: Path) -> str | None:
    """Why the image file at ``path`` cannot be used, or None; decodes at 1/8 scale to stay quick."""
    if not os.path.lexists(path):
        return "missing"
    try:
        data = np.frombuffer(read_bytes(path, "image"), dtype=np.uint8)
    except BenchError as error:
        return str(error)
    if data.size == 0:
        return "empty file"
    problem = size_problem(data)
    if problem is None and not quickly_decodes(data):
        return NOT_DECODABLE
    return problem


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file to RGB uint8 [H, W, 3] like mmpose's LoadImageFromFile (imdecode, BGR->RGB);
    BenchError for a file that is not an image or has more than :data:`MAX_IMAGE_PIXELS` pixels."""
    data = np.frombuffer(read_bytes(path, "image"), dtype=np.uint8)
    problem = size_problem(data)
    image = decoded(data, cv2.IMREAD_COLOR) if problem is None else None
    if image is None:
        raise BenchError(f"cannot read image {path}: {problem or NOT_DECODABLE}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def size_problem(data: np.ndarray) -> str | None:
    """Why the encoded image ``data`` may not be decoded, judged from its header alone (Pillow reads the
    width and height without decoding pixels): too many pixels, or no header Pillow knows; else None."""
    try:
        with warnings.catch_warnings():  # Pillow warns from 89 M pixels; the limit below decides
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
    except Image.DecompressionBombError as error:  # Pillow's own bound, far above ours
        return f"more than the limit of {MAX_IMAGE_PIXELS:,} pixels (Pillow: {error})"
    except Exception:  # a hostile header can make a format plugin raise any type
        return NOT_DECODABLE
    if width * height > MAX_IMAGE_PIXELS:
        return (f"{width}x{height} pixels ({width * height:,}), more than the limit of {MAX_IMAGE_PIXELS:,} "
                "pixels")
    return None


def quickly_decodes(data: np.ndarray) -> bool:
    """Whether OpenCV decodes ``data`` at 1/8 scale in grayscale, or at full scale for an image under 8
    pixels on a side (where OpenCV's reduced decoding asserts)."""
    try:
        return cv2.imdecode(data, cv2.IMREAD_REDUCED_GRAYSCALE_8) is not None
    except cv2.error:
        return decoded(data, cv2.IMREAD_GRAYSCALE) is not None


def decoded(data: np.ndarray, flag: int) -> np.ndarray | None:
    """``cv2.imdecode(data, flag)``, or None where OpenCV cannot decode it (it returns None for most
    broken files, but raises ``cv2.error`` for some)."""
    try:
        return cv2.imdecode(data, flag)
    except cv2.error:
        return None
