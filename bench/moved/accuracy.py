"""Whether two sides predict the same poses, image by image, and how much a difference matters.

The two sides' predictions (reproduce reports, or results files on one annotation file) go through
``bench diff``'s comparison (``bench.accuracy.diff.run_diff``): the paired AP differences with their
bootstrap intervals, and the images ranked by how far their matches moved. On top of it each image's
detections are compared directly, whatever the ground truth says of them:

* "identical": the same detections, number for number (in any order);
* "within tolerance": as many detections, every number within ``PREDICTION_TOLERANCE``;
* "changed": anything else. One changed image makes the comparison "changed" (exit status 1).

Detections are put in order by score (then by their keypoints) before they are compared, so two
detections whose scores swap order within the tolerance count as changed: a stricter call, never a
missed one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.accuracy.diff import Diff, DiffConfig, run_diff, write_diff
from bench.evaluation.bootstrap import BootstrapSettings
from bench.reading import read_json

PREDICTION_TOLERANCE = 1e-3
"""Largest absolute difference of any number of a detection (keypoint coordinates in pixels, keypoint
and detection scores) that is "within tolerance": float32 noise of another summation order (another
thread count, another library build) is far below it, and no OKS moves by a visible amount within it."""

OUTCOMES = ("identical", "within tolerance", "changed")
SHOWN_IMAGES = 5
"""Changed images named on the accuracy line (all of them are in ``ab.json`` and ``images.csv``)."""


@dataclass(frozen=True, eq=False)
class AccuracyComparison:
    """``bench diff`` of base (A) against head (B), each image's outcome, and the changed images, those
    whose matches moved most first."""

    diff: Diff
    outcomes: dict[int, str]
    changed_images: tuple[int, ...]

    @property
    def changed(self) -> bool:
        return bool(self.changed_images)

    def line(self) -> str:
        """One line: the verdict, the images per outcome, the most moved changed images and the AP
        difference head - base with its paired interval."""
        counts = {outcome: sum(value == outcome for value in self.outcomes.values()) for outcome in OUTCOMES}
        shown = ", ".join(map(str, self.changed_images[:SHOWN_IMAGES]))
        shown += ", ..." if len(self.changed_images) > SHOWN_IMAGES else ""
        moved = f" (most moved first: {shown})" if self.changed else ""
        ap = self.diff.deltas["AP"]
        interval = "" if ap.ci95 is None else f" [{ap.ci95[0]:+.4f}, {ap.ci95[1]:+.4f}]"
        difference = "undefined" if ap.delta is None else f"{ap.delta:+.4f}{interval}"
        return (f"accuracy: {'changed' if self.changed else 'same'}: {counts['changed']} of "
                f"{len(self.outcomes)} images changed{moved}, {counts['within tolerance']} within tolerance "
                f"({PREDICTION_TOLERANCE:g}), {counts['identical']} identical; AP head - base {difference}")

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": "changed" if self.changed else "same", "tolerance": PREDICTION_TOLERANCE,
                "outcomes": {str(image): outcome for image, outcome in self.outcomes.items()},
                "changed_images": list(self.changed_images),
                "ap_head_minus_base": {name: {"delta": delta.delta, "interval": delta.ci95}
                                       for name, delta in self.diff.deltas.items()}}


def detections_by_image(results: list[dict[str, Any]]) -> dict[int, np.ndarray]:
    """Each image's detections as rows [category, score, keypoints...] [D, 2 + 3K], by descending score
    (then by the rest of the row)."""
    rows: dict[int, list[list[float]]] = {}
    for detection in results:
        rows.setdefault(detection["image_id"], []).append(
            [detection["category_id"], detection["score"], *detection["keypoints"]])
    ordered = {}
    for image, image_rows in rows.items():
        table = np.asarray(image_rows, dtype=np.float64)
        keys = [-table[:, 1], table[:, 0], *table[:, 2:].T]  # by descending score, then the rest
        ordered[image] = table[np.lexsort(keys[::-1])]  # lexsort's primary key is its last
    return ordered


def prediction_outcome(a: np.ndarray, b: np.ndarray, tolerance: float = PREDICTION_TOLERANCE) -> str:
    """"identical", "within tolerance" or "changed" for one image's ordered detections [D, 2 + 3K]."""
    if a.shape != b.shape:
        return "changed"
    if np.array_equal(a, b):
        return "identical"
    return "within tolerance" if np.allclose(a, b, rtol=0.0, atol=tolerance) else "changed"


def compare_predictions(base: Path, head: Path, out_dir: Path, bootstrap: BootstrapSettings,
                        gt: Path | None = None) -> AccuracyComparison:
    """Compare base's predictions with head's (reproduce reports, or results files on ``gt``) as
    ``bench diff`` does, writing its files into ``out_dir``, and classify every image."""
    diff = run_diff(DiffConfig(a=base, b=head, out_dir=out_dir, gt=gt, bootstrap=bootstrap))
    write_diff(diff, out_dir)
    a, b = (detections_by_image(read_json(run.results, "results file")) for run in (diff.a, diff.b))
    ranked = [int(image) for image in diff.images["image_id"]]
    images = ranked + sorted((a.keys() | b.keys()) - set(ranked))
    empty = np.empty((0, 0))
    outcomes = {image: prediction_outcome(a.get(image, empty), b.get(image, empty)) for image in images}
    changed = tuple(image for image in images if outcomes[image] == "changed")
    return AccuracyComparison(diff, outcomes, changed)
