"""The machine and software a measurement ran on, as a typed record with a fingerprint id.

Reports carry this so that numbers from different machines are never mixed up: ``fingerprint_id``
hashes only what changes speed (hardware, software versions, thread count and numerics flags), not the
host name, the time or the git commit, so two runs of different commits on the same setup share an id
and can be checked for speed regressions. The records are plain data, so reports can be read
anywhere; ``bench.reports.machine`` measures them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

# Distribution names whose versions are recorded (None when not installed): what the measured code
# runs on. They enter the fingerprint id, so a name added or removed here changes every machine's id
# (the evaluators faster-coco-eval, pycocotools and xtcocotools left with schema 4: they are test
# oracles now, not run by any command).
PACKAGES = ("numpy", "scipy", "opencv-python-headless", "opencv-python", "pandas", "matplotlib", "munkres",
            "tqdm")


@dataclass(frozen=True)
class Gpu:
    name: str
    compute_capability: str
    memory_bytes: int
    multiprocessors: int


@dataclass(frozen=True)
class Hardware:
    """CPU model and core counts (``usable_cores``: the ones this process may run on), the GPUs and
    their driver (none on a CPU machine). None where unknown."""

    machine: str | None = None
    cpu_model: str | None = None
    cpu_count: int | None = None
    usable_cores: int | None = None
    gpus: tuple[Gpu, ...] = ()
    gpu_driver: str | None = None


@dataclass(frozen=True)
class Software:
    """OS, Python, torch with its CUDA and cuDNN, the versions of ``PACKAGES``, and the network runtime
    other than torch with its version (``runtime``, e.g. "openvino 2026.4.1"; None: torch ran the
    network)."""

    os: str | None = None
    python: str | None = None
    python_implementation: str | None = None
    torch: str | None = None
    cuda: str | None = None
    cudnn: int | None = None
    packages: dict[str, str | None] = field(default_factory=dict)
    runtime: str | None = None


@dataclass(frozen=True)
class Numerics:
    """The thread count and the cuDNN / TF32 switches in effect (they change speed and results)."""

    torch_threads: int | None = None
    cudnn_benchmark: bool | None = None
    cudnn_deterministic: bool | None = None
    tf32_matmul: bool | None = None
    tf32_cudnn: bool | None = None
    float32_matmul_precision: str | None = None
    matmul_fp32_precision: str | None = None
    cudnn_conv_fp32_precision: str | None = None


MAX_MACHINE_NAME = 64
"""Longest machine name (``--machine``), in characters."""


def machine_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a machine (None if it can): 1 to ``MAX_MACHINE_NAME`` printable
    characters, not only spaces."""
    if not name.strip() or len(name) > MAX_MACHINE_NAME or not name.isprintable():
        return (f"--machine must be 1 to {MAX_MACHINE_NAME} printable characters (not only spaces), "
                f"got {name!r:.80}")
    return None


@dataclass(frozen=True)
class Host:
    """The machine's name, the host name and which code ran (``bench.reports.provenance``): not part
    of the fingerprint.

    ``machine`` is what reports call the machine, as asv's machine name: ``--machine NAME`` or, by
    default, the host name (reports of schema < 5 get their host name); ``bench compare`` shows it
    beside the fingerprint. Two names for one fingerprint are still the same setup for speed.
    """

    hostname: str | None = None
    git_commit: str | None = None
    git_dirty: bool | None = None
    code_source: str | None = None
    machine: str | None = None


@dataclass(frozen=True)
class Environment:
    """Where a measurement ran; ``fingerprint_id`` identifies the machine and software for speed."""

    fingerprint_id: str
    hardware: Hardware = field(default_factory=Hardware)
    software: Software = field(default_factory=Software)
    numerics: Numerics = field(default_factory=Numerics)
    host: Host = field(default_factory=Host)

    @property
    def machine_name(self) -> str:
        """The machine's name (``Host.machine``), else its host name, else its fingerprint id."""
        return self.host.machine or self.host.hostname or self.fingerprint_id

    @property
    def cpu_or_gpu(self) -> str:
        """The first GPU's name where there is one, else the CPU model."""
        return self.hardware.gpus[0].name if self.hardware.gpus else str(self.hardware.cpu_model or "cpu")


SET_ONLY = ("runtime",)
"""Software fields hashed only where set: added after reports existed, so a torch run's id is the one
its machine had before (the ids of committed reports hold)."""


def fingerprint_id(hardware: Hardware, software: Software, numerics: Numerics) -> str:
    """Stable 12-hex-digit hash over the speed-relevant sections."""
    software_fields = {name: value for name, value in dataclasses.asdict(software).items()
                       if name not in SET_ONLY or value is not None}
    return _short_hash({"hardware": dataclasses.asdict(hardware), "software": software_fields,
                        "numerics": dataclasses.asdict(numerics)})


def hardware_id(hardware: Hardware) -> str:
    """Stable 12-hex-digit hash of the hardware alone: the same machine whatever software it runs (a
    history's series go on across library upgrades, which is what their change points should see)."""
    return _short_hash(dataclasses.asdict(hardware))


def _short_hash(relevant: dict) -> str:
    encoded = json.dumps(relevant, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()[:12]
