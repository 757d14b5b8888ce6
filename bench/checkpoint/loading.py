"""Read a checkpoint file into a plain state dict and load it into a model with strict key checks."""

from __future__ import annotations

import os
import pickle
import re
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
CHECKPOINT_MAGIC = (b"PK\x03\x04", b"\x80")
"""How a torch.save file starts: a zip archive (the default since torch 1.6) or a pickle (protocol 2+)."""


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file, on the CPU, with any ``module.`` key prefix removed.

    Accepts mmpose's ``{'meta': ..., 'state_dict': ...}``, ``{'model': ...}`` and plain state dicts.
    Reads with ``torch.load(weights_only=True)``: no code in the file runs.
    """
    path = Path(path)
    with open_regular(path, "checkpoint") as handle:
        start = handle.read(4)
        if not start.startswith(CHECKPOINT_MAGIC):
            raise BenchError(f"checkpoint {path} is not a PyTorch checkpoint: it starts with {start!r}, not "
                             "a zip archive (torch.save) or a pickle")
        handle.seek(0)
        content = _load(handle, path)
    return check_finite(strip_parallel_prefix(unwrap(content, path), path), path)


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


def check_finite(state_dict: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """``state_dict`` unchanged; BenchError naming the tensors that hold NaN or infinite values, which
    would otherwise surface as a failure deep inside grouping."""
    bad = [f"{key} ({int((~torch.isfinite(value)).sum())} of {value.numel()})"
           for key, value in state_dict.items()
           if value.is_floating_point() and not bool(torch.isfinite(value).all())]
    if bad:
        raise BenchError(f"checkpoint {path} holds NaN or infinite values in {len(bad)} tensor(s): "
                         f"{abbreviate(bad)}")
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
