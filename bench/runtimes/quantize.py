"""int8: the exported network quantized by NNCF post-training quantization for OpenVINO, calibrated
on images of the data set being evaluated, and cached on disk.

The calibration set is the network inputs the pipeline itself feeds (its pre-processing at the run's
input size and scales, one input per image and scale) for the first N images of the run. The cache key
holds the ONNX file's key, the OpenVINO and NNCF versions, the preset, the input size and scales, and
the sha256 of every calibration image, so another calibration set quantizes again.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nncf
import numpy as np
import openvino

from bench import atomic
from bench.data.images import read_image
from bench.reading import read_bytes, sha256_of
from bench.runtimes.available import runtime_version
from bench.runtimes.export import Exported, key_digest
from reference.pipeline import PipelineConfig, preprocess_image

PRESET = nncf.QuantizationPreset.MIXED
"""Symmetric weights and asymmetric activations: the normalised input and the tags are signed."""


@dataclass(frozen=True)
class Quantized:
    """An int8 network: the OpenVINO model, the number of calibration images, and the seconds it took
    here (the quantization, or the lookup where ``cached``)."""

    model: openvino.Model
    images: int
    seconds: float
    cached: bool


def calibration_inputs(images: Sequence[Path], config: PipelineConfig) -> list[np.ndarray]:
    """The network inputs [1, 3, h, w] (float32) the pipeline feeds for ``images`` under ``config``:
    one per image and scale (the mirrored inputs of flip test have the same statistics)."""
    return [network_input[None] for path in images
            for network_input in preprocess_image(read_image(path), config.input_size, config.scales).inputs]


def quantized_network(exported: Exported, images: Sequence[Path], config: PipelineConfig,
                      cache_dir: Path) -> Quantized:
    """``exported`` quantized to int8 with ``images`` as the calibration set (at ``config``'s input size
    and scales): from ``cache_dir`` where an earlier run made it under the same key, else made now and
    written atomically (the weights first, then the model file that names them)."""
    start = time.perf_counter()
    fields = {"onnx": exported.key, "openvino": runtime_version(openvino), "nncf": runtime_version(nncf),
              "preset": PRESET.value, "input_size": str(config.input_size),
              "scales": ",".join(f"{scale:g}" for scale in config.scales),
              "images": ",".join(sha256_of(path, "calibration image") for path in images)}
    path = Path(cache_dir) / f"higher-hrnet-int8-{key_digest(fields)}.xml"
    core = openvino.Core()
    if path.is_file():
        return Quantized(core.read_model(path), len(images), time.perf_counter() - start, True)
    inputs = calibration_inputs(images, config)
    model = nncf.quantize(core.read_model(exported.path), nncf.Dataset(inputs), subset_size=len(inputs),
                          preset=PRESET)
    with tempfile.TemporaryDirectory(prefix="bench-int8-") as scratch:
        saved = Path(scratch) / "model.xml"
        openvino.save_model(model, saved, compress_to_fp16=False)
        atomic.write_bytes(path.with_suffix(".bin"), read_bytes(saved.with_suffix(".bin"), "int8 weights"))
        atomic.write_bytes(path, read_bytes(saved, "int8 model"))
    atomic.write_json(path.with_suffix(".json"), fields)
    return Quantized(model, len(images), time.perf_counter() - start, False)
