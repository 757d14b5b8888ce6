"""The JSON report every reproduce or profile run writes, and reading it back with schema checks.

A report is plain typed data: what ran (``command``, and ``config``, a typed record per run kind, see
``bench.reports.records``), where (``environment``, ``bench.reports.environment``), what came out
(``rows`` of results and verdicts for reproduce runs, ``bench.reports.rows``; ``timings``,
``throughput`` and ``memory`` for speed, with the ``stability`` of the machine while a profile measured)
and what went wrong (``errors``). Every field is read by its
type (``bench.reports.typed``), so no reader looks a value up under a key it merely hopes is there.
Markdown and plots are rendered from the JSON file alone, so a committed report can be re-rendered or
compared on any machine. Reports of older schema versions are upgraded on reading
(``bench.reports.upgrade``).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.reading import read_json
from bench.reports.environment import Environment
from bench.reports.records import RECORD_TYPES, NetworkBuild, ProfileRecord, ReproduceRecord
from bench.reports.rows import Row
from bench.reports.stats import END_TO_END, StageStats
from bench.reports.typed import from_data, to_data
from bench.reports.upgrade import UPGRADE_STEPS

SCHEMA_VERSION = 6
KINDS = tuple(RECORD_TYPES)
REQUIRED_FIELDS = ("schema_version", "kind", "created", "command", "environment", "config")

MAX_REPORT_BYTES = 256 * 1024**2
"""Largest report file read (a reproduce report is tens of KB, a long profile a few MB)."""


@dataclass(frozen=True)
class ForwardThroughput:
    """One network run of a reproduce report: the rows decoded from it, how many images went through
    the network here (``computed``) and how many came from the prediction cache, and the images per
    second of the computed ones (None when every image came from the cache: cached images say
    nothing about speed). Counts are None in reports upgraded from schema 3, which kept only these
    two numbers. ``network``: how a runtime other than torch built this forward's network (its time is
    left out of images/s); None for torch, and where no image needed the network."""

    rows: tuple[str, ...]
    images_per_s: float | None
    from_cache: int | None
    computed: int | None = None
    network: NetworkBuild | None = None


@dataclass(frozen=True)
class Throughput:
    """A profile's images and iterations per second at its batch size, or a reproduce run's forwards."""

    images_per_s: float | None = None
    iterations_per_s: float | None = None
    batch: int | None = None
    forwards: tuple[ForwardThroughput, ...] = ()


@dataclass(frozen=True)
class Memory:
    """Peak memory of a profile: what was measured (``kind``), in bytes."""

    kind: str
    peak_bytes: int
    peak_reserved_bytes: int | None = None


@dataclass(frozen=True)
class Stability:
    """How steady the machine was while a profile case measured, and why its timings should not be
    judged: what a reader needs to trust or distrust the numbers (pyperf records the same).

    ``load_start`` holds the 1-, 5- and 15-minute load averages before the profile's first case (the
    machine's other work, before the profile added its own), ``load_before`` and ``load_after`` those
    around this case's batches (warm-up included, ``wall_s`` seconds); ``own_cores`` is the mean number
    of cores the profile's own processes used over them (CPU time / wall time); ``cpu_mhz_before`` and
    ``cpu_mhz_after`` the mean clock of the usable cores (None where not readable: no cpufreq and no
    /proc/cpuinfo); ``usable_cores`` the cores this process may run on. ``cv_limit`` is the largest
    coefficient of variation taken as steady and ``unstable_stages`` the stages above it (compare
    leaves them undecided), judged within each of the ``input_cycle`` inputs the batches cycle through
    (``bench.reports.stats.steadiness``). ``warnings`` say why the machine's load makes the whole case
    unstable (busy before the profile, or its load rising during the case beyond the profile's own
    work). The case
    is ``unstable`` with a warning or with ``end_to_end`` among the unstable stages: `bench compare`
    then decides none of its stages. Profiles of schema < 5 have no record.
    """

    load_start: tuple[float, float, float] | None
    load_before: tuple[float, float, float] | None
    load_after: tuple[float, float, float] | None
    wall_s: float
    own_cores: float | None
    cpu_mhz_before: float | None
    cpu_mhz_after: float | None
    usable_cores: int | None
    cv_limit: float
    input_cycle: int = 1
    unstable_stages: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.input_cycle < 1:
            raise ValueError(f"input_cycle must be at least 1, got {self.input_cycle}")

    @property
    def unstable(self) -> bool:
        return bool(self.warnings) or END_TO_END in self.unstable_stages


def parse_created(created: str) -> datetime:
    """``created`` as a time; ValueError unless it is an ISO-8601 timestamp with a UTC offset.

    A time without an offset is refused, not read as UTC: the bench always writes UTC with its offset
    (``+00:00``), so a naive time was written elsewhere in an unknown zone, and reading it as UTC could
    place the report hours away from its turn when reports are ordered (``bench compare`` checks the
    newest against the one before it).
    """
    try:
        moment = datetime.fromisoformat(created)
    except ValueError:
        raise ValueError(f"created {created!r:.60} is not an ISO-8601 timestamp") from None
    if moment.utcoffset() is None:
        raise ValueError(f"created {created!r:.60} has no UTC offset (such as +00:00): its time is unknown")
    return moment


@dataclass(frozen=True)
class Report:
    """One run's results. ``timings`` maps stage names to latency statistics and samples in milliseconds;
    ``created`` is an ISO-8601 timestamp with a UTC offset (``parse_created``)."""

    kind: str
    created: str
    command: tuple[str, ...]
    environment: Environment
    config: ProfileRecord | ReproduceRecord
    rows: tuple[Row, ...] = ()
    timings: dict[str, StageStats] = field(default_factory=dict)
    throughput: Throughput = field(default_factory=Throughput)
    memory: Memory | None = None
    errors: tuple[str, ...] = ()
    stability: Stability | None = None
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind {self.kind!r} is not one of {KINDS}")
        if not isinstance(self.config, RECORD_TYPES[self.kind]):
            raise TypeError(f"a {self.kind} report needs a {RECORD_TYPES[self.kind].__name__} config, "
                            f"got {type(self.config).__name__}")
        parse_created(self.created)

    @property
    def fingerprint_id(self) -> str:
        return self.environment.fingerprint_id

    @property
    def created_at(self) -> datetime:
        """When the run was made: what orders reports (never the text of ``created``)."""
        return parse_created(self.created)

    @functools.cached_property
    def digest(self) -> str:
        """sha256 of the report's data as canonical JSON: what identifies one run's report whatever file
        holds it (a copy, a link, the file re-indented or upgraded from an older schema)."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return to_data(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Report:
        """A report from a dict of the current schema; ValueError naming the entry that does not fit."""
        if not isinstance(data, Mapping):
            raise ValueError(f"report: expected an object, got {type(data).__name__}")
        if data.get("kind") not in RECORD_TYPES:
            raise ValueError(f"kind {data.get('kind')!r} is not one of {KINDS}")
        from_data(RECORD_TYPES[data["kind"]], data.get("config"), "config")  # its own type's message
        return from_data(cls, dict(data), "report")


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
        except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as error:
            raise BenchError(f"{source}: cannot upgrade this schema-{version} report: {error!r}") from error
        version += 1
        data["schema_version"] = version
    missing = [name for name in REQUIRED_FIELDS if name not in data]
    if missing:
        raise BenchError(f"{source}: report lacks the field(s) {', '.join(missing)}")
    try:
        return Report.from_dict(data)
    except (TypeError, ValueError) as error:
        raise BenchError(f"{source}: malformed report: {error}") from error


def load_report(path: str | Path) -> Report:
    """Read and validate the report at ``path`` (clear BenchError if it is not a usable report)."""
    path = Path(path)
    data = read_json(path, "report", MAX_REPORT_BYTES)
    return report_from_dict(data, str(path))
