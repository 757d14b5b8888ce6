"""The 2-image CrowdPose test sample bundled inside the package (``bench/assets/crowdpose_sample``)."""

from __future__ import annotations

import json
from pathlib import Path

SAMPLE_DIR = Path(__file__).parents[1] / "assets" / "crowdpose_sample"
SAMPLE_GT = SAMPLE_DIR / "test_crowdpose.json"


def sample_images() -> tuple[tuple[Path, ...], tuple[int, ...]]:
    """Paths and image ids of the bundled sample, in the order of its ground truth."""
    images = json.loads(SAMPLE_GT.read_text(encoding="utf-8"))["images"]
    paths = tuple(SAMPLE_DIR / image["file_name"] for image in images)
    return paths, tuple(int(image["id"]) for image in images)
