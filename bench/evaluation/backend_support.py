"""What the backend modules share: importing an optional evaluator, its version, temporary input files.

Each ``backend_*`` module defines ``NAME``, ``OFFICIAL`` (True only for the official CrowdPose API),
``version() -> str`` and ``run(gt, detections) -> dict`` of the nine metrics.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.errors import BenchError
from bench.evaluation.inputs import Detections, GroundTruth


def import_evaluator(module: str, backend: str, install_hint: str) -> ModuleType:
    """Import ``module`` or raise a BenchError saying how to install the ``backend`` evaluator.

    A ValueError counts as a failed import too: that is how a compiled extension built against
    another numpy major version fails ("numpy.dtype size changed").
    """
    try:
        return importlib.import_module(module)
    except (ImportError, ValueError) as error:
        raise BenchError(f"evaluation backend {backend!r} is not available ({error}). "
                         f"{install_hint}") from None


def distribution_version(distribution: str) -> str:
    """The installed version of a pip distribution, or "unknown" when it has no metadata."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _plain(value: Any) -> Any:
    """JSON fallback for numpy values a GT dict built in code may hold (np.int64 ids, array keypoints)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


@contextmanager
def temporary_input_files(gt: GroundTruth, detections: Detections) -> Iterator[tuple[Path, Path]]:
    """Write the GT and the detections as JSON files for path-only evaluators; removed on exit, always."""
    with tempfile.TemporaryDirectory(prefix="bench-evaluation-") as folder:
        gt_path, results_path = Path(folder) / "ground_truth.json", Path(folder) / "results.json"
        gt_path.write_text(json.dumps(gt.data, default=_plain), encoding="utf-8")
        results_path.write_text(json.dumps(detections.records()), encoding="utf-8")
        yield gt_path, results_path
