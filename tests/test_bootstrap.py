"""Image-bootstrap intervals: the identity resample is the evaluator, a resample is the evaluator on
the resampled set (an image drawn twice counts as two), and the draws are seeded and paired."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import EVALUATION_CASES as CASES
from oracles import faster_coco_eval

from bench.evaluation import METRIC_NAMES, evaluate
from bench.evaluation.accumulate import point_metrics, prepare, weighted_metrics
from bench.evaluation.bootstrap import (
    INTERVAL_METRICS,
    BootstrapSettings,
    PairedDelta,
    bootstrap_distributions,
    intervals,
    paired_deltas,
    resample_weights,
)
from bench.testing.synthetic_data import make_detections, make_ground_truth


def image_matches(gt, detections, protocol_name: str = "crowdpose"):
    return evaluate(gt, detections, protocol_name).matches


def generated(name: str) -> tuple[dict, list[dict]]:
    gt_spec, det_spec = CASES[name]
    gt = make_ground_truth(gt_spec)
    return gt, make_detections(gt, det_spec)


def perturbed_sample(sample_dir) -> tuple[dict, list[dict]]:
    """The 2 real images' GT as detections, every third person moved and the scores spread (ties too)."""
    gt = json.loads((sample_dir / "test_crowdpose.json").read_text())
    detections = []
    for index, ann in enumerate(gt["annotations"]):
        keypoints = np.array(ann["keypoints"], dtype=float).reshape(14, 3)
        if index % 3 == 0:
            keypoints[:, :2] += 6.0 * (index % 5 + 1)
        keypoints[:, 2] = 1.0
        detections.append({"image_id": ann["image_id"], "category_id": 1, "score": 1.0 - 0.1 * (index % 4),
                           "keypoints": keypoints.ravel().tolist()})
    return gt, detections


def resampled_set(gt: dict, detections: list[dict], weights: np.ndarray) -> tuple[dict, list[dict]]:
    """The resample written out: image i drawn k times becomes k images with fresh ids (consecutive, in
    the original id order), each with copies of its GT (fresh annotation ids) and detections."""
    images = sorted(gt["images"], key=lambda image: image["id"])
    anns_of, dets_of = {}, {}
    for ann in gt["annotations"]:
        anns_of.setdefault(ann["image_id"], []).append(ann)
    for det in detections:
        dets_of.setdefault(det["image_id"], []).append(det)
    new_images, new_anns, new_dets = [], [], []
    for image, copies in zip(images, weights.tolist(), strict=True):
        for _ in range(copies):
            fresh = len(new_images) + 1
            new_images.append(dict(image, id=fresh))
            new_anns += [dict(ann, image_id=fresh, id=len(new_anns) + 1 + offset)
                         for offset, ann in enumerate(anns_of.get(image["id"], []))]
            new_dets += [dict(det, image_id=fresh) for det in dets_of.get(image["id"], [])]
    return dict(gt, images=new_images, annotations=new_anns), new_dets


def without_ties_inside_images(detections: list[dict]) -> list[dict]:
    """The detections with each image's repeated scores lowered a little (ties across images stay)."""
    seen: dict[tuple[int, float], int] = {}
    untied = []
    for det in detections:
        key = (det["image_id"], det["score"])
        seen[key] = seen.get(key, -1) + 1
        untied.append(dict(det, score=det["score"] - 1e-7 * seen[key]))
    return untied


@pytest.mark.parametrize("name", ["edge", "dense-large-images", "no-edge-cases", "crowd-index-above-1"])
def test_a_resample_is_the_official_protocol_on_the_resampled_images(name):
    """Weights give the numbers another implementation of the protocol gives on the written-out
    resample (faster-coco-eval, to 1e-12), duplicated images and score ties across images included
    (ties inside one image: see the next test)."""
    gt, detections = generated(name)
    detections = without_ties_inside_images(detections)
    if CASES[name][1].edge_cases:  # generated with tied scores: those across images remain
        assert len({det["score"] for det in detections}) < len(detections)
    accumulation = prepare(image_matches(gt, detections))
    for weights in resample_weights(len(gt["images"]), BootstrapSettings(resamples=3, seed=7)):
        assert weights.max() >= 2  # some image counts twice
        expected = faster_coco_eval(*resampled_set(gt, detections, weights))
        np.testing.assert_allclose(weighted_metrics(accumulation, weights),
                                   [expected[m] for m in METRIC_NAMES], rtol=0, atol=1e-12)


def test_ties_inside_an_image_move_a_resample_by_little():
    """COCOeval interleaves the copies of an image's tied detections; the weights keep each
    detection's copies together. Only precision inside such a tie block differs."""
    gt, detections = generated("edge")
    accumulation = prepare(image_matches(gt, detections))
    for weights in resample_weights(len(gt["images"]), BootstrapSettings(resamples=3, seed=7)):
        expected = evaluate(*resampled_set(gt, detections, weights)).metrics
        assert np.allclose(weighted_metrics(accumulation, weights), [expected[m] for m in METRIC_NAMES],
                           rtol=0, atol=1e-3)


def test_draws_are_seeded_and_intervals_bracket_the_estimate():
    gt, detections = generated("edge")
    matches = image_matches(gt, detections)
    settings = BootstrapSettings(resamples=200, seed=3)
    first = bootstrap_distributions([matches], settings)
    assert np.array_equal(first, bootstrap_distributions([matches], settings))
    assert not np.array_equal(first, bootstrap_distributions([matches], BootstrapSettings(200, seed=4)))
    point = point_metrics(matches)
    for metric, (low, high) in intervals(first[:, 0], settings).items():
        assert low < point[metric] < high, metric


def test_identical_runs_differ_by_zero_with_a_zero_interval():
    gt, detections = generated("edge")
    matches = image_matches(gt, detections)
    settings = BootstrapSettings(resamples=50, seed=0)
    samples = bootstrap_distributions([matches, image_matches(gt, detections)], settings)
    point = point_metrics(matches)
    deltas = paired_deltas(point, point, samples[:, 0], samples[:, 1], settings)
    assert deltas == {metric: PairedDelta(0.0, (0.0, 0.0)) for metric in INTERVAL_METRICS}


def test_a_split_without_people_has_no_interval(sample_dir):
    """The real sample has no easy or hard image: AP(E) and AP(H) are -1 and get no interval."""
    gt, detections = perturbed_sample(sample_dir)
    settings = BootstrapSettings(resamples=20, seed=0)
    found = intervals(bootstrap_distributions([image_matches(gt, detections)], settings)[:, 0], settings)
    assert found["AP_easy"] is None and found["AP_hard"] is None and found["AP"] is not None


def test_runs_on_other_images_cannot_be_paired():
    gt, detections = generated("edge")
    other_gt, other_detections = generated("dense-large-images")
    with pytest.raises(ValueError, match="same images"):
        bootstrap_distributions([image_matches(gt, detections), image_matches(other_gt, other_detections)],
                                BootstrapSettings(resamples=2))


@pytest.mark.parametrize("settings", [{"resamples": -1}, {"seed": -2}, {"confidence": 1.0}])
def test_bad_settings_are_refused(settings):
    with pytest.raises(ValueError, match="bootstrap"):
        BootstrapSettings(**settings)


def test_settings_record_the_method_and_what_is_resampled():
    record = BootstrapSettings(resamples=10, seed=5).to_dict()
    assert record["resamples"] == 10 and record["seed"] == 5 and record["confidence"] == 0.95
    assert record["method"] == "percentile" and "images, with replacement" in record["resampled"]
