"""Regression gates: the published CrowdPose rows, one test per (row, metric).

A failure names the metric, its measured value, the expected value and the tolerance. A row that
failed fails every test with its reason. A row that could not run or was not compared (no checkpoint,
no dataset, a subset, a custom table) is skipped with its reason, or fails under --gate. A row marked
reproduced must say it ran on the full test set with the published checkpoint.
"""

from __future__ import annotations

import pytest

from bench.accuracy.expected import REGRESSION_TOLERANCE, check_metrics, load_expected
from bench.evaluation import METRIC_NAMES

TABLE = load_expected()
PUBLISHED = [
    pytest.param(row, metric, id=f"{row.name}-{metric}") for row in TABLE.rows for metric in row.expected
]
ALL_METRICS = [
    pytest.param(row, metric, id=f"{row.name}-{metric}") for row in TABLE.rows for metric in METRIC_NAMES
]


def _report_row(report: dict, row_name: str, gate: bool) -> dict:
    for entry in report["rows"]:
        if entry["name"] == row_name:
            if entry["status"] == "failed":
                pytest.fail(f"{row_name}: failed: {entry.get('reason') or 'no reason given'}")
            if entry["status"] == "reproduced":
                unproven = [claim for claim, holds in (
                    ("the full test set", entry["subset"]["full"]),
                    ("the published checkpoint", report["config"]["weights"].get("published") is True))
                    if not holds]
                if unproven:
                    pytest.fail(f"{row_name}: marked reproduced, but the report does not show "
                                f"{' and '.join(unproven)}")
            else:
                message = f"{row_name}: {entry['status']}: {entry.get('reason') or 'no reason given'}"
                message += "".join(f"\n  {problem}" for problem in report.get("errors", []))
                if gate:
                    pytest.fail(f"gate mode, row was not reproduced: {message}")
                pytest.skip(message)
            return entry
    message = f"{row_name}: not in the report (rows: {[entry['name'] for entry in report['rows']]})"
    if gate:
        pytest.fail(message)
    pytest.skip(message)


@pytest.mark.full_dataset
@pytest.mark.parametrize(("row", "metric"), PUBLISHED)
def test_published_metric(report, gate, row, metric):
    measured = _report_row(report, row.name, gate)["metrics"]
    (check,) = check_metrics({metric: row.expected[metric]}, row.tolerance, measured)
    assert check.passed, f"{row.name}: {check.describe()} (source: {row.source}; {TABLE.tolerance_reason})"


@pytest.mark.full_dataset
@pytest.mark.parametrize(("row", "metric"), ALL_METRICS)
def test_matches_baseline_report(report, baseline_report, gate, row, metric):
    if baseline_report is None:
        pytest.skip("no --baseline-report given")
    ours = report["environment"].get("fingerprint_id")
    theirs = baseline_report["environment"].get("fingerprint_id")
    if ours != theirs:
        message = f"baseline was measured in another environment (fingerprint {theirs}, ours {ours})"
        if gate:
            pytest.fail(f"gate mode: {message}")
        pytest.skip(message)
    measured = _report_row(report, row.name, gate)["metrics"]
    previous = _report_row(baseline_report, row.name, gate)["metrics"]
    (check,) = check_metrics({metric: previous[metric]}, REGRESSION_TOLERANCE, measured)
    assert check.passed, f"{row.name}: regression against the baseline report: {check.describe()}"
