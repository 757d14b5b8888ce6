"""Making a report of this run and writing it: JSON first, then Markdown and plots rendered from it."""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import atomic
from bench.reports import markdown, plots
from bench.reports.environment import fingerprint
from bench.reports.records import RunRecord
from bench.reports.schema import Report, load_report


def new_report(
    kind: str,
    config: RunRecord,
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
        config=config,
        **fields,
    )



def report_stem(report: Report) -> str:
    """File stem naming kind, device, precision, torch, core count, config label and time.

    Example: ``profile-cpu-float32-pt2.13-2core-synthetic-512x512-b1-s1-20250101T120000Z``.
    """
    software = report.environment.get("software", {})
    hardware = report.environment.get("hardware", {})
    torch_version = ".".join(str(software.get("torch", "unknown")).split("+")[0].split(".")[:2])
    device = report.config.device
    if device.startswith("cuda") and hardware.get("gpus"):
        device = f"cuda-{hardware['gpus'][0]['name']}".lower()
    parts = [
        report.kind,
        device,
        report.config.precision,
        f"pt{torch_version}",
        f"{hardware.get('usable_cores', 'n')}core",
        report.config.label,
        re.sub(r"[^0-9TZ]", "", report.created.replace("+00:00", "Z")),
    ]
    return "-".join(_slug(part) for part in parts if part)


def write_report(report: Report, out_dir: str | Path, stem: str | None = None) -> dict[str, Path]:
    """Write the report as JSON, then Markdown and PNG plots rendered from that JSON; all atomic.

    Returns the written paths by role: ``json``, ``md`` and one key per plot (``stages_png``,
    ``metrics_png`` or, for a sweep, ``variants_png``) where the report has data for it.
    """
    out_dir = Path(out_dir)
    stem = stem or report_stem(report)
    json_path = atomic.write_json(out_dir / f"{stem}.json", report.to_dict())
    stored = load_report(json_path)
    written = {"json": json_path}
    for role, data in plots.render_plots(stored).items():
        written[f"{role}_png"] = atomic.write_bytes(out_dir / f"{stem}-{role}.png", data)
    images = {role: path.name for role, path in written.items() if role.endswith("_png")}
    written["md"] = atomic.write_text(out_dir / f"{stem}.md", markdown.render_markdown(stored, images))
    return written




def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-")
