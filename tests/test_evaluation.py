"""bench.evaluation: the official CrowdPose protocol on hand-computable cases, inputs, errors, the CLI."""

from __future__ import annotations

import copy
import json
import re

import numpy as np
import pytest

from bench.__main__ import main
from bench.errors import BenchError
from bench.evaluation import IMPLEMENTATION, METRIC_NAMES, evaluate, implementation_version, protocol
from bench.evaluation.inputs import load_ground_truth
from bench.testing.synthetic_data import DetectionSpec, GroundTruthSpec, make_detections, make_ground_truth

SIGMAS = np.array([0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089,
                   0.079, 0.079])
BOX = [100.0, 50.0, 100.0, 200.0]  # x, y, w, h: OKS scale 0.53 * 100 * 200 = 10600
PERFECT = pytest.approx(1.0, rel=0, abs=1e-12)
"""A perfect precision, as the official API computes it: tp / (tp + fp + eps) reads 1 - 1e-16."""


def person(ann_id: int, image_id: int, shift: float = 0.0, visible: int = 14) -> dict:
    """A GT person with ``visible`` labelled joints spread inside BOX, optionally shifted right."""
    points = [[BOX[0] + 5 + 6 * j + shift, BOX[1] + 10 + 12 * j, 2 if j < visible else 0] for j in range(14)]
    keypoints = [v for x, y, vis in points for v in ((x, y, vis) if vis else (0, 0, 0))]
    return {"id": ann_id, "image_id": image_id, "category_id": 1, "keypoints": keypoints, "iscrowd": 0,
            "num_keypoints": sum(1 for j in range(12) if j < visible), "bbox": list(BOX)}


def ground_truth(annotations: list[dict], crowd_indices: dict[int, float]) -> dict:
    images = [{"id": image_id, "file_name": f"{image_id}.jpg", "width": 400, "height": 400,
               "crowdIndex": crowd_index} for image_id, crowd_index in crowd_indices.items()]
    return {"images": images, "annotations": annotations,
            "categories": [{"id": 1, "name": "person", "supercategory": "person"}]}


def detection(ann: dict, score: float = 0.9, shift: float = 0.0, joint_score: float = 0.8) -> dict:
    """A detection at the labelled joints of ``ann`` (shifted right by ``shift``), others at a corner."""
    values = []
    for j in range(14):
        x, y, v = ann["keypoints"][3 * j: 3 * j + 3]
        values += [x + shift, y, joint_score] if v else [BOX[0], BOX[1], joint_score]
    return {"image_id": ann["image_id"], "category_id": 1, "keypoints": values, "score": score}


def expected_oks(shift: float, visible: int = 14) -> float:
    """OKS, by the formula, of a detection ``shift`` px off a GT with ``visible`` labelled joints."""
    area = BOX[2] * BOX[3] * 0.53
    return float(np.mean(np.exp(-shift ** 2 / (2 * SIGMAS[:visible]) ** 2 / area / 2)))


def score(gt, results, protocol_name: str = "crowdpose") -> dict[str, float]:
    """The nine numbers of our evaluator."""
    return evaluate(gt, results, protocol_name).metrics


def gt_as_detections(gt: dict) -> list[dict]:
    """Every non-ignored GT person as a detection at its labelled joints, score 1."""
    return [{"image_id": ann["image_id"], "category_id": ann["category_id"], "keypoints": ann["keypoints"],
             "score": 1.0} for ann in gt["annotations"] if ann["num_keypoints"] > 0 and not ann["iscrowd"]]


@pytest.fixture(scope="module")
def edge_case() -> tuple[dict, list[dict]]:
    gt = make_ground_truth(GroundTruthSpec(num_images=60, seed=3))
    return gt, make_detections(gt, DetectionSpec(seed=4))


def test_metric_names_and_types(edge_case):
    values = score(*edge_case)
    assert tuple(values) == METRIC_NAMES
    assert all(type(value) is float for value in values.values())
    assert all(-1.0 <= value <= 1.0 for value in values.values())


@pytest.mark.parametrize("shift", [6.0, 10.0, 13.0, 16.0, 19.0])
def test_single_person_ap_counts_the_oks_thresholds_it_passes(shift):
    gt_ann = person(1, 7)
    oks = expected_oks(shift)
    passed = int(np.sum(protocol.iou_thresholds() <= oks))
    assert 0 < passed < 10 and all(abs(oks - t) > 1e-3 for t in protocol.iou_thresholds())
    metrics = score(ground_truth([gt_ann], {7: 0.5}), [detection(gt_ann, shift=shift)])
    assert metrics["AP"] == pytest.approx(passed / 10)
    assert metrics["AR"] == pytest.approx(passed / 10)
    assert metrics["AP50"] == PERFECT and metrics["AR50"] == 1.0
    assert metrics["AP75"] == (PERFECT if oks >= 0.75 else 0.0) and metrics["AR75"] == (oks >= 0.75)
    assert metrics["AP_medium"] == round(passed / 10, 4)
    assert metrics["AP_easy"] == metrics["AP_hard"] == -1.0


def test_oks_uses_only_labelled_joints():
    gt_ann = person(1, 7, visible=6)
    shift = 12.0
    passed = int(np.sum(protocol.iou_thresholds() <= expected_oks(shift, visible=6)))
    metrics = score(ground_truth([gt_ann], {7: 0.5}), [detection(gt_ann, shift=shift)])
    assert metrics["AP"] == pytest.approx(passed / 10)


def test_false_positive_ranked_first_halves_precision():
    gt_ann = person(1, 7)
    stray = detection(person(99, 7, shift=150.0), score=0.95)
    metrics = score(ground_truth([gt_ann], {7: 0.5}), [detection(gt_ann, score=0.5), stray])
    assert metrics["AP"] == pytest.approx(0.5)
    assert metrics["AR"] == 1.0
    stray["score"] = 0.1
    assert score(ground_truth([gt_ann], {7: 0.5}), [detection(gt_ann, score=0.5), stray])["AP"] == PERFECT


@pytest.mark.parametrize(("true_rank", "expected_ap"), [(20, 1 / 20), (21, 0.0)])
def test_only_the_top_20_detections_per_image_count(true_rank, expected_ap):
    gt_ann = person(1, 7)
    strays = [detection(person(100 + i, 7, shift=150.0), score=1.0 - i / 100) for i in range(true_rank - 1)]
    true = detection(gt_ann, score=1.0 - true_rank / 100)
    metrics = score(ground_truth([gt_ann], {7: 0.5}), strays + [true])
    assert metrics["AP"] == pytest.approx(expected_ap)
    assert metrics["AR"] == (1.0 if true_rank <= protocol.MAX_DETECTIONS else 0.0)


def test_ignored_people_neither_help_nor_hurt():
    regular = person(1, 7)
    head_neck_only = person(2, 7, shift=60.0, visible=0)
    head_neck_only["keypoints"][36:42] = [180, 60, 1, 180, 80, 2]  # head and neck labelled only
    crowd = dict(person(3, 7, shift=120.0), iscrowd=1)
    assert head_neck_only["num_keypoints"] == 0
    gt = ground_truth([regular, head_neck_only, crowd], {7: 0.5})
    dets = [detection(regular, 0.5), detection(head_neck_only, 0.9), detection(crowd, 0.8)]
    assert score(gt, dets)["AP"] == PERFECT
    assert score(ground_truth([head_neck_only, crowd], {7: 0.5}), dets)["AP"] == -1.0


def test_split_boundaries_go_up_and_empty_splits_are_minus_one():
    medium, hard = person(1, 1), person(2, 2)
    gt = ground_truth([medium, hard], {1: 0.2, 2: 0.8})
    crowd = np.array([image["crowdIndex"] for image in gt["images"]])
    assert [mask.tolist() for mask in protocol.split_masks(crowd)] == [[False, False], [True, False],
                                                                       [False, True]]
    metrics = score(gt, [detection(medium), detection(hard, shift=150.0)])
    assert (metrics["AP_easy"], metrics["AP_medium"], metrics["AP_hard"]) == (-1.0, 1.0, 0.0)


def test_gt_id_zero_counts_its_match_as_false_positive_like_the_official_api():
    gt_ann = person(0, 7)
    scored = evaluate(ground_truth([gt_ann], {7: 0.5}), [detection(gt_ann)])
    assert scored.metrics["AP"] == 0.0 and scored.metrics["AR"] == 0.0
    assert scored.inputs.gt_has_id_zero


def test_all_zero_keypoint_scores_are_kept_and_reported():
    gt_ann = person(1, 7)
    scored = evaluate(ground_truth([gt_ann], {7: 0.5}), [detection(gt_ann, joint_score=0.0)])
    assert scored.metrics["AP"] == PERFECT
    assert scored.inputs.num_zero_score_detections == 1
    assert "1 detections with all-zero keypoint scores" in scored.inputs.summary()


@pytest.mark.parametrize(("crowd_index", "split"), [(0.19, "AP_easy"), (0.2, "AP_medium"),
                                                     (0.79, "AP_medium"), (0.8, "AP_hard"),
                                                     (1.0, "AP_hard"), (2.75, "AP_hard")])
def test_a_crowd_index_falls_in_its_split_however_large(crowd_index, split):
    gt_ann = person(1, 7)
    values = score(ground_truth([gt_ann], {7: crowd_index}), [detection(gt_ann)])
    assert {name: values[name] for name in protocol.SPLIT_NAMES} == {
        name: 1.0 if name == split else -1.0 for name in protocol.SPLIT_NAMES}


def test_gt_as_detections_scores_one_on_the_real_sample(sample_dir):
    gt_file = sample_dir / "test_crowdpose.json"
    values = score(gt_file, gt_as_detections(json.loads(gt_file.read_text())))
    assert [values[name] for name in protocol.SUMMARY_NAMES] == [1.0] * 6
    assert (values["AP_easy"], values["AP_medium"], values["AP_hard"]) == (-1.0, 1.0, -1.0)


def test_unlabelled_gt_copied_as_detection_is_a_tied_false_positive(sample_dir):
    gt = json.loads((sample_dir / "test_crowdpose.json").read_text())
    everything = [{"image_id": ann["image_id"], "category_id": 1, "keypoints": ann["keypoints"], "score": 1.0}
                  for ann in gt["annotations"]]
    # Ties keep input order across images sorted by id: TP TP TP FP TP over 4 scored GT, so the
    # precision envelope is 1 up to recall 0.75 (76 thresholds) and 0.8 above (25 thresholds).
    values = score(gt, everything)
    assert values["AP"] == pytest.approx(96 / 101) and values["AR"] == 1.0
    assert values["AP_medium"] == round(96 / 101, 4)


def test_gt_as_detections_scores_one_on_generated_data():
    gt = make_ground_truth(GroundTruthSpec(num_images=40, seed=11))
    assert score(gt, gt_as_detections(gt)) == dict.fromkeys(METRIC_NAMES, 1.0)


def test_empty_results_follow_the_official_logic(sample_dir):
    """No detections: 0 where there is GT to find, -1 where there is none (the official API raises on
    an empty results list; this is what its accumulation gives)."""
    values = score(sample_dir / "test_crowdpose.json", [])
    assert values == {**dict.fromkeys(METRIC_NAMES, 0.0), "AP_easy": -1.0, "AP_hard": -1.0}
    no_scored_gt = ground_truth([dict(person(1, 7), iscrowd=1)], {7: 0.1})
    assert score(no_scored_gt, []) == dict.fromkeys(METRIC_NAMES, -1.0)
    without_people = ground_truth([], {7: 0.5, 8: 0.9})
    assert score(without_people, [detection(person(1, 7))]) == dict.fromkeys(METRIC_NAMES, -1.0)


def test_inputs_are_not_modified_and_paths_work(tmp_path, edge_case):
    gt, dets = edge_case
    gt_before, dets_before = copy.deepcopy(gt), copy.deepcopy(dets)
    from_objects = score(gt, dets)
    assert gt == gt_before and dets == dets_before
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dets))
    assert score(tmp_path / "gt.json", str(tmp_path / "dt.json")) == from_objects
    assert score(load_ground_truth(gt), dets) == from_objects  # a GT read once scores several result sets


def test_extra_detection_keys_are_ignored(edge_case):
    gt, dets = edge_case
    with_extras = [dict(det, bbox=[0, 0, -5, 7], area=-1.0, id=123) for det in dets]
    assert score(gt, with_extras) == score(gt, dets)


def test_an_evaluation_names_its_protocol_and_implementation_and_keeps_its_matches(edge_case):
    scored = evaluate(*edge_case)
    assert scored.official and scored.protocol == "crowdpose"
    record = scored.to_dict()
    assert record["implementation"] == IMPLEMENTATION == "bench.evaluation"
    assert record["version"] == implementation_version() and len(record["version"]) == 12
    assert (record["metrics"] == scored.metrics
            and record["input_report"]["num_detections"] == len(edge_case[1]))
    assert len(scored.matches.image_ids) == len(edge_case[0]["images"])
    assert not evaluate(*edge_case, "xtcocotools").official


def test_a_ground_truth_of_several_categories_is_refused():
    gt = ground_truth([person(1, 7)], {7: 0.5})
    gt["categories"].append({"id": 2, "name": "dog"})
    with pytest.raises(BenchError, match="2 categories; CrowdPose has one"):
        score(gt, [detection(person(1, 7))])


def bad_gt_cases() -> list[tuple[str, object, str]]:
    base = ground_truth([person(1, 7), person(2, 7)], {7: 0.5, 8: 0.3})
    no_index = copy.deepcopy(base)
    del no_index["images"][1]["crowdIndex"]
    short = copy.deepcopy(base)
    short["annotations"][1]["keypoints"] = short["annotations"][1]["keypoints"][:39]
    duplicate = copy.deepcopy(base)
    duplicate["annotations"][1]["id"] = 1
    orphan = copy.deepcopy(base)
    orphan["annotations"][0]["image_id"] = 99
    nan = copy.deepcopy(base)
    nan["annotations"][0]["keypoints"][4] = float("nan")
    no_bbox = copy.deepcopy(base)
    del no_bbox["annotations"][0]["bbox"]
    return [("no crowdIndex", no_index, r"images\[1\] \(id 8\): no crowdIndex"),
            ("short keypoints", short, r"annotations\[1\] \(id 2\): keypoints has 39 values, expected 42"),
            ("duplicate id", duplicate, "annotation id 1 appears 2 times"),
            ("unknown image", orphan, r"annotations\[0\] \(id 1\): image_id 99 is not in images"),
            ("nan", nan, r"annotations\[0\] \(id 1\): keypoints holds a value that is not a finite number"),
            ("no bbox", no_bbox, "bbox must be 4 finite numbers"),
            ("not coco", [1, 2], "expected a JSON object"),
            ("no images", {"annotations": [], "categories": []}, "images missing or not a list")]


@pytest.mark.parametrize(("gt", "message"), [case[1:] for case in bad_gt_cases()],
                         ids=[case[0] for case in bad_gt_cases()])
def test_bad_ground_truth_is_named(tmp_path, gt, message):
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt))
    with pytest.raises(BenchError, match=f"{re.escape(str(path))}.*\n(.*\n)*.*{message}"):
        score(path, [])


def test_bad_ground_truth_files_are_named(tmp_path):
    with pytest.raises(BenchError, match="ground-truth file .*missing.json does not exist"):
        score(tmp_path / "missing.json", [])
    broken = tmp_path / "broken.json"
    broken.write_text('{"images": [\n  {"id": 1,}\n]}')
    with pytest.raises(BenchError, match=r"broken.json is not valid JSON: .* line 2 column 12"):
        score(broken, [])


def bad_detection_cases() -> list[tuple[str, object, str]]:
    good = detection(person(1, 7))
    return [("unknown image", dict(good, image_id=5), "detection 1: image_id 5 is not an image"),
            ("short keypoints", dict(good, keypoints=good["keypoints"][:40]),
             "detection 1: keypoints has 40"),
            ("nan keypoint", dict(good, keypoints=[float("nan")] + good["keypoints"][1:]),
             "detection 1: keypoints holds a value that is not a finite number"),
            ("string keypoint", dict(good, keypoints=["1.0"] + good["keypoints"][1:]),
             "detection 1: keypoints holds a value that is not a finite number"),
            ("inf score", dict(good, score=float("inf")), "detection 1: score inf is not a finite number"),
            ("missing score", {k: v for k, v in good.items() if k != "score"}, "detection 1: missing score"),
            ("bad category", dict(good, category_id=2), "detection 1: category_id 2 is not a ground-truth"),
            ("not a dict", [1, 2], "detection 1: not an object")]


@pytest.mark.parametrize(("bad", "message"), [case[1:] for case in bad_detection_cases()],
                         ids=[case[0] for case in bad_detection_cases()])
def test_bad_detections_are_named_by_index_and_file(tmp_path, bad, message):
    gt = ground_truth([person(1, 7)], {7: 0.5})
    results = [detection(person(1, 7)), bad]
    results_before = copy.deepcopy(results)
    with pytest.raises(BenchError, match=f"results list.*\n.*{message}"):
        score(gt, results)
    assert repr(results) == repr(results_before)
    path = tmp_path / "dt.json"
    path.write_text(json.dumps(results))
    with pytest.raises(BenchError, match=f"{re.escape(str(path))}.*\n.*{message}"):
        score(gt, path)


def test_results_file_must_hold_a_list(tmp_path):
    path = tmp_path / "dt.json"
    path.write_text('{"image_id": 1}')
    with pytest.raises(BenchError, match="dt.json: expected a JSON list of detections, got dict"):
        score(ground_truth([person(1, 7)], {7: 0.5}), path)


def test_many_problems_are_listed_with_a_count():
    gt = ground_truth([person(1, 7)], {7: 0.5})
    with pytest.raises(BenchError, match=r"30 problems(\n  - detection \d+: .*){20}\n  \.\.\. and 10 more$"):
        score(gt, [dict(detection(person(1, 7)), image_id=9)] * 30)


def test_cli_prints_the_table_and_writes_json(tmp_path, capsys, sample_dir):
    gt_file = sample_dir / "test_crowdpose.json"
    results = tmp_path / "dt.json"
    results.write_text(json.dumps(gt_as_detections(json.loads(gt_file.read_text()))))
    out = tmp_path / "out" / "metrics.json"
    assert main(["evaluate", str(gt_file), str(results), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "AP_medium" in printed and "1.0000" in printed
    assert (f"the official CrowdPose protocol, scored by bench.evaluation {implementation_version()}"
            in printed)
    record = json.loads(out.read_text())
    assert record["metrics"]["AP"] == 1.0 and record["protocol"] == "crowdpose"
    assert record["implementation"] == "bench.evaluation" and record["input_report"]["num_detections"] == 4


def test_cli_reports_bad_input_without_traceback(tmp_path, capsys, sample_dir):
    assert main(["evaluate", str(sample_dir / "test_crowdpose.json"), str(tmp_path / "none.json")]) == 2
    assert "results file" in capsys.readouterr().err


def test_dataset_selection_evaluates_against_its_own_gt(tmp_path):
    from bench.data.dataset import load_dataset
    from bench.testing.synthetic_data import write_mini_dataset

    dataset = load_dataset(write_mini_dataset(tmp_path, num_images=12, seed=5)).select(limit=5)
    subset = dataset.ground_truth()
    assert [image["id"] for image in subset["images"]] == list(dataset.image_ids)
    assert score(subset, gt_as_detections(subset))["AP"] == 1.0
    with pytest.raises(BenchError, match="is not an image of the ground truth"):
        score(subset, gt_as_detections(dataset.gt))
    (tmp_path / "subset.json").write_text(json.dumps(subset))
    assert score(tmp_path / "subset.json", gt_as_detections(subset))["AP"] == 1.0


def test_xtcocotools_protocol_drops_all_zero_score_detections_before_the_top_20_cut():
    """A zero-score detection among the top 20 pushes the true match out under the official protocol;
    xtcocotools drops it first, so the match (21st by score) comes in."""
    gt_ann = person(1, 7)
    strays = [detection(person(100 + i, 7, shift=150.0), score=1.0 - i / 100) for i in range(19)]
    blank = detection(person(200, 7, shift=150.0), score=0.5, joint_score=0.0)
    true = detection(gt_ann, score=0.1)
    gt, dets = ground_truth([gt_ann], {7: 0.5}), [*strays, blank, true]
    assert score(gt, dets)["AR"] == 0.0
    xtcoco = evaluate(gt, dets, protocol_name="xtcocotools")
    assert xtcoco.metrics == score(gt, [*strays, true]) and xtcoco.metrics["AR"] == 1.0
    assert xtcoco.protocol == "xtcocotools" and not xtcoco.official
    assert xtcoco.inputs.num_zero_score_detections == 1  # the report describes the caller's input


def test_xtcocotools_protocol_counts_a_match_to_gt_id_0_as_true_positive():
    gt_ann = person(0, 7)
    gt, dets = ground_truth([gt_ann], {7: 0.5}), [detection(gt_ann)]
    assert score(gt, dets)["AP"] == 0.0
    assert score(gt, dets, protocol_name="xtcocotools")["AP"] == PERFECT


def test_xtcocotools_protocol_leaves_the_callers_inputs_and_other_cases_alone(edge_case):
    gt, dets = edge_case
    before = copy.deepcopy((gt, dets))
    clean_dets = [det for det in dets if any(value > 0 for value in det["keypoints"][2::3])]
    assert clean_dets != dets and not any(ann["id"] in (0, -1) for ann in gt["annotations"])
    assert score(gt, dets, protocol_name="xtcocotools") == score(gt, clean_dets)
    assert (gt, dets) == before


def test_unknown_protocol_is_a_clear_error(edge_case):
    with pytest.raises(BenchError, match="unknown evaluation protocol 'coco'; choose one of crowdpose, "
                                         "xtcocotools"):
        score(*edge_case, protocol_name="coco")


def test_cli_scores_with_the_xtcocotools_protocol(tmp_path, capsys):
    gt_ann = person(0, 7)
    gt_file, results_file = tmp_path / "gt.json", tmp_path / "dt.json"
    gt_file.write_text(json.dumps(ground_truth([gt_ann], {7: 0.5})))
    results_file.write_text(json.dumps([detection(gt_ann)]))
    assert main(["evaluate", str(gt_file), str(results_file), "--protocol", "xtcocotools",
                 "--json", str(tmp_path / "out.json")]) == 0
    assert "xtcocotools protocol, not the official one" in capsys.readouterr().out
    record = json.loads((tmp_path / "out.json").read_text())
    assert record["protocol"] == "xtcocotools" and record["metrics"]["AP"] == PERFECT


def test_a_split_without_ground_truth_prints_n_a_with_its_meaning_once(tmp_path, capsys):
    gt_ann = person(1, 7)
    gt, results = tmp_path / "gt.json", tmp_path / "results.json"
    gt.write_text(json.dumps(ground_truth([gt_ann], {7: 0.5})))
    results.write_text(json.dumps([detection(gt_ann, shift=0.0)]))
    assert main(["evaluate", str(gt), str(results)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"AP_easy\s+n/a", out) and "-1.0000" not in out
    assert out.count(protocol.NO_GROUND_TRUTH_NOTE) == 1
