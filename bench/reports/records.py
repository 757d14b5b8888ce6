"""The typed ``config`` of a report, one record per run kind, and the weights record they share.

A record holds the settings of the run verbatim (``settings``: the command's config dataclass as a
dict) next to the facts the run derived from them, and names the fields that ``bench compare`` and the
file names rely on (``label``, ``device``, ``precision``, ``weights.kind``), so that nothing reads a
report by a key it merely hopes is there. Precisions are the names of ``reference.pipeline.PRECISIONS``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

WEIGHT_KINDS = ("checkpoint", "synthetic", "provided")
"""checkpoint: a verified checkpoint file; synthetic: a deterministic fill named by its builder and
seed; provided: a network the caller built (tests)."""


@dataclass(frozen=True)
class WeightsRecord:
    """Which weights a run used. ``published`` says whether a checkpoint is the published one (None
    where no published checkpoint applies), and ``verification`` how strongly: by the full sha256, or
    by a prefix only while no full digest is pinned. ``sha256`` is always the full digest of the file."""

    kind: str
    sha256: str | None = None
    path: str | None = None
    source: str | None = None
    builder: str | None = None
    seed: int | None = None
    published: bool | None = None
    verification: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in WEIGHT_KINDS:
            raise ValueError(f"weights kind {self.kind!r} is not one of {WEIGHT_KINDS}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WeightsRecord:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{name: value for name, value in data.items() if name in known})


@dataclass(frozen=True)
class ProfileRecord:
    """What one case of `bench profile` measured: inputs, batch, scales, weights, precision, device.

    ``iters`` is the fewest measured iterations and ``min_time_s`` the least measured time (seconds)
    asked for; how many were made is the ``end_to_end`` count of the report's timings.
    """

    label: str
    device: str
    device_name: str
    precision: str
    weights: WeightsRecord
    inputs: str
    images: tuple[str, ...]
    image_size: tuple[int, int] | None
    batch: int
    scales: tuple[float, ...]
    flip: bool
    iters: int
    warmup: int
    cudnn_benchmark: bool
    postprocess_input: str
    evaluation: str
    trace: str | None
    pipeline: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)
    min_time_s: float = 0.0

    def __post_init__(self) -> None:
        _store_as_json(self, "pipeline", "settings")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProfileRecord:
        return cls(
            **{name: data[name] for name in ("label", "device", "device_name", "precision", "inputs",
                                             "batch", "flip", "iters", "warmup", "cudnn_benchmark",
                                             "postprocess_input", "evaluation", "trace")},
            weights=WeightsRecord.from_dict(data["weights"]),
            images=tuple(data["images"]),
            image_size=None if data["image_size"] is None else tuple(data["image_size"]),
            scales=tuple(float(scale) for scale in data["scales"]),
            pipeline=dict(data["pipeline"]),
            settings=dict(data.get("settings", {})),
            min_time_s=float(data["min_time_s"]),
        )


@dataclass(frozen=True)
class ReproduceRecord:
    """What a `bench reproduce` run was asked (``settings``) and ran with."""

    label: str
    device: str
    precision: str
    weights: WeightsRecord
    expected_table: str
    settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _store_as_json(self, "settings")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReproduceRecord:
        return cls(label=str(data["label"]), device=str(data["device"]), precision=str(data["precision"]),
                   weights=WeightsRecord.from_dict(data["weights"]),
                   expected_table=str(data["expected_table"]), settings=dict(data.get("settings", {})))


RunRecord = ProfileRecord | ReproduceRecord
RECORD_TYPES: Mapping[str, type[ProfileRecord] | type[ReproduceRecord]] = {
    "profile": ProfileRecord, "reproduce": ReproduceRecord,
}


def record_to_dict(record: RunRecord) -> dict[str, Any]:
    """JSON-ready dict of a record (tuples as lists)."""
    return as_json(dataclasses.asdict(record))


def as_json(value: Any) -> Any:
    """``value`` as JSON would give it back: tuples become lists, paths and other objects strings."""
    return json.loads(json.dumps(value, default=str))


def _store_as_json(record: object, *names: str) -> None:
    """Replace the free-form fields ``names`` of a frozen record by their JSON form, so that a record
    equals itself read back from its report."""
    for name in names:
        object.__setattr__(record, name, as_json(getattr(record, name)))
