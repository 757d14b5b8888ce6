"""End-to-end throughput on one device: the fast pipeline against the sequential baseline, side by side.

    pytest benchmarks/test_end_to_end_speed.py --benchmark-only

Both run ``bench.accuracy.runner.predict_images`` on a schedule of ``bench.schedule`` (read, preprocess,
forward with flip test at scale 1, aggregate, group, map back, results entries, prediction cache) over
the same six 400x400 crops of the bundled CrowdPose sample photos (network input 512x512), with the
calibrated deterministic weights (``bench.testing.synthetic_weights.calibrated_state_dict``: up to 30
people per image, as on real crowds):

* baseline: batch size 1, mmpose's literal grouping (``matcher="munkres"``), the serial schedule (images
  read in this process, no overlap), i.e. the stages one after another as mmpose runs them;
* fast: batches of ``FAST_BATCH`` images, the scipy matcher, images read ahead in DataLoader workers, and
  the grouping of one batch overlapped with the forward of the next.

Each variant warms up on one image first, then runs once (one round: a round takes tens of seconds).
Whichever variant runs second checks that both found the same people (same count per image,
keypoints within 1e-3 px, scores within 1e-6) and records ``speedup_vs_baseline`` in ``extra_info``;
the goal, fast >= 2x baseline on a 2-core CPU, is read from the report, never asserted.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from bench.accuracy.cache import PredictionCache
from bench.accuracy.runner import Decoder, predict_images
from bench.data.images import read_image
from bench.schedule import ImageJob, Network, Schedule
from bench.testing.synthetic_weights import calibrated_state_dict
from reference.model import higher_hrnet_w32
from reference.pipeline import Predictor

SAMPLE_DIR = Path(__file__).parents[1] / "bench" / "assets" / "crowdpose_sample"
CROP = 400
CROP_LEFTS = (0, 120, 240)
FAST_BATCH = 2
VARIANTS = {
    "baseline": {"matcher": "munkres", "batch_size": 1, "workers": 0, "overlap": False},
    "fast": {"matcher": "scipy", "batch_size": FAST_BATCH, "workers": 2, "overlap": True},
}
KEYPOINT_TOLERANCE_PX = 1e-3
SCORE_TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def network() -> torch.nn.Module:
    model = higher_hrnet_w32()
    model.load_state_dict(calibrated_state_dict(model))
    return model


@pytest.fixture(scope="module")
def jobs(tmp_path_factory) -> list[ImageJob]:
    """Six same-size JPEG crops (three per sample photo), so the fast pipeline can batch them."""
    folder = tmp_path_factory.mktemp("crops")
    photos = sorted(SAMPLE_DIR.glob("*.jpg"))
    jobs = []
    for image_id, (photo, left) in enumerate(itertools.product(photos, CROP_LEFTS)):
        crop = cv2.imread(str(photo))[:CROP, left:left + CROP]
        path = folder / f"{photo.stem}-{left}.jpg"
        path.write_bytes(cv2.imencode(".jpg", crop)[1].tobytes())
        jobs.append(ImageJob(image_id, path))
    return jobs


@pytest.fixture(scope="module")
def results() -> dict[str, dict[int, list[dict]]]:
    """variant -> image_id -> people, of the variants run so far."""
    return {}


@pytest.fixture(scope="module")
def seconds() -> dict[str, float]:
    """variant -> wall time of its timed run, of the variants benchmarked so far."""
    return {}


def run_variant(network: torch.nn.Module, jobs: list[ImageJob], cache_root: Path,
                variant: str) -> dict[int, list[dict]]:
    settings = VARIANTS[variant]
    predictor = Predictor(network, scales=(1,), flip=True, batch_size=settings["batch_size"],
                          matcher=settings["matcher"])
    cache = PredictionCache(cache_root, {"variant": variant})
    schedule = Schedule(batch_size=settings["batch_size"], workers=settings["workers"],
                        overlap=settings["overlap"])
    return predict_images(Network.of(predictor), jobs, [Decoder(cache)], schedule,
                          progress=None).predictions[0]


def assert_same_people(found: dict[int, list[dict]], expected: dict[int, list[dict]]) -> None:
    assert found.keys() == expected.keys()
    for image_id, people in found.items():
        assert len(people) == len(expected[image_id]), f"image {image_id}: number of people differs"
        np.testing.assert_allclose([p["keypoints"] for p in people],
                                   [p["keypoints"] for p in expected[image_id]],
                                   rtol=0, atol=KEYPOINT_TOLERANCE_PX, err_msg=f"image {image_id}")
        np.testing.assert_allclose([p["score"] for p in people], [p["score"] for p in expected[image_id]],
                                   rtol=0, atol=SCORE_TOLERANCE, err_msg=f"image {image_id}")


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_end_to_end_images_per_second(benchmark, network, jobs, results, seconds, tmp_path, variant):
    benchmark.group = "end-to-end-cpu 6 images 400x400 (input 512x512)"
    benchmark.extra_info.update(variant=variant, images=len(jobs), scales=[1], flip=True, **VARIANTS[variant])

    def warm_up() -> tuple[tuple, dict]:
        Predictor(network, matcher=VARIANTS[variant]["matcher"])(read_image(jobs[0].path))
        return (network, jobs, tmp_path / "cache", variant), {}

    found = benchmark.pedantic(run_variant, setup=warm_up, rounds=1, iterations=1)
    results[variant] = found
    seconds[variant] = benchmark.stats.stats.mean
    benchmark.extra_info["images_per_second"] = len(jobs) / seconds[variant]
    benchmark.extra_info["people_per_image"] = [len(people) for people in found.values()]
    assert all(found.values()), "every crop of a crowd photo should yield people"
    other = "fast" if variant == "baseline" else "baseline"
    if other not in results:
        results[other] = run_variant(network, jobs, tmp_path / "other", other)
    assert_same_people(found, results[other])
    if other in seconds:
        speedup = seconds["baseline"] / seconds["fast"]
        benchmark.extra_info["speedup_vs_baseline"] = speedup
        print(f"\nend to end: baseline {seconds['baseline']:.2f} s, fast {seconds['fast']:.2f} s "
              f"for {len(jobs)} images; fast/baseline throughput {speedup:.2f}x")
