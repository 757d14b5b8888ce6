"""The xtcocotools ``keypoints_crowd`` protocol (>= 1.12, ``use_area=False``), the one mmpose 0.29.0
reported the published numbers with, expressed as inputs to the official protocol.

It differs from the official CrowdPose API in exactly two ways (measured against xtcocotools 1.14.3 and
crowdposetools on generated cases), and both are input transformations, so the official protocol's
evaluator gives xtcocotools' numbers on the transformed inputs, without the xtcocotools wheel:

* it drops detections none of whose 14 keypoint scores is > 0, before the top-20 cut (so a 21st
  detection can move in);
* it marks "unmatched" with -1 instead of 0, so a detection matched to GT id 0 is a true positive.
  GT ids are non-negative (checked on reading), so renumbering every GT id by +1 leaves none at the
  official marker 0 and keeps them unique.
"""

from __future__ import annotations

import dataclasses

from bench.evaluation.inputs import Detections, GroundTruth

NAME = "xtcocotools"


def as_official_inputs(gt: GroundTruth, detections: Detections) -> tuple[GroundTruth, Detections]:
    """New GT and detections on which the official protocol gives xtcocotools' numbers."""
    renumbered = dataclasses.replace(gt.table, ids=gt.table.ids + 1)
    return GroundTruth(renumbered, gt.source), detections.subset(~detections.zero_score_mask())
