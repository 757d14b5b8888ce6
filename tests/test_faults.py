"""Faults and hostile files, one test per cause: exit codes CI can read, files that are not what they seem
(FIFOs, devices, folders, deep nesting, wrong types), a full disk, empty ground truth and results a report
no longer owns. Each case must end in a clear exit status, never hang and never leave a partial file."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest
from helpers import TinyPoseNet

from bench import atomic, reading
from bench.__main__ import main
from bench.accuracy.reproduce import run_reproduction
from bench.accuracy.settings import ReproduceConfig
from bench.data.dataset import DataConfig
from bench.errors import EXIT_BAD_INPUT, EXIT_BUG, EXIT_DISK_FULL, BenchError, DiskFull
from bench.evaluation.bootstrap import BootstrapSettings
from bench.testing.synthetic_data import (
    DetectionSpec,
    GroundTruthSpec,
    make_detections,
    make_ground_truth,
    write_mini_dataset,
)

pytestmark = pytest.mark.timeout(60)  # a read that blocks (a FIFO) must fail the test, not hang the suite

TINY_IMAGES = 2


@pytest.fixture(scope="module")
def scored_files(tmp_path_factory) -> tuple[Path, Path]:
    """A small generated ground truth and detections on it, as files."""
    folder = tmp_path_factory.mktemp("scored")
    gt = make_ground_truth(GroundTruthSpec(num_images=4, seed=5))
    gt_path, results_path = folder / "gt.json", folder / "results.json"
    gt_path.write_text(json.dumps(gt))
    results_path.write_text(json.dumps(make_detections(gt, DetectionSpec(seed=6))))
    return gt_path, results_path


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    return write_mini_dataset(tmp_path_factory.mktemp("tiny"), num_images=TINY_IMAGES, seed=3)


def tiny_config(root: Path, work: Path) -> ReproduceConfig:
    return ReproduceConfig(data=DataConfig(data_root=root), out=str(work / "out"),
                           cache_dir=str(work / "cache"), workers=0, sample=False,
                           bootstrap=BootstrapSettings(resamples=10), scales=((1.0,),))


# --- exit codes -------------------------------------------------------------------------------------------

def test_an_internal_error_is_exit_3_with_one_line_and_the_traceback_in_a_file(scored_files, tmp_path,
                                                                              monkeypatch, capsys):
    def broken(config):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("bench.evaluation.files.evaluate_files", broken)
    monkeypatch.setenv("BENCH_TRACEBACK_DIR", str(tmp_path))
    assert main(["evaluate", *map(str, scored_files)]) == EXIT_BUG
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "bug" in line and "ZeroDivisionError: a bug" in line
    (written,) = tmp_path.glob("bench-bug-*.txt")
    assert str(written) in line
    assert "Traceback" in written.read_text() and "def broken" not in line


@pytest.mark.parametrize("error", [DiskFull("the disk is full; kept: the cache"),
                                   OSError(errno.ENOSPC, "No space left on device", "report.json")])
def test_a_full_disk_is_exit_4_and_says_how_to_resume(scored_files, monkeypatch, capsys, error):
    def full(config):
        raise error

    monkeypatch.setattr("bench.evaluation.files.evaluate_files", full)
    assert main(["evaluate", *map(str, scored_files)]) == EXIT_DISK_FULL
    message = capsys.readouterr().err
    assert "full" in message and "Traceback" not in message


# --- files that are not what they seem --------------------------------------------------------------------

@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "pipe.json"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("reader", [reading.read_json, reading.read_toml, reading.read_bytes,
                                    reading.sha256_of])
def test_a_fifo_is_refused_without_blocking(fifo, reader):
    with pytest.raises(BenchError, match=f"{fifo}.* is a FIFO"):
        reader(fifo, "input")


def test_a_folder_and_a_device_are_refused(tmp_path):
    with pytest.raises(BenchError, match="is a folder"):
        reading.read_bytes(tmp_path, "image")
    with pytest.raises(BenchError, match="is a character device"):
        reading.read_bytes("/dev/zero", "image")  # would otherwise read forever


def test_commands_name_a_fifo_and_exit_2(fifo, scored_files, tmp_path, capsys):
    gt, results = map(str, scored_files)
    assert main(["evaluate", str(fifo), results]) == EXIT_BAD_INPUT
    assert main(["evaluate", gt, str(fifo)]) == EXIT_BAD_INPUT
    assert main(["diff", str(fifo), results, "--gt", gt, "--out", str(tmp_path / "d")]) == EXIT_BAD_INPUT
    errors = capsys.readouterr().err
    assert errors.count(f"{fifo} is a FIFO") == 3


def test_a_fifo_image_is_a_named_problem(fifo):
    from bench.data.images import image_problem, read_image

    assert "is a FIFO" in image_problem(fifo)
    with pytest.raises(BenchError, match="is a FIFO"):
        read_image(fifo)


def test_a_size_limit_is_checked_before_reading(tmp_path):
    path = tmp_path / "big.json"
    path.write_bytes(b"[" + b" " * 100 + b"]")
    with pytest.raises(BenchError, match="102 bytes, more than the limit of 50 bytes"):
        reading.read_json(path, "results file", max_bytes=50)


@pytest.mark.parametrize("text, parser", [("[" * 100_000, reading.read_json),
                                          ("[" * 70 + "]" * 70, reading.read_json),
                                          ("a = " + "[" * 100_000, reading.read_toml),
                                          ("a = " + "[" * 70 + "]" * 70, reading.read_toml)])
def test_deep_nesting_is_refused_not_a_recursion_error(tmp_path, text, parser):
    path = tmp_path / "deep"
    path.write_text(text)
    with pytest.raises(BenchError, match="nests deeper than 64 levels|not valid"):
        parser(path, "input")


def test_an_integer_too_long_to_convert_is_refused(tmp_path):
    path = tmp_path / "long.json"
    path.write_text("[" + "9" * 5000 + "]")
    with pytest.raises(BenchError, match="not usable JSON"):
        reading.read_json(path, "report")


def test_deep_nesting_in_evaluate_and_config_is_exit_2(scored_files, tmp_path, capsys):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000)
    toml = tmp_path / "deep.toml"
    toml.write_text("[reproduce]\nimage_ids = " + "[" * 100_000)
    assert main(["evaluate", str(scored_files[0]), str(deep)]) == EXIT_BAD_INPUT
    assert main(["reproduce", "--config", str(toml), "--out", str(tmp_path / "o")]) == EXIT_BAD_INPUT
    assert "RecursionError" not in capsys.readouterr().err


@pytest.mark.parametrize("corrupt, named", [
    (lambda det: det.update(score="high"), "score 'high' is not a finite number"),
    (lambda det: det.update(keypoints="abc"), "keypoints"),
    (lambda det: det.update(keypoints=[{"x": 1}] * 42), "keypoints"),
    (lambda det: det.update(image_id=[1]), "image_id"),
    (lambda det: det.update(category_id=None), "category_id"),
])
def test_bad_types_in_results_are_exit_2_naming_the_entry(scored_files, tmp_path, capsys, corrupt, named):
    gt, results = scored_files
    detections = json.loads(results.read_text())
    corrupt(detections[3])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(detections))
    assert main(["evaluate", str(gt), str(bad)]) == EXIT_BAD_INPUT
    diff = ["diff", str(results), str(bad), "--gt", str(gt), "--out", str(tmp_path / "d")]
    assert main(diff) == EXIT_BAD_INPUT
    errors = capsys.readouterr().err
    assert errors.count("detection 3") == 2 and named in errors and "Traceback" not in errors


@pytest.mark.parametrize("corrupt, named", [
    (lambda gt: gt["annotations"][0].update(keypoints="abc"), "annotations[0]"),
    (lambda gt: gt["annotations"][0].update(bbox={"x": 1}), "annotations[0]"),
    (lambda gt: gt["images"][0].update(crowdIndex="high"), "crowdIndex"),
    (lambda gt: gt.update(images={"id": 1}), "images"),
])
def test_bad_types_in_ground_truth_are_exit_2_naming_the_entry(scored_files, tmp_path, capsys, corrupt,
                                                                named):
    gt_path, results = scored_files
    gt = json.loads(gt_path.read_text())
    corrupt(gt)
    bad = tmp_path / "gt.json"
    bad.write_text(json.dumps(gt))
    assert main(["evaluate", str(bad), str(results)]) == EXIT_BAD_INPUT
    errors = capsys.readouterr().err
    assert named in errors and "Traceback" not in errors


# --- a full disk ------------------------------------------------------------------------------------------

def test_a_new_file_appears_whole_or_not_at_all(tmp_path, monkeypatch):
    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError, match="No space left"):
        atomic.write_new(tmp_path, "report", ".json", b"{}")
    assert list(tmp_path.iterdir()) == []  # neither an empty report nor a temporary file


def test_two_writers_of_one_name_get_two_files(tmp_path):
    first = atomic.write_new(tmp_path, "report", ".json", b"1")
    second = atomic.write_new(tmp_path, "report", ".json", b"2")
    assert (first.name, second.name) == ("report.json", "report-2.json")
    assert (first.read_bytes(), second.read_bytes()) == (b"1", b"2")


def test_a_disk_without_room_is_refused_before_any_work(tmp_path, monkeypatch):
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=4096))
    with pytest.raises(BenchError, match="--out .* 4,096 bytes free, less than"):
        atomic.check_writable_folder(tmp_path / "out", "--out")


def test_a_disk_filling_up_at_the_report_keeps_the_cache_and_resumes(tiny_root, tmp_path, monkeypatch):
    """The report cannot be written: DiskFull names the cache and the rerun; no report file is left;
    the rerun predicts nothing again."""
    config = tiny_config(tiny_root, tmp_path)

    def no_space(folder, stem, suffix, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(Path(folder) / f"{stem}{suffix}"))

    with monkeypatch.context() as patch:
        patch.setattr(atomic, "write_new", no_space)
        with pytest.raises(DiskFull, match=f"prediction cache {config.cache_dir}.*rerun the same command"):
            run_reproduction(config, model=TinyPoseNet())
    assert not list(Path(config.out).glob("*.json"))
    network = TinyPoseNet()
    resumed = run_reproduction(config, model=network)
    assert network.calls == 0 and resumed.report.rows[0].result.metrics is not None


# --- ground truth without people, results a report no longer owns ----------------------------------------

def test_images_without_people_evaluate_as_the_protocol_does(tiny_root, tmp_path):
    """A ground truth with no annotations (an image-id subset of empty images) scores -1 where there is
    nothing to score, after the predictions, and the report is written."""
    root = tmp_path / "empty"
    shutil.copytree(tiny_root, root)
    annotations = root / "annotations" / "crowdpose_test.json"
    gt = json.loads(annotations.read_text())
    annotations.write_text(json.dumps({**gt, "annotations": []}))
    result = run_reproduction(tiny_config(root, tmp_path), model=TinyPoseNet())
    (row,) = result.report.rows
    assert set(row.result.metrics.values()) == {-1.0}
    assert result.paths["json"].is_file()


def test_diff_refuses_results_rewritten_after_the_report(tiny_root, tmp_path, capsys):
    result = run_reproduction(tiny_config(tiny_root, tmp_path), model=TinyPoseNet())
    report = str(result.paths["json"])
    results = Path(result.report.rows[0].result.behaviour.results_json)
    results.write_text("[]")
    assert main(["diff", report, report, "--out", str(tmp_path / "d")]) == EXIT_BAD_INPUT
    assert "not the predictions the report scored" in capsys.readouterr().err
