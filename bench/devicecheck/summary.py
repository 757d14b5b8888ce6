"""The device-check summary: the steps (passed or failed, with their errors) and one speed table
(images/s and the network / post-processing split per case), printed and written as JSON and Markdown
under a name that carries the hardware, like every report's (``bench.reports.writing``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from bench import atomic
from bench.devicecheck.outcome import StepOutcome
from bench.reports.environment import Environment
from bench.reports.markdown import markdown_table
from bench.reports.typed import to_data
from bench.reports.writing import device_label, runtime_label, slug, time_label

SPEED_COLUMNS = {"case": "case", "runtime": "runtime", "precision": "precision", "images_per_s": "images/s",
                 "network_ms": "network ms/batch", "postprocess_ms": "post-processing ms/batch",
                 "postprocess_vs_network": "post / network"}
NO_SPEED = "no speed rows (the profile steps failed)"


def summary_record(outcomes: Sequence[StepOutcome], device: str, quick: bool, environment: Environment,
                   created: str) -> dict[str, Any]:
    """The summary as JSON data: hardware, each step, the speed rows, the steps' total seconds, and the
    exit status (1 if any step failed)."""
    return {
        "kind": "device-check", "created": created, "device": device, "quick": quick,
        "hardware": device_label(device, environment), "runtime": runtime_label(environment),
        "environment": to_data(environment),
        "steps": [{"name": outcome.name, "status": outcome.status,
                   "detail": outcome.detail, "error": outcome.error, "seconds": round(outcome.seconds, 1),
                   "reports": [str(path) for path in outcome.reports]} for outcome in outcomes],
        "speed": [row for outcome in outcomes for row in outcome.data.get("speed", [])],
        "seconds": round(sum(outcome.seconds for outcome in outcomes), 1),
        "goals": [goal for outcome in outcomes for goal in outcome.data.get("goals", [])],
        "exit_code": 0 if all(outcome.passed for outcome in outcomes) else 1,
    }


def steps_frame(record: Mapping[str, Any]) -> pd.DataFrame:
    return pd.DataFrame.from_records([
        {"step": step["name"], "status": step["status"], "seconds": step["seconds"],
         "detail": step["detail"], "error": step["error"] or "-"} for step in record["steps"]])


def speed_frame(record: Mapping[str, Any]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(record["speed"], columns=list(SPEED_COLUMNS))
    return frame.rename(columns=SPEED_COLUMNS)


def render_text(record: Mapping[str, Any], paths: Mapping[str, Path]) -> str:
    """The summary printed at the end: both tables, and where the summary files went."""
    speed = speed_frame(record)
    return "\n".join([
        f"device-check on {record['hardware']} ({record['runtime']}, {_matrix(record)} matrix): "
        f"{record['seconds']:g} s, exit status {record['exit_code']}", "",
        steps_frame(record).to_string(index=False), "",
        speed.to_string(index=False, float_format=lambda value: f"{value:.3g}") if len(speed) else
        NO_SPEED, "",
        *(f"summary: {path}" for path in paths.values())])


def render_markdown(record: Mapping[str, Any]) -> str:
    speed = speed_frame(record)
    return "\n".join([
        f"# device-check: {record['hardware']} ({record['runtime']})", "",
        f"{record['created']}, {_matrix(record)} matrix, {record['seconds']:g} s, exit status "
        f"{record['exit_code']}. Profiled on the overlapped schedule (the one `bench reproduce` runs), so "
        "images/s is what a run gets; the network is every forward pass, post-processing every stage "
        "after it (aggregation, grouping, mapping back), both mean ms of work per batch.", "",
        "## Steps", "", markdown_table(steps_frame(record)), "",
        "## Speed", "", markdown_table(speed) if len(speed) else NO_SPEED, ""])


def write_summary(record: Mapping[str, Any], out: Path) -> dict[str, Path]:
    """Write the summary as ``device-check-<hardware>-<runtime>-<quick|full>-<time>.json`` and ``.md``."""
    parts = ["device-check", record["hardware"], record["runtime"], _matrix(record),
             time_label(record["created"])]
    stem = "-".join(slug(part) for part in parts)
    json_path = atomic.write_new(out, stem, ".json", atomic.json_bytes(record))
    return {"json": json_path,
            "md": atomic.write_text(json_path.with_suffix(".md"), render_markdown(record))}


def _matrix(record: Mapping[str, Any]) -> str:
    return "quick" if record["quick"] else "full"
