"""The history of every reported figure: one table, one row per figure of every report, grown by
``bench compare --history FILE`` (and by ``bench publish``, whose showcase keeps ``results/history.csv``),
and the series it holds with their change points (``bench.reports.change_points``).

A figure is a stage's p50 (ms) or an AP metric of a reproduce row (``AP_NAMES``, per row; a metric with
nothing to score, -1, is no figure). Its row names the report (content ``digest``), when it was made
(``created``, UTC) and from which ``commit``, the machine by name and fingerprint, the runtime with its
version, the precision, device, workload and kind. A *series* is one figure of one machine (its name and
its hardware, ``hardware_id``), device and workload (runtime and precision included) over time, ordered
by ``created`` then ``commit``: a new torch, OpenCV or runtime release on the same machine goes on in the
same series, so a change point can name it (the ``fingerprint`` column tells the software apart),
while other hardware starts a series of its own.

The table is CSV, not Parquet: a committed file whose growth reads as added lines in ``git diff``,
written without pyarrow. Appending is idempotent: a report already in the history (by digest) adds
nothing, rows already there are kept as they are, and rows are sorted (``SORT_COLUMNS``) so that the
same reports always give the same bytes, a newer report's rows at the end.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

import pandas as pd

from bench import atomic
from bench.errors import BenchError
from bench.evaluation import AP_NAMES
from bench.evaluation.protocol import NO_GROUND_TRUTH
from bench.reading import read_bytes
from bench.reports.change_points import MIN_POINTS, ChangePoint, change_points
from bench.reports.environment import hardware_id
from bench.reports.schema import Report

HISTORY_NAME = "history.csv"
"""The history's file name in a showcase folder (``bench publish`` keeps ``results/history.csv``)."""

COLUMNS = ("digest", "created", "commit", "machine", "fingerprint", "runtime", "precision", "device",
           "workload", "kind", "series", "quantity", "value")
"""The history's columns, in file order; every one but ``value`` is text ("" where unknown)."""

SORT_COLUMNS = ["created", "commit", "digest", "series", "quantity"]
"""The rows' order: by report time, so that a newer report's rows are appended at the end."""

MAX_HISTORY_BYTES = 512 * 1024**2
"""Largest history file read (a report adds a few dozen rows of about 300 bytes)."""


@dataclass(frozen=True)
class Appended:
    """The history after appending, where it was written, and how many reports and rows were new."""

    path: Path
    table: pd.DataFrame
    new_reports: int
    new_rows: int


@dataclass(frozen=True)
class Series:
    """One figure of one machine (name and hardware), device and workload, oldest first, with its change
    points."""

    key: str
    quantity: str
    created: tuple[str, ...]
    commits: tuple[str, ...]
    values: tuple[float, ...]
    change_points: tuple[ChangePoint, ...]


def figure_rows(report: Report, workload: str) -> pd.DataFrame:
    """One history row per figure of ``report`` (``workload``: what it measured, machine aside, as
    ``bench compare`` names it)."""
    environment, config = report.environment, report.config
    software = environment.software
    identity = {
        "digest": report.digest,
        "created": report.created_at.astimezone(UTC).isoformat(),
        "commit": environment.host.git_commit or "",
        "machine": environment.machine_name,
        "fingerprint": report.fingerprint_id,
        "runtime": software.runtime or f"torch {software.torch or '?'}",
        "precision": config.precision,
        "device": config.device,
        "workload": workload,
        "kind": report.kind,
        "series": (f"{environment.machine_name} [{hardware_id(environment.hardware)}] {config.device} "
                   f"{workload}"),
    }
    figures = [(f"{stage} p50 ms", stats.p50_ms) for stage, stats in report.timings.items()]
    figures += [(f"{metric} {row.result.name}", (row.result.metrics or {}).get(metric))
                for row in report.rows for metric in AP_NAMES]
    return pd.DataFrame([{**identity, "quantity": quantity, "value": float(value)}
                         for quantity, value in figures if value is not None and value != NO_GROUND_TRUTH],
                        columns=list(COLUMNS))


def read_history(path: Path) -> pd.DataFrame:
    """The history at ``path`` (empty if there is no file); BenchError naming the file when it is not
    a history (other columns, a value that is not a number)."""
    if not path.exists():
        return pd.DataFrame(columns=list(COLUMNS)).astype({"value": float})
    data = read_bytes(path, "history file", MAX_HISTORY_BYTES)
    try:
        table = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as error:  # UnicodeDecodeError is a ValueError
        raise BenchError(f"{path}: not a readable history CSV: {error}") from None
    if tuple(table.columns) != COLUMNS:
        raise BenchError(f"{path}: not a bench history: its columns are {', '.join(table.columns)}; "
                         f"expected {', '.join(COLUMNS)}")
    values = pd.to_numeric(table["value"], errors="coerce")
    bad = table.index[values.isna()]
    if len(bad):
        raise BenchError(f"{path}: line {bad[0] + 2}: value {table['value'][bad[0]]!r} is not a number")
    return table.assign(value=values)


def append_history(path: Path, reports: Iterable[tuple[Report, str]]) -> Appended:
    """Add the figures of every (report, workload) whose digest the history at ``path`` lacks, and
    write it back atomically, sorted (``SORT_COLUMNS``)."""
    history = read_history(path)
    known = set(history["digest"])
    fresh = {report.digest: (report, workload) for report, workload in reports if report.digest not in known}
    added = [figure_rows(report, workload) for report, workload in fresh.values()]
    table = pd.concat([history, *added], ignore_index=True) if added else history
    table = table.sort_values(SORT_COLUMNS, kind="stable", ignore_index=True)
    atomic.write_text(path, table.to_csv(index=False))
    return Appended(path=path, table=table, new_reports=len(fresh), new_rows=len(table) - len(history))


def history_series(table: pd.DataFrame) -> list[Series]:
    """Every series of the history (sorted by quantity, then key), each ordered by ``created`` then
    ``commit``, with its change points."""
    ordered = table.sort_values(["quantity", "series", "created", "commit", "digest"], kind="stable")
    return [Series(key=key, quantity=quantity, created=tuple(rows["created"]), commits=tuple(rows["commit"]),
                   values=tuple(rows["value"]), change_points=change_points(rows["value"].to_numpy()))
            for (quantity, key), rows in ordered.groupby(["quantity", "series"], sort=False)]


def series_table(series: Sequence[Series]) -> pd.DataFrame:
    """One row per series: its quantity and key, points, dates, and each change point as
    "#index (date, commit): before -> after (relative change)", or why none could be found."""

    def described(item: Series) -> str:
        if len(item.values) < MIN_POINTS:
            return f"too few points to test (fewer than {MIN_POINTS})"
        return "; ".join(f"#{point.index} ({item.created[point.index][:10]}, "
                         f"{item.commits[point.index][:10] or 'commit unknown'}): "
                         f"{point.before:.4g} -> {point.after:.4g}"
                         + ("" if math.isnan(point.relative_change) else f" ({point.relative_change:+.1%})")
                         for point in item.change_points) or "none"

    return pd.DataFrame([{"quantity": item.quantity, "series": item.key, "points": len(item.values),
                          "first": item.created[0][:10], "last": item.created[-1][:10],
                          "change points": described(item)} for item in series])
