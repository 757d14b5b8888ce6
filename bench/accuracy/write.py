"""Step 5 of `bench reproduce`: write. The report (JSON, then Markdown and plots rendered from it) and
the summary printed at the end: each row's status and metrics, its reason, what is missing and how to
supply it, and where the report went."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import torch

from bench.accuracy.expected import ExpectedTable
from bench.accuracy.plan import Plan
from bench.accuracy.settings import ReproduceConfig
from bench.evaluation import AP_NAMES, metric_text, no_ground_truth_note
from bench.reports.machine import this_environment
from bench.reports.records import ReproduceRecord
from bench.reports.rows import Row
from bench.reports.schema import ForwardThroughput, Report, Throughput
from bench.reports.writing import new_report, write_predictions, write_report


def reproduce_report(config: ReproduceConfig, plan: Plan, device: torch.device, rows: Sequence[Row],
                     forwards: Sequence[ForwardThroughput], runtime: str | None) -> Report:
    """The report of a run: its settings verbatim, the weights and table, every row, the forwards;
    ``runtime``: the network runtime's name and version for the environment (None: torch)."""
    table: ExpectedTable = plan.table
    record = ReproduceRecord(label=config.label, device=str(device), precision=config.precision,
                             weights=plan.weights.to_record(), expected_table=table.path,
                             expected_table_sha256=table.sha256, settings=dataclasses.asdict(config),
                             config_file=config.config_file, runtime=config.runtime)
    return new_report("reproduce", record, environment=this_environment(config.machine, runtime),
                      rows=tuple(rows),
                      throughput=Throughput(forwards=tuple(forwards)),
                      errors=plan.problems)


def write(report: Report, out: str | Path) -> tuple[dict[str, Path], str]:
    """Write the report's files into ``out``, its rows' predictions beside it; the paths by role and
    the summary."""
    paths = write_report(report, out)
    write_predictions(report, Path(out))
    return paths, summarize(report, paths)


def summarize(report: Report, paths: Mapping[str, Path]) -> str:
    """The summary: a metrics table with each row's status, each row's reason, what is missing and how
    to supply it, and where the report went."""
    table = pd.DataFrame([
        {"row": row.result.name, "status": row.verdict.status,
         **{name: metric_text((row.result.metrics or {}).get(name)) for name in AP_NAMES}}
        for row in report.rows
    ])
    metrics = [value for row in report.rows for value in (row.result.metrics or {}).values()]
    lines = [table.to_string(index=False), *no_ground_truth_note(metrics), ""]
    lines += [f"{row.result.name}: {row.verdict.status}: {row.verdict.reason}" for row in report.rows
              if row.verdict.reason]
    if report.errors:
        lines += ["", "What is missing, and how to supply it:"]
        lines += [f"- {problem}" for problem in report.errors]
    lines += [""] + [f"report: {path}" for role, path in paths.items() if role in ("json", "md")]
    return "\n".join(lines)
