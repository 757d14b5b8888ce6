"""Reading and checking evaluation inputs: the GT and the detections, as arrays.

Bad input stops here with a BenchError naming the file and the entry, instead of a deep traceback or a
silently wrong number; what passes is converted once into arrays that the matcher reads (the caller's
objects are never modified).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from bench.data.ground_truth import (
    NUM_KEYPOINT_VALUES,
    GroundTruthTable,
    format_problems,
    inspect_ground_truth,
    is_int,
    is_number,
    keypoint_length_problem,
    numeric_rows,
)
from bench.errors import BenchError
from bench.evaluation.protocol import MAX_DETECTIONS
from bench.reading import read_json

GroundTruthInput = str | os.PathLike | Mapping[str, Any]
ResultsInput = str | os.PathLike | Sequence[Mapping[str, Any]]
DETECTION_KEYS = ("image_id", "category_id", "keypoints", "score")


@dataclass(frozen=True, eq=False)
class GroundTruth:
    """A checked CrowdPose GT (``table``, see ``bench.data.ground_truth.GroundTruthTable``) and where it
    came from (a path, or "ground-truth dict")."""

    table: GroundTruthTable
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

    def zero_score_mask(self) -> np.ndarray:
        """Detections none of whose 14 keypoint scores is > 0 (xtcocotools >= 1.7 drops these)."""
        return ~np.any(self.keypoints[:, 2::3] > 0, axis=1)

    def subset(self, kept: np.ndarray) -> Detections:
        """The detections where ``kept`` [N] is True, in the same order."""
        return Detections(self.image_ids[kept], self.category_ids[kept], self.keypoints[kept],
                          self.scores[kept], self.source)


@dataclass(frozen=True)
class InputReport:
    """Facts about the inputs on which evaluators are known to disagree, reported with every score."""

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
    """Read (path) or take (dict, never modified) the GT and check it; BenchError lists every problem."""
    if isinstance(gt, str | os.PathLike):
        source, data = str(gt), read_json(gt, "ground-truth file")
    elif isinstance(gt, Mapping):
        source, data = "ground-truth dict", gt
    else:
        raise TypeError(f"ground truth must be a JSON path or a dict, got {type(gt).__name__}")
    problems, table = inspect_ground_truth(data, source, need_file_names=False)
    if table is not None and len(table.category_ids) != 1:
        problems = [f"{source}: {len(table.category_ids)} categories; CrowdPose has one (person), and its "
                    "protocol matches every detection of an image against every person of it"]
    if problems:
        raise BenchError(format_problems(f"ground truth {source} cannot be evaluated", problems))
    return GroundTruth(table, source)


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


def _plain_columns(records: Sequence[Any], gt: GroundTruth) -> tuple[np.ndarray, ...] | None:
    """The common case, checked column by column: every record a dict with int ids of the GT, a list
    of 42 keypoint values and a finite float score. Returns image ids, category ids, keypoints [N, 42]
    (possibly holding non-numbers, checked afterwards) and scores; None when any record is not of
    that plain form, and :func:`_record_problem` then finds out what is wrong, record by record."""
    if not records:
        return (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, NUM_KEYPOINT_VALUES)),
                np.zeros(0))
    if set(map(type, records)) != {dict}:
        return None
    try:
        image_ids, category_ids, keypoints, scores = ([det[key] for det in records] for key in DETECTION_KEYS)
    except KeyError:
        return None
    plain = (set(map(type, image_ids)) == {int} and set(map(type, category_ids)) == {int}
             and set(map(type, keypoints)) == {list} and set(map(len, keypoints)) == {NUM_KEYPOINT_VALUES}
             and set(map(type, scores)) == {float})
    if not plain:
        return None
    columns = (np.array(image_ids, dtype=np.int64), np.array(category_ids, dtype=np.int64))
    score_values = np.array(scores, dtype=np.float64)
    if not (np.isin(columns[0], gt.table.image_ids).all() and np.isin(columns[1], gt.table.category_ids).all()
            and np.isfinite(score_values).all()):
        return None
    return (*columns, keypoints, score_values)


def load_detections(results: ResultsInput, gt: GroundTruth) -> Detections:
    """Read (path) or take (list, never modified) the detections and check each against ``gt``.

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
    columns = _plain_columns(records, gt)
    if columns is None:
        image_ids, category_ids = set(gt.table.image_ids.tolist()), set(gt.table.category_ids.tolist())
        problems = [f"detection {index}: {problem}" for index, det in enumerate(records)
                    if (problem := _record_problem(det, image_ids, category_ids))]
        if problems:
            raise BenchError(format_problems(f"detections in {source} cannot be evaluated", problems))
        columns = (np.array([det["image_id"] for det in records], dtype=np.int64),
                   np.array([det["category_id"] for det in records], dtype=np.int64),
                   [det["keypoints"] for det in records],
                   np.array([det["score"] for det in records], dtype=np.float64))
    image_id_column, category_column, keypoint_rows, scores = columns
    keypoints, bad = numeric_rows(keypoint_rows, NUM_KEYPOINT_VALUES)
    if bad:
        raise BenchError(format_problems(f"detections in {source} cannot be evaluated",
                                         [f"detection {index}: keypoints holds a value that is not a "
                                          "finite number" for index in bad]))
    return Detections(image_id_column, category_column, keypoints, scores, source)


def describe_inputs(gt: GroundTruth, detections: Detections) -> InputReport:
    """Count what evaluators treat differently: all-zero keypoint scores, GT id 0, > 20 detections."""
    _, per_image = np.unique(detections.image_ids, return_counts=True)
    return InputReport(
        ground_truth=gt.source,
        results=detections.source,
        num_images=len(gt.table.image_ids),
        num_ground_truth=len(gt.table.ids),
        num_detections=len(detections),
        num_zero_score_detections=int(np.count_nonzero(detections.zero_score_mask())),
        num_images_over_max_detections=int(np.count_nonzero(per_image > MAX_DETECTIONS)),
        gt_has_id_zero=bool(np.any(gt.table.ids == 0)))
