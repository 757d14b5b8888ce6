"""Broad maps for grouping tests and benchmarks: the aggregated heatmaps and tags that a network with
synthetic weights gives on a bundled sample image.

With the "fan-in" fill (``bench.testing.synthetic_weights.fan_in_state_dict``) the maps are broad and
O(1), like a trained network's on a crowded image: many joints are missing before refine, which then
searches wide regions (seed 5 on image 103319: 59 people, 602 joints missing). Computed once per
process and setting (a few seconds on 2 CPU cores).
Shapes: K joints, H x W aggregated-map size (network input size), L tag values (2 with flip test).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from bench.data.images import read_image
from bench.data.sample import sample_images
from bench.weights import Weights
from reference.pipeline import NetworkMaps, Predictor

BROAD_FILL = "fan-in"
BROAD_SEED = 5  # 59 people on image 103319, the broad speed case
BROAD_IMAGE_ID = 103319


def sample_image(image_id: int) -> Path:
    """The bundled sample image ``image_id`` (ValueError naming the ids there are)."""
    paths, ids = sample_images()
    if image_id not in ids:
        raise ValueError(f"image {image_id} is not in the bundled sample (ids {list(ids)})")
    return paths[list(ids).index(image_id)]


@functools.lru_cache(maxsize=4)
def network_maps(image_id: int = BROAD_IMAGE_ID, fill: str = BROAD_FILL, seed: int = BROAD_SEED,
                 flip: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """heatmaps [K, H, W] and tags [K, H, W, L] float32 (read-only) that HigherHRNet-W32 with synthetic
    weights ``fill`` / ``seed`` gives on sample image ``image_id`` at scale 1 (input size 512, on the
    CPU), aggregated as the pipeline hands them to grouping."""
    predictor = Predictor(Weights.synthetic(fill, seed=seed).build_model(), scales=(1,), flip=flip,
                          device=torch.device("cpu"))
    captured: list[NetworkMaps] = []

    def capture(maps: NetworkMaps) -> NetworkMaps:
        captured.append(maps)
        return maps

    with torch.inference_mode():
        outputs = predictor.run_network([read_image(sample_image(image_id))])
    predictor.decode(outputs, replace_maps=capture)
    heatmaps, tags = (np.ascontiguousarray(tensor[0].numpy()) for tensor in (captured[0].heatmaps,
                                                                             captured[0].tags))
    for array in (heatmaps, tags):
        array.flags.writeable = False
    return heatmaps, tags
