"""Regression gates: the published CrowdPose rows, one test per (row, metric).

Each row of the report is judged again from its own contents against the package's table
(``bench.accuracy.judge.verdict``, the function ``bench reproduce`` judged it with): a report whose
status claims more than its contents show fails. A failure names the metric, its measured value, the
expected value and the tolerance; a row that failed fails every test with its reason. A row that could
not run or was not compared (no checkpoint, no dataset, a subset, another table) is skipped with its
reason, or fails under --gate.
"""

from __future__ import annotations

import pytest

from bench.accuracy.expected import REGRESSION_TOLERANCE, check_metrics, load_expected
from bench.accuracy.judge import verdict
from bench.evaluation import METRIC_NAMES

TABLE = load_expected()
PUBLISHED = [
    pytest.param(row, metric, id=f"{row.name}-{metric}") for row in TABLE.rows for metric in row.expected
]
ALL_METRICS = [
    pytest.param(row, metric, id=f"{row.name}-{metric}") for row in TABLE.rows for metric in METRIC_NAMES
]


def _not_compared(message: str, gate: bool):
    if gate:
        pytest.fail(f"gate mode, row was not reproduced: {message}")
    pytest.skip(message)


def _reproduced_metrics(report, row_name: str, gate: bool) -> dict[str, float]:
    """The metrics of the report's published row ``row_name``, once its verdict, judged again from its
    contents, says it reproduced; otherwise the test fails or skips with the reason."""
    judged_against = report.config.expected_table_sha256
    if judged_against is not None and judged_against != TABLE.sha256:
        _not_compared(f"the report was judged against {report.config.expected_table} (sha256 "
                      f"{judged_against[:12]}...), not the package's table {TABLE.path}", gate)
    row = next((row for row in report.rows if row.result.name == row_name and row.result.role == "published"),
               None)
    if row is None:
        names = [row.result.name for row in report.rows]
        _not_compared(f"{row_name}: not in the report (rows: {names})", gate)
    judged = verdict(row.result, TABLE)
    if judged.status != row.verdict.status:
        pytest.fail(f"{row_name}: the report says {row.verdict.status!r}, but its contents give "
                    f"{judged.status!r}: {judged.reason}")
    if judged.status == "failed":
        pytest.fail(f"{row_name}: failed: {judged.reason}")
    if judged.status != "reproduced":
        _not_compared(f"{row_name}: {judged.status}: {judged.reason}", gate)
    return row.result.metrics


@pytest.mark.full_dataset
@pytest.mark.parametrize(("row", "metric"), PUBLISHED)
def test_published_metric(report, gate, row, metric):
    measured = _reproduced_metrics(report, row.name, gate)
    (check,) = check_metrics({metric: row.expected[metric]}, row.tolerance, measured)
    assert check.passed, f"{row.name}: {check.describe()} (source: {row.source}; {TABLE.tolerance_reason})"


@pytest.mark.full_dataset
@pytest.mark.parametrize(("row", "metric"), ALL_METRICS)
def test_matches_baseline_report(report, baseline_report, gate, row, metric):
    if baseline_report is None:
        pytest.skip("no --baseline-report given")
    ours, theirs = report.fingerprint_id, baseline_report.fingerprint_id
    if ours != theirs:
        message = f"baseline was measured in another environment (fingerprint {theirs}, ours {ours})"
        if gate:
            pytest.fail(f"gate mode: {message}")
        pytest.skip(message)
    measured = _reproduced_metrics(report, row.name, gate)
    previous = _reproduced_metrics(baseline_report, row.name, gate)
    (check,) = check_metrics({metric: previous[metric]}, REGRESSION_TOLERANCE, measured)
    assert check.passed, f"{row.name}: regression against the baseline report: {check.describe()}"
