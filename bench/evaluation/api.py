"""``evaluate``: the nine CrowdPose numbers of a set of detections, and the per-image matches they come from.

One implementation, exact: every image is matched once (:mod:`bench.evaluation.matching`) and the
numbers are accumulated from those matches (:mod:`bench.evaluation.accumulate`), the same float
operations as the official ``crowdposetools`` (tested identical on generated cases with every edge case
known, against crowdposetools, faster-coco-eval, pycocotools and xtcocotools, which serve as test
oracles only). The matches serve every other number of a row too: bootstrap intervals, paired
differences and per-image attribution (``bench diff``) re-read them instead of scoring again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.evaluation import protocol_xtcocotools
from bench.evaluation.accumulate import point_metrics
from bench.evaluation.inputs import (
    Detections,
    GroundTruth,
    GroundTruthInput,
    InputReport,
    ResultsInput,
    describe_inputs,
    load_detections,
    load_ground_truth,
)
from bench.evaluation.matching import ImageMatches, match_images
from bench.sources import source_digest

OFFICIAL_PROTOCOL = "crowdpose"
PROTOCOLS = (OFFICIAL_PROTOCOL, protocol_xtcocotools.NAME)
IMPLEMENTATION = "bench.evaluation"
"""What scores: this package's exact matcher and accumulation of the official protocol."""


def implementation_version() -> str:
    """The first 12 hex digits of the sha256 of this package's source (what exactly scored)."""
    return source_digest(Path(__file__).parent)[:12]


@dataclass(frozen=True, eq=False)
class Evaluation:
    """One scoring: the nine metrics (:data:`bench.evaluation.protocol.METRIC_NAMES`), the per-image
    matches they were accumulated from, the ``protocol`` followed ("crowdpose", the official one, or
    "xtcocotools", the keypoints_crowd mmpose reported with), facts about the inputs, and the time it
    took."""

    metrics: dict[str, float]
    matches: ImageMatches
    protocol: str
    inputs: InputReport
    seconds: float

    @property
    def official(self) -> bool:
        """Whether the numbers follow the official CrowdPose protocol."""
        return self.protocol == OFFICIAL_PROTOCOL

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record: metrics, protocol, implementation and version, input report, seconds."""
        return {"metrics": dict(self.metrics), "protocol": self.protocol, "implementation": IMPLEMENTATION,
                "version": implementation_version(), "input_report": self.inputs.to_dict(),
                "seconds": self.seconds}


def check_protocol(protocol_name: str) -> None:
    """BenchError unless ``protocol_name`` is one of :data:`PROTOCOLS`."""
    if protocol_name not in PROTOCOLS:
        raise BenchError(f"unknown evaluation protocol {protocol_name!r}; choose one of "
                         f"{', '.join(PROTOCOLS)}")


def evaluate(gt: GroundTruthInput | GroundTruth, results: ResultsInput | Detections,
             protocol_name: str = OFFICIAL_PROTOCOL) -> Evaluation:
    """Score detections on CrowdPose GT with the official protocol (or ``protocol_name``).

    Args:
        gt: path of a CrowdPose GT file (images with crowdIndex), or such a dict (e.g.
            ``CrowdPoseDataset.ground_truth()`` for a selection; never modified), or one already read
            (``load_ground_truth``), to score several result sets on it.
        results: path of a results JSON file, or a list of ``{image_id, category_id, keypoints (42),
            score}`` dicts (other keys are ignored); never modified; or detections already checked
            against this GT (``load_detections``). Only the top 20 per image count.
        protocol_name: one of :data:`PROTOCOLS`; "xtcocotools" scores the official protocol on the
            transformed inputs of ``protocol_xtcocotools``.

    Raises:
        BenchError: unknown protocol, unreadable or malformed GT or detections.
    """
    check_protocol(protocol_name)
    start = time.perf_counter()
    ground_truth = gt if isinstance(gt, GroundTruth) else load_ground_truth(gt)
    detections = results if isinstance(results, Detections) else load_detections(results, ground_truth)
    inputs = describe_inputs(ground_truth, detections)
    if protocol_name == protocol_xtcocotools.NAME:
        ground_truth, detections = protocol_xtcocotools.as_official_inputs(ground_truth, detections)
    matches = match_images(ground_truth, detections)
    return Evaluation(point_metrics(matches), matches, protocol_name, inputs, time.perf_counter() - start)
