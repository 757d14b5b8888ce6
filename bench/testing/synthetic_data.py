"""Seeded CrowdPose-format ground truth, detections and tiny image datasets for tests and benchmarks.

The generated files look like the official ``crowdpose_test.json``: 14 joints as ``[x, y, v]`` with
integer coordinates, ``num_keypoints`` counting only the 12 body joints (head and neck are not
counted, so a person labelled only at head and neck has ``num_keypoints == 0`` and is ignored by the
evaluator), ``bbox`` without ``area``, and a ``crowdIndex`` per image.

With ``edge_cases`` on, the data also holds the inputs on which evaluators are known to trip: crowd
regions with and without joints, head/neck-only and unlabelled people, images without people,
``crowdIndex`` exactly at the 0.2 / 0.8 split points, integer boxes, more than 20 detections in an
image, detections whose 14 keypoint scores are all zero, tied scores within and across images and
single-point detections. ``gt_id_zero`` gives one regular person the annotation id 0.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench import atomic
from reference.crowdpose import JOINT_NAMES, NUM_JOINTS

# Rough upright pose inside a unit box, joints in CrowdPose order (x to the right, y down).
_POSE_TEMPLATE = np.array([
    [0.68, 0.25], [0.32, 0.25], [0.78, 0.42], [0.22, 0.42], [0.82, 0.58], [0.18, 0.58],
    [0.62, 0.56], [0.38, 0.56], [0.62, 0.76], [0.38, 0.76], [0.62, 0.96], [0.38, 0.96],
    [0.50, 0.04], [0.50, 0.17],
])
_LIMBS = ((12, 13), (13, 0), (13, 1), (0, 2), (2, 4), (1, 3), (3, 5), (0, 6), (1, 7), (6, 7),
          (6, 8), (8, 10), (7, 9), (9, 11))
_NUM_BODY_JOINTS = 12  # head and neck (the last two joints) are not counted in num_keypoints
_SPLIT_POINTS = (0.2, 0.8)


@dataclass(frozen=True)
class GroundTruthSpec:
    """What :func:`make_ground_truth` generates.

    Args:
        num_images: number of images.
        seed: seed of the generator; the same spec always gives the same data.
        min_size, max_size: range of image widths and heights in pixels.
        max_people: most regular people in one image.
        edge_cases: add the special annotations listed in the module docstring.
        gt_id_zero: give one regular (non-ignored) person the annotation id 0.
        first_image_id, first_annotation_id: ids count up from these (real CrowdPose ids are 6-digit).
        max_crowd_index: crowd indices are drawn in [0, max_crowd_index]; the crowd index is not
            bounded by 1 (CrowdPose's definition), so values above 1 are valid, and hard.
    """

    num_images: int = 20
    seed: int = 0
    min_size: int = 64
    max_size: int = 160
    max_people: int = 8
    edge_cases: bool = True
    gt_id_zero: bool = False
    first_image_id: int = 100000
    first_annotation_id: int = 200000
    max_crowd_index: float = 1.0

    def __post_init__(self) -> None:
        if self.num_images < 0:
            raise ValueError(f"num_images must be >= 0, got {self.num_images}")
        if not 16 <= self.min_size <= self.max_size:
            raise ValueError(f"need 16 <= min_size <= max_size, got {self.min_size}, {self.max_size}")
        if self.max_people < 0:
            raise ValueError(f"max_people must be >= 0, got {self.max_people}")
        if not self.max_crowd_index >= 0:
            raise ValueError(f"max_crowd_index must be >= 0, got {self.max_crowd_index}")


@dataclass(frozen=True)
class DetectionSpec:
    """What :func:`make_detections` generates from a ground truth.

    Args:
        seed: seed of the generator.
        detect_rate: chance that a person gets a (noisy) detection.
        false_positives: mean number of random false-positive people per image.
        max_per_image: cap on detections per image (the crowded edge-case images exceed 20 unless
            this is lower).
        edge_cases: add all-zero-score detections, tied scores, single-point detections and
            images with more than 20 detections.
    """

    seed: int = 0
    detect_rate: float = 0.85
    false_positives: float = 1.5
    max_per_image: int = 30
    edge_cases: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.detect_rate <= 1.0:
            raise ValueError(f"detect_rate must be in [0, 1], got {self.detect_rate}")
        if self.false_positives < 0:
            raise ValueError(f"false_positives must be >= 0, got {self.false_positives}")
        if self.max_per_image < 0:
            raise ValueError(f"max_per_image must be >= 0, got {self.max_per_image}")


def _person_joints(rng: np.random.Generator, box: np.ndarray) -> np.ndarray:
    """Joint positions [14, 2] of a person filling ``box`` = (x, y, w, h), with a little jitter."""
    jitter = rng.normal(0.0, 0.03, size=(NUM_JOINTS, 2))
    return box[:2] + (_POSE_TEMPLATE + jitter) * box[2:]


def _random_box(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    w = rng.uniform(0.15, 0.6) * width
    h = rng.uniform(0.3, 0.95) * height
    return np.array([rng.uniform(0, width - w), rng.uniform(0, height - h), w, h])


def _annotation(ann_id: int, image_id: int, joints: np.ndarray, visibility: np.ndarray,
                box: np.ndarray, iscrowd: int = 0, integer_box: bool = False) -> dict[str, Any]:
    """One GT record as in crowdpose_test.json; unlabelled joints are stored as (0, 0, 0)."""
    keypoints = np.zeros((NUM_JOINTS, 3), dtype=np.int64)
    labelled = visibility > 0
    keypoints[labelled, :2] = np.rint(joints[labelled])
    keypoints[:, 2] = visibility
    bbox = [int(round(v)) for v in box] if integer_box else [round(float(v), 2) for v in box]
    return {
        "num_keypoints": int(np.count_nonzero(labelled[:_NUM_BODY_JOINTS])),
        "iscrowd": iscrowd,
        "keypoints": keypoints.ravel().tolist(),
        "image_id": image_id,
        "bbox": bbox,
        "category_id": 1,
        "id": ann_id,
    }


def _edge_people(rng: np.random.Generator, width: int, height: int) -> list[tuple[np.ndarray, int, str]]:
    """(box, iscrowd, kind) of the special annotations placed in an edge-case image."""
    kinds = rng.choice(["crowd_joints", "crowd_empty", "head_neck", "unlabelled", "integer_box"],
                       size=rng.integers(1, 4), replace=False)
    return [(_random_box(rng, width, height), int(kind.startswith("crowd")), str(kind)) for kind in kinds]


def _visibility(rng: np.random.Generator, kind: str) -> np.ndarray:
    if kind in ("crowd_empty", "unlabelled"):
        return np.zeros(NUM_JOINTS, dtype=np.int64)
    if kind == "head_neck":
        return np.array([0] * _NUM_BODY_JOINTS + [1, 1], dtype=np.int64)
    return rng.choice([0, 1, 2], size=NUM_JOINTS, p=[0.15, 0.25, 0.6])


def _crowd_index(rng: np.random.Generator, index: int, spec: GroundTruthSpec) -> float:
    if spec.edge_cases and index % 7 in (1, 2):
        return _SPLIT_POINTS[index % 7 - 1]
    return round(float(rng.uniform(0.0, spec.max_crowd_index)), 2)


def make_ground_truth(spec: GroundTruthSpec) -> dict[str, Any]:
    """A CrowdPose-format GT dict (``images`` with crowdIndex, ``annotations``, ``categories``)."""
    rng = np.random.default_rng(spec.seed)
    images, annotations = [], []
    next_ann_id = spec.first_annotation_id
    id_zero_pending = spec.gt_id_zero
    for index in range(spec.num_images):
        image_id = spec.first_image_id + index
        width, height = (int(v) for v in rng.integers(spec.min_size, spec.max_size + 1, size=2))
        images.append({"file_name": f"{image_id}.jpg", "id": image_id, "height": height, "width": width,
                       "crowdIndex": _crowd_index(rng, index, spec)})
        no_people = spec.edge_cases and index % 11 == 3
        people = [] if no_people else [(_random_box(rng, width, height), 0, "regular")
                                       for _ in range(rng.integers(1, spec.max_people + 1))]
        if spec.edge_cases and not no_people and index % 3 == 0:
            people += _edge_people(rng, width, height)
        for box, iscrowd, kind in people:
            visibility = _visibility(rng, kind)
            ann_id = next_ann_id
            if id_zero_pending and kind == "regular" and np.count_nonzero(visibility[:_NUM_BODY_JOINTS]):
                ann_id, id_zero_pending = 0, False
            else:
                next_ann_id += 1
            annotations.append(_annotation(ann_id, image_id, _person_joints(rng, box), visibility, box,
                                           iscrowd, integer_box=kind == "integer_box"))
    return {
        "images": images,
        "annotations": annotations,
        "categories": [{"supercategory": "person", "id": 1, "name": "person",
                        "keypoints": list(JOINT_NAMES), "skeleton": [list(limb) for limb in _LIMBS]}],
    }


def _detection(image_id: int, joints: np.ndarray, joint_scores: np.ndarray, score: float) -> dict[str, Any]:
    keypoints = np.column_stack([joints, joint_scores]).ravel()
    return {"image_id": image_id, "category_id": 1, "keypoints": keypoints.tolist(), "score": float(score)}


def _true_detection(rng: np.random.Generator, image_id: int, ann: dict[str, Any]) -> dict[str, Any]:
    """A noisy copy of a GT person; joints the GT leaves unlabelled are guessed from the pose template."""
    box = np.asarray(ann["bbox"], dtype=np.float64)
    gt = np.asarray(ann["keypoints"], dtype=np.float64).reshape(NUM_JOINTS, 3)
    joints = np.where(gt[:, 2:] > 0, gt[:, :2], _person_joints(rng, box))
    noise = rng.uniform(0.1, 2.5) * 0.04 * np.sqrt(max(box[2] * box[3], 1.0))
    joints = joints + rng.normal(0.0, noise, size=joints.shape)
    return _detection(image_id, joints, rng.uniform(0.05, 1.0, NUM_JOINTS), rng.uniform(0.2, 1.0))


def _false_detection(rng: np.random.Generator, image: dict[str, Any]) -> dict[str, Any]:
    joints = _person_joints(rng, _random_box(rng, image["width"], image["height"]))
    return _detection(image["id"], joints, rng.uniform(0.0, 0.6, NUM_JOINTS), rng.uniform(0.0, 0.6))


def _apply_edge_cases(rng: np.random.Generator, index: int, image: dict[str, Any],
                      detections: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Crowded images (25+ detections), zero-score and single-point detections, tied scores."""
    if index % 13 == 5:
        detections = detections + [_false_detection(rng, image) for _ in range(25)]
    for det in detections:
        if rng.random() < 0.04:
            det["keypoints"][2::3] = [0.0] * NUM_JOINTS
        if rng.random() < 0.01:
            x, y = det["keypoints"][0], det["keypoints"][1]
            det["keypoints"][0::3], det["keypoints"][1::3] = [x] * NUM_JOINTS, [y] * NUM_JOINTS
    if index % 4 == 0:  # ties inside the image and, through the coarse grid, across images
        for det in detections:
            det["score"] = round(det["score"], 1)
    return detections


def make_detections(gt: dict[str, Any], spec: DetectionSpec) -> list[dict[str, Any]]:
    """Results-file records (image_id, category_id, 42 keypoint values, score) for ``gt``.

    Each person (crowd regions included) is detected with probability ``detect_rate`` as a noisy copy;
    random false positives are added, and with ``edge_cases`` the special cases listed in the module
    docstring. Images are visited in id order; within an image the records are shuffled.
    """
    rng = np.random.default_rng(spec.seed)
    people: dict[int, list[dict[str, Any]]] = {}
    for ann in gt["annotations"]:
        people.setdefault(ann["image_id"], []).append(ann)
    results = []
    for index, image in enumerate(sorted(gt["images"], key=lambda record: record["id"])):
        detections = [_true_detection(rng, image["id"], ann) for ann in people.get(image["id"], [])
                      if rng.random() < spec.detect_rate]
        detections += [_false_detection(rng, image) for _ in range(rng.poisson(spec.false_positives))]
        if spec.edge_cases:
            detections = _apply_edge_cases(rng, index, image, detections)
        order = rng.permutation(len(detections))[:spec.max_per_image]
        results += [detections[i] for i in order]
    return results


def _draw_image(rng: np.random.Generator, image: dict[str, Any], anns: list[dict[str, Any]]) -> np.ndarray:
    """A BGR scene: a flat background with noise and each labelled person drawn as a stick figure."""
    canvas = np.empty((image["height"], image["width"], 3), dtype=np.uint8)
    canvas[:] = rng.integers(40, 200, size=3)
    canvas = cv2.add(canvas, rng.integers(0, 30, size=canvas.shape, dtype=np.uint8))
    for ann in anns:
        points = np.asarray(ann["keypoints"], dtype=np.int64).reshape(NUM_JOINTS, 3)
        color = tuple(int(c) for c in rng.integers(0, 256, size=3))
        for a, b in _LIMBS:
            if points[a, 2] > 0 and points[b, 2] > 0:
                cv2.line(canvas, tuple(points[a, :2].tolist()), tuple(points[b, :2].tolist()), color, 2)
        for x, y, v in points:
            if v > 0:
                cv2.circle(canvas, (int(x), int(y)), 2, color, -1)
    return canvas


def write_mini_dataset(root: str | os.PathLike, num_images: int = 8, seed: int = 0,
                       spec: GroundTruthSpec | None = None) -> Path:
    """Write a tiny CrowdPose test set in the standard layout and return ``root``.

    ``root/annotations/crowdpose_test.json`` (with crowdIndex) and ``root/images/<id>.jpg``. The GT
    comes from ``spec`` if given, else from ``GroundTruthSpec(num_images=num_images, seed=seed)``.
    """
    spec = spec or GroundTruthSpec(num_images=num_images, seed=seed)
    gt = make_ground_truth(spec)
    root = Path(root)
    rng = np.random.default_rng(spec.seed)
    people: dict[int, list[dict[str, Any]]] = {}
    for ann in gt["annotations"]:
        people.setdefault(ann["image_id"], []).append(ann)
    for image in gt["images"]:
        ok, encoded = cv2.imencode(".jpg", _draw_image(rng, image, people.get(image["id"], [])))
        if not ok:
            raise RuntimeError(f"OpenCV could not encode image {image['file_name']}")
        atomic.write_bytes(root / "images" / image["file_name"], encoded.tobytes())
    atomic.write_json(root / "annotations" / "crowdpose_test.json", gt, indent=None)
    return root
