"""The reproduction suites as CI gates: outcomes per (row, metric) for given reports, and gate mode."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from helpers import reproduce_record

from bench.accuracy.expected import check_metrics, load_expected
from bench.reports.schema import Evaluator, Row, Subset
from bench.reports.writing import new_report, write_report

REPO = Path(__file__).parents[1]
TABLE = load_expected()


def make_report(out: Path, status: str, offset: float = 0.0, fingerprint: str = "machine-a") -> Path:
    """A reproduce report whose rows have the published metrics shifted by ``offset``."""
    rows = []
    for row in TABLE.rows:
        metrics = {name: value + offset for name, value in row.expected.items()}
        metrics.update(AR=0.7, AR50=0.9, AR75=0.75)
        rows.append(Row(
            name=row.name, scales=row.scales, flip=row.flip, status=status,
            reason=None if status in ("reproduced", "failed") else "no dataset",
            subset=Subset("crowdpose_test.json", 8000, True), metrics=metrics,
            expected=dict(row.expected), tolerance=dict(row.tolerance),
            checks=tuple(check_metrics(row.expected, row.tolerance, metrics)),
            evaluator=Evaluator("faster-coco-eval", "1.8.0", False), behaviour={}))
    report = new_report("reproduce", reproduce_record(), command=["test"],
                        environment={"fingerprint_id": fingerprint}, rows=tuple(rows))
    return write_report(report, out, stem=f"reproduce-{status}-{offset}-{fingerprint}")["json"]


def run_suites(tmp_path: Path, *options: str) -> dict[str, str]:
    """Outcome ('passed', 'failed', 'skipped') per test id, and the failure messages."""
    junit = tmp_path / f"junit-{len(list(tmp_path.glob('junit-*')))}.xml"
    subprocess.run([sys.executable, "-m", "pytest", "suites", "-q", "-p", "no:cacheprovider",
                    f"--junitxml={junit}", *options], cwd=REPO, capture_output=True, timeout=300)
    outcomes = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        kind = next((child for child in case if child.tag in ("failure", "skipped", "error")), None)
        outcomes[case.get("name")] = ("passed", "") if kind is None else (kind.tag, kind.get("message", ""))
    return outcomes


def test_matching_report_passes_every_published_metric(tmp_path):
    outcomes = run_suites(tmp_path, f"--report={make_report(tmp_path, 'reproduced', 0.002)}")
    published = {name: result for name, result in outcomes.items() if name.startswith("test_published")}
    assert len(published) == 12 and all(result == "passed" for result, _ in published.values())
    assert all(result == "skipped" for name, (result, _) in outcomes.items() if "baseline" in name)


def test_a_mismatch_fails_and_names_metric_value_and_tolerance(tmp_path):
    outcomes = run_suites(tmp_path, f"--report={make_report(tmp_path, 'failed', 0.004)}")
    result, message = outcomes["test_published_metric[scales=[1], flip-AP]"]
    assert result == "failure"
    assert "AP: actual 0.6590, expected 0.6550 +/- 0.003" in message


def test_skipped_rows_skip_or_fail_under_gate(tmp_path):
    report = make_report(tmp_path, "skipped")
    assert {result for result, _ in run_suites(tmp_path, f"--report={report}").values()} == {"skipped"}
    gated = run_suites(tmp_path, f"--report={report}", "--gate")
    assert gated["test_published_metric[scales=[2, 1], flip-AP_hard]"][0] == "failure"


def test_baseline_mode_catches_a_1e4_regression_on_the_same_machine(tmp_path):
    baseline = make_report(tmp_path, "reproduced", 0.0)
    drifted = make_report(tmp_path, "reproduced", 0.0002)
    outcomes = run_suites(tmp_path, f"--report={drifted}", f"--baseline-report={baseline}")
    assert outcomes["test_matches_baseline_report[scales=[1], flip-AP]"][0] == "failure"
    assert outcomes["test_matches_baseline_report[scales=[1], flip-AR]"][0] == "passed"
    elsewhere = make_report(tmp_path, "reproduced", 0.0, fingerprint="machine-b")
    other = run_suites(tmp_path, f"--report={drifted}", f"--baseline-report={elsewhere}")
    assert other["test_matches_baseline_report[scales=[1], flip-AP]"][0] == "skipped"
    gated = run_suites(tmp_path, f"--report={drifted}", f"--baseline-report={elsewhere}", "--gate")
    assert gated["test_matches_baseline_report[scales=[1], flip-AP]"][0] == "failure"
