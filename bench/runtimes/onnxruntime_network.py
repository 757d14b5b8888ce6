"""The exported network in ONNX Runtime, behind the model's module interface: the onnxruntime runtime
(CPU, or the CUDA provider on a CUDA device) and the tensorrt runtime (the TensorRT provider).

TensorRT runs through ONNX Runtime's TensorrtExecutionProvider rather than TensorRT's own builder: the
same ONNX file and the same adapter serve both runtimes, there is no second compiler toolchain (trtexec,
Torch-TensorRT) and no engine file of our own to manage. The provider builds engines from the ONNX file
and caches them (under the network cache), one per input-shape range. It needs onnxruntime-gpu and the
TensorRT libraries of tensorrt-cu13-libs (importing its module ``tensorrt_libs`` loads them). Nodes
TensorRT does not take fall to the CUDA provider, and the report lists the providers in order. A session
whose first provider did not start (ONNX Runtime then falls back to the next one with a warning only) is
refused, so a "tensorrt" row never runs on the CUDA provider alone.

On a CUDA device the input and outputs stay on the device (IO binding: torch's tensors bound by their
pointers), so the forward's time holds no copy between host and device; on the CPU the session runs on
the input's NumPy view.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from torch import nn

from bench.errors import BenchError
from bench.runtimes.available import PROVIDERS
from bench.runtimes.export import DYNAMIC_AXES, INPUT_NAME, OUTPUT_STRIDES
from bench.runtimes.names import SHAPE_POLICY

Session = onnxruntime.InferenceSession


class OnnxRuntimeNetwork(nn.Module):
    """An ONNX Runtime session called as the model: ``forward(x [B, 3, h, w])`` returns ``[low [B, 2K,
    h/4, w/4], high [B, K, h/2, w/2]]`` float32 tensors on x's device. The input enters the session as
    ``input_dtype`` (the exported network's). ``session_for(shape)`` opens the session of one input
    shape (None: the dynamic one, ``session``); with ``static`` each input shape gets its own, opened on
    its first forward and kept. No parameters."""

    def __init__(self, session_for: Callable[[tuple[int, ...] | None], Session], static: bool) -> None:
        super().__init__()
        self.session_for = functools.cache(session_for)
        self.static = static
        self.session = self.session_for(None)
        half = self.session.get_inputs()[0].type == "tensor(float16)"
        self.input_dtype = np.dtype(np.float16 if half else np.float32)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        session = self.session_for(tuple(x.shape) if self.static else None)
        if x.device.type == "cuda":
            return run_bound(session, x, self.input_dtype)
        array = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=self.input_dtype)
        outputs = session.run(None, {INPUT_NAME: array})
        return [torch.from_numpy(output).to(x.device, torch.float32) for output in outputs]


def run_bound(session: Session, x: torch.Tensor, input_dtype: np.dtype) -> list[torch.Tensor]:
    """The session's outputs for ``x`` (as float32), with the input (as ``input_dtype``) and the outputs
    bound where ``x`` is (ONNX Runtime's IO binding): no copy to or from the host. The outputs are torch
    tensors made here, of the network's output shapes (``OUTPUT_STRIDES``)."""
    dtype = torch.from_numpy(np.empty(0, input_dtype)).dtype
    x = x.detach().to(dtype).contiguous()
    device_id = x.device.index or 0
    outputs = {meta.name: torch.empty((x.shape[0], meta.shape[1], x.shape[2] // stride, x.shape[3] // stride),
                                      dtype=dtype, device=x.device)
               for meta, stride in zip(session.get_outputs(), OUTPUT_STRIDES, strict=True)}
    binding = session.io_binding()
    binding.bind_input(INPUT_NAME, x.device.type, device_id, input_dtype, tuple(x.shape), x.data_ptr())
    for name, output in outputs.items():
        binding.bind_output(name, x.device.type, device_id, input_dtype, tuple(output.shape),
                            output.data_ptr())
    if x.device.type == "cuda":
        torch.cuda.current_stream(x.device).synchronize()  # x is written before ONNX Runtime reads it
    session.run_with_iobinding(binding)
    binding.synchronize_outputs()  # written before torch reads them
    return [output.float() for output in outputs.values()]


def onnxruntime_network(path: Path, runtime: str, precision: str, device: torch.device,
                        cache_dir: Path, shapes: str = SHAPE_POLICY) -> OnnxRuntimeNetwork:
    """Sessions of the ONNX file ``path`` for ``runtime`` ("onnxruntime" or "tensorrt") at ``precision``
    on ``device`` under the shape policy ``shapes`` (``bench.runtimes.names.SHAPE_POLICIES``), with as
    many intra-op threads as torch uses (CPU float results depend on the count); TensorRT's engines go
    under ``cache_dir``. BenchError where the runtime's execution provider does not start."""
    if runtime == "tensorrt":
        importlib.import_module("tensorrt_libs")  # loads libnvinfer and libnvonnxparser for the provider
    chosen = providers(runtime, precision, device, cache_dir)

    def session_for(shape: tuple[int, ...] | None) -> Session:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        for axis, name in DYNAMIC_AXES[INPUT_NAME].items() if shape else ():
            options.add_free_dimension_override_by_name(name, shape[axis])
        session = Session(str(path), options, providers=chosen)
        wanted = PROVIDERS[runtime][device.type]
        if session.get_providers()[0] != wanted:
            raise BenchError(f"--runtime {runtime}: ONNX Runtime could not start its {wanted} (it fell back "
                             f"to {', '.join(session.get_providers())}; its log above says why)")
        return session

    return OnnxRuntimeNetwork(session_for, static=shapes == "static")


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
