"""The typed ``config`` of a report, one record per run kind, and the weights record they share.

A record holds the settings of the run verbatim (``settings``: the command's config dataclass as a
dict) next to the facts the run derived from them, and names the fields that ``bench compare`` and the
file names rely on (``label``, ``device``, ``runtime``, ``precision``, ``weights.kind``), so that nothing
reads a report by a key it merely hopes is there. Precisions are the names of
``reference.precisions.PRECISIONS`` and runtimes those of ``bench.runtimes.names.RUNTIMES``; reports
written before runtimes existed ran on torch, their default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.reports.typed import to_data
from reference.precisions import TORCH_RUNTIME

WEIGHT_KINDS = ("checkpoint", "synthetic", "provided")
"""checkpoint: a verified checkpoint file; synthetic: a deterministic fill named by its builder and
seed; provided: a network the caller built (tests)."""


@dataclass(frozen=True)
class WeightsRecord:
    """Which weights a run used. ``published`` says whether a checkpoint is the published one (None
    where no published checkpoint applies), and ``verification`` how strongly: by the full sha256, or
    by a prefix only while no full digest is pinned. ``sha256`` is always the full digest of the file (of a
    provided network: the digest of its state, ``bench.weights.state_digest``)."""

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

    @property
    def label(self) -> str:
        """How summaries name these weights."""
        if self.kind == "synthetic":
            return f"synthetic ({(self.builder or '').rsplit('.', 1)[-1]}, seed {self.seed})"
        if self.kind == "checkpoint":
            return f"checkpoint {(self.sha256 or '')[:12]}..."
        return "provided"


@dataclass(frozen=True)
class NetworkBuild:
    """How a runtime other than torch got its network, timed apart from every forward: the runtime and
    its version; the ONNX export (``exporter``, ``opset``, the ``shapes`` left dynamic, the file, and
    ``export_cached`` where an earlier run's file was reused: ``export_s`` is then the lookup); for int8 the
    NNCF quantization (``quantizer`` and version, ``calibration_images`` of the evaluated data set,
    ``quantize_s``, ``quantize_cached``); the compilation (``compile_s``: ONNX Runtime's session, or
    OpenVINO's compile_model) and the execution ``providers`` that run it (ONNX Runtime, in order).
    Times are wall seconds on the machine of the report."""

    runtime: str
    version: str
    exporter: str
    opset: int
    shapes: str
    onnx_file: str
    export_s: float
    export_cached: bool
    compile_s: float
    providers: tuple[str, ...] = ()
    quantizer: str | None = None
    calibration_images: int | None = None
    quantize_s: float | None = None
    quantize_cached: bool | None = None


def network_label(runtime: str, precision: str) -> str:
    """How views name the network a run measured: runtime and precision, e.g. "openvino int8"."""
    return f"{runtime} {precision}"


@dataclass(frozen=True)
class ConfigFile:
    """The ``--config`` file a run read its settings from: path, sha256, and the command's table as
    written (its values are also in the record's ``settings``, resolved)."""

    path: str
    sha256: str
    table: dict[str, Any]


@dataclass(frozen=True)
class ProfileRecord:
    """What one case of `bench profile` measured: inputs, batch, scales, weights, runtime, precision,
    device; ``network``: how a runtime other than torch built its network (None for torch).

    ``iters`` is the fewest measured batches and ``min_time_s`` the least measured time (seconds)
    asked for; how many were made is the ``end_to_end`` count of the report's timings. ``schedule`` is
    "overlapped" (the schedule `bench reproduce` runs: reading ahead, decoding beside the network) or
    "serial" (one stage at a time, as every profile before schema 4 ran).
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
    schedule: str = "serial"
    config_file: ConfigFile | None = None
    runtime: str = TORCH_RUNTIME
    network: NetworkBuild | None = None

    def __post_init__(self) -> None:
        _store_as_json(self, "pipeline", "settings")


@dataclass(frozen=True)
class ReproduceRecord:
    """What a `bench reproduce` run was asked (``settings``) and ran with (its rows' runtime and
    precision; a speed variant's float32 reference runs on torch), and the expected table its rows were
    judged against (path and sha256)."""

    label: str
    device: str
    precision: str
    weights: WeightsRecord
    expected_table: str
    expected_table_sha256: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    config_file: ConfigFile | None = None
    runtime: str = TORCH_RUNTIME

    def __post_init__(self) -> None:
        _store_as_json(self, "settings")


RunRecord = ProfileRecord | ReproduceRecord
RECORD_TYPES: dict[str, type[ProfileRecord] | type[ReproduceRecord]] = {
    "profile": ProfileRecord, "reproduce": ReproduceRecord,
}


def _store_as_json(record: object, *names: str) -> None:
    """Replace the free-form fields ``names`` of a frozen record by their JSON form, so that a record
    equals itself read back from its report."""
    for name in names:
        object.__setattr__(record, name, to_data(getattr(record, name)))
