"""The exported network in ONNX Runtime, behind the model's module interface: the onnxruntime runtime
(CPU, or the CUDA provider on a CUDA device) and the tensorrt runtime (the TensorRT provider).

TensorRT runs through ONNX Runtime's TensorrtExecutionProvider rather than TensorRT's own builder: the
same ONNX file and the same adapter serve both runtimes, there is no second compiler toolchain (trtexec,
Torch-TensorRT) and no engine file of our own to manage. The provider builds engines from the ONNX file
and caches them (under the network cache), one per input-shape range. It needs onnxruntime-gpu and the
TensorRT libraries that package loads. Nodes TensorRT does not take fall to the CUDA provider, and the
report lists the providers in order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime
import torch
from torch import nn

from bench.runtimes.available import PROVIDERS
from bench.runtimes.export import INPUT_NAME


class OnnxRuntimeNetwork(nn.Module):
    """An ONNX Runtime session called as the model: ``forward(x [B, 3, h, w])`` returns ``[low [B, 2K,
    h/4, w/4], high [B, K, h/2, w/2]]`` float32 tensors on x's device. The input crosses to the host as
    ``input_dtype`` (the exported network's). No parameters."""

    def __init__(self, session: onnxruntime.InferenceSession, input_dtype: np.dtype) -> None:
        super().__init__()
        self.session = session
        self.input_dtype = input_dtype

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        array = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=self.input_dtype)
        outputs = self.session.run(None, {INPUT_NAME: array})
        return [torch.from_numpy(output).to(x.device, torch.float32) for output in outputs]


def onnxruntime_network(path: Path, runtime: str, precision: str, device: torch.device,
                        cache_dir: Path) -> OnnxRuntimeNetwork:
    """A session of the ONNX file ``path`` for ``runtime`` ("onnxruntime" or "tensorrt") at ``precision``
    on ``device``, with as many intra-op threads as torch uses (CPU float results depend on the count);
    TensorRT's engines go under ``cache_dir``."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = onnxruntime.InferenceSession(str(path), options,
                                           providers=providers(runtime, precision, device, cache_dir))
    input_dtype = np.float16 if session.get_inputs()[0].type == "tensor(float16)" else np.float32
    return OnnxRuntimeNetwork(session, np.dtype(input_dtype))


def providers(runtime: str, precision: str, device: torch.device, cache_dir: Path) -> list:
    """The execution providers of a session, in order, with their options."""
    provider = PROVIDERS[runtime][device.type]
    if device.type == "cpu":
        return [provider]
    cuda = ("CUDAExecutionProvider", {"device_id": device.index or 0})
    if runtime == "onnxruntime":
        return [cuda]
    tensorrt = {"device_id": device.index or 0, "trt_fp16_enable": precision == "float16",
                "trt_engine_cache_enable": True, "trt_engine_cache_path": str(Path(cache_dir) / "tensorrt")}
    return [(provider, tensorrt), cuda]
