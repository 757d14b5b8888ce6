"""bench.predict_images: input order, bit-identical to the predictor run directly, resume from a partial
cache, and errors from decoding (named file) and from the post-processing thread.

A tiny stand-in network keeps this fast: fixed 1x1 convolutions of the pooled image give heatmaps in
(0, 0.5) and tags within 0.01, so every image yields up to 30 people; an all-white image gives NaN
heatmaps, which grouping refuses (the error then comes from the post-processing thread).
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
from bench.accuracy.runner import Decoder, predict_images
from bench.errors import BenchError
from bench.evaluation.results import people_to_results
from bench.schedule import ImageJob, Network, Schedule
from bench.testing.synthetic_weights import calibrated_state_dict
from reference.model import higher_hrnet_w32
from reference.pipeline import Predictor

INPUT_SIZE = 64
SIZES = ((60, 80), (80, 60))  # (height, width): two resize-aligned input sizes, mixed in the job list
IMAGE_IDS = (17, 3, 42, 8, 25, 11, 30)


def make_predictor(batch_size: int = 2) -> Predictor:
    return Predictor(TinyPoseNet(), input_size=INPUT_SIZE, batch_size=batch_size)


def write_image(path: Path, image: np.ndarray) -> Path:
    path.write_bytes(cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))[1].tobytes())
    return path


@pytest.fixture(scope="module")
def images() -> dict[int, np.ndarray]:
    rng = np.random.default_rng(0)
    sizes = [SIZES[1] if index % 3 == 1 else SIZES[0] for index in range(len(IMAGE_IDS))]
    return {image_id: rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            for image_id, size in zip(IMAGE_IDS, sizes, strict=True)}


@pytest.fixture(scope="module")
def jobs(images, tmp_path_factory) -> list[ImageJob]:
    folder = tmp_path_factory.mktemp("images")
    return [ImageJob(image_id, write_image(folder / f"{image_id}.png", image))
            for image_id, image in images.items()]


def predict_one(predictor: Predictor, jobs: list[ImageJob], cache: PredictionCache, batch_size: int = 1,
                workers: int = 0, overlap: bool = True) -> dict:
    """The predictions of the predictor's own decoding (one decoder)."""
    return predict_images(Network.of(predictor), jobs, [Decoder(cache)],
                          Schedule(batch_size, workers, overlap)).predictions[0]


def new_cache(root: Path) -> PredictionCache:
    return PredictionCache(root, {"test": "predict"})


def cached_ids(cache: PredictionCache) -> list[int]:
    return [json.loads(line)["image_id"] for line in cache.shard_path.read_text().splitlines()]


def results_of(image_id: int, poses) -> list[dict]:
    return people_to_results(image_id, *poses)


def test_network_batches_group_equal_input_sizes_in_order_of_first_appearance(images):
    ordered = list(images.values())
    assert make_predictor(batch_size=2).network_batches(ordered) == [[0, 2], [3, 5], [6], [1, 4]]
    assert make_predictor(batch_size=8).network_batches(ordered) == [[0, 2, 3, 5, 6], [1, 4]]


@pytest.mark.parametrize(("overlap", "workers"), [(True, 0), (True, 2), (False, 0)])
def test_predictions_equal_predict_batch_bit_for_bit_in_input_order(images, jobs, tmp_path, overlap, workers):
    predictor = make_predictor(batch_size=2)
    cache = new_cache(tmp_path)
    results = predict_one(predictor, jobs, cache, batch_size=3, workers=workers,
                          overlap=overlap)
    expected = {}
    for start in range(0, len(IMAGE_IDS), 3):
        ids = IMAGE_IDS[start:start + 3]
        for image_id, poses in zip(ids, predictor.predict_batch([images[i] for i in ids]), strict=True):
            expected[image_id] = results_of(image_id, poses)
    assert list(results) == list(IMAGE_IDS)
    assert results == expected
    assert cached_ids(cache) == list(IMAGE_IDS)
    assert all(1 <= len(people) <= 30 for people in results.values())


def test_batch_size_one_equals_calling_the_predictor_per_image(images, jobs, tmp_path):
    predictor = make_predictor(batch_size=1)
    results = predict_one(predictor, jobs, new_cache(tmp_path), batch_size=1, workers=0)
    assert results == {image_id: results_of(image_id, predictor(images[image_id])) for image_id in IMAGE_IDS}


def test_partial_cache_resumes_with_only_the_missing_images(jobs, tmp_path):
    fresh = predict_one(make_predictor(batch_size=1), jobs, new_cache(tmp_path / "fresh"), batch_size=2,
                           workers=0)
    cache = new_cache(tmp_path / "resumed")
    predict_one(make_predictor(batch_size=1), jobs[1:4], cache, batch_size=2, workers=0)
    predictor = make_predictor(batch_size=1)
    resumed = predict_one(predictor, jobs, cache, batch_size=2, workers=0)
    assert resumed == fresh and list(resumed) == list(IMAGE_IDS)
    assert predictor.model.calls == 4  # one network call (input and mirror) for each of the 4 images left
    assert sorted(cached_ids(cache)) == sorted(IMAGE_IDS)
    assert cached_ids(cache)[3:] == [IMAGE_IDS[0], *IMAGE_IDS[4:]]


@pytest.mark.parametrize("workers", [0, 2])
def test_unreadable_file_is_named_after_the_batches_before_it_are_cached(jobs, tmp_path, workers):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    with_broken = [*jobs[:4], ImageJob(99, broken), *jobs[4:]]
    cache = new_cache(tmp_path / "cache")
    with pytest.raises(BenchError, match="broken.jpg") as raised:
        predict_one(make_predictor(), with_broken, cache, batch_size=2, workers=workers)
    assert "DataLoader worker" not in str(raised.value)
    assert cached_ids(cache) == list(IMAGE_IDS[:4])


def test_error_in_the_post_processing_thread_propagates(images, jobs, tmp_path):
    white = write_image(tmp_path / "white.png", np.full((60, 80, 3), 255, dtype=np.uint8))
    with_white = [*jobs[:2], ImageJob(99, white), *jobs[2:]]
    cache = new_cache(tmp_path / "cache")
    with pytest.raises(ValueError, match="NaN"):
        predict_one(make_predictor(batch_size=1), with_white, cache, batch_size=2, workers=0)
    assert cached_ids(cache) == list(IMAGE_IDS[:2])


def test_calibrated_weights_find_up_to_30_people_in_each_sample_photo(sample_dir, tmp_path):
    model = higher_hrnet_w32()
    untouched = {key: value.clone() for key, value in model.state_dict().items()}
    state = calibrated_state_dict(model)
    assert all(torch.equal(value, untouched[key]) for key, value in model.state_dict().items())
    model.load_state_dict(state)
    photos = [ImageJob(index, path) for index, path in enumerate(sorted(sample_dir.glob("*.jpg")))]
    # input 384 (not 512): half the time, and every joint still finds a candidate (at 256 some do not)
    results = predict_one(Predictor(model, input_size=384), photos, new_cache(tmp_path), workers=0)
    assert [1 <= len(people) <= 30 for people in results.values()] == [True, True]
    for people in results.values():
        keypoint_scores = np.array([person["keypoints"][2::3] for person in people])
        assert (keypoint_scores > 0.1).any(axis=0).all(), "every joint should find a candidate"


def test_an_image_over_the_input_limits_is_named_before_its_batch_runs(jobs, tmp_path):
    thin = write_image(tmp_path / "thin.png", np.zeros((10, 400, 3), dtype=np.uint8))
    cache = new_cache(tmp_path / "cache")
    predictor = make_predictor(batch_size=1)
    with pytest.raises(BenchError, match=r"thin.png \(image id 99\): a 400x10 image needs a 2560x64 network "
                                         r"input: its aspect ratio 40.0 is over the limit 8"):
        predict_one(predictor, [*jobs[:2], ImageJob(99, thin)], cache, batch_size=2, workers=0)
    assert cached_ids(cache) == list(IMAGE_IDS[:2]) and predictor.model.calls == 2


def test_a_cuda_out_of_memory_error_names_the_batch_and_suggests_a_smaller_batch(jobs, tmp_path, monkeypatch):
    predictor = make_predictor(batch_size=2)

    def out_of_memory(images, observer=None):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB\nmore detail")

    monkeypatch.setattr(predictor, "run_network", out_of_memory)
    with pytest.raises(BenchError, match=r"CUDA ran out of memory on a network batch of 2 image\(s\) \(ids "
                                         r"\[17, 42\], sizes 80x60\) .*Tried to allocate 20.00 GiB\. Try a "
                                         r"smaller --batch-size"):
        predict_one(predictor, jobs, new_cache(tmp_path), batch_size=3, workers=0)


def test_an_image_replaced_under_the_same_path_is_predicted_again(images, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    mine = [ImageJob(image_id, write_image(folder / f"{image_id}.png", images[image_id]))
            for image_id in IMAGE_IDS[:3]]
    cache = new_cache(tmp_path / "cache")
    first = predict_one(make_predictor(batch_size=1), mine, cache, workers=0)
    write_image(mine[1].path, images[IMAGE_IDS[5]])  # same size, other content
    predictor = make_predictor(batch_size=1)
    again = predict_one(predictor, mine, cache, workers=0)
    assert predictor.model.calls == 1  # only the replaced image, its flip pass in the same call
    assert again[IMAGE_IDS[0]] == first[IMAGE_IDS[0]] and again[IMAGE_IDS[1]] != first[IMAGE_IDS[1]]


def test_the_progress_label_of_a_shared_forward_stays_short():
    from bench.accuracy.predict import progress_label

    names = [f"sweep variant {index}: refine=False, adjust=True, tag threshold 1.{index}" for index in "abc"]
    assert progress_label(names[:1]) == names[0]
    assert len(progress_label(names)) < 80 and progress_label(names).startswith("3 rows of one forward")
