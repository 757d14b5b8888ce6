"""CrowdPose evaluation with the official protocol on several backends.

``evaluate(gt, results, backend=None)`` returns AP, AP50, AP75, AR, AR50, AR75, AP_easy, AP_medium,
AP_hard; ``evaluate_with_info`` also records the backend, its version, whether it is the official API
and facts about the inputs. ``protocol_name="xtcocotools"`` gives xtcocotools' ``keypoints_crowd``
numbers (mmpose's) on any backend. Backends (one module each): ``faster-coco-eval`` (default),
``faster-coco-eval-stock``, ``pycocotools``, ``xtcocotools`` and ``crowdposetools`` (official, optional).
"""

from bench.evaluation.api import (
    BACKEND_NAMES,
    DEFAULT_BACKEND,
    OFFICIAL_PROTOCOL,
    PROTOCOLS,
    EvaluationResult,
    check_protocol,
    evaluate,
    evaluate_with_info,
)
from bench.evaluation.inputs import InputReport
from bench.evaluation.protocol import METRIC_NAMES

__all__ = ["BACKEND_NAMES", "DEFAULT_BACKEND", "METRIC_NAMES", "OFFICIAL_PROTOCOL", "PROTOCOLS",
           "EvaluationResult", "InputReport", "check_protocol", "evaluate", "evaluate_with_info"]
