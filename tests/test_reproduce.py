"""`bench reproduce` end to end, offline: a generated mini CrowdPose, a synthesized mmpose-format
checkpoint served over loopback HTTP, the report, the summary, resume after a kill, and gate mode."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from loopback_http import LoopbackServer

from bench.__main__ import main
from bench.checkpoint import sha256_of
from bench.evaluation import evaluate
from bench.evaluation.results import people_to_results
from bench.testing.synthetic_data import write_mini_dataset
from bench.testing.synthetic_weights import calibrated_state_dict, save_mmpose_checkpoint

pytestmark = pytest.mark.slow
NUM_IMAGES = 3


@pytest.fixture(scope="module")
def served_checkpoint(tmp_path_factory):
    """The tame checkpoint in mmpose's format, named with its sha256 prefix, served on 127.0.0.1."""
    staging = tmp_path_factory.mktemp("ckpt") / "tame.pth"
    save_mmpose_checkpoint(calibrated_state_dict(), staging, meta={"note": "test"})
    name = f"tame_hrnet-{sha256_of(staging)[:8]}_20260101.pth"
    with LoopbackServer({name: staging.read_bytes()}) as server:
        yield server.url(name), name


@pytest.fixture(scope="module")
def mini_root(tmp_path_factory):
    return write_mini_dataset(tmp_path_factory.mktemp("mini"), num_images=NUM_IMAGES, seed=3)


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


def run_process_group(command: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """Run ``command`` in its own process group; on timeout kill the whole group (torchrun's ranks too)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True, **kwargs)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    code = main(["reproduce", *args])
    return code, capsys.readouterr().out


@pytest.fixture(scope="module")
def first_run(served_checkpoint, mini_root, tmp_path_factory):
    """One uninterrupted run (download, verify, predict, evaluate, report) shared by the tests."""
    url, name = served_checkpoint
    work = tmp_path_factory.mktemp("run")
    expected = write_expected(work / "expected.toml", name, url, value=0.0, tolerance=1.0)
    args = ["--checkpoint", url, "--data-root", str(mini_root), "--expected", str(expected),
            "--out", str(work / "out"), "--cache-dir", str(work / "cache"),
            "--checkpoint-cache-dir", str(work / "ckpt"), "--workers", "0", "--no-sample"]
    code = main(["reproduce", *args])
    reports = sorted((work / "out").glob("reproduce-*.json"))
    return code, json.loads(reports[-1].read_text()), args, work


def test_full_run_matches_its_custom_table_with_everything_recorded(first_run):
    """A custom expected table can only be matched, never reproduced: the row says which table (and its
    sha256) it matched, and the weights are not called the published checkpoint."""
    code, report, args, work = first_run
    assert code == 0
    (row,) = report["rows"]
    table = Path(args[args.index("--expected") + 1])
    assert row["status"] == "matched" and row["subset"]["num_images"] == NUM_IMAGES and row["subset"]["full"]
    assert f"matched custom table {table} (sha256 {sha256_of(table)[:12]}...)" in row["reason"]
    assert "not a reproduction of the published numbers" in row["reason"]
    assert "prefix-verified (32 bits; full digest not pinned" in row["reason"]
    assert "data unpinned" in row["reason"]
    assert len(row["subset"]["annotations_sha256"]) == len(row["subset"]["images_digest"]) == 64
    assert row["subset"]["data_pinned"] is None
    assert set(row["metrics"]) == {"AP", "AP50", "AP75", "AR", "AR50", "AR75", "AP_easy", "AP_medium",
                                   "AP_hard"}
    assert row["evaluator"]["backend"] == "faster-coco-eval"
    assert row["behaviour"]["pipeline"]["stage_aggregation"] == "mmpose-0.29"
    assert report["config"]["weights"]["kind"] == "checkpoint"
    assert report["config"]["weights"]["sha256"] == sha256_of(next((work / "ckpt").glob("*.pth")))
    assert report["config"]["weights"]["published"] is False  # not the package's published checkpoint
    assert report["config"]["settings"]["batch_size"] == 1  # the settings, recorded verbatim
    results = json.loads(Path(row["behaviour"]["results_json"]).read_text())
    assert results and all(len(person["keypoints"]) == 42 for person in results)
    assert evaluate(str(Path(row["subset"]["dataset"])), results) == row["metrics"]
    assert sorted(p.suffix for p in (work / "out").iterdir()) == [".json", ".md", ".png"]


def first_written(folder: Path, pattern: str) -> Path:
    return min(folder.glob(pattern), key=lambda path: path.stat().st_mtime_ns)


def test_rows_carry_bootstrap_intervals_explained_as_sampling_noise(first_run):
    _, report, _, work = first_run
    (row,) = report["rows"]
    assert set(row["ci95"]) == {"AP", "AP50", "AP75", "AP_easy", "AP_medium", "AP_hard"}
    assert row["bootstrap"]["resamples"] == 1000 and row["bootstrap"]["method"] == "percentile"
    low, high = row["ci95"]["AP"]
    assert low <= row["metrics"]["AP"] <= high
    assert row["behaviour"]["image_ids"] is None  # every image of the annotation file
    markdown = first_written(work / "out", "reproduce-*.md").read_text()
    assert "test-set sampling noise" in markdown and "not the gate width" in markdown


def test_diff_of_reports_compares_their_rows_and_refuses_other_images(first_run, tmp_path, capsys):
    """A report against itself differs by 0; against a run on fewer images it is refused (exit 2)."""
    _, _, args, work = first_run
    full = first_written(work / "out", "reproduce-*.json")
    code = main(["diff", str(full), str(full), "--out", str(tmp_path / "same"),
                 "--bootstrap-resamples", "50"])
    assert code == 0 and "| AP | " in capsys.readouterr().out
    code, _ = run_cli([*args, "--out", str(tmp_path / "limited"), "--limit", "2",
                       "--bootstrap-resamples", "0"], capsys)
    limited = first_written(tmp_path / "limited", "reproduce-*.json")
    (row,) = json.loads(limited.read_text())["rows"]
    assert code == 0 and row["ci95"] is None and row["bootstrap"] is None
    assert len(row["behaviour"]["image_ids"]) == 2
    code = main(["diff", str(full), str(limited), "--out", str(tmp_path / "other")])
    assert code == 2 and "not on the same images" in capsys.readouterr().err


def test_mismatch_fails_with_metric_named_and_exit_1(first_run, served_checkpoint, capsys):
    _, _, args, work = first_run
    url, name = served_checkpoint
    strict_table = write_expected(work / "strict.toml", name, url, value=0.99, tolerance=0.003)
    code, out = run_cli([*args, "--expected", str(strict_table)], capsys)
    assert code == 1
    assert "failed" in out and "AP: actual" in out and "expected 0.9900 +/- 0.003" in out


def test_other_checkpoint_or_subset_is_measured_but_not_compared(first_run, capsys):
    _, report, args, _ = first_run
    code, out = run_cli([*args, "--expected", str(Path(__file__).parents[1] / "bench" / "published.toml"),
                         "--scales", "1", "--limit", "2"], capsys)
    assert code == 0
    assert "skipped" in out and "not the published higher_hrnet32_crowdpose_512x512" in out


def test_missing_dataset_is_explained_and_strict_fails(first_run, tmp_path, capsys):
    _, _, args, _ = first_run
    without_data = [a for a in args if a != "--data-root"]
    without_data.remove(args[args.index("--data-root") + 1])
    env_root = os.environ.pop("CROWDPOSE_ROOT", None)
    try:
        code, out = run_cli(without_data, capsys)
        assert code == 0 and "skipped" in out and "CROWDPOSE_ROOT" in out and "--data-root" in out
        code, _ = run_cli([*without_data, "--strict"], capsys)
        assert code == 1
    finally:
        if env_root is not None:
            os.environ["CROWDPOSE_ROOT"] = env_root


def test_interrupted_run_resumes_with_identical_predictions(first_run, tmp_path):
    """A cache as a run killed mid-write leaves it: one complete line and a torn one. The rerun keeps the
    complete image, drops the torn line, predicts the rest and gives the uninterrupted run's results."""
    _, report, args, work = first_run
    (shard,) = (work / "cache").glob("*/predictions-*.jsonl")
    lines = shard.read_bytes().splitlines(keepends=True)
    assert len(lines) == NUM_IMAGES
    cache = tmp_path / "cache"
    partial = cache / shard.parent.name / shard.name
    shutil.copytree(shard.parent, partial.parent)
    partial.write_bytes(lines[0] + lines[1][: len(lines[1]) // 2])
    resumed_args = [*args[:args.index("--cache-dir")], "--cache-dir", str(cache),
                    *args[args.index("--cache-dir") + 2:], "--out", str(tmp_path / "out")]
    assert main(["reproduce", *resumed_args]) == 0
    resumed = json.loads(sorted((tmp_path / "out").glob("reproduce-*.json"))[-1].read_text())
    assert resumed["rows"][0]["metrics"] == report["rows"][0]["metrics"]
    assert resumed["throughput"]["mini [1]: images from cache"] == 1
    original = Path(report["rows"][0]["behaviour"]["results_json"]).read_text()
    assert Path(resumed["rows"][0]["behaviour"]["results_json"]).read_text() == original
    assert partial.read_bytes().splitlines() == [line.rstrip(b"\n") for line in lines]


def test_ground_truth_as_predictions_scores_one(sample_dir):
    """The reproduce results format (people_to_results) through the evaluation path gives AP 1.0."""
    import numpy as np

    gt = json.loads((sample_dir / "test_crowdpose.json").read_text())
    results = []
    for image in gt["images"]:
        people = [a for a in gt["annotations"] if a["image_id"] == image["id"] and a["num_keypoints"] > 0]
        keypoints = np.array([a["keypoints"] for a in people], dtype=float).reshape(-1, 14, 3)
        keypoints[..., 2] = 1.0
        results += people_to_results(image["id"], keypoints, np.ones(len(people)))
    metrics = evaluate(str(sample_dir / "test_crowdpose.json"), results)
    assert metrics["AP"] == 1.0 and metrics["AR"] == 1.0


def test_summary_is_printed(first_run, capsys):
    _, _, args, _ = first_run
    code, out = run_cli(args, capsys)
    assert code == 0
    assert "mini [1]" in out and "matched" in out and "report:" in out


def test_torchrun_two_cpu_ranks_give_the_single_process_metrics(first_run, tmp_path):
    """`torchrun --nproc-per-node 2 -m bench reproduce ... --device cpu` (gloo): one report, same metrics."""
    _, report, args, work = first_run
    local_checkpoint = next((work / "ckpt").glob("*.pth"))
    data_root = args[args.index("--data-root") + 1]
    expected = args[args.index("--expected") + 1]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "bench", "reproduce", "--data-root", data_root, "--checkpoint", str(local_checkpoint),
               "--device", "cpu", "--scales", "1", "--out", str(tmp_path / "out"), "--expected", expected,
               "--cache-dir", str(tmp_path / "cache"), "--workers", "0", "--no-sample"]
    finished = run_process_group(command, timeout=600)
    assert finished.returncode == 0, finished.stderr[-3000:]
    (written,) = (tmp_path / "out").glob("reproduce-*.json")
    distributed_report = json.loads(written.read_text())
    assert distributed_report["rows"][0]["metrics"] == report["rows"][0]["metrics"]
    single = Path(report["rows"][0]["behaviour"]["results_json"]).read_text()
    assert Path(distributed_report["rows"][0]["behaviour"]["results_json"]).read_text() == single
    assert sorted(p.name for p in next((tmp_path / "cache").iterdir()).glob("predictions-*.jsonl")) == [
        "predictions-rank0.jsonl", "predictions-rank1.jsonl"]


def test_precision_variant_records_its_ap_difference_to_float32(first_run, capsys):
    """tf32 stands for any variant: bfloat16 would do as well, but on a CPU without AVX512-BF16 its
    forward is ~66x slower than float32 (measured: 33 s against 0.5 s at 256x256 on 2 AVX2 cores)."""
    _, report, args, _ = first_run
    code, _ = run_cli([*args, "--precision", "tf32", "--out", args[args.index("--out") + 1] + "-tf32"],
                      capsys)
    out_dir = Path(args[args.index("--out") + 1] + "-tf32")
    (row,) = json.loads(sorted(out_dir.glob("reproduce-*.json"))[-1].read_text())["rows"]
    variant = row["behaviour"]["variant_vs_float32"]
    assert variant["float32_metrics"] == report["rows"][0]["metrics"]
    assert variant["AP_delta"] == row["metrics"]["AP"] - variant["float32_metrics"]["AP"]
    assert variant["accepted"] == (abs(variant["AP_delta"]) <= 0.001)
    assert row["behaviour"]["pipeline"]["precision"] == "tf32"
    assert code == 0 and row["status"] == ("matched" if variant["accepted"] else "skipped")


@pytest.mark.parametrize(("extra", "message"), [
    (["--pipeline-options", '{"foo": 1}'], "unknown pipeline option"),
    (["--pipeline-options", '{"precision": "bfloat16"}'], "must not set ['precision']"),
    (["--pipeline-options", '{"matcher": "bogus"}'], "matcher"),
    (["--batch-size", "0"], "--batch-size must be >= 1"),
    (["--limit", "0"], "--limit must be at least 1"),
    (["--threads", "0"], "--threads must be at least 1"),
    (["--image-ids", "5"], "unknown image id 5"),
])
def test_bad_settings_are_input_errors_before_any_work(first_run, extra, message, capsys):
    _, _, args, _ = first_run
    assert main(["reproduce", *args, *extra]) == 2
    assert message in capsys.readouterr().err


def test_an_explicit_unloadable_checkpoint_is_bad_input(first_run, tmp_path, capsys):
    """Only the default checkpoint being unavailable makes rows "skipped"; one the user named is exit 2."""
    _, _, args, _ = first_run
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    at = args.index("--checkpoint")
    out_at = args.index("--out")
    rest = [*args[at + 2:out_at], "--out", str(tmp_path / "out"), *args[out_at + 2:]]
    assert main(["reproduce", *args[:at], "--checkpoint", str(garbage), *rest]) == 2
    assert f"checkpoint {garbage} is not a PyTorch checkpoint" in capsys.readouterr().err
    assert not list((tmp_path / "out").glob("*.json"))


def test_cache_is_keyed_by_data_location_and_cached_images_give_no_speed(first_run, mini_root, tmp_path):
    _, report, args, work = first_run
    assert report["throughput"]["mini [1]: images from cache"] == 0
    copy = tmp_path / "copy"
    shutil.copytree(mini_root, copy)
    at = args.index("--data-root")
    moved = [*args[:at], "--data-root", str(copy), *args[at + 2:], "--out", str(tmp_path / "out")]
    assert main(["reproduce", *moved]) == 0
    assert len(list((work / "cache").iterdir())) >= 2
    assert main(["reproduce", *moved]) == 0
    again = json.loads(sorted((tmp_path / "out").glob("reproduce-*.json"))[-1].read_text())
    assert again["throughput"] == {"mini [1]: images from cache": NUM_IMAGES}
    assert again["rows"][0]["metrics"] == report["rows"][0]["metrics"]
