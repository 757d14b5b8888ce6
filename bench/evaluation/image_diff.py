"""Per-image differences between two runs on the same images, from their matches.

Per image and run: the detections the evaluator scores (its top 20), the people matched at OKS >= 0.5
(true positives at the first threshold, exactly as the evaluator matches: greedy by score, ignored GT
not counted) and the mean OKS of those matches (NaN without any). How far an image *moved* is

    moved = |matched_B - matched_A| + |mean_oks_B - mean_oks_A|

with the mean OKS of an image without matched people taken as 0 there, so losing or gaining a person
counts at least 1 and a shift of every matched person's OKS by x counts x.

The poses themselves are compared image by image too (:func:`compare_poses`): the people of both runs
are paired by the least total mean joint distance (Hungarian), and each pair's largest joint move and
largest score change (person score or joint score) say whether the image is identical, within a
tolerance, or changed (``bench gate``, and the device's poses against the CPU's in ``device-check``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from bench.evaluation.matching import ImageMatches

MATCH_THRESHOLD_INDEX = 0  # OKS .50, the first of the protocol's thresholds


def per_image(matches: ImageMatches) -> pd.DataFrame:
    """One row per image (sorted id): detections, matched, mean_oks (NaN without matches)."""
    num_images = len(matches.image_ids)
    matched = matches.true_positive[MATCH_THRESHOLD_INDEX]
    oks_sum = np.bincount(matches.det_image[matched], matches.matched_oks[MATCH_THRESHOLD_INDEX, matched],
                          minlength=num_images)
    count = np.bincount(matches.det_image[matched], minlength=num_images)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_oks = np.where(count > 0, oks_sum / count, np.nan)
    return pd.DataFrame({"detections": np.bincount(matches.det_image, minlength=num_images),
                         "matched": count, "mean_oks": mean_oks}, index=pd.Index(matches.image_ids,
                                                                                 name="image_id"))


def image_differences(a: ImageMatches, b: ImageMatches) -> pd.DataFrame:
    """Both runs' per-image numbers side by side with their differences (B - A) and ``moved``, the
    images that moved most first (ties by image id); ``image_id`` is the first column.

    Raises:
        ValueError: the runs are not on the same images.
    """
    if not np.array_equal(a.image_ids, b.image_ids):
        raise ValueError("the runs are not on the same images")
    frame = per_image(a).add_suffix("_a").join(per_image(b).add_suffix("_b"))
    frame.insert(0, "crowd_index", a.crowd_index)
    frame["delta_detections"] = frame["detections_b"] - frame["detections_a"]
    frame["delta_matched"] = frame["matched_b"] - frame["matched_a"]
    frame["delta_mean_oks"] = frame["mean_oks_b"].fillna(0.0) - frame["mean_oks_a"].fillna(0.0)
    frame["moved"] = frame["delta_matched"].abs() + frame["delta_mean_oks"].abs()
    frame = frame.reset_index()
    return frame.sort_values(["moved", "image_id"], ascending=[False, True], kind="stable",
                             ignore_index=True)


TOLERANCE_PX = 0.05
"""Largest joint move, in pixels, of an image "within tolerance" of another run (``PoseChange.within``):
float rounding of another device, thread count or library build stays far below it."""
TOLERANCE_SCORE = 1e-4
"""Largest change of a person or joint score of an image "within tolerance" of another run."""

IDENTICAL, WITHIN_TOLERANCE, CHANGED = OUTCOMES = ("identical", "within tolerance", "changed")
"""How an image of one run compares with the same image of another (``PoseChange.outcome``)."""

Poses = tuple[np.ndarray, np.ndarray]
"""One image's people: keypoints [P, K, 3] (x, y, score per joint) and person scores [P]."""
NO_POSES: Poses = (np.zeros((0, 0, 3)), np.zeros(0))


@dataclass(frozen=True)
class PoseChange:
    """How one image's people differ between runs A and B: the people of each, the pairs (A's person,
    B's person, both in run order) and per pair its largest joint move in pixels, the joint that moved
    most and its largest score change; ``identical`` when both hold the same values in the same order."""

    image_id: int
    people: tuple[int, int]
    pairs: tuple[tuple[int, int], ...]
    moves_px: tuple[float, ...]
    joints: tuple[int, ...]
    score_changes: tuple[float, ...]
    identical: bool

    def within(self, tolerance_px: float, tolerance_score: float) -> bool:
        """The same number of people, every pair's joints within ``tolerance_px`` and its scores within
        ``tolerance_score``."""
        return (self.people[0] == self.people[1] and max(self.moves_px, default=0.0) <= tolerance_px
                and max(self.score_changes, default=0.0) <= tolerance_score)

    def outcome(self, tolerance_px: float = TOLERANCE_PX, tolerance_score: float = TOLERANCE_SCORE) -> str:
        """"identical", "within tolerance" (``within``) or "changed": the one classification of an image
        that the gate, ``ab`` and the environment matrix print."""
        if self.identical:
            return IDENTICAL
        return WITHIN_TOLERANCE if self.within(tolerance_px, tolerance_score) else CHANGED

    def largest_move(self) -> int | None:
        """The position in ``pairs`` of the pair whose joint moved most (None without pairs)."""
        return int(np.argmax(self.moves_px)) if self.moves_px else None


def compare_poses(image_id: int, a: Poses, b: Poses) -> PoseChange:
    """``a`` against ``b`` on one image (see :class:`PoseChange`)."""
    (joints_a, scores_a), (joints_b, scores_b) = a, b
    identical = (joints_a.shape == joints_b.shape and np.array_equal(joints_a, joints_b)
                 and np.array_equal(scores_a, scores_b))
    if not len(joints_a) or not len(joints_b):
        return PoseChange(image_id, (len(joints_a), len(joints_b)), (), (), (), (), identical)
    distances = np.linalg.norm(joints_a[:, None, :, :2] - joints_b[None, :, :, :2], axis=-1)  # [P, Q, K]
    rows, columns = linear_sum_assignment(distances.mean(axis=-1))
    paired = distances[rows, columns]  # [pairs, K]
    joint_scores = np.abs(joints_a[rows, :, 2] - joints_b[columns, :, 2]).max(axis=-1)
    score_changes = np.maximum(np.abs(scores_a[rows] - scores_b[columns]), joint_scores)
    pairs = tuple(zip(rows.tolist(), columns.tolist(), strict=True))
    return PoseChange(image_id, (len(joints_a), len(joints_b)), pairs, tuple(paired.max(axis=-1).tolist()),
                      tuple(paired.argmax(axis=-1).tolist()), tuple(score_changes.tolist()), identical)


def poses_by_image(detections: Sequence[dict]) -> dict[int, Poses]:
    """image id -> the poses of its detections (mmpose results entries), in the detections' order."""
    grouped: dict[int, list[dict]] = defaultdict(list)
    for detection in detections:
        grouped[int(detection["image_id"])].append(detection)
    return {image_id: (np.array([person["keypoints"] for person in people], dtype=np.float64).reshape(
        len(people), -1, 3), np.array([person["score"] for person in people], dtype=np.float64))
        for image_id, people in grouped.items()}
