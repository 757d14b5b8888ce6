"""Published metrics as data (suites/expected.toml) and the checks of measured metrics against them."""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError

DEFAULT_EXPECTED = Path(__file__).resolve().parents[1] / "suites" / "expected.toml"
METRIC_NAMES = ("AP", "AP50", "AP75", "AR", "AR50", "AR75", "AP_easy", "AP_medium", "AP_hard")
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
    checkpoint_name: str
    checkpoint_url: str
    dataset_name: str
    dataset_num_images: int
    tolerance_reason: str
    rows: tuple[ExpectedRow, ...]
    path: str


@dataclass(frozen=True)
class Check:
    """One metric compared with its expected value; `passed` is False for a missing or non-finite value."""

    metric: str
    expected: float
    actual: float | None
    tolerance: float
    passed: bool

    def describe(self) -> str:
        actual = "missing" if self.actual is None else f"{self.actual:.4f}"
        verdict = "ok" if self.passed else "MISMATCH"
        expected = f"expected {self.expected:.4f} +/- {self.tolerance:g}"
        return f"{self.metric}: actual {actual}, {expected} ({verdict})"


def load_expected(path: str | Path = DEFAULT_EXPECTED) -> ExpectedTable:
    """Read and validate the expected-metrics table."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise BenchError(f"expected-metrics table not found: {path}") from error
    except tomllib.TOMLDecodeError as error:
        raise BenchError(f"{path}: not valid TOML: {error}") from error
    try:
        tolerance_table = dict(data["tolerance"])
        default = float(tolerance_table.pop("default"))
        reason = str(tolerance_table.pop("reason"))
        rows = tuple(_parse_row(row, default, tolerance_table) for row in data["rows"])
        return ExpectedTable(
            checkpoint_name=data["checkpoint"]["name"],
            checkpoint_url=data["checkpoint"]["url"],
            dataset_name=str(data["dataset"]["name"]),
            dataset_num_images=int(data["dataset"]["num_images"]),
            tolerance_reason=reason,
            rows=rows,
            path=str(path),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise BenchError(f"{path}: malformed expected-metrics table ({error!r})") from error


def _parse_row(row: Mapping, default: float, per_metric: Mapping[str, float]) -> ExpectedRow:
    expected = {name: float(value) for name, value in row["expected"].items()}
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


def find_row(table: ExpectedTable, scales: tuple[float, ...], flip: bool) -> ExpectedRow | None:
    """The published row for a test configuration, if there is one."""
    for row in table.rows:
        if row.scales == tuple(float(s) for s in scales) and row.flip == flip:
            return row
    return None
