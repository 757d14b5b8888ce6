"""Every installed backend against the default on generated CrowdPose cases full of edge cases.

Agreement is exact (==), not approximate: the backends implement one protocol with the same float
operations. xtcocotools is the exception, and its documented differences are asserted with their cause.
"""

from __future__ import annotations

import copy
from contextlib import nullcontext

import numpy as np
import pytest
from helpers import EVALUATION_CASES as CASES

from bench.errors import BenchError
from bench.evaluation import DEFAULT_BACKEND, api, evaluate, evaluate_with_info, protocol
from bench.evaluation.oks import oks_matrices
from bench.testing.synthetic_data import GroundTruthSpec, make_detections, make_ground_truth

OTHER_BACKENDS = [name for name in api.BACKEND_NAMES if name not in (DEFAULT_BACKEND, "xtcocotools")]


@pytest.fixture(scope="module", params=list(CASES))
def case(request) -> tuple[dict, list[dict]]:
    gt_spec, det_spec = CASES[request.param]
    gt = make_ground_truth(gt_spec)
    return gt, make_detections(gt, det_spec)


@pytest.fixture(scope="module")
def default_metrics(case) -> dict[str, float]:
    return evaluate(*case)


def require(backend: str) -> None:
    try:
        api.backend_module(backend).version()
    except BenchError as error:
        pytest.skip(str(error))


def test_cases_hold_the_edge_cases():
    gt_spec, det_spec = CASES["edge-gt-id-0"]
    gt = make_ground_truth(gt_spec)
    report = evaluate_with_info(gt, make_detections(gt, det_spec)).input_report
    assert report.gt_has_id_zero
    assert report.num_zero_score_detections > 0
    assert report.num_images_over_max_detections > 0
    easy, medium, hard = protocol.split_image_ids(gt["images"])
    assert easy and medium and hard


@pytest.mark.filterwarnings("ignore:Found annotation id 0:UserWarning")  # faster-coco-eval's own notice
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_backend_agrees_exactly_with_the_default(case, default_metrics, backend):
    require(backend)
    assert evaluate(*case, backend=backend) == default_metrics


def test_vectorised_oks_is_bit_identical_to_faster_coco_eval(case):
    from faster_coco_eval import COCO
    from faster_coco_eval.core.faster_eval_api import COCOeval_faster

    gt, dets = copy.deepcopy(case)
    with pytest.warns(UserWarning, match="annotation id 0") if gt_has_id_zero(gt) else nullcontext():
        coco_gt = COCO(gt)
    evaluator = COCOeval_faster(coco_gt, coco_gt.loadRes(dets), "keypoints_crowd",
                                print_function=lambda *args: None, kpt_oks_sigmas=protocol.CROWDPOSE_SIGMAS,
                                use_area=False)
    evaluator.evaluate()
    anns = gt["annotations"]
    mine = oks_matrices(
        gt_keys=np.array([ann["image_id"] for ann in anns]),
        gt_keypoints=np.array([ann["keypoints"] for ann in anns], dtype=np.float64),
        gt_boxes=np.array([ann["bbox"] for ann in anns], dtype=np.float64),
        det_keys=np.array([det["image_id"] for det in dets]),
        det_scores=np.array([det["score"] for det in dets]),
        det_keypoints=np.array([det["keypoints"] for det in dets], dtype=np.float64),
        max_detections=protocol.MAX_DETECTIONS)
    compared = 0
    for (image_id, _), reference in evaluator.ious.items():
        reference = np.asarray(reference)
        if reference.size == 0:
            assert image_id not in mine
            continue
        np.testing.assert_array_equal(mine[image_id], reference)
        compared += reference.size
    assert compared > 1000


def gt_has_id_zero(gt: dict) -> bool:
    return any(ann["id"] == 0 for ann in gt["annotations"])


def without_zero_score_detections(dets: list[dict]) -> list[dict]:
    return [det for det in dets if any(score > 0 for score in det["keypoints"][2::3])]


def with_ids_counting_from_one(gt: dict) -> dict:
    renumbered = copy.deepcopy(gt)
    for index, ann in enumerate(renumbered["annotations"]):
        ann["id"] = index + 1
    return renumbered


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::ResourceWarning")
def test_xtcocotools_differs_only_by_dropping_zero_score_detections(case, default_metrics):
    require("xtcocotools")
    gt, dets = case
    if without_zero_score_detections(dets) == dets:
        pytest.skip("this case has no detection with all-zero keypoint scores")
    assert evaluate(gt, dets, "xtcocotools") != default_metrics
    renumbered = with_ids_counting_from_one(gt)
    dropped = without_zero_score_detections(dets)
    assert evaluate(renumbered, dets, "xtcocotools") == evaluate(renumbered, dropped)


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::ResourceWarning")
def test_xtcocotools_counts_a_match_to_gt_id_0_as_true_positive():
    require("xtcocotools")
    gt = make_ground_truth(GroundTruthSpec(num_images=1, seed=0, edge_cases=False, max_people=1,
                                           first_annotation_id=0))
    ann = gt["annotations"][0]
    dets = [{"image_id": ann["image_id"], "category_id": 1, "keypoints": ann["keypoints"], "score": 1.0}]
    assert ann["id"] == 0 and ann["num_keypoints"] > 0
    assert evaluate(gt, dets)["AP"] == 0.0
    assert evaluate(gt, dets, "xtcocotools")["AP"] == pytest.approx(1.0)


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::ResourceWarning")
def test_xtcocotools_protocol_on_the_default_backend_equals_xtcocotools(case):
    require("xtcocotools")
    assert evaluate(*case, protocol_name="xtcocotools") == evaluate(*case, "xtcocotools")
