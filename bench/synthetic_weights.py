"""Deterministic stand-in weights, identical to those behind the mmpose 0.29.0 fixtures.

Used to check forward parity without the published checkpoint and to run the pipeline end to end
offline (the smoke run). The rule is the one in ``tests/data/mmpose_v0.29.0/README.md``.
"""

from __future__ import annotations

import io
import os
from typing import Any

import torch
from torch import nn

from bench import atomic

BATCH_COUNTER_SUFFIX = ".num_batches_tracked"


def deterministic_state_dict(model: nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    """Fill every state_dict entry of ``model`` from one ``torch.Generator`` seeded with ``seed``.

    Keys are visited in ``sorted()`` order; BatchNorm entries (those whose prefix also has a
    ``running_mean``) get weight ``1 + 0.1 N``, running_mean ``0.1 N``, running_var ``U + 0.5``; every
    other tensor gets ``0.05 N``; ``num_batches_tracked`` is copied unchanged and draws nothing.
    Values are drawn in float32 on the CPU, then cast to each entry's dtype. Returns a new dict in
    ``model.state_dict()`` order; ``model`` itself is not changed.
    """
    current = model.state_dict()
    generator = torch.Generator().manual_seed(seed)
    filled: dict[str, torch.Tensor] = {}
    for key in sorted(current):
        template = current[key]
        if key.endswith(BATCH_COUNTER_SUFFIX):
            filled[key] = template.detach().clone()
            continue
        filled[key] = draw(key, template.shape, key.rpartition(".")[0] + ".running_mean" in current,
                           generator).to(template.dtype)
    return {key: filled[key] for key in current}


def draw(key: str, shape: torch.Size, is_batch_norm: bool, generator: torch.Generator) -> torch.Tensor:
    """One tensor of the fill rule; ``key``'s leaf name picks the BatchNorm distribution."""
    leaf = key.rpartition(".")[2]
    if is_batch_norm and leaf == "weight":
        return 1 + 0.1 * torch.randn(shape, generator=generator)
    if is_batch_norm and leaf == "running_mean":
        return 0.1 * torch.randn(shape, generator=generator)
    if is_batch_norm and leaf == "running_var":
        return torch.rand(shape, generator=generator) + 0.5
    return 0.05 * torch.randn(shape, generator=generator)


def save_mmpose_checkpoint(state_dict: dict[str, torch.Tensor], path: str | os.PathLike,
                           meta: dict[str, Any] | None = None) -> None:
    """Write ``{'meta': meta, 'state_dict': state_dict}`` with ``torch.save``, atomically.

    This is the layout of mmpose's published checkpoints; ``meta`` should hold only plain Python
    values so that ``torch.load(weights_only=True)`` accepts the file.
    """
    buffer = io.BytesIO()
    torch.save({"meta": dict(meta or {}), "state_dict": dict(state_dict)}, buffer)
    atomic.write_bytes(path, buffer.getbuffer())
