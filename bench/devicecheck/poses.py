"""Comparing two runs' poses on the same images: the same people, every joint within a tolerance."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from bench.devicecheck.cases import Explanation


@dataclass(frozen=True)
class Difference:
    """One way the runs differ on an image: "people" (another person count) or "joints" (a matched
    person's joint further apart than the tolerance); ``explanation`` where one is listed."""

    image_id: int
    kind: str
    description: str
    explanation: str | None = None


def pose_differences(found: Sequence[dict], reference: Sequence[dict], tolerance_px: float,
                     explained: Iterable[Explanation] = ()) -> list[Difference]:
    """Differences between ``found`` and ``reference`` detections (COCO results: ``image_id``,
    ``keypoints`` [x, y, v] * K), image by image. People are paired by the least total mean joint
    distance (Hungarian); pairs with a joint more than ``tolerance_px`` apart differ."""
    reasons = {(entry.image_id, entry.kind): entry.reason for entry in explained}
    found_by_image, reference_by_image = _joints_by_image(found), _joints_by_image(reference)
    differences = []
    for image_id in sorted(set(found_by_image) | set(reference_by_image)):
        ours, theirs = found_by_image.get(image_id, np.zeros((0, 0, 2))), reference_by_image.get(
            image_id, np.zeros((0, 0, 2)))
        if len(ours) != len(theirs):
            differences.append(Difference(image_id, "people", f"{len(ours)} people against {len(theirs)}",
                                          reasons.get((image_id, "people"))))
        if not len(ours) or not len(theirs):
            continue
        distances = np.linalg.norm(ours[:, None] - theirs[None], axis=-1)  # [P, Q, K]
        rows, columns = linear_sum_assignment(distances.mean(axis=-1))
        worst = distances[rows, columns].max(axis=-1)  # [pairs]
        far = [(row, column, value) for row, column, value in zip(rows, columns, worst, strict=True)
               if value > tolerance_px]
        if far:
            text = ", ".join(f"person {row}~{column}: {value:.3g} px" for row, column, value in far)
            differences.append(Difference(image_id, "joints", f"joints apart by more than {tolerance_px:g} "
                                          f"px: {text}", reasons.get((image_id, "joints"))))
    return differences


def _joints_by_image(detections: Sequence[dict]) -> dict[int, np.ndarray]:
    """image id -> joint positions [P, K, 2] of its people (P people, K joints)."""
    grouped: dict[int, list[np.ndarray]] = defaultdict(list)
    for detection in detections:
        joints = np.asarray(detection["keypoints"], dtype=float).reshape(-1, 3)[:, :2]
        grouped[int(detection["image_id"])].append(joints)
    return {image_id: np.stack(people) for image_id, people in grouped.items()}
