"""Read a checkpoint file into a plain state dict and load it into a model with strict key checks."""

from __future__ import annotations

import math
import os
import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from torch import nn

from bench.errors import BenchError
from bench.reading import open_regular

try:
    from numpy._core import multiarray as numpy_multiarray  # numpy >= 2
except ImportError:  # numpy 1.x
    from numpy.core import multiarray as numpy_multiarray

WRAPPER_KEYS = ("state_dict", "model")
"""Where checkpoint formats keep the weights: mmpose/mmcv use 'state_dict', others 'model'."""

PARALLEL_PREFIX = "module."
"""What (Distributed)DataParallel adds to every key."""

NUMPY_VALUE_GLOBALS = (
    numpy_multiarray.scalar,
    (numpy_multiarray.scalar, "numpy.core.multiarray.scalar"),
    numpy_multiarray._reconstruct,
    (numpy_multiarray._reconstruct, "numpy.core.multiarray._reconstruct"),
    np.ndarray,
    np.dtype,
    *(kind for kind in vars(np.dtypes).values() if isinstance(kind, type) and issubclass(kind, np.dtype)),
)
"""numpy scalars/arrays that training loops leave in checkpoint metadata (e.g. a best score); they
rebuild plain data only, so the weights-only unpickler may accept them (numpy 1.x pickles name the
``numpy.core`` module, numpy 2.x ``numpy._core``)."""

REFUSED_OBJECT = re.compile(r"Unsupported global: GLOBAL \S+|Can only build [^\n]*")
"""How torch's weights-only unpickler names the object it refused."""

MAX_LISTED_KEYS = 10
ZIP_MAGIC = b"PK\x03\x04"
CHECKPOINT_MAGIC = (ZIP_MAGIC, b"\x80")
"""How a torch.save file starts: a zip archive (the default since torch 1.6) or a pickle (protocol 2+)."""

MAX_CHECKPOINT_BYTES = 1024**3
"""Most bytes a checkpoint may take, both as a file and unpacked (the sizes its zip entries declare, which
``torch.load`` allocates before reading them): the published HigherHRNet-W32 checkpoint has ~115 MB."""

MAX_COMPRESSION_RATIO = 10
"""Most a zip checkpoint may unpack to, as a multiple of its packed entries: ``torch.save`` stores them
uncompressed (ratio 1) and trained weights deflate by ~1.1, while a zip bomb's zeros deflate by ~1000."""

MAX_ABS_WEIGHT = 1e5
"""Largest magnitude accepted in a floating checkpoint tensor. Trained weights and biases are O(1) and
BatchNorm running variances (the largest entries) O(10..1000); the synthetic fills of
``bench.testing.synthetic_weights`` stay under 2. Larger values, such as a corrupted exponent, overflow to
NaN or infinity deep in the network or in grouping, after the expensive work. Integer tensors
(``num_batches_tracked``) are counters and not checked."""


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file, on the CPU, with any ``module.`` key prefix removed.

    Accepts mmpose's ``{'meta': ..., 'state_dict': ...}``, ``{'model': ...}`` and plain state dicts.
    Reads with ``torch.load(weights_only=True)``: no code in the file runs.
    """
    path = Path(path)
    with open_regular(path, "checkpoint", MAX_CHECKPOINT_BYTES) as handle:
        start = handle.read(4)
        if not start.startswith(CHECKPOINT_MAGIC):
            raise BenchError(f"checkpoint {path} is not a PyTorch checkpoint: it starts with {start!r}, not "
                             "a zip archive (torch.save) or a pickle")
        if start.startswith(ZIP_MAGIC):
            check_unpacked_size(handle, path)
        handle.seek(0)
        content = _load(handle, path)
    return check_values(strip_parallel_prefix(unwrap(content, path), path), path)


def check_unpacked_size(handle: BinaryIO, path: Path) -> None:
    """BenchError when the zip checkpoint ``handle`` declares more than :data:`MAX_CHECKPOINT_BYTES`
    unpacked, or more than :data:`MAX_COMPRESSION_RATIO` times its packed size: ``torch.load`` allocates
    and fills each entry's declared size, so a few MB of deflated zeros would otherwise take gigabytes.
    Reads the zip's central directory only (as ``torch.load`` does, it trusts the sizes declared there)."""
    try:
        with zipfile.ZipFile(handle) as archive:
            entries = archive.infolist()
    except Exception as error:  # zipfile raises BadZipFile, but also OSError, EOFError, ValueError, ...
        raise unreadable(path, error) from error
    unpacked = sum(entry.file_size for entry in entries)
    packed = sum(entry.compress_size for entry in entries)
    if unpacked > MAX_CHECKPOINT_BYTES:
        raise BenchError(f"checkpoint {path} unpacks to {unpacked:,} bytes, more than the limit of "
                         f"{MAX_CHECKPOINT_BYTES:,} bytes")
    if unpacked > MAX_COMPRESSION_RATIO * packed:
        raise BenchError(f"checkpoint {path} unpacks {packed:,} bytes to {unpacked:,}, more than "
                         f"{MAX_COMPRESSION_RATIO} times as many; torch.save does not compress, so this is "
                         "a zip bomb or not a checkpoint")


def _load(handle: BinaryIO, path: Path) -> Any:
    """What ``torch.load`` reads from ``handle``, weights only; BenchError when it cannot."""
    try:
        with torch.serialization.safe_globals(list(NUMPY_VALUE_GLOBALS)):
            return torch.load(handle, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        refused = REFUSED_OBJECT.search(str(error))
        if refused is None:
            raise unreadable(path, error) from error
        raise BenchError(f"cannot read checkpoint {path}: it holds Python objects that weights-only loading "
                         f"refuses ({refused[0]}); load it in a trusted environment and save its state_dict "
                         "alone") from error
    except Exception as error:  # torch.load raises many types (KeyError, EOFError, RuntimeError, ...)
        raise unreadable(path, error) from error


def check_values(state_dict: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """``state_dict`` unchanged; BenchError naming the tensors saved without values (from the meta device)
    and the floating tensors that hold NaN or infinite values or values beyond :data:`MAX_ABS_WEIGHT`,
    which would otherwise surface as a failure deep inside grouping, after the network's work."""
    peaks = {key: float(value.detach().abs().max()) for key, value in state_dict.items()
             if value.is_floating_point() and value.numel() and not value.is_meta}  # NaN propagates
    problems = {
        "tensors without values (saved from the meta device)":
            [key for key, value in state_dict.items() if value.is_meta],
        "NaN or infinite values": [f"{key} ({int((~torch.isfinite(state_dict[key])).sum())} of "
                                   f"{state_dict[key].numel()})" for key, peak in peaks.items()
                                   if not math.isfinite(peak)],
        f"values beyond ±{MAX_ABS_WEIGHT:g}, far above any trained weight,":
            [f"{key} (up to {peak:.3g})" for key, peak in peaks.items() if MAX_ABS_WEIGHT < peak < math.inf],
    }
    for problem, tensors in problems.items():
        if tensors:
            raise BenchError(f"checkpoint {path} holds {problem} in {len(tensors)} tensor(s): "
                             f"{abbreviate(tensors)}")
    return state_dict


def unreadable(path: Path, error: Exception) -> BenchError:
    """The error for a file that torch.load cannot parse, with the first line of torch's reason."""
    lines = str(error).strip().splitlines()
    reason = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return BenchError(f"cannot read checkpoint {path}: {reason}. It is truncated, corrupted or not a PyTorch "
                      "checkpoint; delete it and download it again")


def unwrap(content: object, path: Path) -> Mapping[str, torch.Tensor]:
    """The parameter-name -> tensor mapping inside a loaded checkpoint."""
    if isinstance(content, Mapping):
        wrapped = next((content[key] for key in WRAPPER_KEYS if isinstance(content.get(key), Mapping)), None)
        content = content if wrapped is None else wrapped
    if not isinstance(content, Mapping) or not content or not all(
            isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in content.items()):
        raise BenchError(f"checkpoint {path} holds no state dict: expected a mapping of parameter names to "
                         f"tensors, on its own or under one of {WRAPPER_KEYS}; got {describe(content)}")
    return content


def describe(content: object) -> str:
    """A short account of what a checkpoint holds instead of a state dict."""
    if isinstance(content, Mapping):
        return f"a mapping with keys {list(content)[:MAX_LISTED_KEYS]}"
    return f"a {type(content).__name__}"


def strip_parallel_prefix(state_dict: Mapping[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """Drop the ``module.`` prefix that DataParallel training adds, refusing keys that then collide."""
    stripped = {key.removeprefix(PARALLEL_PREFIX): value for key, value in state_dict.items()}
    if len(stripped) != len(state_dict):
        raise BenchError(f"checkpoint {path} has keys both with and without the {PARALLEL_PREFIX!r} prefix")
    return stripped


def load_into(model: nn.Module, path: str | os.PathLike) -> None:
    """Load the checkpoint at ``path`` into ``model`` with ``strict=True``.

    Raises a BenchError listing missing and unexpected keys and shape mismatches by name, so a
    checkpoint for another model or head size is reported before any weight is copied.
    """
    state_dict = load_state_dict(path)
    problems = key_mismatches(model.state_dict(), state_dict)
    if problems:
        raise BenchError(f"checkpoint {path} does not fit {type(model).__name__}: " + "; ".join(problems))
    model.load_state_dict(state_dict, strict=True)


def key_mismatches(expected: Mapping[str, torch.Tensor], found: Mapping[str, torch.Tensor]) -> list[str]:
    """Human-readable lists of missing keys, unexpected keys and shape mismatches (empty if none)."""
    missing = [key for key in expected if key not in found]
    unexpected = [key for key in found if key not in expected]
    shapes = [f"{key} {list(found[key].shape)} vs model {list(expected[key].shape)}"
              for key in expected if key in found and found[key].shape != expected[key].shape]
    return [f"{label} ({len(items)}): {abbreviate(items)}"
            for label, items in (("missing keys", missing), ("unexpected keys", unexpected),
                                 ("shape mismatches", shapes)) if items]


def abbreviate(items: list[str]) -> str:
    """The first few items, and how many more there are (a wrong model can mismatch ~2000 keys)."""
    shown = ", ".join(items[:MAX_LISTED_KEYS])
    return shown if len(items) <= MAX_LISTED_KEYS else f"{shown}, ... and {len(items) - MAX_LISTED_KEYS} more"
