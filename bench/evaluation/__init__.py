"""CrowdPose evaluation with the official protocol, exact and in one pass.

``evaluate(gt, results)`` returns an ``Evaluation``: AP, AP50, AP75, AR, AR50, AR75, AP_easy,
AP_medium, AP_hard and the per-image matches they come from, which the bootstrap intervals, paired
differences and ``bench diff`` reuse. ``protocol_name="xtcocotools"`` gives xtcocotools'
``keypoints_crowd`` numbers (mmpose's).
"""

from bench.evaluation.api import (
    IMPLEMENTATION,
    OFFICIAL_PROTOCOL,
    PROTOCOLS,
    Evaluation,
    check_protocol,
    evaluate,
    implementation_version,
)
from bench.evaluation.inputs import InputReport
from bench.evaluation.protocol import AP_NAMES, METRIC_NAMES, metric_text, no_ground_truth_note

__all__ = ["AP_NAMES", "IMPLEMENTATION", "METRIC_NAMES", "OFFICIAL_PROTOCOL", "PROTOCOLS", "Evaluation",
           "InputReport", "check_protocol", "evaluate", "implementation_version", "metric_text",
           "no_ground_truth_note"]
