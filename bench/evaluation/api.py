"""``evaluate`` / ``evaluate_with_info``: the nine CrowdPose numbers from GT and detections, any backend."""

from __future__ import annotations

import io
import logging
import time
from contextlib import redirect_stdout
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from bench.errors import BenchError
from bench.evaluation import (
    backend_crowdposetools,
    backend_faster,
    backend_faster_stock,
    backend_pycocotools,
    backend_xtcocotools,
    protocol,
    protocol_xtcocotools,
)
from bench.evaluation.inputs import (
    GroundTruthInput,
    InputReport,
    ResultsInput,
    describe_inputs,
    load_detections,
    load_ground_truth,
)
from bench.evaluation.matching import ImageMatches, match_images

logger = logging.getLogger(__name__)

BACKENDS: dict[str, ModuleType] = {module.NAME: module for module in (
    backend_faster, backend_faster_stock, backend_pycocotools, backend_xtcocotools, backend_crowdposetools)}
BACKEND_NAMES = tuple(BACKENDS)
DEFAULT_BACKEND = backend_faster.NAME
OFFICIAL_PROTOCOL = "crowdpose"
PROTOCOLS = (OFFICIAL_PROTOCOL, protocol_xtcocotools.NAME)


@dataclass(frozen=True)
class EvaluationResult:
    """The nine metrics and what produced them.

    ``official`` is True only for crowdposetools, the official CrowdPose API; the other backends give
    the same protocol (bit-identical on the tested cases, except xtcocotools' documented differences).
    ``protocol`` is the protocol the numbers follow: "crowdpose" (the official one) or "xtcocotools"
    (its ``keypoints_crowd``, see ``protocol_xtcocotools``). ``backend_output`` is what the backend
    printed (captured, not shown).
    """

    metrics: dict[str, float]
    backend: str
    backend_version: str
    official: bool
    input_report: InputReport
    seconds: float
    protocol: str = OFFICIAL_PROTOCOL
    backend_output: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record: metrics, backend, version, official flag, input report, seconds."""
        return {"metrics": dict(self.metrics), "backend": self.backend,
                "backend_version": self.backend_version, "official": self.official,
                "input_report": self.input_report.to_dict(), "seconds": self.seconds,
                "protocol": self.protocol}


def backend_module(name: str | None) -> ModuleType:
    """The backend module for ``name`` (None: the default); BenchError for an unknown name."""
    name = DEFAULT_BACKEND if name is None else name
    if name not in BACKENDS:
        raise BenchError(f"unknown evaluation backend {name!r}; choose one of {', '.join(BACKEND_NAMES)}")
    return BACKENDS[name]


def check_protocol(protocol_name: str) -> None:
    """BenchError unless ``protocol_name`` is one of :data:`PROTOCOLS`."""
    if protocol_name not in PROTOCOLS:
        raise BenchError(f"unknown evaluation protocol {protocol_name!r}; choose one of "
                         f"{', '.join(PROTOCOLS)}")


def evaluate_with_info(gt_json_path: GroundTruthInput, results: ResultsInput,
                       backend: str | None = None,
                       protocol_name: str = OFFICIAL_PROTOCOL) -> EvaluationResult:
    """Evaluate detections on CrowdPose GT with the official protocol (or ``protocol_name``) and record how.

    Args:
        gt_json_path: path of a CrowdPose GT file (images with crowdIndex), or such a dict (e.g.
            ``CrowdPoseDataset.ground_truth()`` for a selection); it is copied, never modified.
        results: path of a results JSON file, or a list of ``{image_id, category_id, keypoints (42),
            score}`` dicts (other keys are ignored); never modified. Only the top 20 per image count.
        backend: one of :data:`BACKEND_NAMES`; None means :data:`DEFAULT_BACKEND`.
        protocol_name: one of :data:`PROTOCOLS`. "xtcocotools" runs the official-protocol backends on
            the transformed inputs of ``protocol_xtcocotools``. The xtcocotools backend always gives
            its own protocol (it warns where that differs from the official one), so it is recorded
            as "xtcocotools" whatever is asked.

    Returns:
        EvaluationResult with metrics AP, AP50, AP75, AR, AR50, AR75, AP_easy, AP_medium, AP_hard.

    Raises:
        BenchError: unknown or uninstalled backend, unreadable or malformed GT or detections.
    """
    check_protocol(protocol_name)
    module = backend_module(backend)
    backend_version = module.version()
    gt = load_ground_truth(gt_json_path)
    detections = load_detections(results, gt)
    report = describe_inputs(gt, detections)
    if module is backend_xtcocotools:
        protocol_name = protocol_xtcocotools.NAME
    elif protocol_name == protocol_xtcocotools.NAME:
        gt, detections = protocol_xtcocotools.as_official_inputs(gt, detections)
    logger.info("evaluating with %s %s (%s protocol): %s", module.NAME, backend_version, protocol_name,
                report.summary())
    start = time.perf_counter()
    output = io.StringIO()
    if len(detections):
        with redirect_stdout(output):
            metrics = module.run(gt, detections)
    else:
        metrics = protocol.metrics_without_detections(gt.data)
    return EvaluationResult(
        metrics={name: float(metrics[name]) for name in protocol.METRIC_NAMES}, backend=module.NAME,
        backend_version=backend_version, official=module.OFFICIAL and protocol_name == OFFICIAL_PROTOCOL,
        input_report=report, seconds=time.perf_counter() - start, protocol=protocol_name,
        backend_output=output.getvalue())


def evaluate(gt_json_path: GroundTruthInput, results: ResultsInput, backend: str | None = None,
             protocol_name: str = OFFICIAL_PROTOCOL) -> dict[str, float]:
    """The nine CrowdPose metrics as floats; see :func:`evaluate_with_info` for the arguments."""
    return evaluate_with_info(gt_json_path, results, backend, protocol_name).metrics


def image_matches(gt_json_path: GroundTruthInput, results: ResultsInput,
                  protocol_name: str = OFFICIAL_PROTOCOL) -> ImageMatches:
    """Every image's matches under ``protocol_name``, on the inputs :func:`evaluate_with_info` scores
    (for bootstrap intervals and per-image differences); BenchError for bad input."""
    check_protocol(protocol_name)
    gt = load_ground_truth(gt_json_path)
    detections = load_detections(results, gt)
    if protocol_name == protocol_xtcocotools.NAME:
        gt, detections = protocol_xtcocotools.as_official_inputs(gt, detections)
    return match_images(gt, detections)
