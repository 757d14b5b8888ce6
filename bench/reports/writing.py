"""Making a report of this run and writing it: JSON first, then Markdown and plots rendered from it."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import atomic
from bench.errors import BenchError
from bench.reading import read_bytes
from bench.reports import markdown, plots
from bench.reports.environment import Environment
from bench.reports.machine import this_environment
from bench.reports.records import RunRecord
from bench.reports.rows import predictions_name
from bench.reports.schema import Report, load_report
from reference.precisions import TORCH_RUNTIME

MAX_LABEL_BYTES = 116
"""Longest report label (``slug``-ed) in a report's file names: what its settings add to the name. The
other parts (kind, device with a GPU name of up to 35 characters, a runtime other than torch, precision,
torch version and cores, time stamp, a ``-N`` suffix, ``-variants.png``) take at most the other 124
bytes of ``atomic.MAX_NAME_BYTES``.
A profile's label (image size, batch, scales, flip, maps) stays under 112 bytes within its other limits;
a reproduce label holds the sweep file's name or every ``--scales`` given, and is checked."""




def rerunnable_command(argv: Sequence[str]) -> tuple[str, ...]:
    """The command line that reruns this process: ``python -m bench ...`` for the bench (whose argv[0] is
    the absolute path of ``bench/__main__.py`` on the machine that ran it), else ``argv`` unchanged."""
    main = Path(argv[0]) if argv else Path()
    if main.name == "__main__.py" and main.parent.name == "bench":
        return ("python", "-m", "bench", *argv[1:])
    return tuple(argv)


def new_report(
    kind: str,
    config: RunRecord,
    *,
    command: Sequence[str] | None = None,
    environment: Environment | None = None,
    **fields: Any,
) -> Report:
    """A report stamped now (UTC), with the command line that reruns this process and this machine's
    environment unless given."""
    return Report(
        kind=kind,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        command=rerunnable_command(sys.argv) if command is None else tuple(command),
        environment=this_environment() if environment is None else environment,
        config=config,
        **fields,
    )


def report_stem(report: Report) -> str:
    """File stem naming kind, device, the network runtime where it is not torch, precision, torch, core
    count, config label and time.

    Example: ``profile-cpu-float32-pt2.13-2core-synthetic-512x512-b1-s1-20250101T120000Z``, and
    ``reproduce-cpu-openvino-int8-pt2.13-2core-20250101T120000Z``.
    """
    parts = [
        report.kind,
        device_label(report.config.device, report.environment),
        "" if report.config.runtime == TORCH_RUNTIME else report.config.runtime,
        report.config.precision,
        runtime_label(report.environment),
        report.config.label,
        time_label(report.created),
    ]
    return "-".join(slug(part) for part in parts if part)


def check_name(name: str, flag: str, what: str = "the file name",
               limit: int = atomic.MAX_NAME_BYTES) -> None:
    """BenchError, before any work, when ``name`` (``what`` the setting ``flag`` gives) is over ``limit``
    bytes, so that a run never fails writing its last file."""
    length = len(name.encode())
    if length > limit:
        raise BenchError(f"{flag}: {what} {name[:40]}... is {length} bytes, above the limit of {limit}")


def check_label(label: str, source: str) -> None:
    """``check_name`` for a report label, as it goes into the report's file names (``MAX_LABEL_BYTES``)."""
    check_name(slug(label), source, "the report label", MAX_LABEL_BYTES)


def device_label(device: str, environment: Environment) -> str:
    """``cpu``, or ``cuda-<first GPU's name>`` (lower case) where the environment lists GPUs."""
    gpus = environment.hardware.gpus
    return f"cuda-{gpus[0].name}".lower() if device.startswith("cuda") and gpus else device


def runtime_label(environment: Environment) -> str:
    """torch's major.minor and the usable core count, e.g. ``pt2.13-2core``."""
    torch_version = str(environment.software.torch or "unknown").split("+")[0]
    cores = environment.hardware.usable_cores or "n"
    return f"pt{'.'.join(torch_version.split('.')[:2])}-{cores}core"


def time_label(created: str) -> str:
    """An ISO time stamp as in file names: ``20250101T120000Z``."""
    return re.sub(r"[^0-9TZ]", "", created.replace("+00:00", "Z"))


def write_report(report: Report, out_dir: str | Path, stem: str | None = None) -> dict[str, Path]:
    """Write the report as JSON, then Markdown and PNG plots rendered from that JSON; all atomic.

    Returns the written paths by role: ``json``, ``md`` and one key per plot (``stages_png``,
    ``metrics_png`` or, for a sweep, ``variants_png``) where the report has data for it. Without a
    given ``stem`` the name comes from ``report_stem`` and is claimed exclusively (``-2``, ``-3``, ...
    are appended while it is taken), so two runs finishing in the same second never overwrite each
    other's report; the JSON appears whole or not at all.
    """
    out_dir = Path(out_dir)
    encoded = atomic.json_bytes(report.to_dict())
    if stem is None:
        json_path = atomic.write_new(out_dir, report_stem(report), ".json", encoded)
        stem = json_path.name.removesuffix(".json")
    else:
        json_path = atomic.write_bytes(out_dir / f"{stem}.json", encoded)
    stored = load_report(json_path)
    written = {"json": json_path}
    for role, data in plots.render_plots(stored).items():
        written[f"{role}_png"] = atomic.write_bytes(out_dir / f"{stem}-{role}.png", data)
    images = {role: path.name for role, path in written.items() if role.endswith("_png")}
    written["md"] = atomic.write_text(out_dir / f"{stem}.md", markdown.render_markdown(stored, images))
    return written


def write_predictions(report: Report, out_dir: Path) -> dict[str, Path]:
    """Copy each row's predictions from the prediction cache beside the report (``predictions_name``),
    so the report can be diffed and published without the cache that made it; by row name."""
    written = {}
    for row in report.rows:
        behaviour = row.result.behaviour
        if behaviour is None or behaviour.results_sha256 is None:
            continue
        target = out_dir / predictions_name(behaviour.results_sha256)
        if not target.exists():
            atomic.write_bytes(target, read_bytes(behaviour.results_json, "results file"))
        written[row.result.name] = target
    return written


def slug(text: str) -> str:
    """``text`` safe in a file name: runs of other characters than letters, digits and '.' become '-'."""
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-")
