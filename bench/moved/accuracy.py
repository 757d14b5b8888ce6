"""Whether two sides predict the same poses, image by image, and how much a difference matters.

The two sides' predictions (reproduce reports, or results files on one annotation file) go through
``bench diff``'s comparison (``bench.accuracy.diff.run_diff``): the paired AP differences with their
bootstrap intervals, and the images ranked by how far their matches moved. On top of it each image's
poses are compared directly, whatever the ground truth says of them, by the project's one per-image
pose comparison (``bench.evaluation.image_diff.compare_poses``, which ``bench gate`` and
``device-check`` use too): the people of both sides are paired by the least mean joint distance, and
the image is

* "identical": the same people with the same numbers, in the same order;
* "within tolerance": as many people, every paired joint within ``TOLERANCE_PX`` pixels and every
  person or joint score within ``TOLERANCE_SCORE`` (the gate's tolerances);
* "changed": anything else. One changed image makes the comparison "changed" (exit status 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.accuracy.diff import Diff, DiffConfig, run_diff, write_diff
from bench.evaluation.bootstrap import BootstrapSettings
from bench.evaluation.image_diff import (
    NO_POSES,
    OUTCOMES,
    TOLERANCE_PX,
    TOLERANCE_SCORE,
    Poses,
    compare_poses,
    poses_by_image,
)
from bench.reading import read_json

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
                f"({TOLERANCE_PX:g} px, {TOLERANCE_SCORE:g} in score), {counts['identical']} identical; AP "
                f"head - base {difference}")

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": "changed" if self.changed else "same",
                "tolerance": {"px": TOLERANCE_PX, "score": TOLERANCE_SCORE},
                "outcomes": {str(image): outcome for image, outcome in self.outcomes.items()},
                "changed_images": list(self.changed_images),
                "ap_head_minus_base": {name: {"delta": delta.delta, "interval": delta.ci95}
                                       for name, delta in self.diff.deltas.items()}}


def image_outcome(image_id: int, base: dict[int, Poses], head: dict[int, Poses]) -> str:
    """"identical", "within tolerance" or "changed" for one image of the two sides' poses by image."""
    return compare_poses(image_id, base.get(image_id, NO_POSES), head.get(image_id, NO_POSES)).outcome()


def compare_predictions(base: Path, head: Path, out_dir: Path, bootstrap: BootstrapSettings,
                        gt: Path | None = None) -> AccuracyComparison:
    """Compare base's predictions with head's (reproduce reports, or results files on ``gt``) as
    ``bench diff`` does, writing its files into ``out_dir``, and classify every image."""
    diff = run_diff(DiffConfig(a=base, b=head, out_dir=out_dir, gt=gt, bootstrap=bootstrap))
    write_diff(diff, out_dir)
    a, b = (poses_by_image(read_json(run.results, "results file")) for run in (diff.a, diff.b))
    ranked = [int(image) for image in diff.images["image_id"]]
    images = ranked + sorted((a.keys() | b.keys()) - set(ranked))
    outcomes = {image: image_outcome(image, a, b) for image in images}
    changed = tuple(image for image in images if outcomes[image] == "changed")
    return AccuracyComparison(diff, outcomes, changed)
