"""The published metrics as data (``[expected]`` in ``bench/published.toml``) and the checks of measured
metrics against them."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.checkpoint.registry import PUBLISHED_DATA, RegistryEntry, parse_entries
from bench.errors import BenchError
from bench.evaluation import METRIC_NAMES
from bench.reading import read_toml, sha256_of
from bench.reports.rows import Check

DEFAULT_EXPECTED = PUBLISHED_DATA
REGRESSION_TOLERANCE = 1e-4


@dataclass(frozen=True)
class ExpectedRow:
    """One published row: a test configuration and the metrics it should give."""

    name: str
    scales: tuple[float, ...]
    flip: bool
    source: str
    expected: Mapping[str, float]
    tolerance: Mapping[str, float]


@dataclass(frozen=True)
class ExpectedTable:
    """The published rows, the checkpoint they belong to and the data set they need (whole).

    ``sha256`` is the file's digest; ``bundled`` is True only for the table shipped in the package,
    the only one whose rows can be *reproduced* (a custom table's rows can only *match* it).
    ``annotations_sha256`` and ``images_digest`` pin the test set (None: not pinned yet).
    """

    checkpoint: RegistryEntry
    dataset_name: str
    dataset_num_images: int
    tolerance_reason: str
    rows: tuple[ExpectedRow, ...]
    path: str
    sha256: str = ""
    bundled: bool = False
    annotations_sha256: str | None = None
    images_digest: str | None = None


def load_expected(path: str | Path = DEFAULT_EXPECTED) -> ExpectedTable:
    """Read and validate an expected-metrics table: the ``[expected]`` section of a data file laid out
    as ``bench/published.toml``, whose ``checkpoint`` names one of the file's ``[checkpoints]``."""
    path = Path(path)
    data = read_toml(path, "expected-metrics table")
    checkpoints = parse_entries(data, path)
    try:
        table = data["expected"]
        checkpoint = table["checkpoint"]
        if checkpoint not in checkpoints:
            raise ValueError(f"checkpoint {checkpoint!r} is not one of the file's [checkpoints] entries")
        default = float(table["tolerance"])
        per_metric = dict(table.get("tolerance_per_metric", {}))
        return ExpectedTable(
            checkpoint=checkpoints[checkpoint],
            dataset_name=str(table["dataset"]),
            dataset_num_images=int(table["num_images"]),
            tolerance_reason=str(table["tolerance_reason"]),
            rows=tuple(_parse_row(row, default, per_metric) for row in table["rows"]),
            path=str(path),
            sha256=sha256_of(path, "expected-metrics table"),
            bundled=path.resolve() == Path(DEFAULT_EXPECTED).resolve(),
            annotations_sha256=str(table.get("annotations_sha256", "")) or None,
            images_digest=str(table.get("images_digest", "")) or None,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise BenchError(f"{path}: malformed expected-metrics table ({error!r})") from error


def _parse_row(row: Mapping[str, Any], default: float, per_metric: Mapping[str, float]) -> ExpectedRow:
    expected = {name: float(value) for name, value in row["metrics"].items()}
    unknown = sorted(set(expected) - set(METRIC_NAMES))
    if unknown:
        raise ValueError(f"row {row['name']!r}: unknown metrics {unknown}")
    return ExpectedRow(
        name=str(row["name"]),
        scales=tuple(float(s) for s in row["scales"]),
        flip=bool(row["flip"]),
        source=str(row["source"]),
        expected=expected,
        tolerance={name: float(per_metric.get(name, default)) for name in expected},
    )


def check_metrics(
    expected: Mapping[str, float], tolerance: Mapping[str, float] | float, actual: Mapping[str, float]
) -> list[Check]:
    """Compare each expected metric with the measured one (absolute tolerance, per metric or shared)."""
    checks = []
    for metric, want in expected.items():
        tol = tolerance if isinstance(tolerance, float | int) else tolerance[metric]
        got = actual.get(metric)
        finite = got is not None and math.isfinite(got)
        passed = finite and abs(got - want) <= tol + 1e-12
        checks.append(Check(metric, float(want), None if got is None else float(got), float(tol), passed))
    return checks
