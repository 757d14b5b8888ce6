"""The reproduction suites as CI gates: outcomes per (row, metric) for given reports, and gate mode."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from helpers import SYNTHETIC, profile_record, reproduce_record

from bench.accuracy.expected import check_metrics, load_expected
from bench.reports.records import WeightsRecord
from bench.reports.schema import Evaluator, Row, Subset
from bench.reports.writing import new_report, write_report

REPO = Path(__file__).parents[1]
TABLE = load_expected()


PUBLISHED_WEIGHTS = WeightsRecord("checkpoint", sha256="1aa4a132" + "0" * 56, published=True,
                                  verification="prefix-verified (32 bits; full digest not pinned)")


def make_report(out: Path, status: str, offset: float = 0.0, fingerprint: str = "machine-a",
                weights: WeightsRecord = PUBLISHED_WEIGHTS, num_images: int = 8000) -> Path:
    """A reproduce report whose rows have the published metrics shifted by ``offset``."""
    rows = []
    for row in TABLE.rows:
        metrics = {name: value + offset for name, value in row.expected.items()}
        metrics.update(AR=0.7, AR50=0.9, AR75=0.75)
        checks = tuple(check_metrics(row.expected, row.tolerance, metrics))
        reason = {"reproduced": None, "failed": "; ".join(check.describe() for check in checks
                                                          if not check.passed)}.get(status, "no dataset")
        rows.append(Row(
            name=row.name, scales=row.scales, flip=row.flip, status=status, reason=reason,
            subset=Subset("crowdpose_test.json", num_images, num_images == 8000), metrics=metrics,
            expected=dict(row.expected), tolerance=dict(row.tolerance), checks=checks,
            evaluator=Evaluator("faster-coco-eval", "1.8.0", False), behaviour={}))
    report = new_report("reproduce", reproduce_record(weights=weights), command=["test"],
                        environment={"fingerprint_id": fingerprint}, rows=tuple(rows))
    stem = f"reproduce-{status}-{offset}-{fingerprint}-{weights.kind}-{num_images}"
    return write_report(report, out, stem=stem)["json"]


def run_pytest(junit: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "suites", "-q", "-p", "no:cacheprovider",
                           f"--junitxml={junit}", *options], cwd=REPO, capture_output=True, text=True,
                          timeout=300)


def run_suites(tmp_path: Path, *options: str) -> dict[str, str]:
    """Outcome ('passed', 'failed', 'skipped') per test id, and the failure messages."""
    junit = tmp_path / f"junit-{len(list(tmp_path.glob('junit-*')))}.xml"
    run_pytest(junit, *options)
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


def test_a_failed_row_fails_even_its_metrics_within_tolerance(tmp_path):
    outcomes = run_suites(tmp_path, f"--report={make_report(tmp_path, 'failed', 0.0)}")
    result, message = outcomes["test_published_metric[scales=[1], flip-AP]"]
    assert result == "failure" and "scales=[1], flip: failed" in message


def test_a_row_marked_reproduced_without_full_set_and_published_weights_fails(tmp_path):
    """A hand-edited or forged report: a 4-image synthetic row with in-tolerance metrics."""
    forged = make_report(tmp_path, "reproduced", 0.0, weights=SYNTHETIC, num_images=4)
    result, message = run_suites(tmp_path, f"--report={forged}")["test_published_metric[scales=[1], flip-AP]"]
    assert result == "failure"
    assert "does not show the full test set and the published checkpoint" in message


def test_a_matched_custom_table_row_is_not_a_reproduction(tmp_path):
    report = make_report(tmp_path, "matched", 0.0)
    assert {result for result, _ in run_suites(tmp_path, f"--report={report}").values()} == {"skipped"}
    gated = run_suites(tmp_path, f"--report={report}", "--gate")
    assert gated["test_published_metric[scales=[1], flip-AP]"][0] == "failure"


def test_a_profile_or_corrupt_report_stops_the_suites_with_one_message(tmp_path):
    profile = write_report(new_report("profile", profile_record(), command=["test"],
                                      environment={"fingerprint_id": "m"}), tmp_path, stem="profile")["json"]
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"schema_version": 2, "kind": "reproduce"')
    for path, message in ((profile, "is a profile report, not a reproduce report"),
                          (corrupt, "not valid JSON")):
        finished = run_pytest(tmp_path / "junit-x.xml", f"--report={path}")
        assert finished.returncode == 4, finished.stdout + finished.stderr
        output = finished.stdout + finished.stderr
        assert message in output and output.count(message) == 1 and "Traceback" not in output
