"""Reading and checking evaluation inputs: the GT and the detections, as private copies.

Everything a backend gets is built here from the caller's data, so no backend can modify the
caller's objects, and bad input stops with a BenchError naming the file and the entry instead of a
deep traceback or a silently wrong number.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from bench.data.ground_truth import (
    NUM_KEYPOINT_VALUES,
    format_problems,
    ground_truth_problems,
    is_int,
    is_number,
    keypoint_length_problem,
    numeric_rows,
    read_json,
)
from bench.errors import BenchError
from bench.evaluation.protocol import MAX_DETECTIONS

GroundTruthInput = str | os.PathLike | Mapping[str, Any]
ResultsInput = str | os.PathLike | Sequence[Mapping[str, Any]]
DETECTION_KEYS = ("image_id", "category_id", "keypoints", "score")


@dataclass(frozen=True, eq=False)
class GroundTruth:
    """A checked private copy of a CrowdPose GT dict (``iscrowd`` filled in as 0 where absent)."""

    data: dict[str, Any]
    source: str


@dataclass(frozen=True, eq=False)
class Detections:
    """Checked detections as arrays, in input order: ids [N], keypoints [N, 42], scores [N]."""

    image_ids: np.ndarray
    category_ids: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray
    source: str

    def __len__(self) -> int:
        return len(self.scores)

    def records(self) -> list[dict[str, Any]]:
        """Fresh results-file records (image_id, category_id, keypoints, score) for a backend to consume."""
        return [{"image_id": image_id, "category_id": category_id, "keypoints": keypoints, "score": score}
                for image_id, category_id, keypoints, score in zip(
                    self.image_ids.tolist(), self.category_ids.tolist(), self.keypoints.tolist(),
                    self.scores.tolist(), strict=True)]

    def zero_score_mask(self) -> np.ndarray:
        """Detections none of whose 14 keypoint scores is > 0 (xtcocotools >= 1.7 drops these)."""
        return ~np.any(self.keypoints[:, 2::3] > 0, axis=1)


@dataclass(frozen=True)
class InputReport:
    """Facts about the inputs on which evaluators are known to disagree, reported before evaluating."""

    ground_truth: str
    results: str
    num_images: int
    num_ground_truth: int
    num_detections: int
    num_zero_score_detections: int
    num_images_over_max_detections: int
    gt_has_id_zero: bool

    def summary(self) -> str:
        """One line for logs and the CLI."""
        return (f"{self.num_detections} detections on {self.num_images} images, {self.num_ground_truth} GT; "
                f"{self.num_zero_score_detections} detections with all-zero keypoint scores; "
                f"{self.num_images_over_max_detections} images with more than {MAX_DETECTIONS} detections "
                f"(only the top {MAX_DETECTIONS} count); GT annotation id 0: "
                f"{'yes' if self.gt_has_id_zero else 'no'}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_ground_truth(gt: GroundTruthInput) -> GroundTruth:
    """Read (path) or copy (dict) the GT and check it; BenchError lists every problem.

    The copy has new dicts for the top level and for every image, annotation and category (what the
    backends add keys to); the lists inside them (keypoints, bbox) are shared, as no backend writes
    to them. That is 30x cheaper than a deep copy of the 8000-image test set.
    """
    if isinstance(gt, str | os.PathLike):
        source, data = str(gt), read_json(gt, "ground-truth file")
    elif isinstance(gt, Mapping):
        source, data = "ground-truth dict", gt
    else:
        raise TypeError(f"ground truth must be a JSON path or a dict, got {type(gt).__name__}")
    problems = ground_truth_problems(data, source, need_file_names=False)
    if problems:
        raise BenchError(format_problems(f"ground truth {source} cannot be evaluated", problems))
    private = dict(data)
    for key in ("images", "annotations", "categories"):
        private[key] = [dict(record) for record in data[key]]
    for ann in private["annotations"]:
        ann.setdefault("iscrowd", 0)
    return GroundTruth(private, source)


def _record_problem(det: Any, image_ids: set, category_ids: set) -> str | None:
    """What is wrong with one detection record apart from the values inside its keypoints, or None."""
    if not isinstance(det, Mapping):
        return f"not an object ({type(det).__name__})"
    missing = [key for key in DETECTION_KEYS if key not in det]
    if missing:
        return f"missing {', '.join(missing)}"
    if not is_int(det["image_id"]) or det["image_id"] not in image_ids:
        return f"image_id {det['image_id']!r} is not an image of the ground truth"
    if not is_int(det["category_id"]) or det["category_id"] not in category_ids:
        return f"category_id {det['category_id']!r} is not a ground-truth category"
    keypoint_problem = keypoint_length_problem(det["keypoints"])
    if keypoint_problem:
        return keypoint_problem
    if not is_number(det["score"]):
        return f"score {det['score']!r} is not a finite number"
    return None


def _all_plainly_valid(records: Sequence[Any], image_ids: set, category_ids: set) -> bool:
    """Quick screen for the common case: every record a dict with int ids of the GT, a 42-value list
    and a finite float score (keypoint values are checked afterwards, vectorised). When this says no,
    :func:`_record_problem` finds out what is wrong, record by record."""
    try:
        return all(type(det) is dict and type(det["image_id"]) is int and det["image_id"] in image_ids
                   and type(det["category_id"]) is int and det["category_id"] in category_ids
                   and type(det["keypoints"]) is list and len(det["keypoints"]) == NUM_KEYPOINT_VALUES
                   and type(det["score"]) is float and math.isfinite(det["score"]) for det in records)
    except KeyError:
        return False


def load_detections(results: ResultsInput, gt: GroundTruth) -> Detections:
    """Read (path) or copy (list) the detections and check each against ``gt``.

    Each record needs image_id (an image of the GT), category_id (a GT category), keypoints
    (42 finite numbers) and a finite score; other keys (bbox, area, ...) are ignored. (The official
    loadRes takes a detection's area from its bbox when there is one, else from the keypoint extent;
    the area only decides whether an unmatched detection lies outside [0, 1e10], which a box of
    non-negative size within 1e5 px never does.) A BenchError lists every bad record by index and
    names the file.
    """
    if isinstance(results, str | os.PathLike):
        source = str(results)
        records = read_json(results, "results file")
        if not isinstance(records, list):
            raise BenchError(f"results file {source}: expected a JSON list of detections, "
                             f"got {type(records).__name__}")
    elif isinstance(results, Sequence) and not isinstance(results, str | bytes):
        source, records = "results list", results
    else:
        raise TypeError(f"results must be a JSON path or a list of dicts, got {type(results).__name__}")
    image_ids = {image["id"] for image in gt.data["images"]}
    category_ids = {category["id"] for category in gt.data["categories"]}
    problems = [] if _all_plainly_valid(records, image_ids, category_ids) else [
        f"detection {index}: {problem}" for index, det in enumerate(records)
        if (problem := _record_problem(det, image_ids, category_ids))]
    if problems:
        raise BenchError(format_problems(f"detections in {source} cannot be evaluated", problems))
    keypoints, bad = numeric_rows([det["keypoints"] for det in records], NUM_KEYPOINT_VALUES)
    if bad:
        raise BenchError(format_problems(f"detections in {source} cannot be evaluated",
                                         [f"detection {index}: keypoints holds a value that is not a "
                                          "finite number" for index in bad]))
    count = len(records)
    return Detections(
        image_ids=np.fromiter((det["image_id"] for det in records), dtype=np.int64, count=count),
        category_ids=np.fromiter((det["category_id"] for det in records), dtype=np.int64, count=count),
        keypoints=keypoints,
        scores=np.fromiter((det["score"] for det in records), dtype=np.float64, count=count),
        source=source)


def describe_inputs(gt: GroundTruth, detections: Detections) -> InputReport:
    """Count what backends treat differently: all-zero keypoint scores, GT id 0, > 20 detections."""
    _, per_image = np.unique(detections.image_ids, return_counts=True)
    return InputReport(
        ground_truth=gt.source,
        results=detections.source,
        num_images=len(gt.data["images"]),
        num_ground_truth=len(gt.data["annotations"]),
        num_detections=len(detections),
        num_zero_score_detections=int(np.count_nonzero(detections.zero_score_mask())),
        num_images_over_max_detections=int(np.count_nonzero(per_image > MAX_DETECTIONS)),
        gt_has_id_zero=any(ann["id"] == 0 for ann in gt.data["annotations"]))
