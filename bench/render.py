"""Markdown and PNG views of reports, computed from the report data alone (never from a live run).

Plots use matplotlib's Agg canvas on a private ``Figure`` (no pyplot state), and are returned as PNG
bytes so that the caller writes them atomically.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bench.timing import END_TO_END, STAT_FIELDS, StageStats

if TYPE_CHECKING:
    from bench.report import Report

OTHER_STAGE = "other (untimed)"


def render_markdown(report: Report, images: Mapping[str, str] | None = None) -> str:
    """The report as Markdown: environment, configuration, rows, per-stage statistics, errors.

    ``images`` maps plot roles ("stages", "metrics" with a ``_png`` suffix) to file names to embed.
    """
    title = f"# {report.kind.capitalize()} report, {report.created}"
    sections = [title, f"Command: `{' '.join(report.command)}`", "## Environment", environment_table(report)]
    sections += ["## Configuration", "```json\n" + json.dumps(report.config, indent=2, default=str) + "\n```"]
    if report.rows:
        sections += ["## Rows", rows_table(report)]
        failed = [check for row in report.rows for check in row.checks if not check.passed]
        if failed:
            sections += ["### Failed checks", "\n".join(f"- {check.describe()}" for check in failed)]
    if report.timings:
        sections += ["## Per-stage latency (ms)", markdown_table(stage_frame(report.timings))]
    if report.throughput or report.memory:
        sections += ["## Throughput and memory", markdown_table(_key_value_frame({**report.throughput,
                                                                                   **report.memory}))]
    if report.errors:
        sections += ["## Errors", "\n".join(f"- {error}" for error in report.errors)]
    for role, name in (images or {}).items():
        sections.append(f"![{role.removesuffix('_png')}]({name})")
    return "\n\n".join(sections) + "\n"


def render_plots(report: Report) -> dict[str, bytes]:
    """PNG plots the report has data for: "stages" (latency breakdown) and "metrics" (vs. published)."""
    plots = {}
    if report.timings:
        plots["stages"] = stage_bars_png([(machine_label(report), report.timings)])
    if any(row.metrics for row in report.rows):
        plots["metrics"] = metrics_png(report)
    return plots


def machine_name(report: Report) -> str:
    """The device a report ran on: the GPU name for CUDA runs, the CPU model otherwise."""
    hardware = report.environment.get("hardware", {})
    gpus = hardware.get("gpus") or []
    if str(report.config.get("device", "cpu")).startswith("cuda") and gpus:
        return str(gpus[0]["name"])
    return str(hardware.get("cpu_model", "cpu"))


def machine_label(report: Report) -> str:
    """Short label for the machine and configuration of a report (bar and table labels)."""
    return f"{machine_name(report)} [{report.fingerprint_id}] {report.config.get('label', report.kind)}"


def environment_table(report: Report) -> str:
    env = report.environment
    hardware, software, numerics, host = (env.get(key, {}) for key in ("hardware", "software", "numerics",
                                                                         "host"))
    gpus = ", ".join(f"{gpu['name']} (sm {gpu['compute_capability']}, {gpu['memory_bytes'] / 2**30:.0f} GiB)"
                     for gpu in hardware.get("gpus", [])) or "none"
    fields = {
        "fingerprint_id": env.get("fingerprint_id"),
        "cpu": hardware.get("cpu_model"),
        "cores (usable / total)": f"{hardware.get('usable_cores')} / {hardware.get('cpu_count')}",
        "gpus": gpus,
        "gpu driver": hardware.get("gpu_driver"),
        "os": software.get("os"),
        "python": software.get("python"),
        "torch / cuda / cudnn": f"{software.get('torch')} / {software.get('cuda')} / {software.get('cudnn')}",
        **{f"numerics: {key}": value for key, value in numerics.items()},
        **{f"package: {name}": version for name, version in software.get("packages", {}).items()
           if version is not None},
        "git commit": host.get("git_commit"),
        "git dirty": host.get("git_dirty"),
        "hostname": host.get("hostname"),
    }
    return markdown_table(_key_value_frame(fields))


def rows_table(report: Report) -> str:
    metric_names = list(dict.fromkeys(name for row in report.rows for name in row.metrics))
    records = []
    for row in report.rows:
        failed = [check.metric for check in row.checks if not check.passed]
        records.append({
            "row": row.name,
            "scales": ",".join(f"{scale:g}" for scale in row.scales),
            "flip": row.flip,
            "status": row.status,
            "subset": f"{row.subset.dataset} ({row.subset.num_images} images, "
                      f"{'full' if row.subset.full else 'limited'})",
            **{name: row.metrics.get(name) for name in metric_names},
            "failed checks": ", ".join(failed) or "-",
            "evaluator": f"{row.evaluator.backend} {row.evaluator.version or ''}"
                         f"{'' if row.evaluator.official else ' (unofficial)'}",
            "reason": row.reason or "",
        })
    return markdown_table(pd.DataFrame.from_records(records))


def stage_frame(timings: Mapping[str, StageStats]) -> pd.DataFrame:
    """One row per stage with all statistics; stages outside the iteration are marked."""
    records = [
        {"stage": stage if stats.in_iteration else f"{stage} (separate)",
         **{name: getattr(stats, name) for name in STAT_FIELDS}}
        for stage, stats in timings.items()
    ]
    return pd.DataFrame.from_records(records)


def stacked_stage_means(timings: Mapping[str, StageStats]) -> dict[str, float]:
    """Mean ms of each stage inside the iteration, plus the untimed remainder of end_to_end."""
    parts = {stage: stats.mean_ms for stage, stats in timings.items()
             if stats.in_iteration and stage != END_TO_END}
    if END_TO_END in timings:
        parts[OTHER_STAGE] = max(0.0, timings[END_TO_END].mean_ms - sum(parts.values()))
    return parts


def stage_bars_png(entries: Sequence[tuple[str, Mapping[str, StageStats]]]) -> bytes:
    """Horizontal stacked bars of mean stage latency, one bar per (label, timings) entry: in ms on the
    left, as a share of the iteration on the right (readable when machines differ by orders of magnitude)."""
    stacks = [(label, stacked_stage_means(timings)) for label, timings in entries]
    stages = list(dict.fromkeys(stage for _, parts in stacks for stage in parts))
    widths = np.array([[parts.get(stage, 0.0) for stage in stages] for _, parts in stacks]).reshape(
        len(stacks), len(stages))
    totals = widths.sum(axis=1, keepdims=True)
    shares = 100.0 * widths / np.where(totals > 0, totals, 1.0)
    figure = Figure(figsize=(14, 1.8 + 0.5 * len(stacks)), layout="constrained")
    absolute_axes, share_axes = figure.subplots(1, 2, sharey=True, width_ratios=(3, 2))
    positions = np.arange(len(stacks))
    for axes, values in ((absolute_axes, widths), (share_axes, shares)):
        left = np.zeros(len(stacks))
        for column, (stage, colour) in enumerate(zip(stages, _colours(len(stages)), strict=True)):
            axes.barh(positions, values[:, column], left=left, color=colour, label=stage)
            left += values[:, column]
    absolute_axes.set_yticks(positions, [label for label, _ in stacks], fontsize=8)
    absolute_axes.invert_yaxis()
    absolute_axes.set_xlabel("mean latency per iteration (ms)")
    share_axes.set_xlabel("share of the iteration (%)")
    share_axes.set_xlim(0, 100)
    figure.suptitle("Per-stage latency")
    share_axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return _png(figure)


def metrics_png(report: Report) -> bytes:
    """Top: measured metrics (dots) and published values (squares). Bottom: measured minus published
    with the tolerance band shaded. COCO's -1 ("no such images in the subset") is left out."""
    metric_names = list(dict.fromkeys(name for row in report.rows for name in (*row.expected, *row.metrics)))
    figure = Figure(figsize=(2.0 + 0.9 * len(metric_names), 6.0), layout="constrained")
    values_axes, delta_axes = figure.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    offsets = np.linspace(-0.2, 0.2, len(report.rows)) if len(report.rows) > 1 else np.zeros(1)
    for row, offset, colour in zip(report.rows, offsets, _colours(len(report.rows)), strict=True):
        measured = [name for name in metric_names if _defined(row.metrics.get(name))]
        published = [name for name in metric_names if name in row.expected]
        both = [name for name in published if name in measured]
        x = {name: metric_names.index(name) + offset for name in metric_names}
        values_axes.plot([x[name] for name in measured], [row.metrics[name] for name in measured], "o",
                         color=colour, label=f"{row.name}: measured ({row.status})")
        values_axes.plot([x[name] for name in published], [row.expected[name] for name in published], "s",
                         mfc="none", color=colour, label=f"{row.name}: published")
        tolerance = np.array([row.tolerance.get(name, 0.0) for name in published])
        delta_axes.bar([x[name] for name in published], 2 * tolerance, bottom=-tolerance, width=0.3,
                       color=colour, alpha=0.2, label=f"{row.name}: tolerance")
        delta_axes.plot([x[name] for name in both], [row.metrics[name] - row.expected[name] for name in both],
                        "o", color=colour)
    delta_axes.axhline(0.0, color="grey", linewidth=0.8)
    delta_axes.set_xticks(np.arange(len(metric_names)), metric_names, rotation=30)
    values_axes.set_ylabel("value")
    delta_axes.set_ylabel("measured - published")
    values_axes.set_title("Metrics against published values")
    values_axes.legend(fontsize=7)
    return _png(figure)


def _defined(value: float | None) -> bool:
    return value is not None and np.isfinite(value) and value >= 0


def markdown_table(frame: pd.DataFrame) -> str:
    """A pipe table of ``frame`` (floats with 4 significant decimals, None/NaN as '-')."""
    header = [str(column) for column in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for values in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(value) for value in values) + " |")
    return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 100 else f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _key_value_frame(fields: Mapping[str, object]) -> pd.DataFrame:
    return pd.DataFrame({"field": list(fields), "value": list(fields.values())})


def _colours(count: int) -> list:
    palette = colormaps["tab10" if count <= 10 else "tab20"]
    return [palette(index % palette.N) for index in range(count)]


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()
