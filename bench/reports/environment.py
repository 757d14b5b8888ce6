"""Fingerprint of the machine and software a measurement ran on.

Reports carry this so that numbers from different machines are never mixed up: the
``fingerprint_id`` hashes only what changes speed (hardware, software versions, thread count and
numerics flags), not the host name, the time or the git commit, so two runs of different commits on
the same setup share an id and can be checked for speed regressions.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import torch

from bench.reports.provenance import code_provenance
# Distribution names whose versions are recorded (None when not installed). They enter the
# fingerprint id, so arch (only the speed verdicts' block lengths, after the measurement) is not
# listed: it changes no measured speed, and a new name here would change every machine's id.
PACKAGES = (
    "numpy", "scipy", "opencv-python-headless", "opencv-python", "pandas", "matplotlib",
    "faster-coco-eval", "pycocotools", "xtcocotools", "munkres", "tqdm",
)

# Sections of the environment that enter the fingerprint id.
FINGERPRINT_SECTIONS = ("hardware", "software", "numerics")

def fingerprint() -> dict:
    """Describe this machine: hardware, software versions, numerics flags, host and git state, plus
    ``fingerprint_id`` (see :func:`fingerprint_id`). Call it after setting cuDNN/TF32 flags."""
    environment = {
        "hardware": _hardware(),
        "software": _software(),
        "numerics": numerics_flags(),
        "host": {"hostname": socket.gethostname(), **code_provenance()},
    }
    environment["fingerprint_id"] = fingerprint_id(environment)
    return environment


def fingerprint_id(environment: dict) -> str:
    """Stable 12-hex-digit hash over the speed-relevant sections of ``environment``."""
    missing = [name for name in FINGERPRINT_SECTIONS if name not in environment]
    if missing:
        raise ValueError(f"environment lacks the section(s) {', '.join(missing)}")
    relevant = {name: environment[name] for name in FINGERPRINT_SECTIONS}
    encoded = json.dumps(relevant, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()[:12]


def numerics_flags() -> dict:
    """Thread count and the cuDNN / TF32 switches in effect now (they change speed and results)."""
    return {
        "torch_threads": torch.get_num_threads(),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
        "tf32_cudnn": bool(torch.backends.cudnn.allow_tf32),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "matmul_fp32_precision": getattr(torch.backends.cuda.matmul, "fp32_precision", None),
        "cudnn_conv_fp32_precision": getattr(torch.backends.cudnn.conv, "fp32_precision", None),
    }


def _hardware() -> dict:
    return {
        "machine": platform.machine(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "gpus": _gpus(),
        "gpu_driver": _gpu_driver(),
    }


def _software() -> dict:
    return {
        "os": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": sys.implementation.name,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "packages": {name: _package_version(name) for name in PACKAGES},
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpus() -> list[dict]:
    if not torch.cuda.is_available():
        return []
    gpus = []
    for index in range(torch.cuda.device_count()):
        properties = torch.cuda.get_device_properties(index)
        gpus.append({
            "name": properties.name,
            "compute_capability": f"{properties.major}.{properties.minor}",
            "memory_bytes": int(properties.total_memory),
            "multiprocessors": int(properties.multi_processor_count),
        })
    return gpus


def _gpu_driver() -> str | None:
    if not torch.cuda.is_available():
        return None
    output = _run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"])
    return output.splitlines()[0].strip() if output else None


def _package_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _run(command: list[str]) -> str | None:
    """stdout of ``command``, or None when it is missing, fails or hangs."""
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return completed.stdout if completed.returncode == 0 else None
