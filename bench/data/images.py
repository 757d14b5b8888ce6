"""Reading image files to pixels as mmpose does (the ``read_image`` stage), and a quick check that a
file can be read."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from bench.errors import BenchError
from bench.reading import read_bytes


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
    try:
        decoded = cv2.imdecode(data, cv2.IMREAD_REDUCED_GRAYSCALE_8)
    except cv2.error:  # OpenCV's reduced decoding asserts on images under 8 pixels on a side
        decoded = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    if decoded is None:
        return "not a decodable image"
    return None


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file to RGB uint8 [H, W, 3] like mmpose's LoadImageFromFile (imdecode, BGR->RGB)."""
    data = np.frombuffer(read_bytes(path, "image"), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise BenchError(f"cannot read image {path}: not an image file OpenCV can decode")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
