"""The JSON report every reproduce or profile run writes, and reading it back with schema checks.

A report is plain data: what ran (``command``, and ``config``, a typed record per run kind, see
``bench.reports.records``), where (``environment``), what came out (``rows`` of metrics for reproduce
runs, ``timings``/``throughput``/``memory`` for speed) and what went wrong (``errors``). Markdown and
plots are rendered from the JSON file alone (``bench.reports.markdown``, ``bench.reports.plots``), so a
committed report can be re-rendered or compared on any machine. Reports of older schema versions are
upgraded on reading (``bench.reports.upgrade``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.reports.records import RECORD_TYPES, RunRecord, record_to_dict
from bench.reports.stats import StageStats
from bench.reports.upgrade import UPGRADE_STEPS

SCHEMA_VERSION = 3
KINDS = tuple(RECORD_TYPES)
ROW_STATUSES = ("reproduced", "matched", "failed", "skipped", "measured", "smoke")
"""'matched': within tolerance of a custom expected table (never a reproduction of the published
numbers); 'measured': a sweep variant, measured and never compared with the published numbers."""
REQUIRED_FIELDS = ("schema_version", "kind", "created", "command", "environment", "config")


@dataclass(frozen=True)
class Check:
    """One metric compared with its expected value; `passed` is False for a missing or non-finite value."""

    metric: str
    expected: float
    actual: float | None
    tolerance: float
    passed: bool

    def describe(self) -> str:
        actual = "missing" if self.actual is None else f"{self.actual:.4f}"
        verdict = "ok" if self.passed else "MISMATCH"
        expected = f"expected {self.expected:.4f} +/- {self.tolerance:g}"
        return f"{self.metric}: actual {actual}, {expected} ({verdict})"


@dataclass(frozen=True)
class Subset:
    """Which images a row was evaluated on: ``full`` means the whole test set (that many distinct
    image ids and files). ``annotations_sha256`` (of the annotation file) and ``images_digest`` (over
    the selected images' file names and contents) fingerprint the data; ``data_pinned`` says whether
    they equal fingerprints pinned in the package (None: none pinned, the data is unpinned)."""

    dataset: str
    num_images: int
    full: bool
    annotations_sha256: str | None = None
    images_digest: str | None = None
    data_pinned: bool | None = None


@dataclass(frozen=True)
class Evaluator:
    """The COCO-style evaluator that scored a row; ``official`` is False for re-implementations and
    for another ``protocol`` than the official "crowdpose" (e.g. "xtcocotools")."""

    backend: str
    version: str | None
    official: bool
    protocol: str = "crowdpose"


@dataclass(frozen=True)
class Row:
    """One published (scales, flip) configuration, or sweep variant, of a reproduce run and its outcome.

    ``decode_ms``: the decoding time per image (the grouping half of the pipeline, the network shared
    with the run's other rows), over the images run through the network here, one sample per image;
    None when all came from the cache.

    ``ci95``: {metric: [low, high]} image-bootstrap intervals of AP, AP50, AP75, AP(E/M/H), the
    test-set sampling noise of this run (never the gate width); ``bootstrap``: the settings that drew
    them (resamples, seed, confidence, method, what is resampled). For a sweep variant after the
    first, ``paired_delta`` {metric: {delta, ci95}} is its difference to ``baseline_row`` (the first
    variant) with a paired-bootstrap interval over the same resampled images. All None when the row
    has no metrics or intervals were turned off (and in reports written before they existed).
    """

    name: str
    scales: tuple[float, ...]
    flip: bool
    status: str
    reason: str | None
    subset: Subset
    metrics: dict[str, float | None]
    expected: dict[str, float]
    tolerance: dict[str, float]
    checks: tuple[Check, ...]
    evaluator: Evaluator
    behaviour: dict[str, Any]
    decode_ms: StageStats | None = None
    ci95: dict[str, list[float] | None] | None = None
    bootstrap: dict[str, Any] | None = None
    paired_delta: dict[str, dict[str, Any]] | None = None
    baseline_row: str | None = None

    def __post_init__(self) -> None:
        if self.status not in ROW_STATUSES:
            raise ValueError(f"row {self.name!r}: status {self.status!r} is not one of {ROW_STATUSES}")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["scales"] = list(self.scales)
        data["checks"] = [asdict(check) for check in self.checks]
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> Row:
        return cls(
            name=str(data["name"]),
            scales=tuple(float(scale) for scale in data["scales"]),
            flip=bool(data["flip"]),
            status=str(data["status"]),
            reason=data["reason"],
            subset=Subset(**data["subset"]),
            metrics=dict(data["metrics"]),
            expected=dict(data["expected"]),
            tolerance=dict(data["tolerance"]),
            checks=tuple(Check(**check) for check in data["checks"]),
            evaluator=Evaluator(**data["evaluator"]),
            behaviour=dict(data["behaviour"]),
            decode_ms=StageStats.from_dict(data["decode_ms"]) if data.get("decode_ms") else None,
            ci95=data.get("ci95"),
            bootstrap=data.get("bootstrap"),
            paired_delta=data.get("paired_delta"),
            baseline_row=data.get("baseline_row"),
        )


@dataclass(frozen=True)
class Report:
    """One run's results. ``timings`` maps stage names to latency statistics and samples in milliseconds."""

    kind: str
    created: str
    command: tuple[str, ...]
    environment: dict[str, Any]
    config: RunRecord
    rows: tuple[Row, ...] = ()
    timings: dict[str, StageStats] = field(default_factory=dict)
    throughput: dict[str, float] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)
    errors: tuple[str, ...] = ()
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind {self.kind!r} is not one of {KINDS}")
        if "fingerprint_id" not in self.environment:
            raise ValueError("environment lacks 'fingerprint_id'")
        if not isinstance(self.config, RECORD_TYPES[self.kind]):
            raise TypeError(f"a {self.kind} report needs a {RECORD_TYPES[self.kind].__name__} config, "
                            f"got {type(self.config).__name__}")

    @property
    def fingerprint_id(self) -> str:
        return str(self.environment["fingerprint_id"])

    def to_dict(self) -> dict:
        return {
            "schema_version": self.schema_version,
            "kind": self.kind,
            "created": self.created,
            "command": list(self.command),
            "environment": self.environment,
            "config": record_to_dict(self.config),
            "rows": [row.to_dict() for row in self.rows],
            "timings": {stage: stats.to_dict() for stage, stats in self.timings.items()},
            "throughput": self.throughput,
            "memory": self.memory,
            "errors": list(self.errors),
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> Report:
        """Build a report from a dict of the current schema; raises KeyError/TypeError/ValueError."""
        if data["kind"] not in RECORD_TYPES:
            raise ValueError(f"kind {data['kind']!r} is not one of {KINDS}")
        return cls(
            schema_version=int(data["schema_version"]),
            kind=str(data["kind"]),
            created=str(data["created"]),
            command=tuple(str(part) for part in data["command"]),
            environment=dict(data["environment"]),
            config=RECORD_TYPES[data["kind"]].from_dict(data["config"]),
            rows=tuple(Row.from_dict(row) for row in data.get("rows", [])),
            timings={str(name): StageStats.from_dict(stats) for name, stats in _items(data, "timings")},
            throughput=dict(data.get("throughput", {})),
            memory=dict(data.get("memory", {})),
            errors=tuple(str(error) for error in data.get("errors", [])),
        )


def report_from_dict(
    data: Any, source: str, upgrade_steps: Mapping[int, Callable[[dict], dict]] = UPGRADE_STEPS
) -> Report:
    """Validate ``data`` (from ``source``, used in messages), upgrading an older schema if possible."""
    if not isinstance(data, dict) or "schema_version" not in data:
        raise BenchError(f"{source}: not a bench report (a JSON object with 'schema_version' is expected)")
    version = data["schema_version"]
    if not isinstance(version, int) or isinstance(version, bool):
        raise BenchError(f"{source}: schema_version must be an integer, got {version!r}")
    if version > SCHEMA_VERSION:
        raise BenchError(
            f"{source}: schema version {version} is newer than this bench understands ({SCHEMA_VERSION}); "
            "update bench to read it"
        )
    while version < SCHEMA_VERSION:
        if version not in upgrade_steps:
            raise BenchError(
                f"{source}: schema version {version} is older than this bench reads ({SCHEMA_VERSION}) "
                "and cannot be upgraded; re-run the command that wrote it"
            )
        try:
            data = upgrade_steps[version](dict(data))
        except (KeyError, TypeError, ValueError) as error:
            raise BenchError(f"{source}: cannot upgrade this schema-{version} report: {error!r}") from error
        version += 1
        data["schema_version"] = version
    missing = [name for name in REQUIRED_FIELDS if name not in data]
    if missing:
        raise BenchError(f"{source}: report lacks the field(s) {', '.join(missing)}")
    try:
        return Report.from_dict(data)
    except KeyError as error:
        raise BenchError(f"{source}: malformed report, missing field {error}") from error
    except (TypeError, ValueError, AttributeError) as error:
        raise BenchError(f"{source}: malformed report: {error}") from error


def load_report(path: str | Path) -> Report:
    """Read and validate the report at ``path`` (clear BenchError if it is not a usable report)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise BenchError(f"report not found: {path}") from error
    except (OSError, UnicodeDecodeError) as error:
        raise BenchError(f"{path}: cannot read report: {error}") from error
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise BenchError(f"{path}: not valid JSON ({error})") from error
    return report_from_dict(data, str(path))


def _items(data: Mapping, name: str) -> list[tuple[str, Any]]:
    return list(data.get(name, {}).items())

