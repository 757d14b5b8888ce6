"""One forward, many decoders: every decoder of a shared network run equals a predictor built with
its settings, bit for bit; the network runs once per image and scale; each decoder's cache resumes on
its own; and rows are grouped into as few forwards as their settings allow.

TinyPoseNet (see helpers) keeps the generated-data cases fast; one case runs the full HigherHRNet-W32
with calibrated weights on the bundled 2-image sample.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from helpers import TinyPoseNet

from bench.accuracy.cache import PredictionCache
from bench.accuracy.runner import Decoder, plan_forwards, predict_images
from bench.data.images import read_image
from bench.errors import BenchError
from bench.evaluation.results import people_to_results
from bench.schedule import ImageJob, Network, Schedule
from bench.testing.synthetic_weights import calibrated_state_dict
from reference.model import higher_hrnet_w32
from reference.pipeline import Predictor, pipeline_config

INPUT_SIZE = 64
IMAGE_IDS = (5, 9, 2, 14, 7)
FORWARD = {"scales": (2, 1), "flip": True}
VARIANTS = (
    {"scales": (2, 1)},
    {"scales": (1,)},
    {"scales": (2, 1), "flip": False},
    {"scales": (1,), "stage_aggregation": "2020"},
    {"scales": (2, 1), "matcher": "munkres", "group_limit": "2020", "max_num_people": 6},
    {"scales": (2, 1), "refine": False, "adjust": False},
    {"scales": (1,), "flip": False, "max_num_people": 3, "tag_threshold": 0.5},
)


def settings(options: dict) -> dict:
    return {"input_size": INPUT_SIZE, **options}


def write_image(path: Path, image: np.ndarray) -> Path:
    path.write_bytes(cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))[1].tobytes())
    return path


@pytest.fixture(scope="module")
def jobs(tmp_path_factory) -> list[ImageJob]:
    rng = np.random.default_rng(7)
    folder = tmp_path_factory.mktemp("images")
    sizes = [(60, 80) if index // 2 % 2 else (80, 60) for index in range(len(IMAGE_IDS))]  # pairs
    return [ImageJob(image_id, write_image(folder / f"{image_id}.png",
                                           rng.integers(0, 256, (*size, 3), dtype=np.uint8)))
            for image_id, size in zip(IMAGE_IDS, sizes, strict=True)]


def run(predictor: Predictor, jobs, decoders_: list[Decoder], batch_size: int = 1):
    """predict_images on the serial-reading schedule (workers 0) of ``batch_size`` images a batch."""
    return predict_images(Network.of(predictor), jobs, decoders_, Schedule(batch_size, workers=0),
                          progress=None)


def decoders(root: Path, variants=VARIANTS) -> list[Decoder]:
    return [Decoder(PredictionCache(root, {"variant": index}), pipeline_config(**settings(options)))
            for index, options in enumerate(variants)]


def alone(network: torch.nn.Module, options: dict, jobs: list[ImageJob], batch_size: int) -> dict:
    """What a predictor built with ``options`` gives, batch by batch as the runner loads them."""
    predictor = Predictor(network, batch_size=batch_size, **settings(options))
    results = {}
    for start in range(0, len(jobs), batch_size):
        chunk = jobs[start:start + batch_size]
        poses = predictor.predict_batch([read_image(job.path) for job in chunk])
        results.update({job.image_id: people_to_results(job.image_id, *image_poses)
                        for job, image_poses in zip(chunk, poses, strict=True)})
    return results


@pytest.mark.parametrize("batch_size", [1, 2])
def test_every_decoder_equals_a_predictor_with_its_settings_bit_for_bit(jobs, tmp_path, batch_size):
    network = TinyPoseNet()
    shared = Predictor(network, batch_size=batch_size, **settings(FORWARD))
    run_ = run(shared, jobs, decoders(tmp_path), batch_size=batch_size)
    assert network.calls == (len(jobs) if batch_size == 1 else 3) * 2  # batches x scales, flip in one call
    for options, predictions in zip(VARIANTS, run_.predictions, strict=True):
        assert predictions == alone(network, options, jobs, batch_size), options
        assert list(predictions) == list(IMAGE_IDS)
    assert any(run_.predictions[0][i] != run_.predictions[5][i] for i in IMAGE_IDS)  # the variants differ
    assert run_.computed == len(jobs)
    assert [len(samples) for samples in run_.decode_ms] == [len(jobs)] * len(VARIANTS)
    assert all(ms > 0 for samples in run_.decode_ms for ms in samples)


def test_each_decoder_resumes_from_its_own_cache(jobs, tmp_path):
    fresh = run(Predictor(TinyPoseNet(), **settings(FORWARD)), jobs, decoders(tmp_path / "fresh"))
    root = tmp_path / "resumed"
    first, second, *_ = decoders(root)
    run(Predictor(TinyPoseNet(), **settings(FORWARD)), jobs, [first])
    run(Predictor(TinyPoseNet(), **settings(FORWARD)), jobs[:2], [second])
    network = TinyPoseNet()
    resumed = run(Predictor(network, **settings(FORWARD)), jobs, decoders(root))
    assert resumed.predictions == fresh.predictions
    assert network.calls == len(jobs) * 2  # every image lacks some decoder (the third onwards)
    lines = [json.loads(line)["image_id"] for line in first.cache.shard_path.read_text().splitlines()]
    assert lines == list(IMAGE_IDS)  # nothing appended twice
    again = TinyPoseNet()
    cached = run(Predictor(again, **settings(FORWARD)), jobs, decoders(root))
    assert cached.predictions == fresh.predictions and again.calls == 0
    assert cached.computed == 0 and cached.decode_ms == ((),) * len(VARIANTS)


@pytest.mark.parametrize(("options", "message"), [
    ({"scales": (1,), "input_size": 128}, "input_size=128 changes the network"),
    ({"scales": (1,), "precision": "tf32"}, "precision='tf32' changes the network"),
    ({"scales": (3, 1)}, "not a subset"),
])
def test_a_decoder_that_needs_another_forward_is_refused_before_any_work(jobs, tmp_path, options, message):
    network = TinyPoseNet()
    with pytest.raises(BenchError, match=message):
        run(Predictor(network, **settings(FORWARD)), jobs, decoders(tmp_path, [{}, options]))
    assert network.calls == 0


def test_rows_share_a_forward_wherever_their_settings_allow():
    one, two_one = pipeline_config((1,)), pipeline_config((2, 1))
    (forward, members), = plan_forwards([one, two_one, pipeline_config((1,), refine=False)])
    assert forward.scales == (2, 1) and forward.flip and members == [0, 1, 2]
    plans = plan_forwards([one, pipeline_config((1,), precision="tf32"), pipeline_config((1,), flip=False)])
    assert [(plan.precision, plan.flip, members) for plan, members in plans] == [
        ("float32", True, [0, 2]), ("tf32", True, [1])]
    plans = plan_forwards([pipeline_config((2,)), one, pipeline_config((1, 0.5))])
    assert [(plan.scales, members) for plan, members in plans] == [((2.0,), [0]), ((1.0,), [1]),
                                                                  ((1.0, 0.5), [2])]


@pytest.mark.slow
def test_both_published_rows_from_one_forward_on_the_bundled_sample(sample_dir, tmp_path):
    """HigherHRNet-W32 with calibrated weights (grouping does real work): the [1] row decoded from the
    [2, 1] forward equals a [1] predictor, and the [2, 1] row a [2, 1] predictor, bit for bit (at input
    size 256 instead of 512, 4x cheaper and nothing shared changes; the other decodings of a shared
    forward are proved on the tiny network above)."""
    model = higher_hrnet_w32()
    model.load_state_dict(calibrated_state_dict())
    photos = [ImageJob(0, sorted(sample_dir.glob("*.jpg"))[0])]  # 103319: the crowded one
    rows = [{"scales": (1,), "input_size": 256}, {"scales": (2, 1), "input_size": 256}]
    found = run(Predictor(model, scales=(2, 1), input_size=256, batch_size=1), photos,
                [Decoder(PredictionCache(tmp_path, {"row": index}), pipeline_config(**options))
                 for index, options in enumerate(rows)])
    shared_forward_predictions = found.predictions[1]
    one = Predictor(model, batch_size=1, **rows[0])
    alone = {job.image_id: people_to_results(job.image_id, *one(read_image(job.path))) for job in photos}
    assert found.predictions[0] == alone and all(alone.values())
    assert all(shared_forward_predictions.values())


def _assert_close_results(left: dict[int, list[dict]], right: dict[int, list[dict]]) -> None:
    """The same people per image, to float32 rounding: a variant without flip decoded from a flip
    forward reads the original half of one [2B] network call, its own predictor a [B] call, and a
    convolution may round differently for another batch size."""
    assert list(left) == list(right)
    for image_id, people in left.items():
        assert len(people) == len(right[image_id])
        for person, other in zip(people, right[image_id], strict=True):
            np.testing.assert_allclose(person["keypoints"], other["keypoints"], rtol=0, atol=1e-3)
            np.testing.assert_allclose(person["score"], other["score"], rtol=0, atol=1e-5)
