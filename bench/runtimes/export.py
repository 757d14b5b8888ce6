"""Our reference model as an ONNX file, exported once per key and cached on disk.

Exporter: ``torch.onnx.export(..., dynamo=False)``, the TorchScript-based exporter, at opset 17.

* It works offline with what the runtimes extra installs (torch and onnx). The dynamo exporter also
  needs onnxscript and onnx-ir, and took 42 s for this network on 2 cores against 7 s.
* It is faithful: the exported network's outputs match PyTorch's within 1e-6 of their largest value
  in ONNX Runtime and OpenVINO (``tests/test_runtimes.py`` holds them to 1e-4, relative).
* Dynamic shapes are plain ``dynamic_axes``. The model's own input check (height and width multiples of
  32) runs in Python while tracing, so it leaves no guard in the graph. The dynamo exporter would need
  the constraint spelt as derived dimensions (``64 * Dim``).
* Opset 17 runs in all three runtimes (ONNX Runtime, OpenVINO, TensorRT from 8.6), and the network's
  operators (Conv, ConvTranspose, BatchNormalization after the transposed convolution, the rest being
  folded into the convolutions, Relu, Add, Concat, nearest Resize) are all defined by opset 13, so a
  newer opset would not change the graph.

PyTorch has deprecated this exporter. Where it is removed, the dynamo exporter with
``dynamic_shapes={0: batch, 2: 64 * Dim("h"), 3: 64 * Dim("w")}`` gave the same outputs within 4e-7 in
the same check.

Shapes: batch, height and width are dynamic. Test-time inputs vary per image (multiples of 64, twice as
large at scale 2), and every runtime here runs dynamic shapes: ONNX Runtime and OpenVINO's CPU plugin
natively, TensorRT through the provider's own engine cache per shape range. So one file serves every
input size.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import time
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import torch
from torch import nn

from bench import atomic

EXPORTER = "torch.onnx.export TorchScript-based (dynamo=False)"
OPSET = 17
SHAPES = "dynamic batch, height and width"
INPUT_NAME = "images"
OUTPUT_NAMES = ("heatmaps_tags", "heatmaps_high")
"""The network's input x [B, 3, h, w] and outputs low [B, 2K, h/4, w/4] (K heatmaps, K tags) and high
[B, K, h/2, w/2]."""
OUTPUT_STRIDES = (4, 2)
"""How much smaller than the input each output is, in height and width (low, high)."""
DYNAMIC_AXES = {INPUT_NAME: {0: "batch", 2: "height", 3: "width"},
                OUTPUT_NAMES[0]: {0: "batch", 2: "height_4", 3: "width_4"},
                OUTPUT_NAMES[1]: {0: "batch", 2: "height_2", 3: "width_2"}}
EXAMPLE_SIDE = 64
"""Side of the traced example input: the smallest the test pipeline feeds (any multiple of 32 would do)."""


def default_cache_dir() -> Path:
    """Where exported and quantized networks are kept unless a run says otherwise (``network_cache_dir``):
    beside the prediction cache, under the user's cache folder."""
    return Path.home() / ".cache" / "hhrnet-crowdpose-bench" / "networks"


@dataclass(frozen=True)
class Exported:
    """An ONNX file of the network: its path, the ``key`` naming it (``export_key``), and the seconds it
    took here (the export, or the lookup where ``cached``: an earlier run exported it)."""

    path: Path
    key: str
    seconds: float
    cached: bool


def export_key(weights_id: str, dtype: torch.dtype) -> dict[str, str]:
    """Everything the exported file depends on: the weights, the exporter and opset, the torch and onnx
    versions, the shape policy and the dtype the network computes in."""
    return {"weights": weights_id, "exporter": EXPORTER, "opset": str(OPSET), "torch": torch.__version__,
            "onnx": metadata.version("onnx"), "shapes": SHAPES, "dtype": str(dtype)}


def key_digest(fields: dict[str, str]) -> str:
    """A short stable hash of a cache key's fields (names the cached files)."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:20]


def exported_network(model: nn.Module, weights_id: str, cache_dir: Path,
                     dtype: torch.dtype = torch.float32) -> Exported:
    """The ONNX file of ``model`` (whose weights ``weights_id`` names) computing in ``dtype``: from
    ``cache_dir`` where an earlier run exported it under the same key, else exported now and written
    atomically, its key beside it (``<name>.json``) for people."""
    start = time.perf_counter()
    fields = export_key(weights_id, dtype)
    key = key_digest(fields)
    path = Path(cache_dir) / f"higher-hrnet-{key}.onnx"
    cached = path.is_file()
    if not cached:
        atomic.write_bytes(path, export_onnx(model, dtype))
        atomic.write_json(path.with_suffix(".json"), fields)
    return Exported(path, key, time.perf_counter() - start, cached)


def export_onnx(model: nn.Module, dtype: torch.dtype = torch.float32) -> bytes:
    """``model`` (a copy on the CPU in ``dtype``) as ONNX bytes: the exporter, opset and dynamic axes of
    the module docstring. Its deprecation warning and the tracer's note on the model's input check are
    expected, and silenced."""
    exportable = copy.deepcopy(model).to("cpu", dtype).eval()
    example = torch.zeros(1, 3, EXAMPLE_SIDE, EXAMPLE_SIDE, dtype=dtype)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        torch.onnx.export(exportable, (example,), buffer, dynamo=False, opset_version=OPSET,
                          input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES),
                          dynamic_axes=DYNAMIC_AXES)
    return buffer.getvalue()
