"""The JSON report every reproduce or profile run writes, and reading it back with schema checks.

A report is plain data: what ran (``command``, ``config``), where (``environment``), what came out
(``rows`` of metrics for reproduce runs, ``timings``/``throughput``/``memory`` for speed) and what
went wrong (``errors``). Markdown and plots are rendered from the JSON file alone (bench.render), so a
committed report can be re-rendered or compared on any machine.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import atomic, render
from bench.environment import fingerprint
from bench.errors import BenchError
from bench.expected import Check
from bench.timing import StageStats

SCHEMA_VERSION = 1
KINDS = ("reproduce", "profile")
ROW_STATUSES = ("reproduced", "failed", "skipped", "smoke")
REQUIRED_FIELDS = ("schema_version", "kind", "created", "command", "environment", "config")

# Steps that rewrite a report dict of schema version v (the key) into version v + 1. Schema 1 is the
# first published schema, so there are none yet; load_report applies them in order when there are.
UPGRADE_STEPS: Mapping[int, Callable[[dict], dict]] = {}


@dataclass(frozen=True)
class Subset:
    """Which images a row was evaluated on."""

    dataset: str
    num_images: int
    full: bool


@dataclass(frozen=True)
class Evaluator:
    """The COCO-style evaluator that scored a row; ``official`` is False for re-implementations."""

    backend: str
    version: str | None
    official: bool


@dataclass(frozen=True)
class Row:
    """One published (scales, flip) configuration of a reproduce run and its outcome."""

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
        )


@dataclass(frozen=True)
class Report:
    """One run's results. ``timings`` maps stage names to latency statistics in milliseconds."""

    kind: str
    created: str
    command: tuple[str, ...]
    environment: dict[str, Any]
    config: dict[str, Any]
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
            "config": self.config,
            "rows": [row.to_dict() for row in self.rows],
            "timings": {stage: stats.to_dict() for stage, stats in self.timings.items()},
            "throughput": self.throughput,
            "memory": self.memory,
            "errors": list(self.errors),
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> Report:
        """Build a report from a dict of the current schema; raises KeyError/TypeError/ValueError."""
        return cls(
            schema_version=int(data["schema_version"]),
            kind=str(data["kind"]),
            created=str(data["created"]),
            command=tuple(str(part) for part in data["command"]),
            environment=dict(data["environment"]),
            config=dict(data["config"]),
            rows=tuple(Row.from_dict(row) for row in data.get("rows", [])),
            timings={str(name): StageStats.from_dict(stats) for name, stats in _items(data, "timings")},
            throughput=dict(data.get("throughput", {})),
            memory=dict(data.get("memory", {})),
            errors=tuple(str(error) for error in data.get("errors", [])),
        )


def new_report(
    kind: str,
    config: Mapping[str, Any],
    *,
    command: Sequence[str] | None = None,
    environment: Mapping[str, Any] | None = None,
    **fields: Any,
) -> Report:
    """A report stamped now (UTC), with this process's argv and environment unless given."""
    return Report(
        kind=kind,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        command=tuple(sys.argv if command is None else command),
        environment=dict(fingerprint() if environment is None else environment),
        config=dict(config),
        **fields,
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
        data = upgrade_steps[version](dict(data))
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


def report_stem(report: Report) -> str:
    """File stem naming kind, device, precision, torch, core count, config label and time.

    Example: ``profile-cpu-fp32-pt2.13-2core-synthetic-512x512-b1-s1-20250101T120000Z``.
    """
    software = report.environment.get("software", {})
    hardware = report.environment.get("hardware", {})
    torch_version = ".".join(str(software.get("torch", "unknown")).split("+")[0].split(".")[:2])
    device = str(report.config.get("device", "cpu"))
    if device.startswith("cuda") and hardware.get("gpus"):
        device = f"cuda-{hardware['gpus'][0]['name']}".lower()
    parts = [
        report.kind,
        device,
        str(report.config.get("precision", "fp32")),
        f"pt{torch_version}",
        f"{hardware.get('usable_cores', 'n')}core",
        str(report.config.get("label", "")),
        re.sub(r"[^0-9TZ]", "", report.created.replace("+00:00", "Z")),
    ]
    return "-".join(_slug(part) for part in parts if part)


def write_report(report: Report, out_dir: str | Path, stem: str | None = None) -> dict[str, Path]:
    """Write the report as JSON, then Markdown and PNG plots rendered from that JSON; all atomic.

    Returns the written paths by role: ``json``, ``md`` and one key per plot (``stages_png``,
    ``metrics_png``) where the report has data for it.
    """
    out_dir = Path(out_dir)
    stem = stem or report_stem(report)
    json_path = atomic.write_json(out_dir / f"{stem}.json", report.to_dict())
    stored = load_report(json_path)
    written = {"json": json_path}
    for role, data in render.render_plots(stored).items():
        written[f"{role}_png"] = atomic.write_bytes(out_dir / f"{stem}-{role}.png", data)
    images = {role: path.name for role, path in written.items() if role.endswith("_png")}
    written["md"] = atomic.write_text(out_dir / f"{stem}.md", render.render_markdown(stored, images))
    return written


def _items(data: Mapping, name: str) -> list[tuple[str, Any]]:
    return list(data.get(name, {}).items())


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-")
