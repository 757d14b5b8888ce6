"""bench compare against hostile or broken report files: duplicates, non-finite samples, bad
timestamps, markup in report strings, wrong types and deep nesting.

Reports are built from seeded samples as in ``test_compare.py`` (no timing here)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from helpers import write_profile
from test_report import reproduce_row

from bench.__main__ import main
from bench.errors import BenchError
from bench.reports.compare import CompareConfig, compare, comparison_page
from bench.reports.schema import Report
from bench.reports.stats import StageStats
from bench.reports.typed import to_data

SCRIPT = "<script>alert(1)</script>"
IMAGE = "<img src=x onerror=alert(1)>"


def run_compare(*paths: Path, **options) -> object:
    return compare(CompareConfig(paths=tuple(paths), **options))


def slowdown(folder: Path, environment) -> tuple[Path, Path]:
    """A reference report and a 3x slower candidate a day later, same machine and workload."""
    return (write_profile(folder, environment, "aaaa00000000", 1, {"forward": 100.0}),
            write_profile(folder, environment, "aaaa00000000", 2, {"forward": 300.0}))


def edit(path: Path, change) -> Path:
    """Rewrite the report JSON at ``path`` with ``change(data)`` applied (non-finite numbers allowed)."""
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


# 1. duplicates


@pytest.mark.parametrize("duplicate", ["copy", "symlink"])
def test_a_copy_or_link_of_the_newest_report_is_compared_once(tmp_path, environment, duplicate, capsys):
    _, newest = slowdown(tmp_path, environment)
    (tmp_path / "sub").mkdir()
    twin = tmp_path / "sub" / newest.name
    shutil.copy(newest, twin) if duplicate == "copy" else twin.symlink_to(newest)
    comparison = run_compare(tmp_path)
    (check,) = comparison.checks
    assert check.regressed and check.candidate.path != check.reference.path
    assert [item.report.digest for item in comparison.reports].count(check.candidate.report.digest) == 1
    assert any(f"{twin}: a duplicate of {newest}" in note for note in comparison.skipped)
    assert main(["compare", str(tmp_path)]) == 1
    assert f"{twin}: a duplicate of {newest}" in capsys.readouterr().err


def test_one_file_given_twice_is_compared_once(tmp_path, environment):
    older, newest = slowdown(tmp_path, environment)
    comparison = run_compare(older, newest, newest)
    assert comparison.regressed and len(comparison.reports) == 2
    assert any("a duplicate of" in note for note in comparison.skipped)


def test_the_baseline_file_found_again_in_the_folder_is_compared_once(tmp_path, environment):
    folder = tmp_path / "reports"
    older, _ = slowdown(folder, environment)
    baseline = shutil.copy(older, tmp_path / "baseline.json")
    comparison = run_compare(folder, baseline=str(baseline))
    (check,) = comparison.checks
    assert check.reference.path == baseline and check.regressed
    assert len(comparison.reports) == 2
    assert any(f"{older}: a duplicate of {baseline}" in note for note in comparison.skipped)


# 2. non-finite or negative durations


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0])
def test_a_non_finite_or_negative_sample_makes_the_report_invalid(tmp_path, environment, value, capsys):
    _, newest = slowdown(tmp_path, environment)
    edit(newest, lambda data: data["timings"]["forward"]["samples_ms"].__setitem__(5, value))
    comparison = run_compare(tmp_path)
    assert newest not in {item.path for item in comparison.reports}
    (message,) = comparison.skipped
    assert str(newest) in message and "timings.forward" in message and "samples_ms[5]" in message
    assert main(["compare", str(tmp_path)]) == 0
    assert f"warning: {newest}" in capsys.readouterr().err


def test_a_non_finite_summary_makes_the_report_invalid(tmp_path, environment):
    _, newest = slowdown(tmp_path, environment)
    edit(newest, lambda data: data["timings"]["end_to_end"].__setitem__("p50_ms", float("nan")))
    (message,) = run_compare(tmp_path).skipped
    assert "timings.end_to_end" in message and "p50_ms is nan" in message


def test_an_invalid_baseline_file_is_an_error(tmp_path, environment):
    older, _ = slowdown(tmp_path, environment)
    edit(older, lambda data: data["timings"]["forward"]["samples_ms"].__setitem__(0, float("nan")))
    with pytest.raises(BenchError, match="timings.forward"):
        run_compare(tmp_path, baseline=str(older))
    assert main(["compare", str(tmp_path), "--baseline", str(older)]) == 2


# 3. created timestamps


def test_reports_are_ordered_by_time_not_by_the_text_of_created(tmp_path, environment):
    older, newest = slowdown(tmp_path, environment)
    edit(older, lambda data: data.update(created="2025-01-02T00:00:00+00:00"))
    edit(newest, lambda data: data.update(created="2025-01-01T23:00:00-05:00"))  # 04:00 UTC on the 2nd
    (check,) = run_compare(tmp_path).checks
    assert check.candidate.path == newest and check.regressed


@pytest.mark.parametrize("created", ["yesterday", "2025-01-03T00:00:00", "9999"])
def test_created_must_be_a_timestamp_with_an_offset(tmp_path, environment, created):
    _, newest = slowdown(tmp_path, environment)
    edit(newest, lambda data: data.update(created=created))
    comparison = run_compare(tmp_path)
    (message,) = comparison.skipped
    assert str(newest) in message and f"created {created!r}" in message
    assert comparison.checks == ()


# 4. markup in report strings


class Tags(HTMLParser):
    """The start tags of a page and the text of its scripts."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        if self.tags and self.tags[-1][0] == "script":
            self.scripts.append(data)


def test_report_strings_are_escaped_in_the_html_page(tmp_path, environment):
    older, newest = slowdown(tmp_path, environment)
    row = to_data(dataclasses.replace(reproduce_row(), result=dataclasses.replace(
        reproduce_row().result, name=IMAGE)))
    for path in (older, newest):
        edit(path, lambda data: (data["config"].update(label=SCRIPT),
                                 data["environment"]["hardware"].update(cpu_model=SCRIPT),
                                 data.update(rows=[row])))
    newest.rename(tmp_path / f"{IMAGE}.json")
    page = comparison_page(run_compare(tmp_path))
    assert "<script>alert" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    tags = Tags(page)
    assert [tag for tag, _ in tags.tags if tag in ("script", "img")] == ["script"]
    assert not any(name.startswith("on") for _, attributes in tags.tags for name in attributes)
    assert not any("alert" in script for script in tags.scripts)


# 5. wrong types


@pytest.mark.parametrize(("change", "message"), [
    (lambda data: data["timings"]["end_to_end"]["samples_ms"].__setitem__(3, "abc"),
     "timings.end_to_end.samples_ms[3]: expected a number, got 'abc'"),
    (lambda data: data["timings"]["forward"].__setitem__("mean_ms", 10**400),
     "timings.forward.mean_ms: the integer"),
    (lambda data: data["timings"]["forward"].update(count=0, samples_ms=[], p50_ms=None, p90_ms=None),
     "count must be at least 1"),
    (lambda data: data.update(environment=[]), "environment: expected an object, got list"),
    (lambda data: data.update(timings=None), "timings: expected an object, got NoneType"),
    (lambda data: data["config"].update(batch="1"), "config.batch: expected an integer, got '1'"),
    (lambda data: data["throughput"].update(images_per_s=True), "images_per_s: expected a number, got True"),
])
def test_wrong_types_are_named_and_skipped(tmp_path, environment, change, message):
    _, newest = slowdown(tmp_path, environment)
    edit(newest, change)
    (skipped,) = run_compare(tmp_path).skipped
    assert skipped.startswith(f"{newest}: malformed report") and message in skipped


def test_stage_statistics_are_typed_like_every_record():
    data = StageStats.from_samples([1.0, 2.0]).to_dict()
    with pytest.raises(ValueError, match="stage.mean_ms: expected a number, got '1.5'"):
        StageStats.from_dict({**data, "mean_ms": "1.5"})
    with pytest.raises(ValueError, match=r"stage.in_iteration: expected bool \(true or false\), got 0"):
        StageStats.from_dict({**data, "in_iteration": 0})
    with pytest.raises(ValueError, match="report: expected an object, got list"):
        Report.from_dict([])


def test_a_broken_report_of_an_older_schema_is_named_and_skipped(tmp_path, environment):
    _, newest = slowdown(tmp_path, environment)

    def schema_2_with_an_infinite_count(data: dict) -> None:
        for stats in data["timings"].values():
            del stats["samples_ms"]
        del data["config"]["min_time_s"]
        data["timings"]["forward"]["count"] = float("inf")
        data.update(schema_version=2)

    edit(newest, schema_2_with_an_infinite_count)
    (skipped,) = run_compare(tmp_path).skipped
    assert skipped.startswith(f"{newest}: cannot upgrade this schema-2 report")


# 6. deep nesting


def test_a_deeply_nested_file_is_skipped(tmp_path, environment):
    slowdown(tmp_path, environment)
    (tmp_path / "deep.json").write_text("[" * 100_000)
    comparison = run_compare(tmp_path)
    assert comparison.regressed
    (message,) = comparison.skipped
    assert "deep.json" in message and "nests deeper" in message

