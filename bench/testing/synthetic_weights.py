"""Deterministic stand-in weights, identical to those behind the mmpose 0.29.0 fixtures.

Used to check forward parity without the published checkpoint and to run the pipeline end to end
offline (the smoke run). The rule is the one in ``tests/data/mmpose_v0.29.0/README.md``.
``calibrated_state_dict`` rescales their output layers so that grouping gets plausible maps;
``fan_in_state_dict`` scales each weight by its fan-in so the network gives broad O(1) heatmaps and tags
(the "fan-in" rule, spelled out in its docstring; ``tests/test_fan_in.py`` holds its checksums), the
maps that make grouping's refine do real work.
"""

from __future__ import annotations

import copy
import functools
import io
import math
import os
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from bench import atomic
from reference.crowdpose import NUM_JOINTS
from reference.model import higher_hrnet_w32

BATCH_COUNTER_SUFFIX = ".num_batches_tracked"
LOW_OUTPUT = "keypoint_head.final_layers.0"
HIGH_OUTPUT = "keypoint_head.final_layers.1"
# largest absolute value on the probe image, per output: heatmaps O(0.1) find candidates above the
# 0.1 detection threshold; tags O(0.01) are far closer than the tag threshold 1, so all of them group
# into at most max_num_people people
PROBE_PEAKS = {"low_heatmaps": 0.25, "tags": 0.01, "high_heatmaps": 1.0}
PROBE_SIZE = 256
# the fan-in fill: weight std FAN_IN_GAIN / sqrt(fan-in) for tensors of 2+ dimensions, FAN_IN_BIAS_STD
# for the other 1-D tensors, and its low output's tag channels scaled by FAN_IN_TAG_SCALE
FAN_IN_GAIN = 0.6
FAN_IN_BIAS_STD = 0.05
FAN_IN_TAG_SCALE = 0.1


def deterministic_state_dict(model: nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    """The mmpose fixtures' fill of every state_dict entry of ``model`` (`_filled_state_dict`): BatchNorm
    weight ``1 + 0.1 N``, running_mean ``0.1 N``, running_var ``U + 0.5``; every other tensor ``0.05 N``.
    The network's outputs are O(1e11) noise."""
    return _filled_state_dict(model, seed, _draw_fixture)


def fan_in_state_dict(model: nn.Module | None = None, seed: int = 0) -> dict[str, torch.Tensor]:
    """The "fan-in" fill: BatchNorm entries as `deterministic_state_dict`, conv and deconv weights with
    std ``0.6 / sqrt(fan-in)``, other 1-D tensors ``0.05 N``, then the 14 tag channels of the low output
    layer (weight and bias) times 0.1. The network gives broad O(1) heatmaps and tags over ~1.5 units:
    on a crowded image many joints are missing before refine and refine scans wide regions. For speed
    cases and grouping tests, not a stand-in for the published weights' accuracy. ``model`` (default: a
    new ``higher_hrnet_w32()``) must have HigherHRNet's head with 14 joints; it is not changed."""
    state = _filled_state_dict(higher_hrnet_w32() if model is None else model, seed, _draw_fan_in)
    _check_output_layer(state)
    for leaf in ("weight", "bias"):
        state[f"{LOW_OUTPUT}.{leaf}"][NUM_JOINTS:] *= FAN_IN_TAG_SCALE
    return state


def _filled_state_dict(model: nn.Module, seed: int, draw_other: Callable[..., torch.Tensor]
                       ) -> dict[str, torch.Tensor]:
    """Every state_dict entry of ``model`` drawn from one ``torch.Generator`` seeded with ``seed``, keys in
    ``sorted()`` order: BatchNorm entries by `_draw_batch_norm`, the others by ``draw_other(shape,
    generator)``; ``num_batches_tracked`` copied unchanged (draws nothing). Values are float32 on the CPU,
    cast to each entry's dtype; the dict is in ``model.state_dict()`` order; ``model`` is not changed."""
    current = model.state_dict()
    generator = torch.Generator().manual_seed(seed)
    filled: dict[str, torch.Tensor] = {}
    for key in sorted(current):
        template = current[key]
        if key.endswith(BATCH_COUNTER_SUFFIX):
            filled[key] = template.detach().clone()
            continue
        prefix, _, leaf = key.rpartition(".")
        batch_norm = prefix + ".running_mean" in current and leaf in _BATCH_NORM_DRAWS
        tensor = (_BATCH_NORM_DRAWS[leaf](template.shape, generator) if batch_norm
                  else draw_other(template.shape, generator))
        filled[key] = tensor.to(template.dtype)
    return {key: filled[key] for key in current}


_BATCH_NORM_DRAWS: dict[str, Callable[[torch.Size, torch.Generator], torch.Tensor]] = {
    "weight": lambda shape, generator: 1 + 0.1 * torch.randn(shape, generator=generator),
    "running_mean": lambda shape, generator: 0.1 * torch.randn(shape, generator=generator),
    "running_var": lambda shape, generator: torch.rand(shape, generator=generator) + 0.5,
}


def _draw_fixture(shape: torch.Size, generator: torch.Generator) -> torch.Tensor:
    """The mmpose fixtures' rule for every non-BatchNorm tensor (and BatchNorm biases)."""
    return 0.05 * torch.randn(shape, generator=generator)


def _draw_fan_in(shape: torch.Size, generator: torch.Generator) -> torch.Tensor:
    """Conv and deconv weights (2+ dimensions): std ``FAN_IN_GAIN / sqrt(fan-in)``, the fan-in being the
    product of all dimensions but the first; 1-D tensors (biases): std ``FAN_IN_BIAS_STD``."""
    if len(shape) >= 2:
        # one float64 factor, then one float32 product: this order gives the doc's checksums
        return torch.randn(shape, generator=generator) * (FAN_IN_GAIN / math.sqrt(math.prod(shape[1:])))
    return FAN_IN_BIAS_STD * torch.randn(shape, generator=generator)


def save_mmpose_checkpoint(state_dict: dict[str, torch.Tensor], path: str | os.PathLike,
                           meta: dict[str, Any] | None = None) -> None:
    """Write ``{'meta': meta, 'state_dict': state_dict}`` with ``torch.save``, atomically.

    This is the layout of mmpose's published checkpoints; ``meta`` should hold only plain Python
    values so that ``torch.load(weights_only=True)`` accepts the file.
    """
    buffer = io.BytesIO()
    torch.save({"meta": dict(meta or {}), "state_dict": dict(state_dict)}, buffer)
    atomic.write_bytes(path, buffer.getbuffer())


def calibrated_state_dict(model: nn.Module | None = None, seed: int = 0) -> dict[str, torch.Tensor]:
    """Deterministic weights (``deterministic_state_dict``) whose output layers are rescaled so heatmaps
    are O(0.1) and tags O(0.01): every joint finds candidates, and they group into at most
    ``max_num_people`` people. For fast, non-trivial end-to-end runs and benchmarks without a checkpoint.

    The unscaled network outputs are O(1e11). Each output channel (biases zeroed) is divided by its
    largest absolute value on a seeded noise probe and multiplied by ``PROBE_PEAKS``; the 1/4 output
    comes first, as it feeds the 1/2 branch. The outputs shrink with the input: this holds at the
    default ``input_size`` 512; at 256 a few joints stay below the threshold, at 128 all of them.
    ``model`` (default: a new ``higher_hrnet_w32()``, whose weights are computed once per process and
    seed, and copied for each call) must have HigherHRNet's head with 14 joints; it is not changed.
    """
    if model is None:
        return {key: value.clone() for key, value in _calibrated_w32(seed).items()}
    return _calibrated(copy.deepcopy(model), seed)


@functools.cache
def _calibrated_w32(seed: int) -> dict[str, torch.Tensor]:
    return _calibrated(higher_hrnet_w32(), seed)


def _calibrated(probe_model: nn.Module, seed: int) -> dict[str, torch.Tensor]:
    state = deterministic_state_dict(probe_model, seed)
    _check_output_layer(state)
    state[f"{LOW_OUTPUT}.bias"].zero_()
    state[f"{HIGH_OUTPUT}.bias"].zero_()
    low, _ = _probe_outputs(probe_model, state)
    low_weight = state[f"{LOW_OUTPUT}.weight"]
    low_weight[:NUM_JOINTS] *= _rescale(low[:, :NUM_JOINTS], PROBE_PEAKS["low_heatmaps"])
    low_weight[NUM_JOINTS:] *= _rescale(low[:, NUM_JOINTS:], PROBE_PEAKS["tags"])
    _, high = _probe_outputs(probe_model, state)
    state[f"{HIGH_OUTPUT}.weight"] *= _rescale(high, PROBE_PEAKS["high_heatmaps"])
    return state


def _check_output_layer(state: dict[str, torch.Tensor]) -> None:
    """ValueError unless ``state`` has HigherHRNet's AE head output layers with 14 joints."""
    keys = [f"{layer}.{leaf}" for layer in (LOW_OUTPUT, HIGH_OUTPUT) for leaf in ("weight", "bias")]
    missing = [key for key in keys if key not in state]
    if missing:
        raise ValueError(f"model must be HigherHRNet with its AE head: its state_dict lacks {missing}")
    channels = state[f"{LOW_OUTPUT}.weight"].shape[0]
    if channels != 2 * NUM_JOINTS:
        raise ValueError(f"model must have {NUM_JOINTS} joints: {LOW_OUTPUT} has {channels} output "
                         f"channels, expected {2 * NUM_JOINTS} (heatmaps and tags)")


def _rescale(outputs: torch.Tensor, peak: float) -> torch.Tensor:
    """[C, 1, 1, 1] factors that bring each channel of ``outputs`` [1, C, h, w] to ``peak`` at most."""
    return (peak / outputs.abs().amax(dim=(0, 2, 3)).double()).float()[:, None, None, None]


def _probe_outputs(model: nn.Module, state: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    """The network's two outputs with ``state`` loaded, on a fixed seeded noise image."""
    model.load_state_dict(state)
    model.eval()
    probe = torch.randn(1, 3, PROBE_SIZE, PROBE_SIZE, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        return list(model(probe))
