"""The exported network compiled by OpenVINO for the CPU, behind the model's module interface.

The precision is OpenVINO's inference-precision hint: f32 for float32 (the CPU plugin's default is bf16
where the CPU has it, which would round every layer), f16 for float16, and f32 around the int8 layers of
an NNCF-quantized network (so that quantization is the only reduction). The dynamic input shape is
compiled once. The CPU plugin runs every input size it is given.
"""

from __future__ import annotations

from pathlib import Path

import openvino
import openvino.properties as properties
import openvino.properties.hint as hints
import torch
from torch import nn

INFERENCE_PRECISIONS = {"float32": openvino.Type.f32, "float16": openvino.Type.f16, "int8": openvino.Type.f32}
"""The inference-precision hint of each precision (int8: of the layers NNCF left unquantized)."""


class OpenVinoNetwork(nn.Module):
    """An OpenVINO compiled model called as the model: ``forward(x [B, 3, h, w])`` returns ``[low [B, 2K,
    h/4, w/4], high [B, K, h/2, w/2]]`` float32 tensors on x's device (copies: the request reuses its
    output buffers). One infer request, so calls are not concurrent (the pipeline runs the network in
    one thread). No parameters."""

    def __init__(self, compiled: openvino.CompiledModel) -> None:
        super().__init__()
        self.compiled = compiled
        self.request = compiled.create_infer_request()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        results = self.request.infer({0: x.detach().cpu().contiguous().numpy()}, share_outputs=False)
        return [torch.from_numpy(results[output]).to(x.device) for output in self.compiled.outputs]


def openvino_network(network: Path | openvino.Model, precision: str) -> OpenVinoNetwork:
    """``network`` (an ONNX file, or a model NNCF quantized) compiled for the CPU at ``precision``, with
    as many inference threads as torch uses (CPU float results depend on the count)."""
    config = {hints.inference_precision: INFERENCE_PRECISIONS[precision],
              properties.inference_num_threads: torch.get_num_threads()}
    source = str(network) if isinstance(network, Path) else network
    return OpenVinoNetwork(openvino.Core().compile_model(source, "CPU", config))
