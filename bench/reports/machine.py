"""This machine now, as a ``bench.reports.environment.Environment``: hardware, software versions,
numerics flags, and which code runs (``bench.reports.provenance``). Measuring needs torch; reading a
report does not, so this is apart from the records."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

import torch

from bench.reports.environment import (
    PACKAGES,
    Environment,
    Gpu,
    Hardware,
    Host,
    Numerics,
    Software,
    fingerprint_id,
)
from bench.reports.provenance import code_provenance


def this_environment(machine: str | None = None, runtime: str | None = None) -> Environment:
    """Describe this machine now, named ``machine`` (default: its host name), running the network on
    ``runtime`` (its name and version, ``bench.runtimes.available.check_runtime``; None: torch). Call it
    after setting the cuDNN/TF32 flags a run uses."""
    hardware, software, numerics = _hardware(), _software(runtime), numerics_flags()
    hostname = socket.gethostname()
    return Environment(fingerprint_id(hardware, software, numerics), hardware, software, numerics,
                       Host(hostname=hostname, machine=machine or hostname or None, **code_provenance()))


def load_average() -> tuple[float, float, float] | None:
    """The system's 1-, 5- and 15-minute load averages (``os.getloadavg``); None where not available.
    In a container they are the host's."""
    try:
        one, five, fifteen = os.getloadavg()
    except (AttributeError, OSError):
        return None
    return float(one), float(five), float(fifteen)


CPU_FREQ_FILES = "/sys/devices/system/cpu/cpu{}/cpufreq/scaling_cur_freq"
CPU_INFO = Path("/proc/cpuinfo")


def cpu_mhz(cores: Iterable[int] | None = None) -> float | None:
    """The mean current clock of this process's usable cores in MHz: from cpufreq's
    ``scaling_cur_freq`` (kHz) where readable, else from the ``cpu MHz`` lines of /proc/cpuinfo (every
    core); None where neither can be read (macOS, many containers without cpufreq, Windows)."""
    if cores is None:
        cores = (sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                 else range(os.cpu_count() or 0))
    readings = []
    for core in cores:
        try:
            readings.append(int(Path(CPU_FREQ_FILES.format(core)).read_text().strip()) / 1000.0)
        except (OSError, ValueError):
            break
    else:
        if readings:
            return sum(readings) / len(readings)
    try:
        lines = CPU_INFO.read_text().splitlines()
    except OSError:
        return None
    mhz = []
    for line in lines:
        name, _, value = line.partition(":")
        if name.strip() == "cpu MHz":
            try:
                mhz.append(float(value))
            except ValueError:
                continue
    return sum(mhz) / len(mhz) if mhz else None


def process_cpu_seconds() -> float:
    """CPU seconds (user + system) used so far by this process and its finished children (worker
    processes count once they have exited and been waited for; not at all on Windows)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def numerics_flags() -> Numerics:
    """Thread count and the cuDNN / TF32 switches in effect now."""
    return Numerics(
        torch_threads=torch.get_num_threads(),
        cudnn_benchmark=bool(torch.backends.cudnn.benchmark),
        cudnn_deterministic=bool(torch.backends.cudnn.deterministic),
        tf32_matmul=bool(torch.backends.cuda.matmul.allow_tf32),
        tf32_cudnn=bool(torch.backends.cudnn.allow_tf32),
        float32_matmul_precision=torch.get_float32_matmul_precision(),
        matmul_fp32_precision=getattr(torch.backends.cuda.matmul, "fp32_precision", None),
        cudnn_conv_fp32_precision=getattr(torch.backends.cudnn.conv, "fp32_precision", None),
    )


def _hardware() -> Hardware:
    return Hardware(
        machine=platform.machine(),
        cpu_model=_cpu_model(),
        cpu_count=os.cpu_count(),
        usable_cores=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        gpus=_gpus(),
        gpu_driver=_gpu_driver() if torch.cuda.is_available() else None,
    )


def _software(runtime: str | None) -> Software:
    return Software(
        os=platform.platform(),
        python=platform.python_version(),
        python_implementation=sys.implementation.name,
        torch=torch.__version__,
        cuda=torch.version.cuda,
        cudnn=torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        packages={name: _package_version(name) for name in PACKAGES},
        runtime=runtime,
    )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpus() -> tuple[Gpu, ...]:
    if not torch.cuda.is_available():
        return ()
    return tuple(Gpu(name=properties.name, compute_capability=f"{properties.major}.{properties.minor}",
                     memory_bytes=int(properties.total_memory),
                     multiprocessors=int(properties.multi_processor_count))
                 for properties in map(torch.cuda.get_device_properties, range(torch.cuda.device_count())))


def _gpu_driver() -> str | None:
    try:
        completed = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                   capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = completed.stdout.splitlines() if completed.returncode == 0 else []
    return lines[0].strip() if lines else None


def _package_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None
