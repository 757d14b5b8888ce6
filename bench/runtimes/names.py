"""The runtimes, the precisions and devices each runs, and the packages each needs: plain values that
import nothing heavy, so that command lines offer the choices at once and a bad pair is refused, with
what to do, before any work."""

from __future__ import annotations

import re
from collections.abc import Sequence

from reference.precisions import PRECISIONS, QUANTIZED, TORCH_RUNTIME

RUNTIMES = (TORCH_RUNTIME, "onnxruntime", "openvino", "tensorrt")
"""torch: the ``nn.Module`` itself. onnxruntime: the exported ONNX file in ONNX Runtime (its CPU provider,
or its CUDA provider on a CUDA device). openvino: the ONNX file compiled by OpenVINO for the CPU.
tensorrt: the same ONNX file in ONNX Runtime's TensorRT provider (CUDA only)."""

RUNTIME_PRECISIONS = {
    TORCH_RUNTIME: tuple(precision for precision in PRECISIONS if precision not in QUANTIZED),
    "onnxruntime": ("float32", "float16"),
    "openvino": ("float32", "float16", "int8"),
    "tensorrt": ("float32", "float16"),
}
"""The precisions each runtime runs. onnxruntime float16 runs a float16 export on the CUDA provider;
openvino float16 is its CPU plugin's inference-precision hint (where the CPU has FP16 arithmetic);
openvino int8 is NNCF post-training quantization; tensorrt float16 is the provider's FP16 mode."""

CUDA_ONLY = {"onnxruntime": ("float16",), "tensorrt": RUNTIME_PRECISIONS["tensorrt"]}
"""(runtime, precisions) that need a CUDA device."""
CPU_ONLY = ("openvino",)
"""Runtimes that run on the CPU only (OpenVINO's GPU plugin is for Intel GPUs)."""

PACKAGES = {"onnxruntime": ("onnx", "onnxruntime"), "openvino": ("onnx", "openvino"),
            "tensorrt": ("onnx", "onnxruntime", "tensorrt_libs")}
"""The Python packages (import names) each runtime needs: onnx for the export, and the runtime's own
(tensorrt: ONNX Runtime, and the module that loads TensorRT's libraries for its TensorRT provider)."""
QUANTIZER_PACKAGES = ("nncf",)
"""What a quantized precision needs besides its runtime's packages."""
INSTALL = "pip install -c constraints.txt -e .[runtimes]"
"""How to install every runtime's packages on the CPU (on CUDA: ``cuda_runtime_requirements``)."""

CUDA_BUILDS = {"onnxruntime": "onnxruntime-gpu"}
"""Distributions of the ``[runtimes]`` extra that a CUDA machine takes as their CUDA build instead. Both
ONNX Runtime builds install the one module ``onnxruntime``: an environment holds one of them only
(installed over each other their files mix, and uninstalling either deletes the module the other needs),
so the CUDA environment is built with the CUDA build from the start (``nox -s device``)."""
TENSORRT_LIBRARIES = "tensorrt-cu13-libs"
"""TensorRT's libraries (libnvinfer, libnvonnxparser) for ONNX Runtime's TensorRT provider, of the major
version (10) and CUDA (13) onnxruntime-gpu is built against; importing ``tensorrt_libs`` loads them, so
the provider finds them without a library path. The pinned versions are in constraints.txt."""
TENSORRT_INDEX = "https://pypi.nvidia.com"
"""Where NVIDIA publishes TensorRT's wheels (PyPI holds only stubs that fetch them from there at install)."""
PIP_INSTALL = {"tensorrt_libs": f"{TENSORRT_LIBRARIES} --extra-index-url {TENSORRT_INDEX}"}
"""What ``pip install`` takes for an import name whose distribution is named otherwise."""

SHAPE_POLICIES = {
    "dynamic": "one compiled network runs every input shape (the ONNX file's dynamic batch, height, width)",
    "static": "one compiled network per input shape, compiled on its first forward and kept",
}
"""How a runtime other than torch meets the input sizes that vary per image (multiples of 64, twice as
large at scale 2): the exported file is the same for both."""
SHAPE_POLICY = "dynamic"
"""The policy runs use, set from ``benchmarks/test_runtime_speed.py::test_dynamic_axes_against_static_shapes``
on the quiet 2-core CPU (README, "Input shapes"): static was 0-7% faster per forward (OpenVINO 6.6%, ONNX
Runtime 0.2% slower to 5.6% faster between two runs), but each compiled shape holds another 240-660 MiB,
and a full set meets dozens of input shapes, which would hold tens of GiB; dynamic holds one network."""

DEFAULT_CALIBRATION_IMAGES = 50
"""Images of the data set being evaluated that int8 quantization calibrates on (fewer when it has fewer)."""
MAX_CALIBRATION_IMAGES = 1000
"""Most calibration images (``--calibration-images``): each is a pass of the network per scale, and NNCF's
own default subset is 300."""


def runtime_problem(runtime: str, precision: str, device_type: str | None = None) -> str | None:
    """Why ``runtime`` cannot run ``precision`` (on a ``device_type`` device, "cpu" or "cuda", where
    given), saying what to choose instead; None when it can."""
    if runtime not in RUNTIMES:
        return f"--runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}"
    if precision not in PRECISIONS:
        return f"precision must be one of {PRECISIONS}, got {precision!r}"
    supported = RUNTIME_PRECISIONS[runtime]
    if precision not in supported:
        return (f"--runtime {runtime} does not run --precision {precision}; it runs {', '.join(supported)}"
                + (" (int8: --runtime openvino)" if precision in QUANTIZED else ""))
    if device_type == "cuda" and runtime in CPU_ONLY:
        return f"--runtime {runtime} runs on the CPU only: add --device cpu"
    if device_type == "cpu" and precision in CUDA_ONLY.get(runtime, ()):
        return f"--runtime {runtime} --precision {precision} needs a CUDA device (--device cuda)"
    return None


def required_packages(runtime: str, precision: str) -> tuple[str, ...]:
    """The Python packages (import names) that ``runtime`` at ``precision`` needs."""
    return PACKAGES.get(runtime, ()) + (QUANTIZER_PACKAGES if precision in QUANTIZED else ())


def cuda_runtime_requirements(runtimes_extra: Sequence[str]) -> list[str]:
    """The requirements that install the runtimes on a CUDA machine, from the ``[runtimes]`` extra's: each
    distribution with a CUDA build replaced by it (same version bounds), and TensorRT's libraries added.
    Install them with ``--extra-index-url TENSORRT_INDEX`` and constraints.txt (which pins them)."""
    requirements = []
    for text in runtimes_extra:
        name = re.match(r"[A-Za-z0-9._-]+", text.strip()).group()  # PEP 508: the name comes first
        requirements.append(CUDA_BUILDS.get(name, name) + text.strip()[len(name):])
    return [*requirements, TENSORRT_LIBRARIES]
