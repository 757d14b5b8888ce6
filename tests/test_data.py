"""bench.data (locating, reading, selecting, validating CrowdPose) and bench.testing.synthetic_data."""

from __future__ import annotations

import argparse
import json
import shutil

import cv2
import numpy as np
import pytest

from bench.data import dataset as data
from bench.data.dataset import load_dataset, validate
from bench.data.ground_truth import format_problems, ground_truth_problems
from bench.data.images import image_problem, read_image
from bench.errors import BenchError
from bench.testing.synthetic_data import (
    DetectionSpec,
    GroundTruthSpec,
    make_detections,
    make_ground_truth,
    write_mini_dataset,
)


@pytest.fixture
def mini_root(tmp_path):
    return write_mini_dataset(tmp_path / "crowdpose", num_images=12, seed=1)


def test_mini_dataset_loads_in_id_order_and_validates(mini_root):
    dataset = load_dataset(mini_root)
    assert dataset.ann_file == mini_root / "annotations" / "crowdpose_test.json"
    assert dataset.img_dir == mini_root / "images"
    assert "official file" in dataset.note
    assert len(dataset) == 12
    assert list(dataset.image_ids) == sorted(dataset.image_ids)
    validate(dataset)
    record = dataset.images[3]
    image = read_image(dataset.image_path(record))
    assert image.dtype == np.uint8 and image.shape == (record["height"], record["width"], 3)


def test_root_comes_from_the_environment(monkeypatch, mini_root):
    monkeypatch.setenv(data.ROOT_ENV_VAR, str(mini_root))
    assert load_dataset().ann_file == mini_root / "annotations" / "crowdpose_test.json"


def test_missing_location_says_how_to_supply_it(monkeypatch):
    monkeypatch.delenv(data.ROOT_ENV_VAR, raising=False)
    expected = "CROWDPOSE_ROOT.*--data-root.*--ann-file.*--img-dir.*Jeff-sjtu/CrowdPose"
    with pytest.raises(BenchError, match=expected):
        load_dataset()


def test_missing_root_names_where_it_came_from(monkeypatch, tmp_path):
    monkeypatch.setenv(data.ROOT_ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(BenchError, match=r"nowhere \(from \$CROWDPOSE_ROOT\) is not a directory"):
        load_dataset()
    with pytest.raises(BenchError, match=r"nowhere \(from --data-root\) is not a directory"):
        load_dataset(tmp_path / "nowhere")


def test_missing_annotations_lists_what_was_looked_for(mini_root):
    (mini_root / "annotations" / "crowdpose_test.json").rename(mini_root / "annotations" / "other.json")
    with pytest.raises(BenchError, match="looked for crowdpose_test.json and mmpose_crowdpose_test.json "
                                         r"\(JSON files there: other.json\)"):
        load_dataset(mini_root)


def test_missing_image_folder_is_named(mini_root):
    shutil.rmtree(mini_root / "images")
    with pytest.raises(BenchError, match=r"images \(standard layout under .*\) does not exist"):
        load_dataset(mini_root)


def test_official_file_is_preferred_over_mmpose_copy(mini_root):
    annotations = mini_root / "annotations"
    shutil.copy(annotations / "crowdpose_test.json", annotations / "mmpose_crowdpose_test.json")
    dataset = load_dataset(mini_root)
    assert dataset.ann_file.name == "crowdpose_test.json"
    assert "mmpose_crowdpose_test.json also there, not used" in dataset.note
    (annotations / "crowdpose_test.json").unlink()
    dataset = load_dataset(mini_root)
    assert dataset.ann_file.name == "mmpose_crowdpose_test.json" and "mmpose's copy" in dataset.note


def test_other_layouts_use_explicit_paths(sample_dir):
    dataset = load_dataset(ann_file=sample_dir / "test_crowdpose.json", img_dir=sample_dir)
    assert dataset.image_ids == (103319, 106848)
    validate(dataset)
    assert read_image(dataset.image_path(dataset.images[1])).shape == (425, 640, 3)
    with pytest.raises(BenchError, match="nope.json \\(from --ann-file\\) does not exist"):
        load_dataset(ann_file=sample_dir / "nope.json", img_dir=sample_dir)
    with pytest.raises(BenchError, match="nope \\(from --img-dir\\) does not exist"):
        load_dataset(ann_file=sample_dir / "test_crowdpose.json", img_dir=sample_dir / "nope")


def test_selection_by_limit_and_ids(mini_root):
    dataset = load_dataset(mini_root)
    ids = dataset.image_ids
    assert dataset.select(limit=4).image_ids == ids[:4]
    chosen = dataset.select(image_ids=[ids[7], ids[2], ids[5]])
    assert chosen.image_ids == (ids[2], ids[5], ids[7])
    assert chosen.select(limit=2).image_ids == (ids[2], ids[5])
    assert chosen.ann_file == dataset.ann_file
    subset = chosen.ground_truth()
    assert {ann["image_id"] for ann in subset["annotations"]} <= set(chosen.image_ids)
    kept = [ann for ann in dataset.gt["annotations"] if ann["image_id"] in chosen.image_ids]
    assert subset["annotations"] == kept
    assert subset["categories"] == dataset.gt["categories"]
    with pytest.raises(BenchError, match="unknown image id 5"):
        dataset.select(image_ids=[ids[0], 5])


def test_a_selection_takes_the_ids_first_then_the_first_n_of_them(mini_root):
    parser = argparse.ArgumentParser()
    data.add_data_arguments(parser)
    args = parser.parse_args(["--data-root", str(mini_root), "--limit", "2"])
    assert (args.data_root, args.limit) == (mini_root, 2)
    config = data.DataConfig(data_root=mini_root, limit=2, image_ids=(100003, 100001, 100007))
    assert data.open_dataset(config).image_ids == (100001, 100003)
    assert len(data.open_dataset(data.DataConfig(data_root=mini_root))) == 12


def test_validate_lists_every_problem_with_file_and_entry(mini_root):
    ann_file = mini_root / "annotations" / "crowdpose_test.json"
    gt = json.loads(ann_file.read_text())
    images = sorted(gt["images"], key=lambda image: image["id"])
    del gt["images"][0]["crowdIndex"]
    gt["images"].append(dict(gt["images"][1]))
    gt["annotations"][0]["keypoints"] = gt["annotations"][0]["keypoints"][:39]
    gt["annotations"][2]["id"] = gt["annotations"][1]["id"]
    gt["annotations"][3]["image_id"] = 424242
    ann_file.write_text(json.dumps(gt))
    (mini_root / "images" / images[4]["file_name"]).unlink()
    (mini_root / "images" / images[5]["file_name"]).write_bytes(b"not a jpeg")
    with pytest.raises(BenchError) as caught:
        validate(load_dataset(mini_root))
    message = str(caught.value)
    for expected in ("7 problems", f"images[0] (id {gt['images'][0]['id']}): no crowdIndex",
                     f"image id {gt['images'][1]['id']} appears 2 times",
                     "annotations[0]", "keypoints has 39 values, expected 42",
                     f"annotation id {gt['annotations'][1]['id']} appears 2 times",
                     "image_id 424242 is not in images",
                     f"{images[4]['file_name']}: missing (image id {images[4]['id']})",
                     f"{images[5]['file_name']}: not a decodable image"):
        assert expected in message
    assert str(ann_file) in message


def test_validate_caps_the_listing(mini_root):
    shutil.rmtree(mini_root / "images")
    (mini_root / "images").mkdir()
    dataset = load_dataset(mini_root)
    with pytest.raises(BenchError, match=r"12 problems(\n  - .*: missing .*){12}$"):
        validate(dataset)
    validate(dataset, check_images=False)
    many = make_ground_truth(GroundTruthSpec(num_images=30, seed=0, edge_cases=False))
    for image in many["images"]:
        del image["crowdIndex"]
    problems = ground_truth_problems(many, "many.json")
    assert len(problems) == 30
    assert format_problems("header", problems).endswith("  ... and 10 more")


def test_malformed_annotation_json_names_file_and_position(mini_root):
    ann_file = mini_root / "annotations" / "crowdpose_test.json"
    ann_file.write_text('{"images": [}')
    with pytest.raises(BenchError, match=r"crowdpose_test.json is not valid JSON: .* line 1 column 13"):
        load_dataset(mini_root)
    ann_file.write_text('{"images": [{"file_name": "a.jpg"}], "annotations": [], "categories": []}')
    with pytest.raises(BenchError, match=r"images\[0\]: id missing or not an integer"):
        load_dataset(mini_root)


def test_read_image_gives_rgb_like_mmpose(tmp_path):
    bgr = np.zeros((5, 7, 3), dtype=np.uint8)
    bgr[..., 2] = 255  # red in OpenCV's BGR order
    path = tmp_path / "red.png"
    cv2.imwrite(str(path), bgr)
    image = read_image(path)
    assert image.shape == (5, 7, 3) and image.dtype == np.uint8
    assert (image[..., 0] == 255).all() and (image[..., 1:] == 0).all()


def test_read_image_errors_name_the_file(tmp_path):
    with pytest.raises(BenchError, match="image .*missing.jpg does not exist"):
        read_image(tmp_path / "missing.jpg")
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(BenchError, match="cannot read image .*bad.jpg"):
        read_image(tmp_path / "bad.jpg")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(BenchError, match="cannot read image .*empty.jpg"):
        read_image(tmp_path / "empty.jpg")


def test_generators_are_deterministic():
    spec = GroundTruthSpec(num_images=25, seed=7)
    assert make_ground_truth(spec) == make_ground_truth(spec)
    assert make_ground_truth(spec) != make_ground_truth(GroundTruthSpec(num_images=25, seed=8))
    gt = make_ground_truth(spec)
    assert make_detections(gt, DetectionSpec(seed=3)) == make_detections(gt, DetectionSpec(seed=3))


def test_generated_ground_truth_has_the_edge_cases():
    gt = make_ground_truth(GroundTruthSpec(num_images=40, seed=2, gt_id_zero=True))
    assert not ground_truth_problems(gt, "generated")
    anns = gt["annotations"]
    crowd_index = [image["crowdIndex"] for image in gt["images"]]
    assert 0.2 in crowd_index and 0.8 in crowd_index
    people_free = {image["id"] for image in gt["images"]} - {ann["image_id"] for ann in anns}
    assert people_free, "an image without people"
    crowd_joints = [ann["num_keypoints"] for ann in anns if ann["iscrowd"]]
    assert min(crowd_joints) == 0 and max(crowd_joints) > 0
    body_visibility, head_neck_visibility = slice(2, 36, 3), slice(38, 42, 3)
    head_neck_only = [ann for ann in anns if not any(ann["keypoints"][body_visibility])
                      and all(ann["keypoints"][head_neck_visibility])]
    assert head_neck_only and all(ann["num_keypoints"] == 0 for ann in head_neck_only)
    assert any(all(isinstance(v, int) for v in ann["bbox"]) for ann in anns)
    assert sum(ann["id"] == 0 for ann in anns) == 1
    zero = next(ann for ann in anns if ann["id"] == 0)
    assert zero["num_keypoints"] > 0 and not zero["iscrowd"]


def test_num_keypoints_counts_labelled_body_joints_only():
    for ann in make_ground_truth(GroundTruthSpec(num_images=30, seed=4))["annotations"]:
        visibility = ann["keypoints"][2::3]
        assert ann["num_keypoints"] == sum(v > 0 for v in visibility[:12])
        assert all(ann["keypoints"][3 * j: 3 * j + 2] == [0, 0] for j, v in enumerate(visibility) if v == 0)


def test_generated_detections_have_the_edge_cases():
    gt = make_ground_truth(GroundTruthSpec(num_images=40, seed=2))
    dets = make_detections(gt, DetectionSpec(seed=5))
    per_image = np.unique([det["image_id"] for det in dets], return_counts=True)[1]
    assert per_image.max() > 20
    assert any(not any(det["keypoints"][2::3]) for det in dets)
    scores = [det["score"] for det in dets]
    assert len(set(scores)) < len(scores)
    assert any(len(set(det["keypoints"][0::3])) == 1 for det in dets), "a single-point detection"
    assert all(len(det["keypoints"]) == 42 for det in dets)
    capped = make_detections(gt, DetectionSpec(seed=5, max_per_image=20))
    assert np.unique([det["image_id"] for det in capped], return_counts=True)[1].max() == 20


def test_spec_arguments_are_checked():
    with pytest.raises(ValueError, match="min_size"):
        GroundTruthSpec(min_size=200, max_size=100)
    with pytest.raises(ValueError, match="detect_rate"):
        DetectionSpec(detect_rate=1.5)


def _edited(change) -> dict:
    gt = make_ground_truth(GroundTruthSpec(num_images=4, seed=2, edge_cases=False))
    change(gt)
    return gt


def _set(entry: str, key: str, value):
    def change(gt: dict) -> None:
        gt[entry][0][key] = value
    return change


def _visibility(value):
    def change(gt: dict) -> None:
        gt["annotations"][0]["keypoints"][2] = value
    return change


def _box(index: int, value):
    def change(gt: dict) -> None:
        gt["annotations"][0]["bbox"][index] = value
    return change


@pytest.mark.parametrize(("change", "message"), [
    (_set("annotations", "area", -5.0), "annotations[0] (id 1): area -5.0 is not a non-negative number"),
    (_box(2, -10.0), "has a negative width or height"),
    (_box(3, -1), "has a negative width or height"),
    (_set("images", "crowdIndex", -0.1), "crowdIndex -0.1 is not a finite non-negative number"),
    (_set("images", "crowdIndex", float("nan")), "crowdIndex nan is not a finite non-negative number"),
    (_set("images", "crowdIndex", float("inf")), "crowdIndex inf is not a finite non-negative number"),
    (_set("images", "crowdIndex", "0.5"), "crowdIndex '0.5' is not a finite non-negative number"),
    (_set("images", "crowdIndex", None), "crowdIndex None is not a finite non-negative number"),
    (_set("images", "crowdIndex", True), "crowdIndex True is not a finite non-negative number"),
    (_set("annotations", "iscrowd", 5), "iscrowd 5 is not 0 or 1"),
    (_set("annotations", "iscrowd", 0.5), "iscrowd 0.5 is not 0 or 1"),
    (_visibility(9), "joint 0 has visibility 9; it must be 0, 1 or 2"),
    (_set("annotations", "num_keypoints", 99), "num_keypoints 99 is not an integer in [0, 14]"),
    (_set("images", "file_name", "../outside.jpg"), "file_name '../outside.jpg' points outside"),
    (_set("images", "file_name", "/etc/passwd"), "file_name '/etc/passwd' points outside"),
    (_set("images", "file_name", "sub/../../x.jpg"), "points outside the image folder"),
    (lambda gt: gt.update(images=[], annotations=[]), "no images"),
])
def test_ground_truth_out_of_range_is_an_error_naming_the_entry(change, message):
    gt = _edited(change)
    if gt["annotations"]:
        gt["annotations"][0]["id"] = 1
    problems = ground_truth_problems(gt, "gt.json")
    assert problems and all(problem.startswith("gt.json") for problem in problems)
    assert any(message in problem for problem in problems), problems


@pytest.mark.parametrize("crowd_index", [0, 0.0, 0.8, 1, 1.0, 1.37, 2.5, 3, 7.5])
def test_any_finite_non_negative_crowd_index_is_valid(crowd_index):
    """The crowd index is not bounded by 1 (CrowdPose paper; the official API takes any number)."""
    assert ground_truth_problems(_edited(_set("images", "crowdIndex", crowd_index)), "gt.json") == []


def test_in_range_ground_truth_and_nested_file_names_are_accepted():
    gt = _edited(_set("images", "file_name", "sub/dir/x.jpg"))
    gt["annotations"][0]["area"] = 12.5
    assert ground_truth_problems(gt, "gt.json") == []


def test_a_file_name_outside_the_image_folder_is_never_opened(mini_root):
    ann_file = mini_root / "annotations" / "crowdpose_test.json"
    gt = json.loads(ann_file.read_text())
    gt["images"][0]["file_name"] = "../annotations/crowdpose_test.json"
    ann_file.write_text(json.dumps(gt))
    dataset = load_dataset(mini_root)
    with pytest.raises(BenchError, match="points outside the image folder"):
        validate(dataset)
    record = next(image for image in dataset.images if image["id"] == gt["images"][0]["id"])
    with pytest.raises(BenchError, match="points outside the image folder"):
        dataset.image_path(record)


def test_a_tiny_image_validates_and_reads(tmp_path):
    path = tmp_path / "tiny.png"
    path.write_bytes(cv2.imencode(".png", np.zeros((5, 6, 3), np.uint8))[1].tobytes())
    assert image_problem(path) is None and read_image(path).shape == (5, 6, 3)
