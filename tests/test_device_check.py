"""`bench device-check`: the CPU dry run end to end (--device cpu --quick), the pose comparison, a
failing step reported with its error, and bad input refused before any work."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from helpers import SYNTHETIC, reproduce_record

from bench.__main__ import main
from bench.devicecheck.cases import CaseMatrix, Explanation, Goal, PoseTolerance, RuntimeCase, load_matrix
from bench.devicecheck.check import profile_steps
from bench.devicecheck.consistency import compare_poses
from bench.devicecheck.gpu_tests import pytest_summary, run_gpu_tests
from bench.devicecheck.outcome import StepOutcome, run_step
from bench.devicecheck.poses import pose_differences
from bench.devicecheck.settings import CASES_FILE, DeviceCheckConfig
from bench.devicecheck.speed import judge_goals
from bench.devicecheck.summary import render_markdown, summary_record
from bench.reports.environment import Environment, Hardware
from bench.reports.rows import Row, RowBehaviour, RowResult, Subset, Verdict
from bench.reports.writing import new_report
from bench.speed.options import DEFAULT_ITERS

STEPS = {"gpu tests": "skipped", "profile float32": "passed", "profile onnxruntime float32": "passed",
         "goals": "passed", "weights": "passed", "reproduce cpu": "passed", "poses cpu vs cpu": "skipped",
         "torchrun 2 ranks": "passed"}


def person(image_id: int, offset: float = 0.0, joints: int = 14) -> dict:
    keypoints = [value for joint in range(joints) for value in (10.0 * joint + offset, 5.0 * joint, 1.0)]
    return {"image_id": image_id, "category_id": 1, "keypoints": keypoints, "score": 0.9}


SMALL_QUICK = """[quick]
batches = [1, 2]
precisions = ["float32"]
sizes = ["96x64"]
iters = 1
warmup = 0
profile_input_size = 64
reproduce_input_size = 128
reproduce_scales = [[1]]
pytest_timeout_s = 120
reproduce_timeout_s = 120

{entries}
[poses]
joint_tolerance_px = 0.05
explained = []
"""
"""The shipped quick matrix at smaller network inputs: a CPU dry run compares no poses (the CPU is its
own reference), so it needs no people found, and every step runs as on a GPU at a quarter of the cost."""


def runtime_case_entry(runtime: str, precision: str, size: str = 'size = "96x64"\n') -> str:
    """One [[quick.runtime_cases]] entry at batch 1 (``size``: its size line, or none)."""
    return f'[[quick.runtime_cases]]\nruntime = "{runtime}"\nprecision = "{precision}"\n{size}batch = 1\n'


QUICK_RUNTIME_CASE = runtime_case_entry("onnxruntime", "float32")


def write_cases(tmp_path: Path, entries: str = QUICK_RUNTIME_CASE) -> Path:
    """A --config file naming a cases file of the small quick matrix with ``entries`` (TOML arrays of
    tables) in its [quick] table, and a network cache of the test's own."""
    cases = tmp_path / "cases.toml"
    cases.write_text(SMALL_QUICK.format(entries=entries))
    config = tmp_path / "config.toml"
    config.write_text(f'[device-check]\ncases = "{cases}"\nnetwork_cache_dir = "{tmp_path / "networks"}"\n')
    return config


@pytest.mark.slow
def test_quick_cpu_run_passes_every_step_and_writes_the_reports_and_summary(tmp_path, capsys):
    out = tmp_path / "tmp"
    shipped = load_matrix(CASES_FILE, quick=True)
    config = write_cases(tmp_path)
    matrix = load_matrix(tmp_path / "cases.toml", quick=True)
    assert (matrix.batches, matrix.precisions, matrix.reproduce_scales) == (
        shipped.batches, shipped.precisions, shipped.reproduce_scales)
    assert [(case.runtime, case.precision, case.batch) for case in matrix.runtime_cases] == [
        (case.runtime, case.precision, case.batch) for case in shipped.runtime_cases] == [
        ("onnxruntime", "float32", 1)]
    assert main(["device-check", "--device", "cpu", "--quick", "--config", str(config),
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    (summary_json,) = out.glob("device-check-cpu-*-quick-*.json")
    record = json.loads(summary_json.read_text())
    assert {step["name"]: step["status"] for step in record["steps"]} == STEPS, record["steps"]
    assert record["exit_code"] == 0 and record["hardware"] == "cpu"
    assert len(record["speed"]) == len(matrix.batches) * (1 + len(matrix.sizes)) + len(matrix.runtime_cases)
    assert record["speed"][-1]["runtime"] == "onnxruntime" and record["speed"][-1]["case"] == \
        "synthetic-96x64-b1-s1-flip"
    assert list((tmp_path / "networks").glob("*.onnx"))  # exported into the configured cache
    for row in record["speed"]:
        assert row["images_per_s"] > 0 and row["schedule"] == "overlapped"
        assert row["network_ms"] > 0 and row["postprocess_ms"] > 0
        assert row["postprocess_vs_network"] == pytest.approx(row["postprocess_ms"] / row["network_ms"])
        assert (out / row["report"]).is_file()
    assert len(list(out.glob("profile-cpu-float32-*.json"))) == len(record["speed"]) - 1
    assert len(list(out.glob("profile-cpu-onnxruntime-float32-*.json"))) == 1
    assert len(list(out.glob("reproduce-cpu-float32-*.json"))) == 2  # the run (its own reference), torchrun
    markdown = summary_json.with_suffix(".md").read_text()
    assert "## Steps" in markdown and "## Speed" in markdown and "post-processing ms/batch" in markdown
    assert "| synthetic-96x64-b1-s1-flip | onnxruntime | float32 |" in markdown
    assert "| gpu tests | skipped |" in markdown
    assert "images/s" in printed and "torchrun 2 ranks" in printed and str(summary_json) in printed


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_without_cuda_it_exits_2_before_any_work(tmp_path, capsys):
    assert main(["device-check", "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert "device-check needs a CUDA GPU" in error and "--device cpu --quick" in error
    assert not (tmp_path / "out").exists()


def test_bad_cases_file_is_refused_with_its_name(tmp_path, capsys):
    cases = tmp_path / "cases.toml"
    cases.write_text('[quick]\nbatches = [1]\nprecisions = ["float64"]\n')
    config = tmp_path / "config.toml"
    config.write_text(f'[device-check]\ncases = "{cases}"\n')
    assert main(["device-check", "--device", "cpu", "--quick", "--config", str(config),
                 "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert str(cases) in error and "[quick]" in error


BAD_ENTRIES = {
    "unknown runtime": (runtime_case_entry("tensorrtx", "float16"), "runtime_cases entry 1",
                        "--runtime must be one of torch, onnxruntime"),
    "precision the runtime does not run": (
        QUICK_RUNTIME_CASE + runtime_case_entry("tensorrt", "int8"), "runtime_cases entry 2",
        "--runtime tensorrt does not run --precision int8"),
    "no size": (runtime_case_entry("onnxruntime", "float32", size=""), "runtime_cases entry 1", "'size'"),
    "relative to an unknown precision": (
        '[[quick.goals]]\nlabel = "b32"\nruntime = "tensorrt"\nprecision = "float16"\n'
        'relative_to = { runtime = "torch", precision = "float64" }\nmin_ratio = 1.5\n',
        "goals entry 1", "precision must be one of"),
    "a ratio without its reference": (
        '[[quick.goals]]\nlabel = "b32"\nruntime = "tensorrt"\nprecision = "float16"\nmin_ratio = 1.5\n',
        "goals entry 1", "relative_to and min_ratio go together"),
}


@pytest.mark.parametrize(("entries", "entry", "problem"), BAD_ENTRIES.values(), ids=BAD_ENTRIES)
def test_a_bad_runtime_case_or_goal_is_exit_2_naming_the_file_and_the_entry(tmp_path, capsys, entries, entry,
                                                                          problem):
    config = write_cases(tmp_path, entries)
    assert main(["device-check", "--device", "cpu", "--quick", "--config", str(config),
                 "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert f"{tmp_path / 'cases.toml'} [quick]" in error and entry in error and problem in error


@pytest.mark.parametrize(("runtime", "precision", "reason"), [
    ("tensorrt", "float16", "--runtime tensorrt --precision float16 needs a CUDA device"),
    ("onnxruntime", "float16", "--runtime onnxruntime --precision float16 needs a CUDA device"),
    ("onnxruntime", "float32", "--runtime onnxruntime needs the Python package onnxruntime")])
def test_a_runtime_case_that_cannot_run_here_is_skipped_with_its_reason(tmp_path, monkeypatch, runtime,
                                                                        precision, reason):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if the optional package were not installed
    case = RuntimeCase(runtime, precision, (96, 64), 1)
    matrix = CaseMatrix(batches=(1,), precisions=(), sizes=((96, 64),), iters=1, warmup=0,
                        profile_input_size=64, reproduce_input_size=128, reproduce_scales=((1.0,),),
                        pytest_timeout_s=1.0, reproduce_timeout_s=1.0, runtime_cases=(case,))
    (outcome,) = profile_steps(DeviceCheckConfig(device="cpu", out=tmp_path), matrix)
    assert outcome.name == f"profile {case.name}" and outcome.status == "skipped" and outcome.passed
    assert reason in outcome.detail and not list(tmp_path.iterdir())


def test_same_poses_have_no_differences():
    detections = [person(1), person(1, offset=100.0), person(2)]
    assert pose_differences(detections, list(reversed(detections)), tolerance_px=0.05) == []


def test_joint_beyond_tolerance_and_missing_person_are_differences_with_listed_explanations():
    reference = [person(1), person(1, offset=100.0), person(2)]
    found = [person(1, offset=0.06), person(1, offset=100.0)]
    explained = [Explanation(2, "people", "score at the threshold")]
    differences = pose_differences(found, reference, tolerance_px=0.05, explained=explained)
    assert [(d.image_id, d.kind) for d in differences] == [(1, "joints"), (2, "people")]
    assert "0.06 px" in differences[0].description and differences[0].explanation is None
    assert differences[1].description == "0 people against 1"
    assert differences[1].explanation == "score at the threshold"


def test_a_failing_step_is_reported_with_its_error_and_the_exit_status_is_1():
    def broken() -> StepOutcome:
        raise RuntimeError("no kernel image for this device")

    outcomes = [run_step("profile bfloat16", broken), StepOutcome("gpu tests", True, "4 passed")]
    assert not outcomes[0].passed and "RuntimeError: no kernel image for this device" in outcomes[0].error
    environment = Environment("m", hardware=Hardware(usable_cores=2))
    record = summary_record(outcomes, "cpu", True, environment, "2026-01-01T00:00:00+00:00")
    assert record["exit_code"] == 1
    markdown = render_markdown(record)
    assert "| profile bfloat16 | failed |" in markdown and "no kernel image for this device" in markdown


def test_gpu_tests_step_fails_with_pytest_summary(tmp_path: Path):
    (tmp_path / "conftest.py").write_text("")
    (tmp_path / "test_fails.py").write_text(
        "import pytest\n\n@pytest.mark.gpu\ndef test_fails():\n    assert False\n\n"
        "def test_not_gpu():\n    pass\n")
    outcome = run_gpu_tests(tmp_path, timeout_s=120)
    assert not outcome.passed
    assert outcome.detail.startswith("1 failed, 1 deselected") and "exit status 1" in outcome.error


def test_gpu_tests_that_all_skip_make_a_skipped_step_not_a_passed_one(tmp_path: Path):
    (tmp_path / "conftest.py").write_text("")
    (tmp_path / "test_skips.py").write_text(
        "import pytest\n\n@pytest.mark.gpu\ndef test_needs_cuda():\n    pytest.skip('no CUDA')\n")
    outcome = run_gpu_tests(tmp_path, timeout_s=120)
    assert outcome.status == "skipped" and "1 skipped" in outcome.detail


def test_pytest_summary_reads_the_counts_line():
    output = "....\n==== 3 passed, 1 skipped, 566 deselected in 6.32s ====\n"
    assert pytest_summary(output) == "3 passed, 1 skipped, 566 deselected in 6.32s"
    assert pytest_summary("no tests ran") is None


def reproduce_outcome(tmp_path: Path, name: str, detections: list[dict]) -> StepOutcome:
    """A finished reproduce step whose report's one row's results file holds ``detections``."""
    results = tmp_path / f"{name}.json"
    results.write_text(json.dumps(detections))
    result = RowResult("sample [1]", "published", (1.0,), True, Subset("gt.json", 2, False),
                       metrics={"AP": 0.5}, behaviour=RowBehaviour({}, {}, SYNTHETIC, str(results), None))
    report = new_report("reproduce", reproduce_record(), command=["test"], environment=Environment("m"),
                        rows=(Row(result, Verdict("skipped", "test", {}, {})),))
    return StepOutcome(name, True, "", data={"report": report})


def test_pose_step_passes_on_explained_differences_only_and_lists_them(tmp_path):
    device = reproduce_outcome(tmp_path, "cuda", [person(1, offset=0.5)])
    cpu = reproduce_outcome(tmp_path, "cpu", [person(1), person(2)])
    explained = (Explanation(1, "joints", "bfloat16 rounding"),)
    outcome = compare_poses(device, cpu, PoseTolerance(0.05, explained))
    assert not outcome.passed and "2 differences, 1 unexplained" in outcome.detail
    assert "image 1: joints apart" in outcome.detail and "(explained: bfloat16 rounding)" in outcome.detail
    assert "image 2: 0 people against 1 (unexplained)" in outcome.detail
    explained += (Explanation(2, "people", "a score at the threshold"),)
    assert compare_poses(device, cpu, PoseTolerance(0.05, explained)).passed


def test_pose_step_is_not_run_when_a_reproduce_run_failed(tmp_path):
    cpu = reproduce_outcome(tmp_path, "cpu", [person(1)])
    outcome = compare_poses(StepOutcome("reproduce cuda", False, "no report"), cpu, PoseTolerance(0.05, ()))
    assert not outcome.passed and outcome.error == "needs reproduce cuda, which failed"


def test_full_matrix_is_batch_1_8_32_at_three_precisions_on_two_synthetic_sizes_with_the_gpu_goals():
    matrix = load_matrix(CASES_FILE, quick=False)
    assert matrix.batches == (1, 8, 32) and matrix.precisions == ("float32", "tf32", "bfloat16")
    assert matrix.sizes == ((512, 512), (704, 512)) and matrix.reproduce_scales == ((1.0,), (2.0, 1.0))
    assert matrix.two_scale_batches == (8,)
    assert [(goal.label, goal.precision, goal.min_images_per_s) for goal in matrix.goals] == [
        ("synthetic-704x512-b32-s1-flip", "bfloat16", 1000.0),
        ("synthetic-704x512-b8-s2+1-flip", "bfloat16", 200.0),
        ("synthetic-704x512-b32-s1-flip", "float16", None)]
    assert matrix.goals[0].max_postprocess_vs_network == 0.2
    assert matrix.iters >= DEFAULT_ITERS  # two device-check reports can be judged by `bench compare`


def test_full_matrix_profiles_tensorrt_and_onnxruntime_cuda_on_the_goal_workload_with_the_relative_goal():
    matrix = load_matrix(CASES_FILE, quick=False)
    assert [(case.runtime, case.precision) for case in matrix.runtime_cases] == [
        ("tensorrt", "float16"), ("onnxruntime", "float32"), ("onnxruntime", "float16")]
    goal_case = matrix.goals[0].label
    for case in matrix.runtime_cases:
        config = matrix.runtime_profile_config(case, device="cuda")
        assert (config.runtime, config.precision, config.inputs, config.sizes, config.batch_sizes) == (
            case.runtime, case.precision, "synthetic", ((704, 512),), (32,))
        assert config.scales == (1.0,) and config.flip
    relative = matrix.goals[-1]
    assert (relative.label, relative.runtime, relative.precision) == (goal_case, "tensorrt", "float16")
    assert relative.relative_to == ("torch", "bfloat16") and relative.min_ratio == 1.5
    assert relative.min_images_per_s is None


def speed(case: str, images_per_s: float, post: float = 0.1, runtime: str = "torch",
          precision: str = "bfloat16") -> dict:
    return {"case": case, "runtime": runtime, "precision": precision, "images_per_s": images_per_s,
            "postprocess_vs_network": post}


def test_goals_are_met_not_met_or_not_measured_on_the_profiled_cases():
    goals = (Goal("fast-b32", "bfloat16", 1000.0, 0.2), Goal("two-scale-b8", "bfloat16", 200.0))
    met = judge_goals(goals, [speed("fast-b32", 1250.0), speed("two-scale-b8", 210.0, post=0.5)])
    assert met.passed and [goal["status"] for goal in met.data["goals"]] == ["met", "met"]
    missed = judge_goals(goals, [speed("fast-b32", 900.0, post=0.3)])
    assert not missed.passed and missed.error == "2 of 2 goals not met"
    first, second = missed.data["goals"]
    assert first["status"] == "not met" and "900.0 images/s < 1000" in first["detail"]
    assert "post-processing 0.3 of the network > 0.2" in first["detail"]
    assert second["status"] == "not measured"
    assert judge_goals((), []).passed


TENSORRT_GOAL = Goal("b32", "float16", runtime="tensorrt", relative_to=("torch", "bfloat16"), min_ratio=1.5)
RELATIVE = {
    "met": ([speed("b32", 1000.0), speed("b32", 1600.0, runtime="tensorrt", precision="float16")],
            "met", "1600.0 images/s, post-processing 0.1 of the network, 1.60x torch bfloat16"),
    "not met": ([speed("b32", 1000.0), speed("b32", 1400.0, runtime="tensorrt", precision="float16")],
                "not met", "1.40x torch bfloat16 < 1.5x"),
    "no tensorrt row": ([speed("b32", 1000.0), speed("b32", 1600.0, precision="float16")],
                        "not measured", "no profile of this case on tensorrt at float16"),
    "no torch row": ([speed("b8", 1000.0), speed("b32", 1600.0, runtime="tensorrt", precision="float16")],
                     "not measured", "no profile of this case on torch at bfloat16"),
}


@pytest.mark.parametrize(("rows", "status", "detail"), RELATIVE.values(), ids=RELATIVE)
def test_tensorrt_float16_goal_is_judged_against_torch_bfloat16_on_the_same_case(rows, status, detail):
    judged = judge_goals((TENSORRT_GOAL,), rows)
    (goal,) = judged.data["goals"]
    assert (goal["goal"], goal["runtime"], goal["precision"]) == ("b32", "tensorrt", "float16")
    assert goal["status"] == status and judged.passed == (status == "met")
    assert goal["detail"] == detail
    assert f"b32 tensorrt float16: {status} ({detail})" == judged.detail
