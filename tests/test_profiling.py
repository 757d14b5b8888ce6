"""bench profile: a real (tiny) profile run has every stage, consistent statistics and its files."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bench.__main__ import main
from bench.errors import BenchError
from bench.profiling import ProfileConfig, run_profile
from bench.report import load_report
from bench.timing import END_TO_END, STAT_FIELDS
from reference.crowdpose import NUM_JOINTS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PIPELINE_STAGES = ("decode", "preprocess", "to_device", "aggregate", "nms_topk", "match", "adjust", "refine",
                   "to_image", END_TO_END)


class TinyHigherNet(nn.Module):
    """HigherHRNet's output layout (2K maps at 1/4, K heatmaps at 1/2) from two 1x1 convolutions."""

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.low = nn.Conv2d(3, 2 * NUM_JOINTS, 1)
        self.high = nn.Conv2d(3, NUM_JOINTS, 1)
        with torch.no_grad():
            for conv in (self.low, self.high):
                conv.weight.copy_(0.1 * torch.randn(conv.weight.shape, generator=generator))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.low(F.avg_pool2d(x, 4)), self.high(F.avg_pool2d(x, 2))]


def tiny_config(tmp_path, **options) -> ProfileConfig:
    settings = {"device": "cpu", "iters": 3, "warmup": 1, "input_size": 64, "out_dir": tmp_path / "results"}
    return ProfileConfig(**{**settings, **options})


def assert_stages_add_up(report) -> None:
    timings = report.timings
    inside = sum(stats.mean_ms for stage, stats in timings.items()
                 if stats.in_iteration and stage != END_TO_END)
    end_to_end = timings[END_TO_END].mean_ms
    assert inside <= end_to_end * (1 + 1e-4) + 1e-3
    assert end_to_end - inside < max(0.1 * end_to_end, 2.0)


def test_sample_profile_times_every_stage_and_writes_reports(tmp_path):
    config = tiny_config(tmp_path, inputs="sample", batch_sizes=(1, 2), scales=(2.0, 1.0),
                         trace=tmp_path / "trace.json")
    results = run_profile(config, model=TinyHigherNet())
    assert [report.config["label"] for report, _ in results] == ["sample-natural-b1-s2+1-flip",
                                                                 "sample-natural-b2-s2+1-flip"]
    for report, written in results:
        timings = report.timings
        assert set(PIPELINE_STAGES) | {"forward_x2", "forward_x1", "evaluate"} == set(timings)
        for stage, stats in timings.items():
            assert stats.count == config.iters, stage
            assert all(getattr(stats, field) >= 0 for field in STAT_FIELDS)
            assert stats.min_ms <= stats.p50_ms <= stats.p90_ms <= stats.p99_ms <= stats.max_ms
        assert not timings["evaluate"].in_iteration
        assert_stages_add_up(report)
        batch = report.config["batch"]
        assert report.throughput["images_per_s"] == pytest.approx(
            batch * 1000.0 / timings[END_TO_END].mean_ms)
        assert report.memory["peak_bytes"] > 0
        assert report.config["weights"] == "provided"
        assert "rendered maps" in report.config["postprocess_input"]
        assert report.config["pipeline"]["scales"] == [2.0, 1.0]
        assert load_report(written["json"]) == report
        assert written["stages_png"].read_bytes().startswith(PNG_MAGIC)
        assert "## Per-stage latency (ms)" in written["md"].read_text()
    trace = json.loads((tmp_path / "trace.json").read_text())
    names = {event.get("name") for event in trace["traceEvents"]}
    assert {"forward_x1", "match", END_TO_END} <= names
    assert results[0][0].config["trace"] == str(tmp_path / "trace.json")
    assert results[1][0].config["trace"] is None


def test_synthetic_sizes_without_flip(tmp_path):
    config = tiny_config(tmp_path, inputs="synthetic", sizes=((128, 96), (64, 64)), flip=False, iters=2)
    results = run_profile(config, model=TinyHigherNet())
    assert [report.config["label"] for report, _ in results] == ["synthetic-128x96-b1-s1-noflip",
                                                                 "synthetic-64x64-b1-s1-noflip"]
    for report, _ in results:
        assert "evaluate" not in report.timings
        assert "not timed" in report.config["evaluation"]
        assert report.config["forward_passes_per_scale"] == 1
        assert report.timings["forward_x1"].count == 2
        assert_stages_add_up(report)


@pytest.mark.parametrize(
    ("options", "message"),
    [({"iters": 0}, "--iters"), ({"batch_sizes": (0,)}, "--batch"), ({"scales": (2.0, 0.5)}, "--scales"),
     ({"inputs": "video"}, "--inputs"), ({"input_size": 100}, "--input-size"),
     ({"sizes": ((0, 5),)}, "--sizes")],
)
def test_bad_settings_are_rejected(tmp_path, options, message):
    with pytest.raises(BenchError, match=message):
        tiny_config(tmp_path, **options)


def test_cli_profiles_the_real_network_with_synthetic_weights(tmp_path, capsys):
    out = tmp_path / "results"
    code = main(["profile", "--device", "cpu", "--inputs", "synthetic", "--sizes", "64x64", "--iters", "1",
                 "--warmup", "0", "--input-size", "64", "--out", str(out)])
    assert code == 0
    (path,) = out.glob("profile-cpu-fp32-*-synthetic-64x64-b1-s1-flip-*.json")
    report = load_report(path)
    assert report.config["weights"] == "synthetic"
    assert report.config["checkpoint"]["sha256"] is None
    assert report.environment["numerics"]["cudnn_benchmark"] is False
    assert "images/s" in capsys.readouterr().err


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
    ((report, written),) = run_profile(config, model=TinyHigherNet())
    assert report.config["device"] == "cuda"
    assert "max_memory_allocated" in report.memory["kind"] and report.memory["peak_bytes"] > 0
    assert report.environment["hardware"]["gpus"]
    assert written["json"].name.startswith("profile-cuda-")
    assert_stages_add_up(report)
