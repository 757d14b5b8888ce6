"""The exported network compiled by OpenVINO for the CPU, behind the model's module interface.

The precision is OpenVINO's inference-precision hint: f32 for float32 (the CPU plugin's default is bf16
where the CPU has it, which would round every layer), f16 for float16, and f32 around the int8 layers of
an NNCF-quantized network (so that quantization is the only reduction). Under the dynamic shape policy
the dynamic input shape is compiled once and the CPU plugin runs every input size it is given; under the
static one each input shape is compiled on its first forward (``bench.runtimes.names.SHAPE_POLICIES``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import openvino
import openvino.properties as properties
import openvino.properties.hint as hints
import torch
from torch import nn

from bench.runtimes.names import SHAPE_POLICY

INFERENCE_PRECISIONS = {"float32": openvino.Type.f32, "float16": openvino.Type.f16, "int8": openvino.Type.f32}
"""The inference-precision hint of each precision (int8: of the layers NNCF left unquantized)."""


class OpenVinoNetwork(nn.Module):
    """OpenVINO compiled models called as the model: ``forward(x [B, 3, h, w])`` returns ``[low [B, 2K,
    h/4, w/4], high [B, K, h/2, w/2]]`` float32 tensors on x's device (copies: the request reuses its
    output buffers). ``compile_for(shape)`` compiles the network for one input shape (None: the dynamic
    one, compiled here); with ``static`` each input shape gets its own, compiled on its first forward and
    kept. One infer request per compiled model, so calls are not concurrent (the pipeline runs the network
    in one thread). No parameters."""

    def __init__(self, compile_for: Callable[[tuple[int, ...] | None], openvino.CompiledModel],
                 static: bool) -> None:
        super().__init__()
        self.request_for = functools.cache(lambda shape: compile_for(shape).create_infer_request())
        self.static = static
        if not static:
            self.request_for(None)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        request = self.request_for(tuple(x.shape) if self.static else None)
        results = request.infer({0: x.detach().cpu().contiguous().numpy()}, share_outputs=False)
        return [torch.from_numpy(results[output]).to(x.device) for output in request.model_outputs]


def openvino_network(network: Path | openvino.Model, precision: str,
                     shapes: str = SHAPE_POLICY) -> OpenVinoNetwork:
    """``network`` (an ONNX file, or a model NNCF quantized) compiled for the CPU at ``precision`` under
    the shape policy ``shapes``, with as many inference threads as torch uses (CPU float results depend
    on the count)."""
    core = openvino.Core()
    config = {hints.inference_precision: INFERENCE_PRECISIONS[precision],
              properties.inference_num_threads: torch.get_num_threads()}

    def compile_for(shape: tuple[int, ...] | None) -> openvino.CompiledModel:
        model = core.read_model(network) if isinstance(network, Path) else network.clone()
        if shape:
            model.reshape(list(shape))
        return core.compile_model(model, "CPU", config)

    return OpenVinoNetwork(compile_for, static=shapes == "static")
