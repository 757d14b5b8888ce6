"""`bench golden record` and `bench gate` end to end, offline: a generated mini CrowdPose run through the
pipeline with the tiny stand-in network, recorded as a golden, then gated: unchanged images pass with the
binomial bound, changed ones fail naming the images with estimates, each run leaves a JSON record, a
float32 golden recorded with torch is gated with ONNX Runtime or torch's channels_last layout, and a
golden, data, settings, precision or weights that do not fit are bad input (exit status 2)."""

from __future__ import annotations

import dataclasses
import io
import json
import math
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import TinyPoseNet

from bench.__main__ import main
from bench.accuracy.reproduce import run_reproduction
from bench.accuracy.settings import ReproduceConfig
from bench.data.dataset import DataConfig, load_dataset
from bench.errors import BenchError
from bench.evaluation import AP_NAMES
from bench.evaluation.bootstrap import BootstrapSettings
from bench.evaluation.image_diff import compare_poses
from bench.gate.check import GateConfig, rerun_config, run_gate
from bench.gate.golden import RowPoses
from bench.gate.golden_file import load_golden, write_golden
from bench.gate.record import write_gate_record
from bench.gate.summary import gate_text
from bench.reading import sha256_of
from bench.reports.schema import load_report
from bench.testing.synthetic_data import GroundTruthSpec, write_mini_dataset

pytestmark = pytest.mark.runtime_libraries  # loads ONNX Runtime into this process: run last

IMAGES = 24
SUBSET = 8


def reproduce_config(root: Path, work: Path, **changes) -> ReproduceConfig:
    """The [1] row at input size 64, with the tiny network's speed in mind."""
    return ReproduceConfig(data=DataConfig(data_root=root, **changes), out=str(work / "out"),
                           cache_dir=str(work / "cache"), workers=0, sample=False, scales=((1.0,),),
                           bootstrap=BootstrapSettings(resamples=0), pipeline_options={"input_size": 64})


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A full run of a 24-image set (crowd indices up to 2) and its golden, recorded by the command."""
    work = tmp_path_factory.mktemp("gate")
    spec = GroundTruthSpec(num_images=IMAGES, seed=3, max_crowd_index=2.0)
    root = write_mini_dataset(work / "data", spec=spec)
    result = run_reproduction(reproduce_config(root, work), model=TinyPoseNet())
    golden = work / "golden.npz"
    assert main(["golden", "record", str(result.paths["json"]), "--out", str(golden)]) == 0
    return root, result.paths["json"], golden, work


def gate(golden: Path, root: Path, work: Path, model: torch.nn.Module | None = None, **changes):
    """The gate of ``golden`` over 8 images with the tiny network (predictions from the golden's cache
    unless ``cache_dir`` says otherwise)."""
    settings = {"cache_dir": str(work / "cache"), **changes}
    config = GateConfig(golden=golden, subset=SUBSET, data=DataConfig(data_root=root), out=str(work / "gate"),
                        workers=0, bootstrap=BootstrapSettings(resamples=50), **settings)
    return run_gate(config, model=model or TinyPoseNet())


def edited_header(golden_path: Path, out: Path, **changes) -> Path:
    """A copy of the golden whose header has ``changes``."""
    golden, _ = load_golden(golden_path)
    write_golden(dataclasses.replace(golden, header=dataclasses.replace(golden.header, **changes)), out)
    return out


def moved(golden_path: Path, out: Path, offsets: dict[int, float]) -> Path:
    """A copy of the golden whose people of each image id in ``offsets`` are moved by that many pixels."""
    golden, _ = load_golden(golden_path)
    poses = golden.poses[0]
    keypoints = poses.keypoints.copy()
    for image_id, offset in offsets.items():
        position = int(np.searchsorted(golden.image_ids, image_id))
        keypoints[poses.starts[position]:poses.starts[position + 1], :, :2] += offset
    write_golden(dataclasses.replace(golden, poses=(RowPoses(poses.people, keypoints, poses.scores),)), out)
    return out


def test_a_golden_holds_every_image_and_row_and_gives_the_report_metrics(recorded):
    root, report_path, golden_path, _ = recorded
    golden, digest = load_golden(golden_path)
    report = load_report(report_path)
    dataset = load_dataset(root)
    assert golden.image_ids.tolist() == list(dataset.image_ids)
    assert golden.digests() == {record["id"]: sha256_of(dataset.image_path(record))
                                for record in dataset.images}
    (row,) = golden.header.rows
    (result,) = [row.result for row in report.rows]
    assert (row.name, row.metrics, row.pipeline) == (result.name, result.metrics, result.behaviour.pipeline)
    assert golden.header.weights == report.config.weights
    assert golden.header.environment_fingerprint == report.environment.fingerprint_id
    assert golden.header.data.annotations_sha256 == result.subset.annotations_sha256
    predictions = json.loads(Path(result.behaviour.results_json).read_text())
    assert int(golden.poses[0].people.sum()) == len(predictions)
    assert golden.poses[0].keypoints.dtype == np.float32 and len(digest) == 64


def test_a_changed_or_damaged_golden_is_bad_input(recorded, tmp_path, capsys):
    root, _, golden_path, _ = recorded
    data = golden_path.read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = {name: np.load(io.BytesIO(archive.read(name))) for name in archive.namelist()}
    members["row0_scores.npy"][0] += 0.5  # edited, the recorded digest kept
    edited = tmp_path / "edited.npz"
    np.savez_compressed(edited, **{name.removesuffix(".npy"): value for name, value in members.items()})
    damaged = tmp_path / "damaged.npz"
    middle = len(data) // 2
    damaged.write_bytes(data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:])
    for path, message in ((edited, "was changed after it was recorded"), (damaged, "damaged")):
        assert main(["gate", "--golden", str(path), "--subset", "4", "--data-root", str(root)]) == 2
        assert message in capsys.readouterr().err
    with pytest.raises(BenchError, match="changed after it was recorded"):
        load_golden(edited)


def test_a_golden_needs_a_run_over_every_image(recorded, tmp_path, capsys):
    root, _, _, _ = recorded
    subset = run_reproduction(reproduce_config(root, tmp_path, subset=SUBSET), model=TinyPoseNet())
    assert main(["golden", "record", str(subset.paths["json"]), "--out", str(tmp_path / "g.npz")]) == 2
    assert f"scored {SUBSET} of the images" in capsys.readouterr().err


def test_without_a_cache_dir_every_drawn_image_goes_through_the_network_again(recorded, tmp_path,
                                                                             monkeypatch):
    """The shared prediction cache (here: the golden run's own) is keyed by reference/ and torch only:
    a gate reading it would not see a new OpenCV or bench/, so by default it predicts afresh."""
    root, _, golden_path, work = recorded
    shared = tmp_path / "home" / ".cache" / "hhrnet-crowdpose-bench" / "predictions"
    shared.parent.mkdir(parents=True)
    shared.symlink_to(work / "cache")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    outcome = gate(golden_path, root, work, cache_dir=None)
    assert outcome.exit_code == 0
    (forward,) = load_report(outcome.rerun.report).throughput.forwards
    assert (forward.computed, forward.from_cache) == (SUBSET, 0)


def test_unchanged_images_pass_with_the_exact_binomial_bound(recorded, tmp_path):
    """A fresh cache: the subset goes through the network again and gives the golden's poses."""
    root, _, golden_path, work = recorded
    outcome = gate(golden_path, root, work, cache_dir=str(tmp_path / "cache"))
    assert outcome.exit_code == 0 and outcome.changed_images == []
    assert outcome.rows[0].statuses == ("identical",) * SUBSET
    bound = 1 - 0.05 ** (1 / SUBSET)
    assert (f"0 of {SUBSET} images changed: with 95% confidence at most {bound:.1%} of the test set changes"
            in gate_text(outcome))
    assert [record.drawn for record in outcome.draw.strata] == [stratum.drawn for stratum in load_report(
        outcome.rerun.report).rows[0].result.subset.draw.strata]


def test_changed_images_fail_naming_them_with_full_set_estimates(recorded, tmp_path):
    root, _, golden_path, work = recorded
    drawn = gate(golden_path, root, work).image_ids.tolist()
    changed = moved(golden_path, tmp_path / "changed.npz", {drawn[0]: 2.0, drawn[3]: 2.0, drawn[5]: 0.01})
    outcome = gate(changed, root, work)
    assert outcome.exit_code == 1 and outcome.changed_images == sorted([drawn[0], drawn[3]])
    row = outcome.rows[0]
    assert row.statuses[5] == "within tolerance" and row.count("identical") == SUBSET - 3
    text = gate_text(outcome)
    assert f"image {drawn[0]} (" in text and "largest joint move 2.83 px" in text
    assert all(f"| {row.name} | {name} |" in text for name in AP_NAMES)
    assert set(row.estimate) == set(AP_NAMES) and text.rstrip().endswith("`python -m bench golden record`)")


def test_data_settings_or_checkpoint_unlike_the_golden_are_bad_input(recorded, tmp_path, capsys):
    root, _, golden_path, work = recorded
    copy = shutil.copytree(root, tmp_path / "data")
    first = gate(golden_path, root, work).image_ids[0]
    (copy / "images" / f"{first}.jpg").write_bytes((root / "images" / f"{first}.jpg").read_bytes() + b"\0")
    with pytest.raises(BenchError, match=f"1 drawn image file\\(s\\) changed or unreadable .*id {first}"):
        gate(golden_path, copy, work)
    annotations = copy / "annotations" / "crowdpose_test.json"
    annotations.write_text(json.dumps({**json.loads(annotations.read_text()), "info": "edited"}))
    with pytest.raises(BenchError, match="data differs from the golden's: annotation file"):
        gate(golden_path, copy, work)
    golden, _ = load_golden(golden_path)
    (row,) = golden.header.rows
    header = dataclasses.replace(golden.header, rows=(dataclasses.replace(row, pipeline={
        **row.pipeline, "input_size": 96}),))
    write_golden(dataclasses.replace(golden, header=header), tmp_path / "settings.npz")
    assert main(["gate", "--golden", str(tmp_path / "settings.npz"), "--subset", "4",
                 "--data-root", str(root), "--out", str(tmp_path / "out")]) == 2
    assert "settings differ from the golden's: row 'scales=[1], flip': input_size: golden 96, now 64" in \
        capsys.readouterr().err
    checkpoint = tmp_path / "other.pth"
    checkpoint.write_bytes(b"weights")
    assert main(["gate", "--golden", str(golden_path), "--subset", "4", "--data-root", str(root),
                 "--checkpoint", str(checkpoint), "--out", str(tmp_path / "out")]) == 2
    assert "checkpoint differs from the golden's" in capsys.readouterr().err
    assert main(["gate", "--subset", "4"]) == 2
    assert "give --golden GOLDEN and --subset N" in capsys.readouterr().err


def test_a_float32_golden_is_gated_with_another_runtime(recorded, tmp_path):
    """The runtime is an execution choice, as the device is: the torch golden's images rerun in ONNX
    Runtime, and the tolerances decide. The rerun is compared with the golden, so it predicts no float32
    torch reference beside it (as a reproduce run of a variant does)."""
    root, _, golden_path, work = recorded
    outcome = gate(golden_path, root, work, runtime="onnxruntime", cache_dir=str(tmp_path / "cache"),
                   network_cache_dir=str(tmp_path / "networks"))
    assert outcome.exit_code == 0 and outcome.rows[0].count("changed") == 0
    assert (outcome.header.runtime, outcome.rerun.runtime, outcome.rerun.precision) == (
        "torch", "onnxruntime", "float32")
    assert "rerun on cpu with onnxruntime float32" in gate_text(outcome)
    report = load_report(outcome.rerun.report)
    assert report.config.runtime == "onnxruntime" and report.config.settings["variant_references"] is False
    (forward,) = report.throughput.forwards
    assert (forward.computed, forward.from_cache) == (SUBSET, 0)


def test_a_golden_is_gated_in_the_channels_last_layout(recorded, tmp_path):
    """The memory layout is this machine's choice, as the runtime is: the rerun runs channels_last and says
    so, with no contiguous reference beside it; a golden's own layout is not carried over, and another
    runtime refuses the layout before any work."""
    root, _, golden_path, work = recorded
    outcome = gate(golden_path, root, work, channels_last=True, cache_dir=str(tmp_path / "cache"))
    # no verdict asserted: the tiny network's maps are at noise level, so the layout's other rounding
    # regroups its people (the real network's outputs agree to 1e-4: benchmarks/test_runtime_speed.py)
    assert outcome.rows[0].count("identical") + outcome.rows[0].count("changed") <= SUBSET
    assert "rerun on cpu with torch float32 channels_last" in gate_text(outcome)
    report = load_report(outcome.rerun.report)
    assert report.config.settings["pipeline_options"]["channels_last"] is True
    (forward,) = report.throughput.forwards
    assert forward.computed == SUBSET
    header = load_golden(golden_path)[0].header
    settings = {**header.settings, "pipeline_options": {**header.settings.get("pipeline_options", {}),
                                                        "channels_last": True}}
    rerun = rerun_config(GateConfig(golden=golden_path, subset=SUBSET),
                         dataclasses.replace(header, settings=settings))
    assert "channels_last" not in rerun.pipeline_options
    with pytest.raises(BenchError, match="channels_last apply to the torch runtime only"):
        gate(golden_path, root, work, runtime="onnxruntime", channels_last=True)


def test_another_precision_an_int8_golden_or_other_weights_are_bad_input(recorded, tmp_path):
    root, _, golden_path, work = recorded
    with pytest.raises(BenchError, match="--precision float16 differs from the golden's float32"):
        gate(golden_path, root, work, precision="float16")
    int8 = edited_header(golden_path, tmp_path / "int8.npz", precision="int8")
    with pytest.raises(BenchError, match="quantized on the first 50 images of the full set"):
        gate(int8, root, work, precision="int8")
    other = TinyPoseNet()
    with torch.no_grad():
        other.high.bias.add_(1e-3)
    with pytest.raises(BenchError, match="differs from the golden's: provided weights with sha256"):
        gate(golden_path, root, work, model=other)


def test_a_reduced_precision_golden_says_its_reruns_may_differ_by_rounding(recorded):
    root, _, golden_path, work = recorded
    outcome = gate(golden_path, root, work)
    assert "reduced-precision" not in gate_text(outcome)
    bfloat16 = dataclasses.replace(outcome, header=dataclasses.replace(outcome.header, precision="bfloat16"))
    assert "a bfloat16 golden: reduced-precision reruns round otherwise" in gate_text(bfloat16)


def test_every_gate_leaves_a_json_record(recorded, tmp_path):
    root, _, golden_path, work = recorded
    passed = gate(golden_path, root, work)
    record = json.loads(write_gate_record(passed, tmp_path).read_text())
    assert (record["verdict"], record["exit_status"]) == ("pass", 0)
    assert record["golden"]["sha256"] == sha256_of(golden_path)
    assert record["golden"]["content_sha256"] == passed.golden_sha256
    drawn = [image_id for stratum in record["subset"]["strata"] for image_id in stratum["image_ids"]]
    assert sorted(drawn) == passed.image_ids.tolist() and record["subset"]["size"] == SUBSET
    assert [stratum["drawn"] for stratum in record["subset"]["strata"]] == [
        len(stratum["image_ids"]) for stratum in record["subset"]["strata"]]
    assert record["bound"]["largest_changed_fraction"] == pytest.approx(1 - 0.05 ** (1 / SUBSET))
    assert (record["rerun"]["runtime"], record["rerun"]["device"], record["rerun"]["batch_size"]) == (
        "torch", "cpu", 1)
    environment = record["rerun"]["environment"]
    assert environment["fingerprint_id"] == passed.rerun.environment.fingerprint_id
    assert "git_commit" in environment["host"]
    assert set(record["seconds"]) == {"check", "rerun", "compare", "estimate"}
    assert all(seconds >= 0 for seconds in record["seconds"].values())
    assert record["rows"][0]["identical"] == SUBSET and record["rows"][0]["estimate"] is None

    drawn = passed.image_ids.tolist()
    failed = gate(moved(golden_path, tmp_path / "changed.npz", {drawn[1]: 3.0}), root, work)
    path = write_gate_record(failed, tmp_path)
    assert path.name.startswith("gate-cpu-float32-") and path != tmp_path / "gate.json"
    record = json.loads(path.read_text())
    assert (record["verdict"], record["exit_status"], record["changed_images"]) == ("fail", 1, [drawn[1]])
    assert "bound" not in record
    (row,) = record["rows"]
    (change,) = row["changed_images"]
    assert change["image_id"] == drawn[1] and change["people"][0] == change["people"][1]
    assert change["largest_joint_move_px"] == pytest.approx(3.0 * math.sqrt(2), abs=1e-3)
    estimate = row["estimate"]["AP"]
    assert estimate["differing_images"] == 1 and estimate["change"] == failed.rows[0].estimate["AP"].delta
    assert estimate["golden"] == failed.rows[0].golden_metrics["AP"]


def test_poses_are_identical_within_tolerance_or_changed():
    rng = np.random.default_rng(0)
    joints = rng.uniform(0, 100, (3, 14, 3)).astype(np.float32)
    scores = np.array([0.9, 0.5, 0.2], dtype=np.float32)
    assert compare_poses(1, (joints, scores), (joints.copy(), scores.copy())).identical
    reordered = compare_poses(1, (joints, scores), (joints[::-1], scores[::-1]))
    assert not reordered.identical and reordered.within(0.05, 1e-4)
    assert reordered.pairs == ((0, 2), (1, 1), (2, 0))
    nudged = joints.copy()
    nudged[1, 4, 0] += 0.04
    assert compare_poses(1, (joints, scores), (nudged, scores)).within(0.05, 1e-4)
    nudged[1, 4, 0] += 0.5
    change = compare_poses(1, (joints, scores), (nudged, scores + np.float32(0.01)))
    assert not change.within(0.05, 1e-4) and change.joints[change.largest_move()] == 4
    assert change.largest_move() == 1 and max(change.score_changes) == pytest.approx(0.01)
    fewer = compare_poses(1, (joints, scores), (joints[:2], scores[:2]))
    assert fewer.people == (3, 2) and not fewer.within(1.0, 1.0)
