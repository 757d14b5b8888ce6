"""bench compare: cross-hardware tables, speed ratios and the sample-based speed-regression check.

Reports are built from samples drawn from seeded log-normal distributions (no timing here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import SAMPLES, write_profile

from bench import atomic
from bench.__main__ import main
from bench.errors import BenchError
from bench.reports.compare import CompareConfig, compare, write_comparison
from bench.reports.stats import END_TO_END

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_compare(*paths: Path, **options) -> object:
    return compare(CompareConfig(paths=tuple(paths), **options))


def test_regression_is_flagged_and_exits_nonzero(tmp_path, environment, capsys):
    write_profile(tmp_path, environment, "aaaa00000000", 1, {"forward": 100.0})
    write_profile(tmp_path, environment, "aaaa00000000", 2, {"forward": 125.0})
    comparison = run_compare(tmp_path)
    assert comparison.regressed
    (check,) = comparison.checks
    assert check.candidate.report.created.startswith("2025-01-02")
    forward = next(verdict for verdict in check.verdicts if verdict.stage == "forward")
    assert forward.verdict == "slower"
    assert forward.ratio == pytest.approx(1.25, rel=0.03)
    assert forward.ci_low < forward.ratio < forward.ci_high and forward.p_value < 0.05
    assert {verdict.stage for verdict in check.slower} == {"forward", END_TO_END}
    assert main(["compare", str(tmp_path), "--out", str(tmp_path / "out")]) == 1
    out = capsys.readouterr().out
    assert "SLOWER" in out and "worst forward x1.2" in out
    markdown = (tmp_path / "out" / "comparison.md").read_text()
    assert "SLOWER (forward, end_to_end)" in markdown
    assert f"forward: slower, median {forward.median_b:.4g} ms against {forward.median_a:.4g} ms" in markdown
    assert f"n={SAMPLES} against {SAMPLES}" in markdown


def test_small_slowdown_or_speedup_is_not_a_regression(tmp_path, environment):
    write_profile(tmp_path, environment, "aaaa00000000", 1, {"forward": 100.0})
    write_profile(tmp_path, environment, "aaaa00000000", 2, {"forward": 105.0})
    write_profile(tmp_path, environment, "bbbb00000000", 1, {"forward": 100.0})
    write_profile(tmp_path, environment, "bbbb00000000", 2, {"forward": 50.0})
    comparison = run_compare(tmp_path)
    assert len(comparison.checks) == 2
    assert not comparison.regressed
    verdicts = {check.reference.report.fingerprint_id: {v.stage: v.verdict for v in check.verdicts}
                for check in comparison.checks}
    assert verdicts == {"aaaa00000000": {"forward": "no change", END_TO_END: "no change"},
                        "bbbb00000000": {"forward": "faster", END_TO_END: "faster"}}
    assert main(["compare", str(tmp_path)]) == 0
    assert run_compare(tmp_path, threshold=0.01).regressed


def test_too_few_samples_are_never_gated(tmp_path, environment, capsys):
    write_profile(tmp_path, environment, "aaaa00000000", 1, {"forward": 100.0}, samples=3)
    write_profile(tmp_path, environment, "aaaa00000000", 2, {"forward": 300.0}, samples=3)
    (check,) = run_compare(tmp_path).checks
    assert {verdict.verdict for verdict in check.verdicts} == {"too few samples"}
    assert check.verdicts[0].p_value is None and check.verdicts[0].ratio == pytest.approx(3.0, rel=0.05)
    assert main(["compare", str(tmp_path)]) == 0
    assert "too few samples" in capsys.readouterr().out


def test_reports_without_samples_upgrade_and_count_as_too_few(tmp_path, environment):
    """Schema-2 reports hold summaries of their samples only."""
    for day, ms in ((1, 100.0), (2, 300.0)):
        path = write_profile(tmp_path, environment, "aaaa00000000", day, {"forward": ms}, samples=200)
        data = _json(path)
        for stats in data["timings"].values():
            del stats["samples_ms"]
        del data["config"]["min_time_s"]
        atomic.write_json(path, {**data, "schema_version": 2})
    (check,) = run_compare(tmp_path).checks
    assert {verdict.verdict for verdict in check.verdicts} == {"too few samples"}
    assert check.verdicts[0].n_a == 200 and check.verdicts[0].ratio == pytest.approx(3.0, rel=0.05)
    assert check.reference.report.timings["forward"].p99_ms is not None


def test_only_the_newest_report_is_checked_against_the_one_before(tmp_path, environment):
    for day, ms in ((1, 100.0), (2, 150.0), (3, 152.0)):
        write_profile(tmp_path, environment, "aaaa00000000", day, {"forward": ms})
    (check,) = run_compare(tmp_path).checks
    assert check.reference.report.created.startswith("2025-01-02")
    assert not check.regressed


def test_baseline_file_is_the_regression_reference(tmp_path, environment):
    first = write_profile(tmp_path, environment, "aaaa00000000", 1, {"forward": 100.0})
    for day, ms in ((2, 150.0), (3, 152.0)):
        write_profile(tmp_path, environment, "aaaa00000000", day, {"forward": ms})
    comparison = run_compare(tmp_path, baseline=str(first))
    (check,) = comparison.checks
    assert check.reference.path == first
    assert comparison.regressed


def test_mismatched_fingerprints_are_not_compared_for_regression(tmp_path, environment):
    write_profile(tmp_path, environment, "aaaa00000000", 1, {"forward": 100.0})
    write_profile(tmp_path, environment, "bbbb00000000", 2, {"forward": 300.0})
    comparison = run_compare(tmp_path)
    assert comparison.checks == ()
    assert not comparison.regressed
    assert len(comparison.not_checked) == 2
    assert all("different machines" in note for note in comparison.not_checked)


def test_another_device_on_the_same_machine_is_not_compared(tmp_path, environment):
    write_profile(tmp_path, environment, "aaaa00000000", 1, {"forward": 100.0}, device="cuda")
    write_profile(tmp_path, environment, "aaaa00000000", 2, {"forward": 300.0}, device="cpu")
    comparison = run_compare(tmp_path)
    assert comparison.checks == ()
    assert all("different machines or devices" in note for note in comparison.not_checked)


def test_speed_ratios_against_the_baseline_machine(tmp_path, environment):
    write_profile(tmp_path, environment, "aaaa00000000", 1, {"forward": 100.0})
    write_profile(tmp_path, environment, "bbbb00000000", 1, {"forward": 25.0})
    write_profile(tmp_path, environment, "cccc00000000", 1, {"forward": 10.0},
                  label="other-config")
    comparison = run_compare(tmp_path, baseline="bbbb")
    assert comparison.baseline_fingerprint == "bbbb00000000"
    ratios = dict(zip(comparison.ratios["fingerprint"], comparison.ratios["time ratio"], strict=True))
    assert ratios == pytest.approx({"aaaa00000000": 4.0, "bbbb00000000": 1.0})  # this / baseline time
    assert set(comparison.speed["fingerprint"]) == {"aaaa00000000", "bbbb00000000", "cccc00000000"}
    with pytest.raises(BenchError, match="fingerprint prefix"):
        run_compare(tmp_path, baseline="zzzz")


def test_missing_stages_are_listed(tmp_path, environment):
    write_profile(tmp_path, environment, "aaaa00000000", 1,
                  {"forward": 100.0, "refine": 5.0})
    write_profile(tmp_path, environment, "aaaa00000000", 2,
                  {"forward": 100.0, "match": 7.0})
    comparison = run_compare(tmp_path)
    (check,) = comparison.checks
    assert check.only_in_reference == ("refine",)
    assert check.only_in_candidate == ("match",)
    assert {verdict.stage for verdict in check.verdicts} == {"forward", END_TO_END}
    written = write_comparison(comparison, tmp_path / "out")
    markdown = written["md"].read_text()
    assert "Stages only in the reference (not compared): refine" in markdown
    assert "Stages only in the candidate (not compared): match" in markdown


def test_older_schema_and_non_report_files_are_named(tmp_path, environment):
    good = write_profile(tmp_path, environment, "aaaa00000000", 1, {"forward": 1.0})
    old = atomic.write_json(tmp_path / "old.json", {**_json(good), "schema_version": 0})
    atomic.write_json(tmp_path / "predictions.json", [{"image_id": 1, "score": 0.5}])
    comparison = run_compare(tmp_path)
    assert len(comparison.reports) == 1
    skipped = "\n".join(comparison.skipped)
    assert "old.json: schema version 0 is older" in skipped
    assert "predictions.json: not a bench report" in skipped
    with pytest.raises(BenchError, match="old.json: schema version 0"):
        run_compare(old)
    with pytest.raises(BenchError, match="no such report file or folder"):
        run_compare(tmp_path / "absent")
    assert main(["compare", str(old)]) == 2


def test_outputs_written_with_plot(tmp_path, environment):
    write_profile(tmp_path, environment, "aaaa00000000", 1, {"forward": 100.0})
    write_profile(tmp_path, environment, "bbbb00000000", 1, {"forward": 25.0})
    out = tmp_path / "comparison"
    assert main(["compare", str(tmp_path), "--out", str(out)]) == 0
    assert {path.name for path in out.iterdir()} >= {"comparison.md", "speed.csv", "ratios.csv", "stages.png"}
    write_profile(tmp_path, environment, "aaaa00000000", 2, {"forward": 100.0})
    assert main(["compare", str(tmp_path), "--out", str(out)]) == 0
    verdicts = (out / "verdicts.csv").read_text().splitlines()
    assert verdicts[0].startswith("stage,verdict,n_a,n_b,median_a,median_b,ratio,ci_low,ci_high,p_value,"
                                  "block_a,block_b")
    text = (out / "comparison.md").read_text()
    assert "stationary block bootstrap" in text and "samples of one run are not independent" in text
    assert "| p_value | block_a | block_b |" in text
    data = (out / "stages.png").read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 1000
    assert "forward p50 ms" in (out / "speed.csv").read_text()


@pytest.mark.parametrize("threshold", [-0.1, 1.0, float("nan")])
def test_threshold_outside_zero_to_one_is_rejected(tmp_path, environment, threshold):
    write_profile(tmp_path, environment, "aaaa00000000", 1, {"forward": 1.0})
    with pytest.raises(BenchError, match="--threshold"):
        run_compare(tmp_path, threshold=threshold)


def _json(path: Path) -> dict:
    return json.loads(path.read_text())
