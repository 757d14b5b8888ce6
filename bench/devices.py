"""The one device resolver of every command: ``--device`` names to a usable ``torch.device``."""

from __future__ import annotations

import torch

from bench.errors import BenchError


def resolve_device(name: str) -> torch.device:
    """"auto" is CUDA when available, else the CPU; "cpu", "cuda" and "cuda:N" are checked to be usable.

    Raises a BenchError for a name torch does not know, or for CUDA (or a GPU index) that is not there.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise BenchError(f"--device {name!r} is not a device name; use auto, cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise BenchError(f"--device {name!r}: only auto, cpu, cuda and cuda:N are supported")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise BenchError(f"--device {name}: torch {torch.__version__} sees no CUDA device; "
                             "use --device cpu or auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise BenchError(f"--device {name}: there are only {torch.cuda.device_count()} CUDA devices")
    return device
