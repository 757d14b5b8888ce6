"""The one weights type of every command: a verified checkpoint, a deterministic synthetic fill, or a
network the caller built; it builds the model and says in reports what it was."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from bench.checkpoint import RegistryEntry, ResolvedCheckpoint
from bench.checkpoint.loading import key_mismatches, load_into, load_state_dict
from bench.errors import BenchError
from bench.reports.records import WeightsRecord
from bench.testing.synthetic_weights import calibrated_state_dict, deterministic_state_dict, fan_in_state_dict
from reference.model import higher_hrnet_w32

SYNTHETIC_FILLS: dict[str, Callable[..., dict]] = {
    "calibrated": calibrated_state_dict,      # plausible heatmaps and tags: grouping does real work
    "deterministic": deterministic_state_dict,  # the mmpose fixtures' fill: noise maps
    "fan-in": fan_in_state_dict,  # broad O(1) maps: many joints missing, refine scans wide regions
}


@dataclass(frozen=True)
class Weights:
    """Where a run's weights come from. ``kind`` is one of ``WEIGHT_KINDS``: "checkpoint" (``checkpoint``
    set), "synthetic" (``fill`` of ``SYNTHETIC_FILLS`` with ``seed``) or "provided" (``model``, a
    network the caller built). ``published`` is the registry entry of the published checkpoint, where
    one applies."""

    kind: str
    checkpoint: ResolvedCheckpoint | None = None
    fill: str | None = None
    seed: int = 0
    published: RegistryEntry | None = None
    model: nn.Module | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_checkpoint(cls, checkpoint: ResolvedCheckpoint,
                        published: RegistryEntry | None = None) -> Weights:
        return cls("checkpoint", checkpoint=checkpoint, published=published)

    @classmethod
    def synthetic(cls, fill: str, seed: int = 0, published: RegistryEntry | None = None) -> Weights:
        if fill not in SYNTHETIC_FILLS:
            raise ValueError(f"synthetic fill must be one of {sorted(SYNTHETIC_FILLS)}, got {fill!r}")
        return cls("synthetic", fill=fill, seed=seed, published=published)

    @classmethod
    def provided(cls, model: nn.Module) -> Weights:
        return cls("provided", model=model)

    @property
    def label(self) -> str:
        """How summaries name these weights."""
        if self.kind == "synthetic":
            return f"synthetic ({self.fill} deterministic, seed {self.seed})"
        return self.kind

    @property
    def is_published(self) -> bool:
        """True for a checkpoint that is the published one (``RegistryEntry.matches``: the full digest
        once pinned, else the sha256 prefix)."""
        return bool(self.checkpoint and self.published and self.published.matches(self.checkpoint.sha256))

    @property
    def cache_id(self) -> str:
        """What identifies these weights' predictions: the checkpoint sha256, the fill and seed, or the
        provided model's class and a digest of its state."""
        if self.checkpoint is not None:
            return self.checkpoint.sha256
        if self.model is not None:
            return f"provided-{type(self.model).__qualname__}-{state_digest(self.model)}"
        return f"{self.kind}-{self.fill}-seed{self.seed}"

    def check(self) -> None:
        """For a checkpoint: that it reads, holds finite values and fits HigherHRNet-W32 key by key and
        shape by shape (BenchError otherwise), without building the network (the shapes come from
        one on the meta device)."""
        if self.checkpoint is None:
            return
        with torch.device("meta"):
            expected = higher_hrnet_w32().state_dict()
        problems = key_mismatches(expected, load_state_dict(self.checkpoint.path))
        if problems:
            raise BenchError(f"checkpoint {self.checkpoint.path} does not fit HigherHRNet-W32: "
                             + "; ".join(problems))

    def build_model(self) -> nn.Module:
        """HigherHRNet-W32 with these weights (checkpoints load with ``strict=True``), or the provided
        model."""
        if self.model is not None:
            return self.model
        model = higher_hrnet_w32()
        if self.checkpoint is not None:
            load_into(model, self.checkpoint.path)
        else:
            model.load_state_dict(SYNTHETIC_FILLS[self.fill](model, seed=self.seed))
        return model

    def to_record(self) -> WeightsRecord:
        """The weights as reports record them."""
        if self.checkpoint is not None:
            published = self.is_published if self.published else None
            return WeightsRecord("checkpoint", sha256=self.checkpoint.sha256, path=str(self.checkpoint.path),
                                 source=self.checkpoint.source, published=published,
                                 verification=self.published.verification if published else None)
        if self.kind == "synthetic":
            builder = SYNTHETIC_FILLS[self.fill]
            return WeightsRecord("synthetic", builder=f"{builder.__module__}.{builder.__qualname__}",
                                 seed=self.seed)
        return WeightsRecord("provided", sha256=state_digest(self.model))


def state_digest(model: nn.Module) -> str:
    """sha256 over a model's state (names, dtypes, shapes and values), in state_dict order."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(f"{name}:{tensor.dtype}:{list(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
