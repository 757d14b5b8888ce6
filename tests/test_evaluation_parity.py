"""bench.evaluation against every other implementation of the CrowdPose protocol (the test oracles of
``oracles``), on generated cases full of edge cases: crowd regions, head/neck-only and unlabelled people,
images without people or without detections, more than 20 detections, all-zero keypoint scores, tied
scores, crowd indices at the split points and above 1, splits without images (AP -1), GT id 0.

Agreement is to 1e-12 (in practice bit for bit: the same float operations), with the official
crowdposetools and the others alike; xtcocotools follows its own protocol, which our "xtcocotools"
protocol must equal.
"""

from __future__ import annotations

import copy
import hashlib
import json
import warnings
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest
from helpers import EVALUATION_CASES
from oracles import OFFICIAL_PROTOCOL_ORACLES, faster_coco_eval, require, xtcocotools

from bench.evaluation import METRIC_NAMES, evaluate, protocol
from bench.evaluation.oks import oks_matrices
from bench.testing.synthetic_data import DetectionSpec, GroundTruthSpec, make_detections, make_ground_truth

TOLERANCE = 1e-12
CASES = {
    **EVALUATION_CASES,
    "easy-split-only": (GroundTruthSpec(num_images=40, seed=6, max_crowd_index=0.15, edge_cases=False),
                        DetectionSpec(seed=106)),
}


ORACLE_NUMBERS = Path(__file__).parent / "data" / "oracle_numbers.json"
"""The official crowdposetools' and xtcocotools' numbers on every case, recorded where they were
installed (``record_oracle_numbers.py``), so that a clone without them still checks against them."""


def generated(name: str) -> tuple[dict, list[dict]]:
    gt_spec, det_spec = CASES[name]
    gt = make_ground_truth(gt_spec)
    return gt, make_detections(gt, det_spec)


def case_digest(gt: dict, detections: list[dict]) -> str:
    """sha256 of a case's inputs as JSON: a recorded number belongs to exactly these inputs."""
    return hashlib.sha256(json.dumps([gt, detections], sort_keys=True).encode()).hexdigest()


@pytest.fixture(scope="module", params=list(CASES))
def case(request) -> tuple[dict, list[dict]]:
    return generated(request.param)


@pytest.fixture(scope="module")
def recorded() -> dict:
    return json.loads(ORACLE_NUMBERS.read_text())


def assert_same_numbers(ours: dict[str, float], theirs: dict[str, float]) -> None:
    assert list(theirs) == list(METRIC_NAMES)
    np.testing.assert_allclose([ours[name] for name in METRIC_NAMES], [theirs[name] for name in METRIC_NAMES],
                               rtol=0, atol=TOLERANCE)


def test_the_cases_hold_the_edge_cases():
    gt_spec, det_spec = CASES["edge-gt-id-0"]
    gt = make_ground_truth(gt_spec)
    inputs = evaluate(gt, make_detections(gt, det_spec)).inputs
    assert inputs.gt_has_id_zero and inputs.num_zero_score_detections > 0
    assert inputs.num_images_over_max_detections > 0
    crowd = np.array([image["crowdIndex"] for image in gt["images"]])
    assert all(mask.any() for mask in protocol.split_masks(crowd))
    above = make_ground_truth(CASES["crowd-index-above-1"][0])
    assert max(image["crowdIndex"] for image in above["images"]) > 2.5
    easy_spec, easy_detections = CASES["easy-split-only"]
    easy = make_ground_truth(easy_spec)
    only_easy = evaluate(easy, make_detections(easy, easy_detections)).metrics
    assert only_easy["AP_medium"] == only_easy["AP_hard"] == -1.0 and only_easy["AP_easy"] > 0


@pytest.mark.filterwarnings("ignore:Found annotation id 0:UserWarning")  # faster-coco-eval's own notice
@pytest.mark.parametrize("oracle", list(OFFICIAL_PROTOCOL_ORACLES))
def test_identical_to_every_implementation_of_the_official_protocol(case, oracle):
    gt, detections = case
    before = copy.deepcopy(case)
    assert_same_numbers(evaluate(gt, detections).metrics, OFFICIAL_PROTOCOL_ORACLES[oracle](gt, detections))
    assert (gt, detections) == before  # our evaluator never modifies its inputs


@pytest.mark.parametrize("name", list(CASES))
def test_identical_to_the_recorded_numbers_of_crowdposetools_and_xtcocotools(recorded, name):
    """Runs everywhere: the official protocol equals the official crowdposetools' recorded numbers, and
    the xtcocotools protocol xtcocotools' (to 1e-12), on exactly the inputs they were recorded on."""
    gt, detections = generated(name)
    numbers = recorded["cases"][name]
    assert numbers["inputs_sha256"] == case_digest(gt, detections), (
        f"case {name!r} is generated differently than when its oracle numbers were recorded: rerun "
        "tests/record_oracle_numbers.py where crowdposetools and xtcocotools are installed")
    assert_same_numbers(evaluate(gt, detections).metrics, numbers["crowdposetools"])
    assert_same_numbers(evaluate(gt, detections, "xtcocotools").metrics, numbers["xtcocotools"])


@pytest.mark.parametrize("oracle", ["crowdposetools", "xtcocotools"])
def test_the_recorded_numbers_are_the_oracles_own(case, recorded, oracle):
    gt, detections = case
    found = OFFICIAL_PROTOCOL_ORACLES["crowdposetools"] if oracle == "crowdposetools" else xtcocotools
    numbers = next(numbers for numbers in recorded["cases"].values()
                   if numbers["inputs_sha256"] == case_digest(gt, detections))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert found(gt, detections) == numbers[oracle]


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::ResourceWarning")
def test_the_xtcocotools_protocol_equals_xtcocotools(case):
    gt, detections = case
    assert_same_numbers(evaluate(gt, detections, "xtcocotools").metrics, xtcocotools(gt, detections))


def test_vectorised_oks_is_bit_identical_to_faster_coco_eval(case):
    require("faster_coco_eval")
    from faster_coco_eval import COCO, COCOeval_faster

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


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::ResourceWarning")
def test_xtcocotools_differs_from_the_official_protocol_only_by_its_two_rules(case):
    """Dropping all-zero-score detections and renumbering GT ids away from 0 turn the official
    protocol's numbers into xtcocotools' (the two rules of ``protocol_xtcocotools``)."""
    gt, dets = case
    kept = [det for det in dets if any(score > 0 for score in det["keypoints"][2::3])]
    renumbered = copy.deepcopy(gt)
    for index, ann in enumerate(renumbered["annotations"]):
        ann["id"] = index + 1
    assert_same_numbers(faster_coco_eval(renumbered, kept), xtcocotools(renumbered, dets))
