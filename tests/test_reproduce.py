"""`bench reproduce` end to end, offline: a generated mini CrowdPose, a synthesized mmpose-format
checkpoint served over loopback HTTP, the report, the summary, the cache and its resumption, gate mode.

One run uses HigherHRNet-W32 with the checkpoint (download, verification, strict loading, the judged
row); the properties of the run itself (cache, resumption, variants) use a provided tiny network
(``run_reproduction(config, model=...)``), which the pipeline runs in milliseconds.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from helpers import TinyPoseNet
from loopback_http import LoopbackServer

from bench.__main__ import main
from bench.accuracy.reproduce import run_reproduction
from bench.accuracy.settings import ReproduceConfig
from bench.checkpoint import sha256_of
from bench.data.dataset import DataConfig
from bench.evaluation import AP_NAMES, METRIC_NAMES, evaluate
from bench.evaluation.bootstrap import BootstrapSettings
from bench.evaluation.results import people_to_results
from bench.reports.rows import predictions_name
from bench.reports.schema import load_report
from bench.testing.synthetic_data import GroundTruthSpec, write_mini_dataset
from bench.testing.synthetic_weights import calibrated_state_dict, save_mmpose_checkpoint

NUM_IMAGES = 2
TINY_IMAGES = 3


@pytest.fixture(scope="module")
def served_checkpoint(tmp_path_factory):
    """The calibrated weights as an mmpose checkpoint, named with its sha256 prefix, on 127.0.0.1."""
    staging = tmp_path_factory.mktemp("ckpt") / "tame.pth"
    save_mmpose_checkpoint(calibrated_state_dict(), staging, meta={"note": "test"})
    name = f"tame_hrnet-{sha256_of(staging)[:8]}_20260101.pth"
    with LoopbackServer({name: staging.read_bytes()}) as server:
        yield server.url(name), name


@pytest.fixture(scope="module")
def mini_root(tmp_path_factory) -> Path:
    """Two nearly square images: at input size 512 the network runs about 512x512 (a long image would
    widen it), so the one HigherHRNet-W32 run stays a few seconds on 2 cores."""
    spec = GroundTruthSpec(num_images=NUM_IMAGES, seed=3, min_size=100, max_size=112)
    return write_mini_dataset(tmp_path_factory.mktemp("mini"), spec=spec)


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    """Three images for the runs with the tiny network."""
    return write_mini_dataset(tmp_path_factory.mktemp("tiny"), num_images=TINY_IMAGES, seed=3)


def write_expected(path: Path, checkpoint_name: str, url: str, value: float, tolerance: float) -> Path:
    """An expected-metrics table for the mini set, every AP metric expected at ``value``."""
    metrics = ", ".join(f"{name} = {value}" for name in ("AP", "AP50", "AP75"))
    prefix = checkpoint_name.split("-")[-1].split("_")[0]
    path.write_text(
        f'[checkpoints."{checkpoint_name}"]\nurl = "{url}"\nsha256_prefix = "{prefix}"\nsha256 = ""\n'
        f'[expected]\ncheckpoint = "{checkpoint_name}"\ndataset = "mini"\nnum_images = {NUM_IMAGES}\n'
        f'tolerance = {tolerance}\ntolerance_reason = "test"\n'
        f'[[expected.rows]]\nname = "mini [1]"\nscales = [1]\nflip = true\nsource = "test"\n'
        f"metrics = {{ {metrics} }}\n")
    return path


def write_config(path: Path, **settings) -> Path:
    """A --config file whose [reproduce] table holds ``settings`` (values, or tables of values)."""
    def lines(table: dict) -> str:
        return "".join(f"{key} = {json.dumps(value)}\n" for key, value in table.items()
                       if not isinstance(value, dict))

    text = "[reproduce]\n" + lines(settings) + "".join(
        f"[reproduce.{key}]\n" + lines(value) for key, value in settings.items() if isinstance(value, dict))
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def first_run(served_checkpoint, mini_root, tmp_path_factory):
    """One uninterrupted run of the command (download, verify, predict, evaluate, report)."""
    url, name = served_checkpoint
    work = tmp_path_factory.mktemp("run")
    expected = write_expected(work / "expected.toml", name, url, value=0.0, tolerance=1.0)
    config = write_config(work / "config.toml", expected=str(expected), cache_dir=str(work / "cache"),
                          checkpoint_cache_dir=str(work / "ckpt"), workers=0, sample=False)
    args = ["--checkpoint", url, "--data-root", str(mini_root), "--out", str(work / "out"),
            "--config", str(config)]
    code = main(["reproduce", *args])
    (report,) = (work / "out").glob("reproduce-*.json")
    return code, load_report(report), args, work


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    code = main(["reproduce", *args])
    return code, capsys.readouterr().out


def with_config(args: list[str], config: Path) -> list[str]:
    at = args.index("--config")
    return [*args[:at], "--config", str(config), *args[at + 2:]]


def test_a_run_matches_its_custom_table_with_everything_recorded(first_run):
    """A custom expected table can only be matched, never reproduced: the row says which table (and its
    sha256) it matched, and the weights are not called the published checkpoint."""
    code, report, args, work = first_run
    assert code == 0
    (row,) = report.rows
    result, verdict = row.result, row.verdict
    table = work / "expected.toml"
    assert verdict.status == "matched" and result.subset.num_images == NUM_IMAGES and result.subset.full
    assert f"matched custom table {table} (sha256 {sha256_of(table)[:12]}...)" in verdict.reason
    assert "not a reproduction of the published numbers" in verdict.reason
    assert ("prefix-verified (32 bits; full digest not pinned" in verdict.reason
            and "data unpinned" in verdict.reason)
    assert len(result.subset.annotations_sha256) == len(result.subset.images_digest) == 64
    assert set(result.metrics) == set(METRIC_NAMES)
    assert (result.evaluator.protocol, result.evaluator.implementation) == ("crowdpose", "bench.evaluation")
    assert result.behaviour.pipeline["stage_aggregation"] == "mmpose-0.29"
    assert report.config.weights.kind == "checkpoint" and report.config.weights.published is False
    assert report.config.weights.sha256 == sha256_of(next((work / "ckpt").rglob("*.pth")))
    assert report.config.settings["batch_size"] == 1  # the settings, recorded verbatim
    assert report.config.config_file.table["workers"] == 0 and report.config.expected_table == str(table)
    results_file = Path(result.behaviour.results_json)
    assert sha256_of(results_file) == result.behaviour.results_sha256
    assert results_file.name == f"results-{result.behaviour.results_sha256[:16]}.json"
    results = json.loads(results_file.read_text())
    assert results and all(len(person["keypoints"]) == 42 for person in results)
    assert evaluate(result.subset.dataset, results).metrics == result.metrics
    written = sorted(p.name for p in (work / "out").iterdir())
    kept = predictions_name(result.behaviour.results_sha256)
    assert (work / "out" / kept).read_bytes() == results_file.read_bytes()  # the predictions travel with it
    assert sorted(Path(name).suffix for name in written if name != kept) == [".json", ".md", ".png"]


def test_rows_carry_bootstrap_intervals_explained_as_sampling_noise(first_run):
    _, report, _, work = first_run
    (row,) = report.rows
    assert set(row.result.ci95) == set(AP_NAMES)
    assert row.result.bootstrap["resamples"] == 1000 and row.result.bootstrap["method"] == "percentile"
    low, high = row.result.ci95["AP"]
    assert low <= row.result.metrics["AP"] <= high
    assert row.result.behaviour.image_ids is None  # every image of the annotation file
    markdown = next((work / "out").glob("reproduce-*.md")).read_text()
    assert "test-set sampling noise" in markdown and "not the gate width" in markdown


def test_a_rerun_from_the_cache_builds_no_network_and_says_so(first_run, capsys, monkeypatch):
    _, report, args, work = first_run
    from bench.weights import Weights

    monkeypatch.setattr(Weights, "build_model", lambda self: pytest.fail("the network was built"))
    code, out = run_cli([*args, "--out", str(work / "again")], capsys)
    assert code == 0 and "mini [1]" in out and "matched" in out and "report:" in out
    again = load_report(next((work / "again").glob("reproduce-*.json")))
    (forward,) = again.throughput.forwards
    assert (forward.computed, forward.from_cache, forward.images_per_s) == (0, NUM_IMAGES, None)
    assert again.rows[0].result.metrics == report.rows[0].result.metrics


def test_diff_of_reports_compares_their_rows_and_refuses_other_images(first_run, tmp_path, capsys):
    """A report against itself differs by 0; against a run on fewer images it is refused (exit 2)."""
    _, _, args, work = first_run
    full = next((work / "out").glob("reproduce-*.json"))
    diff_config = tmp_path / "diff.toml"
    diff_config.write_text("[diff.bootstrap]\nresamples = 50\n")
    assert main(["diff", str(full), str(full), "--out", str(tmp_path / "same"),
                 "--config", str(diff_config)]) == 0
    assert "| AP | " in capsys.readouterr().out
    limited_config = write_config(tmp_path / "limited.toml", **load_report(full).config.config_file.table,
                                  bootstrap={"resamples": 0})
    code, _ = run_cli([*with_config(args, limited_config), "--out", str(tmp_path / "limited"),
                       "--limit", "1"], capsys)
    limited = next((tmp_path / "limited").glob("reproduce-*.json"))
    (row,) = load_report(limited).rows
    assert code == 0 and row.result.ci95 is None and row.result.bootstrap is None
    assert len(row.result.behaviour.image_ids) == 1
    assert main(["diff", str(full), str(limited), "--out", str(tmp_path / "other")]) == 2
    assert "not on the same images" in capsys.readouterr().err


def test_a_mismatch_fails_with_the_metric_named_and_exit_1(first_run, served_checkpoint, tmp_path, capsys):
    _, report, args, work = first_run
    url, name = served_checkpoint
    strict = write_expected(tmp_path / "strict.toml", name, url, value=0.99, tolerance=0.003)
    config = write_config(tmp_path / "config.toml",
                          **{**report.config.config_file.table, "expected": str(strict)})
    code, out = run_cli([*with_config(args, config), "--out", str(tmp_path / "out")], capsys)
    assert code == 1
    assert "failed" in out and "AP: actual" in out and "expected 0.9900 +/- 0.003" in out


def test_another_checkpoint_or_a_subset_is_measured_but_not_compared(first_run, tmp_path, capsys):
    _, report, args, _ = first_run
    published = {key: value for key, value in report.config.config_file.table.items() if key != "expected"}
    config = write_config(tmp_path / "config.toml", **published)
    code, out = run_cli([*with_config(args, config), "--scales", "1", "--limit", "1", "--out", str(tmp_path)],
                        capsys)
    assert code == 0
    assert "skipped" in out and "not the published higher_hrnet32_crowdpose_512x512" in out


def test_a_missing_dataset_is_explained_and_strict_fails(first_run, tmp_path, capsys, monkeypatch):
    _, _, args, _ = first_run
    at = args.index("--data-root")
    without_data = [*args[:at], *args[at + 2:], "--out", str(tmp_path)]
    monkeypatch.delenv("CROWDPOSE_ROOT", raising=False)
    code, out = run_cli(without_data, capsys)
    assert code == 0 and "skipped" in out and "CROWDPOSE_ROOT" in out and "--data-root" in out
    code = main(["reproduce", *without_data, "--strict"])
    captured = capsys.readouterr()
    assert code == 1 and "skipped" in captured.out
    assert "exit status 1: --strict: 1 published row(s) skipped (mini [1])" in captured.err


def test_the_ground_truth_as_predictions_scores_one(sample_dir):
    """The reproduce results format (people_to_results) through the evaluator gives AP 1."""
    import numpy as np

    gt = json.loads((sample_dir / "test_crowdpose.json").read_text())
    results = []
    for image in gt["images"]:
        people = [a for a in gt["annotations"] if a["image_id"] == image["id"] and a["num_keypoints"] > 0]
        keypoints = np.array([a["keypoints"] for a in people], dtype=float).reshape(-1, 14, 3)
        keypoints[..., 2] = 1.0
        results += people_to_results(image["id"], keypoints, np.ones(len(people)))
    metrics = evaluate(str(sample_dir / "test_crowdpose.json"), results).metrics
    assert metrics["AP"] == pytest.approx(1.0, abs=1e-12) and metrics["AR"] == 1.0


@pytest.mark.parametrize(("flags", "table", "message"), [
    ([], {"pipeline": {"foo": 1}}, "unknown pipeline option"),
    ([], {"pipeline": {"precision": "bfloat16"}}, "must not set ['precision']"),
    ([], {"pipeline": {"matcher": "bogus"}}, "matcher"),
    ([], {"workers": "two"}, "[reproduce]: workers must be int, got 'two'"),
    ([], {"threads": 0}, "threads must be >= 1, got 0"),
    ([], {"image_ids": [5]}, "unknown image id 5"),
    ([], {"colour": 1}, "unknown key(s) ['colour']"),
    ([], {"bootstrap": {"resamples": -1}}, "bootstrap resamples must be >= 0, got -1"),
    (["--batch-size", "0"], {}, "--batch-size must be >= 1, got 0"),
    (["--limit", "0"], {}, "--limit must be >= 1, got 0"),
])
def test_bad_settings_are_input_errors_before_any_work(first_run, tmp_path, flags, table, message, capsys):
    _, report, args, _ = first_run
    config = write_config(tmp_path / "config.toml", **{**report.config.config_file.table, **table})
    assert main(["reproduce", *with_config(args, config), *flags, "--out", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err
    assert not list((tmp_path / "out").glob("*.json"))


def test_an_explicit_unloadable_checkpoint_is_bad_input(first_run, tmp_path, capsys):
    """Only the default checkpoint being unavailable makes rows "skipped"; one the user named is exit 2."""
    _, _, args, _ = first_run
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    at = args.index("--checkpoint")
    assert main(["reproduce", *args[:at], "--checkpoint", str(garbage), *args[at + 2:],
                 "--out", str(tmp_path / "out")]) == 2
    assert f"checkpoint {garbage} is not a PyTorch checkpoint" in capsys.readouterr().err
    assert not list((tmp_path / "out").glob("*.json"))


def tiny_config(root: Path, work: Path, **settings) -> ReproduceConfig:
    """A run of the published rows on the data at ``root`` with a provided network (workers 0, no smoke
    run, a few bootstrap resamples)."""
    return ReproduceConfig(data=DataConfig(data_root=root), out=str(work / "out"),
                           cache_dir=str(work / "cache"), workers=0, sample=False,
                           bootstrap=BootstrapSettings(resamples=20), **settings)


def test_an_interrupted_run_resumes_with_identical_predictions(tiny_root, tmp_path):
    """A cache as a run killed mid-write leaves it: one complete line and a torn one. The rerun keeps the
    complete image, drops the torn line, predicts the rest and gives the uninterrupted run's results."""
    whole = run_reproduction(tiny_config(tiny_root, tmp_path / "whole", scales=((1.0,),)),
                             model=TinyPoseNet())
    (shard,) = (tmp_path / "whole" / "cache").glob("*/predictions-*.jsonl")
    lines = shard.read_bytes().splitlines(keepends=True)
    assert len(lines) == TINY_IMAGES
    partial = tmp_path / "resumed" / "cache" / shard.parent.name / shard.name
    shutil.copytree(shard.parent, partial.parent)
    partial.write_bytes(lines[0] + lines[1][: len(lines[1]) // 2])
    network = TinyPoseNet()
    resumed = run_reproduction(tiny_config(tiny_root, tmp_path / "resumed", scales=((1.0,),)), model=network)
    assert network.calls == TINY_IMAGES - 1  # one network call (input and mirror) per image left
    assert resumed.report.rows[0].result.metrics == whole.report.rows[0].result.metrics
    (forward,) = resumed.report.throughput.forwards
    assert (forward.from_cache, forward.computed) == (1, TINY_IMAGES - 1)
    behaviours = [report.rows[0].result.behaviour for report in (whole.report, resumed.report)]
    assert behaviours[0].results_sha256 == behaviours[1].results_sha256
    assert partial.read_bytes().splitlines() == [line.rstrip(b"\n") for line in lines]


def test_the_cache_is_keyed_by_data_location_and_cached_images_give_no_speed(tiny_root, tmp_path):
    first = run_reproduction(tiny_config(tiny_root, tmp_path, scales=((1.0,),)), model=TinyPoseNet())
    copy = tmp_path / "copy"
    shutil.copytree(tiny_root, copy)
    moved = tiny_config(copy, tmp_path, scales=((1.0,),))
    network = TinyPoseNet()
    assert run_reproduction(moved, model=network).exit_code == 0 and network.calls == TINY_IMAGES
    assert len(list((tmp_path / "cache").iterdir())) == 2
    again = run_reproduction(moved, model=TinyPoseNet()).report
    (forward,) = again.throughput.forwards
    assert (forward.images_per_s, forward.from_cache) == (None, TINY_IMAGES)
    assert again.rows[0].result.metrics == first.report.rows[0].result.metrics


def test_a_precision_variant_records_its_float32_run_on_the_same_images(tiny_root, tmp_path):
    """A speed variant is predicted beside its float32 reference, whose metrics equal the plain float32
    run's; the AP difference is the variant's AP minus those (tf32 on the CPU changes nothing)."""
    plain = run_reproduction(tiny_config(tiny_root, tmp_path / "plain", scales=((1.0,),)),
                             model=TinyPoseNet())
    variant = run_reproduction(tiny_config(tiny_root, tmp_path / "tf32", scales=((1.0,),), precision="tf32"),
                               model=TinyPoseNet())
    (row,) = variant.report.rows
    check = row.result.behaviour.variant_vs_float32
    assert check.float32_metrics == plain.report.rows[0].result.metrics
    assert check.ap_delta == row.result.metrics["AP"] - check.float32_metrics["AP"]
    assert row.result.behaviour.pipeline["precision"] == "tf32"
    assert [forward.rows for forward in variant.report.throughput.forwards] == [
        ("scales=[1], flip",), ("scales=[1], flip (float32 reference)",)]


def test_published_rows_with_provided_weights_are_measured_and_the_sample_runs(tmp_path, monkeypatch):
    """With the package's table and no data, published rows are skipped saying what is missing, and the
    bundled sample runs them end to end as smoke rows."""
    monkeypatch.delenv("CROWDPOSE_ROOT", raising=False)
    config = ReproduceConfig(out=str(tmp_path / "out"), cache_dir=str(tmp_path / "cache"), workers=0,
                             pipeline_options={"input_size": 64}, bootstrap=BootstrapSettings(resamples=0))
    result = run_reproduction(config, model=TinyPoseNet())
    statuses = [(row.result.name, row.verdict.status) for row in result.report.rows]
    assert statuses == [("scales=[1], flip", "skipped"), ("scales=[2, 1], flip", "skipped"),
                        ("sample: scales=[1], flip", "smoke"), ("sample: scales=[2, 1], flip", "smoke")]
    assert "no usable dataset" in result.report.rows[0].verdict.reason
    assert any("CROWDPOSE_ROOT" in problem for problem in result.report.errors)
    assert result.exit_code == 0 and os.path.exists(result.paths["json"])


def test_a_run_records_the_machine_it_is_named(tiny_root, tmp_path):
    named = run_reproduction(tiny_config(tiny_root, tmp_path, scales=((1.0,),), machine="lab box 7"),
                             model=TinyPoseNet())
    assert named.report.environment.host.machine == "lab box 7"
