"""End-to-end Predictor throughput on CPU: batch 1 vs batch 4 of same-size images, side by side.

Real HigherHRNet-W32 (seeded default initialisation) on small images (96 x 128, input_size 128,
flip test on) so a run takes well under a minute. ``extra_info["images_per_second"]`` holds the
throughput; compare the two rows of the ``predictor-e2e-cpu`` group.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reference.model import higher_hrnet_w32
from reference.pipeline import Predictor

NUM_IMAGES = 4


@pytest.fixture(scope="module")
def network() -> torch.nn.Module:
    torch.manual_seed(0)
    return higher_hrnet_w32()


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (96, 128, 3), dtype=np.uint8) for _ in range(NUM_IMAGES)]


@pytest.fixture(scope="module")
def results() -> dict[int, list]:
    """batch size -> poses of the benchmarks run so far."""
    return {}


@pytest.mark.parametrize("batch_size", [1, 4])
def test_predictor_images_per_second(benchmark, network, images, results, batch_size):
    benchmark.group = "predictor-e2e-cpu"
    predictor = Predictor(network, input_size=128, batch_size=batch_size)
    results[batch_size] = benchmark.pedantic(predictor.predict_batch, args=(images,), rounds=3, iterations=1,
                                             warmup_rounds=1)
    other = 4 if batch_size == 1 else 1
    if other not in results:
        results[other] = Predictor(network, input_size=128, batch_size=other).predict_batch(images)
    for (keypoints, scores), (expected_keypoints, expected_scores) in zip(results[batch_size], results[other],
                                                                           strict=True):
        # the same people; batching changes only the network's float summation order
        assert keypoints.shape == expected_keypoints.shape
        np.testing.assert_allclose(keypoints, expected_keypoints, rtol=0, atol=0.05)
        np.testing.assert_allclose(scores, expected_scores, rtol=0, atol=1e-3)
    benchmark.extra_info["batch_size"] = batch_size
    benchmark.extra_info["images"] = NUM_IMAGES
    benchmark.extra_info["images_per_second"] = NUM_IMAGES / benchmark.stats.stats.mean
