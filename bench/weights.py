"""The one weights type of every command: a verified checkpoint, a deterministic synthetic fill, or a
network the caller built; it builds the model and says in reports what it was."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from bench.checkpoint import RegistryEntry, ResolvedCheckpoint, load_into
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
    set), "synthetic" (``fill`` of ``SYNTHETIC_FILLS`` with ``seed``) or "provided" (a caller's model).
    ``published`` is the registry entry of the published checkpoint, where one applies."""

    kind: str
    checkpoint: ResolvedCheckpoint | None = None
    fill: str | None = None
    seed: int = 0
    published: RegistryEntry | None = None

    @classmethod
    def from_checkpoint(cls, checkpoint: ResolvedCheckpoint,
                        published: RegistryEntry | None = None) -> Weights:
        return cls("checkpoint", checkpoint=checkpoint, published=published)

    @classmethod
    def synthetic(cls, fill: str, seed: int = 0, published: RegistryEntry | None = None) -> Weights:
        if fill not in SYNTHETIC_FILLS:
            raise ValueError(f"synthetic fill must be one of {sorted(SYNTHETIC_FILLS)}, got {fill!r}")
        return cls("synthetic", fill=fill, seed=seed, published=published)

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
        """What identifies these weights' predictions: the checkpoint sha256, or the fill and seed."""
        if self.checkpoint is not None:
            return self.checkpoint.sha256
        return f"{self.kind}-{self.fill}-seed{self.seed}"

    def build_model(self) -> nn.Module:
        """HigherHRNet-W32 with these weights (checkpoints load with ``strict=True``)."""
        model = higher_hrnet_w32()
        if self.checkpoint is not None:
            load_into(model, self.checkpoint.path)
        elif self.kind == "synthetic":
            model.load_state_dict(SYNTHETIC_FILLS[self.fill](model, seed=self.seed))
        else:
            raise ValueError("provided weights come with the caller's model; there is nothing to build")
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
        return WeightsRecord("provided")
