"""bench profile: a real (tiny) profile run has every stage, consistent statistics and its files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import TinyPoseNet

from bench.__main__ import main
from bench.errors import BenchError
from bench.reports.schema import load_report
from bench.reports.stats import END_TO_END, PERCENTILES, STAT_FIELDS
from bench.schedule import READ_IMAGE
from bench.speed.options import MAX_ITERATIONS
from bench.speed.profile import ProfileConfig, measured_enough, run_profile
from reference.stages import stage_names

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def tiny_profile_config(tmp_path, extra: str = "") -> Path:
    """A --config file of one measured batch (no least time), no warm-up, input size 64."""
    path = tmp_path / "profile.toml"
    path.write_text(f"[profile]\niters = 1\nmin_time_s = 0\nwarmup = 0\ninput_size = 64\n{extra}")
    return path


def tiny_config(tmp_path, **options) -> ProfileConfig:
    settings = {"device": "cpu", "iters": 3, "warmup": 1, "input_size": 64, "out_dir": tmp_path / "results"}
    return ProfileConfig(**{**settings, **options})


def assert_serial_stages_fit_in_their_batch(report) -> None:
    """On the serial schedule a batch's stages run one after the other inside its end_to_end (from the
    previous batch's finish to its own), so per measured batch their sum is at most end_to_end."""
    timings = report.timings
    inside = [stats.samples_ms for stage, stats in timings.items()
              if stats.in_iteration and stage != END_TO_END]
    for index, total in enumerate(timings[END_TO_END].samples_ms):
        assert sum(samples[index] for samples in inside) <= total + 1e-6, index


@pytest.mark.parametrize("schedule", ["overlapped", "serial"])
def test_sample_profile_times_every_stage_and_writes_reports(tmp_path, schedule):
    config = tiny_config(tmp_path, inputs="sample", batch_sizes=(1, 2), scales=(2.0, 1.0),
                         trace=tmp_path / "trace.json", schedule=schedule)
    results = run_profile(config, model=TinyPoseNet())
    assert [report.config.label for report, _ in results] == ["sample-natural-b1-s2+1-flip",
                                                                 "sample-natural-b2-s2+1-flip"]
    for report, written in results:
        timings = report.timings
        assert list(timings) == [READ_IMAGE, *stage_names((2.0, 1.0)), END_TO_END, "evaluate"]
        measured = timings[END_TO_END].count
        assert config.iters <= measured <= config.iters + 1  # overlapped: the stop lags one batch
        for stage, stats in timings.items():
            assert stats.count == len(stats.samples_ms) == (config.iters if stage == "evaluate" else measured)
            assert all(getattr(stats, field) >= 0 for field in STAT_FIELDS if field not in PERCENTILES)
            assert stats.min_ms <= stats.p50_ms <= stats.max_ms
        assert not timings["evaluate"].in_iteration
        if schedule == "serial":
            assert_serial_stages_fit_in_their_batch(report)
        batch = report.config.batch
        assert report.throughput.images_per_s == pytest.approx(batch * 1000.0 / timings[END_TO_END].mean_ms)
        assert report.memory.peak_bytes > 0 and report.config.schedule == schedule
        assert report.stability.input_cycle == len(report.config.images) == 2  # the sample's two images
        assert report.config.weights.kind == "provided"
        assert "rendered maps" in report.config.postprocess_input
        assert report.config.pipeline["scales"] == [2.0, 1.0]
        assert load_report(written["json"]) == report
        assert written["stages_png"].read_bytes().startswith(PNG_MAGIC)
        markdown = written["md"].read_text()
        assert "## Per-stage latency (ms)" in markdown and "< 10" in markdown and "< 100" in markdown
    trace = json.loads((tmp_path / "trace.json").read_text())
    names = {event.get("name") for event in trace["traceEvents"]}
    assert {"forward_x1", "match"} <= names
    assert results[0][0].config.trace == str(tmp_path / "trace.json")
    assert results[1][0].config.trace is None


def test_synthetic_sizes_without_flip(tmp_path):
    config = tiny_config(tmp_path, inputs="synthetic", sizes=((128, 96), (64, 64)), flip=False, iters=2,
                         schedule="serial")
    results = run_profile(config, model=TinyPoseNet())
    assert [report.config.label for report, _ in results] == ["synthetic-128x96-b1-s1-noflip",
                                                                 "synthetic-64x64-b1-s1-noflip"]
    for report, _ in results:
        assert "evaluate" not in report.timings
        assert "not timed" in report.config.evaluation
        assert report.config.flip is False
        assert report.timings["forward_x1"].count == 2
        assert_serial_stages_fit_in_their_batch(report)


@pytest.mark.parametrize(
    ("options", "message"),
    [({"iters": 0}, "iters"), ({"batch_sizes": (0,)}, "--batch-size"),
     ({"scales": (2.0, 0.5)}, "scales .* must include 1"), ({"inputs": "video"}, "--inputs"),
     ({"input_size": 0}, "input_size must be positive"), ({"sizes": ((0, 5),)}, "--sizes"),
     ({"iters": MAX_ITERATIONS + 1}, "iters"), ({"min_time_s": -1.0}, "--min-time"),
     ({"min_time_s": 601.0}, "--min-time"), ({"maps": "peaky"}, "maps"),
     ({"schedule": "eager"}, "--schedule"),
     ({"workers": 65}, "workers"), ({"precision": "fp8"}, "precision must be one of"),
     ({"maps": "broad", "checkpoint": "weights.pth"}, "broad maps apply only without a checkpoint")],
)
def test_bad_settings_are_rejected(tmp_path, options, message):
    with pytest.raises(BenchError, match=message):
        tiny_config(tmp_path, **options)


def test_measuring_goes_on_until_both_iterations_and_time_are_reached(tmp_path):
    config = tiny_config(tmp_path, iters=3, min_time_s=0.5)
    assert not measured_enough([400.0, 400.0], config)  # time reached, iterations not
    assert not measured_enough([100.0] * 4, config)  # iterations reached, time not
    assert measured_enough([100.0] * 5, config)
    assert measured_enough([0.01] * MAX_ITERATIONS, config)  # the cap ends it whatever the time


def test_min_time_measures_more_iterations_and_is_recorded(tmp_path):
    config = tiny_config(tmp_path, inputs="synthetic", sizes=((64, 64),), iters=2, min_time_s=0.2,
                         schedule="serial")
    ((report, written),) = run_profile(config, model=TinyPoseNet())
    end_to_end = report.timings[END_TO_END]
    assert end_to_end.count >= 2 and sum(end_to_end.samples_ms) >= 200.0
    assert all(stats.count == end_to_end.count for stats in report.timings.values())
    assert report.config.min_time_s == 0.2 and report.config.iters == 2
    assert report.throughput.iterations_per_s == pytest.approx(1000.0 / end_to_end.mean_ms)
    assert load_report(written["json"]) == report


def test_cli_profiles_the_real_network_with_synthetic_weights(tmp_path, capsys, monkeypatch):
    out = tmp_path / "results"
    arguments = ["profile", "--device", "cpu", "--inputs", "synthetic", "--sizes", "64x64", "--out", str(out),
                 "--config", str(tiny_profile_config(tmp_path))]
    monkeypatch.setattr("sys.argv", ["/anywhere/bench/__main__.py", *arguments])  # as `python -m bench`
    code = main(arguments)
    assert code == 0
    (path,) = out.glob("profile-cpu-float32-*-synthetic-64x64-b1-s1-flip-*.json")
    report = load_report(path)
    assert report.config.weights.kind == "synthetic" and report.config.weights.sha256 is None
    assert report.config.weights.builder == "bench.testing.synthetic_weights.deterministic_state_dict"
    assert report.config.precision == "float32"
    assert report.environment.numerics.cudnn_benchmark is False
    assert report.config.config_file.table == {"iters": 1, "min_time_s": 0, "warmup": 0, "input_size": 64}
    assert report.command[:4] == ("python", "-m", "bench", "profile") and "--config" in report.command
    assert "images/s" in capsys.readouterr().err


def test_cli_rejects_a_negative_min_time(tmp_path, capsys):
    assert main(["profile", "--min-time", "-1", "--out", str(tmp_path)]) == 2
    assert "--min-time must be in [0, 600] seconds" in capsys.readouterr().err


def test_cli_profiles_broad_maps_with_the_fan_in_weights(tmp_path):
    out = tmp_path / "results"
    config = tiny_profile_config(tmp_path, 'maps = "broad"\n')
    assert main(["profile", "--device", "cpu", "--inputs", "synthetic", "--sizes", "64x64", "--out", str(out),
                 "--config", str(config)]) == 0
    (path,) = out.glob("profile-cpu-float32-*-synthetic-64x64-b1-s1-flip-broad-*.json")
    report = load_report(path)
    assert report.config.weights.builder == "bench.testing.synthetic_weights.fan_in_state_dict"
    assert report.config.weights.seed == 5
    assert report.config.postprocess_input.startswith("network output, broad maps")


def test_cli_rejects_sizes_for_sample_inputs(tmp_path, capsys):
    assert main(["profile", "--inputs", "sample", "--sizes", "64x64", "--out", str(tmp_path)]) == 2
    assert "--sizes applies only to --inputs synthetic" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cli_rejects_cuda_without_a_gpu(tmp_path, capsys):
    assert main(["profile", "--device", "cuda", "--out", str(tmp_path)]) == 2
    assert "no CUDA device" in capsys.readouterr().err


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_profile_times_with_events_and_reports_device_memory(tmp_path):
    config = tiny_config(tmp_path, device="cuda", inputs="synthetic", sizes=((128, 96),), batch_sizes=(2,))
    ((report, written),) = run_profile(config, model=TinyPoseNet())
    assert report.config.device == "cuda"
    assert "max_memory_allocated" in report.memory["kind"] and report.memory["peak_bytes"] > 0
    assert report.environment.hardware.gpus
    assert written["json"].name.startswith("profile-cuda-")
    assert report.throughput.images_per_s > 0
