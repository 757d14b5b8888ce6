"""Runs write into a folder git ignores; `bench publish` copies chosen reports into the committed
showcase and rebuilds its tables and page; reports record a command line that reruns them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import TinyPoseNet, profile_record

from bench.__main__ import main
from bench.accuracy.reproduce import run_reproduction
from bench.accuracy.settings import ReproduceConfig
from bench.data.dataset import DataConfig
from bench.evaluation.bootstrap import BootstrapSettings
from bench.reports.compare import CompareConfig, compare
from bench.reports.folders import DEFAULT_OUT
from bench.reports.schema import Throughput
from bench.reports.stats import END_TO_END, StageStats
from bench.reports.writing import new_report, rerunnable_command, write_report
from bench.testing.synthetic_data import write_mini_dataset


@pytest.fixture
def run_report(tmp_path, environment) -> Path:
    """A profile report written as a run writes it: JSON, Markdown and stage plot."""
    timings = {stage: StageStats.from_samples([ms, ms * 1.01, ms * 0.99]) for stage, ms in
               (("forward", 100.0), (END_TO_END, 120.0))}
    report = new_report("profile", profile_record(), command=["python", "-m", "bench", "profile"],
                        environment=environment, timings=timings, throughput=Throughput(images_per_s=8.3))
    return write_report(report, tmp_path / "runs")["json"]


def test_runs_write_outside_the_committed_results_by_default():
    assert DEFAULT_OUT == Path("runs") and ReproduceConfig().out == "runs"
    ignored = Path(__file__).parents[1].joinpath(".gitignore").read_text().splitlines()
    assert "/runs/" in ignored


def test_publish_copies_a_report_with_its_renderings_and_rebuilds_the_page(run_report, tmp_path, capsys):
    showcase = tmp_path / "results"
    assert main(["publish", str(run_report), "--into", str(showcase)]) == 0
    stem = run_report.name.removesuffix(".json")
    copied = {path.name for path in showcase.iterdir()}
    assert {run_report.name, f"{stem}.md", f"{stem}-stages.png", "index.html", "compare"} <= copied
    assert (showcase / run_report.name).read_bytes() == run_report.read_bytes()
    assert (showcase / "compare" / "comparison.md").is_file()
    assert "published 3 file(s)" in capsys.readouterr().out
    assert main(["publish", str(run_report), "--into", str(showcase)]) == 0  # the same bytes again: fine


def test_publish_refuses_a_non_report_or_a_clash_before_copying_anything(run_report, tmp_path, capsys):
    showcase = tmp_path / "results"
    broken = tmp_path / "broken.json"
    broken.write_text("{}")
    assert main(["publish", str(run_report), str(broken), "--into", str(showcase)]) == 2
    assert not showcase.exists()
    showcase.mkdir()
    (showcase / run_report.name).write_text("another report of this name")
    assert main(["publish", str(run_report), "--into", str(showcase)]) == 2
    assert "already holds other files" in capsys.readouterr().err
    assert [path.name for path in showcase.iterdir()] == [run_report.name]


@pytest.mark.parametrize(("argv", "command"), [
    (["/home/someone/repo/bench/__main__.py", "profile", "--iters", "5"],
     ("python", "-m", "bench", "profile", "--iters", "5")),
    (["script.py", "--flag"], ("script.py", "--flag")),
])
def test_a_report_records_a_command_line_that_reruns_it(argv, command):
    assert rerunnable_command(argv) == command


def test_a_report_moved_without_its_cache_is_diffed_from_the_predictions_beside_it(tmp_path, capsys):
    """reproduce copies each row's predictions beside the report and publish takes them along, so a
    published report can be diffed on another machine, without the prediction cache that made it."""
    root = write_mini_dataset(tmp_path / "data", num_images=2, seed=3)
    config = ReproduceConfig(data=DataConfig(data_root=root), out=str(tmp_path / "runs"),
                             cache_dir=str(tmp_path / "cache"), workers=0, sample=False,
                             bootstrap=BootstrapSettings(resamples=10), scales=((1.0,),))
    report = run_reproduction(config, model=TinyPoseNet()).paths["json"]
    assert main(["publish", str(report), "--into", str(tmp_path / "results")]) == 0
    shutil.rmtree(tmp_path / "cache")
    published = tmp_path / "results" / report.name
    assert list((tmp_path / "results").glob("predictions-*.json"))
    assert not compare(CompareConfig(paths=(tmp_path / "results",))).skipped  # predictions are no reports
    assert main(["diff", str(published), str(published), "--out", str(tmp_path / "diff")]) == 0
    assert "No image moved" in capsys.readouterr().out
