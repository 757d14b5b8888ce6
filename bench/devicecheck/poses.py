"""Comparing two runs' poses on the same images: the same people, every joint within a tolerance."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bench.devicecheck.cases import Explanation
from bench.evaluation.image_diff import NO_POSES, compare_poses, poses_by_image


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
    ``keypoints`` [x, y, v] * K), image by image. People are paired as ``compare_poses`` pairs them;
    pairs with a joint more than ``tolerance_px`` apart differ."""
    reasons = {(entry.image_id, entry.kind): entry.reason for entry in explained}
    found_by_image, reference_by_image = poses_by_image(found), poses_by_image(reference)
    differences = []
    for image_id in sorted(set(found_by_image) | set(reference_by_image)):
        change = compare_poses(image_id, found_by_image.get(image_id, NO_POSES),
                               reference_by_image.get(image_id, NO_POSES))
        ours, theirs = change.people
        if ours != theirs:
            differences.append(Difference(image_id, "people", f"{ours} people against {theirs}",
                                          reasons.get((image_id, "people"))))
        moves = zip(change.pairs, change.moves_px, strict=True)
        far = [(row, column, value) for (row, column), value in moves if value > tolerance_px]
        if far:
            text = ", ".join(f"person {row}~{column}: {value:.3g} px" for row, column, value in far)
            differences.append(Difference(image_id, "joints", f"joints apart by more than {tolerance_px:g} "
                                          f"px: {text}", reasons.get((image_id, "joints"))))
    return differences
