"""What `bench device-check` runs: the command's settings (the case matrix it reads from cases.toml is
``cases``). Plain values, free of torch, so the command's help shows them at once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.reports.folders import DEFAULT_OUT
from reference.precisions import TORCH_RUNTIME

CASES_FILE = Path(__file__).with_name("cases.toml")
DEVICES = ("cuda", "cpu")


@dataclass(frozen=True)
class DeviceCheckConfig:
    """The command's settings: the device type, the quick matrix or the full one, the report folder,
    real weights (None: synthetic), the tests folder whose gpu-marked tests run, the runtime that
    runs the network of every profile and reproduce run (``bench.runtimes``), and where exported networks
    and TensorRT engines are kept (None: the user's cache, ``bench.runtimes.export.default_cache_dir``)."""

    device: str = "cuda"
    quick: bool = False
    out: Path = DEFAULT_OUT
    checkpoint: str | None = None
    tests_dir: Path = Path(__file__).parents[2] / "tests"
    cases_file: Path = CASES_FILE
    runtime: str = TORCH_RUNTIME
    network_cache_dir: str | None = None
