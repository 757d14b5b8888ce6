"""The reproduction suites as CI gates, run in this process (pytester): outcomes per (row, metric) for
given reports, a report judged again from its contents, gate mode, and the baseline regression gate."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from helpers import SYNTHETIC, profile_record, reproduce_record

from bench.accuracy.expected import load_expected
from bench.accuracy.judge import verdict
from bench.reports.environment import Environment
from bench.reports.records import WeightsRecord
from bench.reports.rows import Evaluator, Row, RowBehaviour, RowResult, Subset
from bench.reports.writing import new_report, write_report
from reference.pipeline import pipeline_config

SUITES = Path(__file__).parents[1] / "suites"
TABLE = load_expected()
PUBLISHED_WEIGHTS = WeightsRecord("checkpoint", sha256="1aa4a132" + "0" * 56, published=True,
                                  verification="prefix-verified (32 bits; full digest not pinned)")


def make_report(out: Path, offset: float = 0.0, fingerprint: str = "machine-a",
                weights: WeightsRecord = PUBLISHED_WEIGHTS, num_images: int = 8000, claim: str | None = None,
                table_sha256: str = TABLE.sha256) -> Path:
    """A reproduce report whose rows have the published metrics shifted by ``offset``, judged by the
    verdict function, or claiming the status ``claim`` whatever its contents say (a forged report)."""
    rows = []
    for row in TABLE.rows:
        metrics = {**{name: value + offset for name, value in row.expected.items()}, "AR": 0.7, "AR50": 0.9,
                   "AR75": 0.75}
        config = pipeline_config(row.scales, row.flip).to_dict()
        result = RowResult(
            row.name, "published", row.scales, row.flip,
            Subset("crowdpose_test.json", num_images, num_images == 8000), published_row=row.name,
            metrics=metrics, evaluator=Evaluator("crowdpose", "bench.evaluation", "x"),
            behaviour=RowBehaviour(config, config, weights, "results.json", "c" * 64))
        judged = verdict(result, TABLE)
        rows.append(Row(result, judged if claim is None else dataclasses.replace(judged, status=claim)))
    record = reproduce_record(weights=weights, expected_table=TABLE.path, expected_table_sha256=table_sha256)
    report = new_report("reproduce", record, command=["test"], environment=Environment(fingerprint),
                        rows=tuple(rows))
    stem = f"reproduce-{offset}-{fingerprint}-{weights.kind}-{num_images}-{claim}-{table_sha256[:4]}"
    return write_report(report, out, stem=stem)["json"]


def run_suites(pytester: pytest.Pytester, tmp_path: Path, *options: str) -> dict[str, tuple[str, str]]:
    """Outcome ('passed', 'failure', 'skipped') and message per test id."""
    junit = tmp_path / f"junit-{len(list(tmp_path.glob('junit-*')))}.xml"
    pytester.runpytest_inprocess(str(SUITES), "-p", "no:cacheprovider", f"--junitxml={junit}", *options)
    outcomes = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        kind = next((child for child in case if child.tag in ("failure", "skipped", "error")), None)
        outcomes[case.get("name")] = ("passed", "") if kind is None else (kind.tag, kind.get("message", ""))
    return outcomes


def test_a_reproduced_report_passes_every_published_metric(pytester, tmp_path):
    outcomes = run_suites(pytester, tmp_path, f"--report={make_report(tmp_path, 0.002)}")
    published = {name: result for name, result in outcomes.items() if name.startswith("test_published")}
    assert len(published) == 12 and all(result == "passed" for result, _ in published.values())
    assert all(result == "skipped" for name, (result, _) in outcomes.items() if "baseline" in name)


def test_a_mismatch_fails_and_names_metric_value_and_tolerance(pytester, tmp_path):
    outcomes = run_suites(pytester, tmp_path, f"--report={make_report(tmp_path, 0.004)}")
    result, message = outcomes["test_published_metric[scales=[1], flip-AP]"]
    assert result == "failure"
    assert "scales=[1], flip: failed: AP: actual 0.6590, expected 0.6550 +/- 0.003" in message


def test_rows_not_compared_skip_or_fail_under_gate(pytester, tmp_path):
    report = make_report(tmp_path, weights=SYNTHETIC)
    outcomes = run_suites(pytester, tmp_path, f"--report={report}")
    assert {result for result, _ in outcomes.values()} == {"skipped"}
    gated = run_suites(pytester, tmp_path, f"--report={report}", "--gate")
    result, message = gated["test_published_metric[scales=[2, 1], flip-AP_hard]"]
    assert result == "failure" and "gate mode, row was not reproduced" in message


def test_a_report_claiming_more_than_its_contents_show_fails(pytester, tmp_path):
    """A hand-edited or forged report: a 4-image synthetic row marked reproduced, in tolerance."""
    forged = make_report(tmp_path, weights=SYNTHETIC, num_images=4, claim="reproduced")
    outcomes = run_suites(pytester, tmp_path, f"--report={forged}")
    result, message = outcomes["test_published_metric[scales=[1], flip-AP]"]
    assert result == "failure"
    assert "the report says 'reproduced', but its contents give 'skipped'" in message


def test_a_report_judged_against_another_table_is_not_a_reproduction(pytester, tmp_path):
    report = make_report(tmp_path, table_sha256="d" * 64)
    outcomes = run_suites(pytester, tmp_path, f"--report={report}")
    assert {result for result, _ in outcomes.values()} == {"skipped"}
    result, message = run_suites(pytester, tmp_path, f"--report={report}", "--gate")[
        "test_published_metric[scales=[1], flip-AP]"]
    assert result == "failure" and "not the package's table" in message


def test_baseline_mode_catches_a_1e4_regression_on_the_same_machine(pytester, tmp_path):
    baseline = make_report(tmp_path, 0.0)
    drifted = make_report(tmp_path, 0.0002)
    outcomes = run_suites(pytester, tmp_path, f"--report={drifted}", f"--baseline-report={baseline}")
    assert outcomes["test_matches_baseline_report[scales=[1], flip-AP]"][0] == "failure"
    assert outcomes["test_matches_baseline_report[scales=[1], flip-AR]"][0] == "passed"
    elsewhere = make_report(tmp_path, 0.0, fingerprint="machine-b")
    other = run_suites(pytester, tmp_path, f"--report={drifted}", f"--baseline-report={elsewhere}")
    assert other["test_matches_baseline_report[scales=[1], flip-AP]"][0] == "skipped"
    gated = run_suites(pytester, tmp_path, f"--report={drifted}", f"--baseline-report={elsewhere}", "--gate")
    assert gated["test_matches_baseline_report[scales=[1], flip-AP]"][0] == "failure"


def test_a_profile_or_corrupt_report_stops_the_suites_with_one_message(pytester, tmp_path):
    profile = write_report(new_report("profile", profile_record(), command=["test"],
                                      environment=Environment("m")), tmp_path, stem="profile")["json"]
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"schema_version": 2, "kind": "reproduce"')
    for path, message in ((profile, "is a profile report, not a reproduce report"),
                          (corrupt, "not valid JSON")):
        finished = pytester.runpytest_inprocess(str(SUITES), "-p", "no:cacheprovider", f"--report={path}")
        assert finished.ret == pytest.ExitCode.USAGE_ERROR, finished.outlines
        output = "\n".join(finished.outlines + finished.errlines)
        assert message in output and output.count(message) == 1 and "Traceback" not in output


def test_what_is_missing_is_said_once_after_the_skipped_rows(pytester, tmp_path):
    report = make_report(tmp_path, weights=SYNTHETIC)
    data = json.loads(report.read_text())
    report.write_text(json.dumps({**data, "errors": ["checkpoint: not found; pass --checkpoint PATH"]}))
    result = pytester.runpytest_inprocess(str(SUITES), "-p", "no:cacheprovider", "-rs", f"--report={report}")
    output = result.stdout.str()
    assert output.count("checkpoint: not found; pass --checkpoint PATH") == 1
    assert "what the report says is missing" in output
