"""Per-stage goldens of the test-time pipeline: what each stage of ``reference.pipeline`` produces on some
images with deterministic synthetic weights, compacted by ``bench.testing.summaries``, in one JSON-ready
record with the settings and the library versions it was taken with.

Stages, in pipeline order (``STAGES``), and what each records per image:

* ``preprocess``: the network input of each scale, as a digest (the float input: the pipeline does not
  hand out the uint8 warp; the normalisation after it is exact elementwise float32 arithmetic);
* ``forward``: the raw network outputs of each scale (original and mirrored input in one tensor);
* then per scale row (``[1]``, ``[2, 1]``, decoded from one forward as ``reproduce`` does):
  ``aggregate`` the aggregated heatmaps and tags, ``nms_topk`` the candidates (values, locations),
  ``group`` the grouped people [N, K, 3+L] in map pixels, ``poses`` the final keypoints and scores.

``bench.testing.golden_check`` compares two records and names the first stage that differs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from bench.testing.summaries import Summary, Tolerance, digest, summarize
from bench.testing.synthetic_weights import fan_in_state_dict
from reference.grouping import group_batch, nms_topk
from reference.model import higher_hrnet_w32
from reference.pipeline import ForwardOutputs, NetworkMaps, PipelineConfig, Predictor, shared_forward

PREPROCESS, FORWARD, AGGREGATE, NMS_TOPK, GROUP, POSES = STAGES = (
    "preprocess", "forward", "aggregate", "nms_topk", "group", "poses")

TOLERANCES: dict[str, Tolerance | None] = {
    PREPROCESS: None,  # a digest: bit-exact
    FORWARD: Tolerance(rtol=1e-4, atol=1e-5),
    AGGREGATE: Tolerance(rtol=1e-4, atol=1e-5),
    NMS_TOPK: Tolerance(rtol=1e-4, atol=1e-5),
    GROUP: Tolerance(rtol=1e-4, atol=1e-5),
    POSES: Tolerance(rtol=1e-4, atol=1e-4),
}
"""Per stage: None for an exact digest, else the tolerance of its summaries. CPU float results change in
the last bits with the thread count: between 1 and 2 threads every statistic moved by 4e-6 relative at
most (1e-6 absolute on the O(1) maps, 1e-8 on means near 0), so rtol leaves a 25x margin and atol covers
statistics near 0 (1e-4 for poses: a ten-thousandth of an image pixel). A changed resize interpolation,
weight or grouping step moves them by far more."""

Record = dict[str, Any]


@dataclass(frozen=True)
class GoldenSettings:
    """What the goldens are taken with: HigherHRNet-W32 with the fan-in fill of ``seed`` (broad O(1)
    maps: every row finds people and refine fills missing joints; the calibrated fill finds nobody at
    scale 1 below input size 256, which takes ~5x as long), a small ``input_size`` so the capture is
    quick, and the published test settings otherwise (flip test, each of ``scale_rows``)."""

    input_size: int = 128
    scale_rows: tuple[tuple[float, ...], ...] = ((1,), (2, 1))
    flip: bool = True
    seed: int = 0

    def variants(self) -> list[PipelineConfig]:
        """The pipeline configuration of each scale row."""
        return [PipelineConfig(input_size=self.input_size, scales=scales, flip=self.flip)
                for scales in self.scale_rows]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings, the weights spelled out."""
        rows = [[float(scale) for scale in row] for row in self.scale_rows]
        return {"weights": f"HigherHRNet-W32, fan-in synthetic fill, seed {self.seed}",
                "input_size": self.input_size, "scale_rows": rows, "flip": self.flip, "seed": self.seed}


def golden_model(settings: GoldenSettings) -> nn.Module:
    """HigherHRNet-W32 with the deterministic fan-in weights of ``settings.seed``."""
    model = higher_hrnet_w32()
    model.load_state_dict(fan_in_state_dict(model, settings.seed))
    return model


def versions() -> dict[str, str]:
    """The libraries whose releases may change the recorded numbers."""
    return {"OpenCV": cv2.__version__, "numpy": np.__version__, "torch": torch.__version__}


def golden_record(model: nn.Module, images: Mapping[str, np.ndarray], settings: GoldenSettings) -> Record:
    """The whole record of ``images`` (name -> RGB uint8 [H, W, 3]): versions, settings, the tolerance of
    each stage and, per stage, an entry per image and scale (or scale row)."""
    tolerances = {stage: None if tolerance is None else dataclasses.asdict(tolerance)
                  for stage, tolerance in TOLERANCES.items()}
    return {"versions": versions(), "settings": settings.to_dict(), "tolerances": tolerances,
            "stages": capture_stages(model, images, settings)}


def capture_stages(model: nn.Module, images: Mapping[str, np.ndarray], settings: GoldenSettings
                   ) -> dict[str, dict[str, dict[str, Summary]]]:
    """stage -> "<image> <scale or scale row>" -> array name -> entry, on the CPU, one forward per image
    (the union of the scale rows) decoded once per row."""
    variants = settings.variants()
    predictor = Predictor.from_config(model, shared_forward(variants))
    stages: dict[str, dict[str, dict[str, Summary]]] = {stage: {} for stage in STAGES}
    for name, image in images.items():
        outputs = predictor.run_network([image])
        for x, scale_outputs in zip(outputs.batch.inputs, outputs.outputs, strict=True):
            label = f"{name} x{scale_outputs.scale:g}"
            stages[PREPROCESS][label] = {"input": digest(x)}
            passes = [found for found in (scale_outputs.original, scale_outputs.flipped) if found is not None]
            stages[FORWARD][label] = {part: summarize(torch.cat([found[index] for found in passes]))
                                      for index, part in enumerate(("low", "high"))}
        for variant in variants:
            label = f"{name} {[float(scale) for scale in variant.scales]}"
            for stage, entries in _decoded_stages(predictor, outputs, variant).items():
                stages[stage][label] = entries
    return stages


def _decoded_stages(predictor: Predictor, outputs: ForwardOutputs, variant: PipelineConfig
                    ) -> dict[str, dict[str, Summary]]:
    """The decoding stages of one image's forward with the ``variant``'s settings: the pipeline's own
    ``decode`` (its aggregated maps kept on the way), and the grouping stages run again on those maps."""
    kept: list[NetworkMaps] = []

    def keep(maps: NetworkMaps) -> NetworkMaps:
        kept.append(maps)
        return maps

    ((keypoints, scores),) = predictor.decode(outputs, replace_maps=keep, variant=variant)
    heatmaps, tags = kept[0].heatmaps, kept[0].tags
    candidates = nms_topk(heatmaps, tags, variant.grouping)
    ((people, _),) = group_batch(heatmaps, tags, variant.grouping)
    return {
        AGGREGATE: {"heatmaps": summarize(heatmaps), "tags": summarize(tags)},
        NMS_TOPK: {"values": summarize(candidates.values), "locations": summarize(candidates.locations)},
        GROUP: {"people": summarize(people)},
        POSES: {"keypoints": summarize(keypoints), "scores": summarize(scores)},
    }
