"""Shared test helpers: a tiny HigherHRNet stand-in, typed report records, sampled profile reports and
generated evaluation cases (importable as ``helpers``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench import atomic
from bench.reports.environment import Environment
from bench.reports.records import ProfileRecord, ReproduceRecord, WeightsRecord
from bench.reports.schema import Throughput
from bench.reports.stats import END_TO_END, StageStats
from bench.reports.writing import new_report
from bench.testing.synthetic_data import DetectionSpec, GroundTruthSpec
from reference.crowdpose import NUM_JOINTS

# Generated evaluation cases full of edge cases (parity of backends, bootstrap identity).
EVALUATION_CASES = {
    "edge": (GroundTruthSpec(num_images=120, seed=0), DetectionSpec(seed=100)),
    "edge-gt-id-0": (GroundTruthSpec(num_images=120, seed=1, gt_id_zero=True, max_people=12),
                     DetectionSpec(seed=101, false_positives=4)),
    "dense-large-images": (GroundTruthSpec(num_images=60, seed=2, max_people=20, min_size=300, max_size=640),
                           DetectionSpec(seed=102, false_positives=8, detect_rate=0.95)),
    "no-edge-cases": (GroundTruthSpec(num_images=120, seed=3, edge_cases=False),
                      DetectionSpec(seed=103, edge_cases=False)),
    "crowd-index-above-1": (GroundTruthSpec(num_images=120, seed=4, max_crowd_index=3.0),
                            DetectionSpec(seed=104)),
}


class TinyPoseNet(nn.Module):
    """HigherHRNet's outputs ([B, 2K, h/4, w/4], [B, K, h/2, w/2]) from fixed seeded 1x1 convolutions.

    Heatmaps lie in (0, 0.5), tags in (-0.01, 0.01). An image that is mostly white (every channel above
    2 after normalisation) gets NaN heatmaps, so tests can make grouping fail on purpose. ``calls``
    counts forward passes.
    """

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.low = nn.Conv2d(3, 2 * NUM_JOINTS, 1)
        self.high = nn.Conv2d(3, NUM_JOINTS, 1)
        for layer in (self.low, self.high):
            layer.weight.data = torch.randn(layer.weight.shape, generator=generator)
            layer.bias.data.zero_()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        self.calls += 1
        low = self.low(F.avg_pool2d(x, 4))
        heatmaps = torch.sigmoid(low[:, :NUM_JOINTS]) / 2
        white = ((x > 2).all(dim=1).float().mean(dim=(1, 2)) > 0.5)[:, None, None, None]
        heatmaps = torch.where(white, torch.nan, heatmaps)
        tags = torch.tanh(low[:, NUM_JOINTS:]) / 100
        high = torch.sigmoid(self.high(F.avg_pool2d(x, 2))) / 2
        return [torch.cat((heatmaps, tags), dim=1), high]


SYNTHETIC = WeightsRecord("synthetic", seed=0,
                          builder="bench.testing.synthetic_weights.deterministic_state_dict")


def profile_record(**changes: Any) -> ProfileRecord:
    """A plausible profile config (synthetic 512x512 input, batch 1, scale 1, flip, float32 on CPU)."""
    record = ProfileRecord(
        label="synthetic-512x512-b1-s1-flip", device="cpu", device_name="cpu", precision="float32",
        weights=SYNTHETIC, inputs="synthetic", images=("synthetic-512x512.jpg",), image_size=(512, 512),
        batch=1, scales=(1.0,), flip=True, iters=3, warmup=1, cudnn_benchmark=False,
        postprocess_input="rendered maps", evaluation="not timed", trace=None, pipeline={}, settings={},
        schedule="overlapped",
    )
    return dataclasses.replace(record, **changes)


def reproduce_record(**changes: Any) -> ReproduceRecord:
    """A plausible reproduce config (synthetic weights, float32 on CPU)."""
    record = ReproduceRecord(label="", device="cpu", precision="float32", weights=SYNTHETIC,
                             expected_table="bench/published.toml", settings={})
    return dataclasses.replace(record, **changes)


SAMPLES = 30
SPREAD = 0.02
"""Log-normal sigma of the synthetic stage durations: a 2% spread, as on a quiet machine."""


def write_profile(folder: Path, environment: Environment, fingerprint: str, day: int, p50s: dict[str, float],
                  label: str = "synthetic-512x512-b1-s1-flip", device: str = "cpu",
                  samples: int = SAMPLES) -> Path:
    """A profile report made on 2025-01-``day`` whose stages took ``samples`` durations scattered
    around the given medians (ms), drawn with a generator seeded by the day; its JSON only (rendering
    its Markdown and plots would take half a second)."""
    created = f"2025-01-{day:02d}T00:00:00+00:00"
    noise = np.exp(np.random.default_rng(day).normal(0.0, SPREAD, size=samples))
    medians = {**p50s, END_TO_END: sum(p50s.values())}
    timings = {stage: StageStats.from_samples(list(ms * noise)) for stage, ms in medians.items()}
    config = profile_record(device=device, label=label)
    report = new_report("profile", config, command=["bench", "profile"],
                        environment=dataclasses.replace(environment, fingerprint_id=fingerprint),
                        timings=timings, throughput=Throughput(images_per_s=1000.0 / sum(p50s.values())))
    report = dataclasses.replace(report, created=created)
    stem = f"{fingerprint}-{device}-{label}-{created[:10]}"
    return atomic.write_json(folder / f"{stem}.json", report.to_dict())
