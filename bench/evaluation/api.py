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
)
from bench.evaluation.inputs import (
    GroundTruthInput,
    InputReport,
    ResultsInput,
    describe_inputs,
    load_detections,
    load_ground_truth,
)

logger = logging.getLogger(__name__)

BACKENDS: dict[str, ModuleType] = {module.NAME: module for module in (
    backend_faster, backend_faster_stock, backend_pycocotools, backend_xtcocotools, backend_crowdposetools)}
BACKEND_NAMES = tuple(BACKENDS)
DEFAULT_BACKEND = backend_faster.NAME


@dataclass(frozen=True)
class EvaluationResult:
    """The nine metrics and what produced them.

    ``official`` is True only for crowdposetools, the official CrowdPose API; the other backends give
    the same protocol (bit-identical on the tested cases, except xtcocotools' documented differences).
    ``backend_output`` is what the backend printed (captured, not shown).
    """

    metrics: dict[str, float]
    backend: str
    backend_version: str
    official: bool
    input_report: InputReport
    seconds: float
    backend_output: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record: metrics, backend, version, official flag, input report, seconds."""
        return {"metrics": dict(self.metrics), "backend": self.backend,
                "backend_version": self.backend_version, "official": self.official,
                "input_report": self.input_report.to_dict(), "seconds": self.seconds}


def backend_module(name: str | None) -> ModuleType:
    """The backend module for ``name`` (None: the default); BenchError for an unknown name."""
    name = DEFAULT_BACKEND if name is None else name
    if name not in BACKENDS:
        raise BenchError(f"unknown evaluation backend {name!r}; choose one of {', '.join(BACKEND_NAMES)}")
    return BACKENDS[name]


def evaluate_with_info(gt_json_path: GroundTruthInput, results: ResultsInput,
                       backend: str | None = None) -> EvaluationResult:
    """Evaluate detections on CrowdPose GT with the official protocol and record how.

    Args:
        gt_json_path: path of a CrowdPose GT file (images with crowdIndex), or such a dict (e.g.
            ``CrowdPoseDataset.ground_truth()`` for a selection); it is copied, never modified.
        results: path of a results JSON file, or a list of ``{image_id, category_id, keypoints (42),
            score}`` dicts (other keys are ignored); never modified. Only the top 20 per image count.
        backend: one of :data:`BACKEND_NAMES`; None means :data:`DEFAULT_BACKEND`.

    Returns:
        EvaluationResult with metrics AP, AP50, AP75, AR, AR50, AR75, AP_easy, AP_medium, AP_hard.

    Raises:
        BenchError: unknown or uninstalled backend, unreadable or malformed GT or detections.
    """
    module = backend_module(backend)
    backend_version = module.version()
    gt = load_ground_truth(gt_json_path)
    detections = load_detections(results, gt)
    report = describe_inputs(gt, detections)
    logger.info("evaluating with %s %s: %s", module.NAME, backend_version, report.summary())
    start = time.perf_counter()
    output = io.StringIO()
    if len(detections):
        with redirect_stdout(output):
            metrics = module.run(gt, detections)
    else:
        metrics = protocol.metrics_without_detections(gt.data)
    return EvaluationResult(
        metrics={name: float(metrics[name]) for name in protocol.METRIC_NAMES}, backend=module.NAME,
        backend_version=backend_version, official=module.OFFICIAL, input_report=report,
        seconds=time.perf_counter() - start, backend_output=output.getvalue())


def evaluate(gt_json_path: GroundTruthInput, results: ResultsInput,
             backend: str | None = None) -> dict[str, float]:
    """The nine CrowdPose metrics as floats; see :func:`evaluate_with_info` for the arguments."""
    return evaluate_with_info(gt_json_path, results, backend).metrics
