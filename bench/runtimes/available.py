"""Whether a runtime can run here, checked before any work: its packages import, its execution provider
or CPU capability is there, and the device fits (BenchError naming what to install or pass otherwise)."""

from __future__ import annotations

import importlib
from types import ModuleType

import torch

from bench.errors import BenchError
from bench.runtimes.names import INSTALL, PIP_INSTALL, QUANTIZER_PACKAGES, required_packages, runtime_problem
from reference.precisions import QUANTIZED, TORCH_RUNTIME

PROVIDERS = {"onnxruntime": {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"},
             "tensorrt": {"cuda": "TensorrtExecutionProvider"}}
"""The ONNX Runtime execution provider each runtime runs on, by device type."""


def check_runtime(runtime: str, precision: str, device: torch.device) -> str | None:
    """The runtime and its version as the environment records them (e.g. "openvino 2026.4.1", with the
    quantizer's for int8: "openvino 2026.4.1 + nncf 3.4.0"); None for torch, whose version is recorded
    anyway. BenchError (exit status 2) where it cannot run ``precision`` on ``device`` here."""
    problem = runtime_problem(runtime, precision, device.type)
    if problem:
        raise BenchError(problem)
    if runtime == TORCH_RUNTIME:
        return None
    modules = {name: imported(name, runtime) for name in required_packages(runtime, precision)}
    if runtime == "openvino":
        _check_openvino(modules["openvino"], precision)
        version = f"openvino {runtime_version(modules['openvino'])}"
    else:
        _check_provider(modules["onnxruntime"], runtime, device)
        version = f"onnxruntime {runtime_version(modules['onnxruntime'])}"
    quantizer = [f"{name} {runtime_version(modules[name])}" for name in QUANTIZER_PACKAGES
                 if precision in QUANTIZED]
    return " + ".join([version, *quantizer])


def imported(name: str, runtime: str) -> ModuleType:
    """The package ``name``, imported; BenchError naming how to install it where it is missing."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise BenchError(f"--runtime {runtime} needs the Python package {name}, which cannot be imported "
                         f"({error}); install the runtimes with `{INSTALL}` (or `pip install "
                         f"{PIP_INSTALL.get(name, name)}`)") from None


def runtime_version(module: ModuleType) -> str:
    """A package's version, without a build suffix (OpenVINO's reads "2026.4.1-22982-e213a14...")."""
    return str(module.__version__).split("-")[0]


def _check_provider(onnxruntime: ModuleType, runtime: str, device: torch.device) -> None:
    provider = PROVIDERS[runtime][device.type]
    available = onnxruntime.get_available_providers()
    if provider not in available:
        raise BenchError(f"--runtime {runtime} on {device.type} needs ONNX Runtime's {provider}, and this "
                         f"onnxruntime offers only {', '.join(available)}"
                         + ("; install its CUDA build, onnxruntime-gpu" if device.type == "cuda" else ""))


def _check_openvino(openvino: ModuleType, precision: str) -> None:
    """float16 runs where OpenVINO's CPU plugin lists FP16 among its optimization capabilities."""
    if precision != "float16":
        return
    capabilities = openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    if "FP16" not in capabilities:
        raise BenchError(f"--runtime openvino --precision float16: this CPU has no FP16 arithmetic "
                         f"(OpenVINO's CPU capabilities: {', '.join(capabilities)}); use float32 or int8")
