"""The module a ``Predictor`` runs for a pipeline's runtime and precision, and the record of how it was
built: what `bench reproduce` and `bench profile` call before the first forward, timed apart from it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from bench.errors import BenchError
from bench.reports.records import NetworkBuild
from bench.runtimes.available import runtime_version
from bench.runtimes.export import EXPORTER, OPSET, SHAPES, exported_network
from bench.runtimes.names import SHAPE_POLICIES, SHAPE_POLICY
from reference.pipeline import PipelineConfig
from reference.precisions import QUANTIZED, TORCH_RUNTIME


@dataclass(frozen=True)
class BuiltNetwork:
    """What runs the network (the torch model itself, or a runtime's adapter module) and, for a runtime
    other than torch, how it was built."""

    module: nn.Module
    build: NetworkBuild | None = None

    @property
    def seconds(self) -> float:
        """The build's wall time (export, quantization, compilation): kept out of every forward's time."""
        if self.build is None:
            return 0.0
        return self.build.export_s + (self.build.quantize_s or 0.0) + self.build.compile_s


def build_network(model: nn.Module, weights_id: str, config: PipelineConfig, device: torch.device,
                  cache_dir: Path, calibration: Sequence[Path] = (),
                  shapes: str = SHAPE_POLICY) -> BuiltNetwork:
    """The network of ``config.runtime`` at ``config.precision`` on ``device``: ``model`` itself for
    torch; else ``model`` (whose weights ``weights_id`` names) exported to ONNX, for int8 quantized with
    the ``calibration`` images, and compiled under the shape policy ``shapes``
    (``bench.runtimes.names.SHAPE_POLICIES``), the files cached under ``cache_dir``. Each runtime's
    package is imported only when that runtime runs (one may be installed without the others)."""
    runtime, precision = config.runtime, config.precision
    if runtime == TORCH_RUNTIME:
        return BuiltNetwork(model)
    if precision in QUANTIZED and not calibration:
        raise BenchError(f"{precision} needs at least one calibration image")
    half = runtime == "onnxruntime" and precision == "float16"  # ONNX Runtime has no precision switch
    exported = exported_network(model, weights_id, cache_dir, torch.float16 if half else torch.float32)
    quantized, quantization = None, {}
    if precision in QUANTIZED:
        import nncf

        from bench.runtimes.quantize import quantized_network
        quantized = quantized_network(exported, calibration, config, cache_dir)
        quantization = {"quantizer": f"nncf {runtime_version(nncf)}", "calibration_images": quantized.images,
                        "quantize_s": quantized.seconds, "quantize_cached": quantized.cached}
    start = time.perf_counter()
    if runtime == "openvino":
        import openvino

        from bench.runtimes.openvino_network import openvino_network
        module: nn.Module = openvino_network(quantized.model if quantized else exported.path, precision,
                                             shapes)
        version, providers = runtime_version(openvino), ()
    else:
        import onnxruntime

        from bench.runtimes.onnxruntime_network import onnxruntime_network
        module = onnxruntime_network(exported.path, runtime, precision, device, cache_dir, shapes)
        version, providers = runtime_version(onnxruntime), tuple(module.session.get_providers())
    compile_s = time.perf_counter() - start
    return BuiltNetwork(module, NetworkBuild(
        runtime=runtime, version=version, exporter=EXPORTER, opset=OPSET,
        shapes=f"{SHAPES} in the ONNX file; {shapes}: {SHAPE_POLICIES[shapes]}",
        onnx_file=str(exported.path), export_s=exported.seconds, export_cached=exported.cached,
        compile_s=compile_s, providers=providers, **quantization))
