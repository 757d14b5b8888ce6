"""PNG plots of reports and comparisons, computed from the report data alone (never from a live run).

Plots use matplotlib's Agg canvas on a private ``Figure`` (no pyplot state), and are returned as PNG
bytes so that the caller writes them atomically.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib import colormaps, rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bench.reports.markdown import machine_label
from bench.reports.schema import Report
from bench.reports.stats import END_TO_END, StageStats

OTHER_STAGE = "other (untimed)"


def render_plots(report: Report) -> dict[str, bytes]:
    """PNG plots the report has data for: "stages" (latency breakdown), and "metrics" (vs. published)
    or, for a sweep, "variants" (AP and decode time per variant)."""
    plots = {}
    if report.timings:
        plots["stages"] = stage_bars_png([(machine_label(report), report.timings)])
    if any(row.result.metrics for row in report.rows):
        sweep = any(row.result.role == "sweep" for row in report.rows)
        plots["variants" if sweep else "metrics"] = (variants_png if sweep else metrics_png)(report)
    return plots


def stacked_stage_means(timings: Mapping[str, StageStats]) -> dict[str, float]:
    """Mean ms of each stage inside the iteration, plus the untimed remainder of end_to_end."""
    parts = {stage: stats.mean_ms for stage, stats in timings.items()
             if stats.in_iteration and stage != END_TO_END}
    if END_TO_END in timings:
        parts[OTHER_STAGE] = max(0.0, timings[END_TO_END].mean_ms - sum(parts.values()))
    return parts


def stage_bars_png(entries: Sequence[tuple[str, Mapping[str, StageStats]]]) -> bytes:
    """`stage_bars_figure` as PNG bytes."""
    return encode(stage_bars_figure(entries), "png")


def stage_bars_figure(entries: Sequence[tuple[str, Mapping[str, StageStats]]]) -> Figure:
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
    return figure


def metrics_png(report: Report) -> bytes:
    """Top: measured metrics (dots) and published values (squares). Bottom: measured minus published
    with the tolerance band shaded. COCO's -1 ("no such images in the subset") is left out."""
    metric_names = list(dict.fromkeys(name for row in report.rows
                                      for name in (*row.verdict.expected, *(row.result.metrics or {}))))
    figure = Figure(figsize=(2.0 + 0.9 * len(metric_names), 6.0), layout="constrained")
    values_axes, delta_axes = figure.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    offsets = np.linspace(-0.2, 0.2, len(report.rows)) if len(report.rows) > 1 else np.zeros(1)
    for row, offset, colour in zip(report.rows, offsets, _colours(len(report.rows)), strict=True):
        metrics, expected, tolerances = row.result.metrics or {}, row.verdict.expected, row.verdict.tolerance
        measured = [name for name in metric_names if _defined(metrics.get(name))]
        published = [name for name in metric_names if name in expected]
        both = [name for name in published if name in measured]
        x = {name: metric_names.index(name) + offset for name in metric_names}
        name = row.result.name
        values_axes.plot([x[metric] for metric in measured], [metrics[metric] for metric in measured], "o",
                         color=colour, label=f"{name}: measured ({row.verdict.status})")
        values_axes.plot([x[metric] for metric in published], [expected[metric] for metric in published], "s",
                         mfc="none", color=colour, label=f"{name}: published")
        tolerance = np.array([tolerances.get(metric, 0.0) for metric in published])
        delta_axes.bar([x[metric] for metric in published], 2 * tolerance, bottom=-tolerance, width=0.3,
                       color=colour, alpha=0.2, label=f"{name}: tolerance")
        deltas = [metrics[metric] - expected[metric] for metric in both]
        delta_axes.plot([x[metric] for metric in both], deltas, "o", color=colour)
    delta_axes.axhline(0.0, color="grey", linewidth=0.8)
    delta_axes.set_xticks(np.arange(len(metric_names)), metric_names, rotation=30)
    values_axes.set_ylabel("value")
    delta_axes.set_ylabel("measured - published")
    values_axes.set_title("Metrics against published values")
    values_axes.legend(fontsize=7)
    return encode(figure, "png")


def variants_png(report: Report) -> bytes:
    """One bar per measured row (a sweep's variants, top to bottom in file order): AP on the left, the
    decoding time per image (p50) on the right. Rows without an AP (COCO's -1) get no bar."""
    rows = [row for row in report.rows if row.result.metrics]
    labels = [f"{row.result.name} ({row.verdict.status})" for row in rows]
    ap = [row.result.metrics["AP"] if _defined(row.result.metrics.get("AP")) else 0.0 for row in rows]
    decode = [row.result.decode_ms.p50_ms if row.result.decode_ms else 0.0 for row in rows]
    figure = Figure(figsize=(12, 1.5 + 0.45 * len(rows)), layout="constrained")
    ap_axes, decode_axes = figure.subplots(1, 2, sharey=True, width_ratios=(3, 2))
    positions = np.arange(len(rows))
    colours = _colours(len(rows))
    ap_axes.barh(positions, ap, color=colours)
    decode_axes.barh(positions, decode, color=colours)
    for position, value, ms, row in zip(positions, ap, decode, rows, strict=True):
        ap_axes.annotate(f"{value:.4f}" if _defined(row.result.metrics.get("AP")) else "no AP",
                         (value, position), xytext=(3, 0), textcoords="offset points", va="center",
                         fontsize=7)
        decode_axes.annotate(f"{ms:.0f}" if row.result.decode_ms else "cached", (ms, position),
                             xytext=(3, 0), textcoords="offset points", va="center", fontsize=7)
    ap_axes.set_xlim(0, 1.15 * max([*ap, 0.01]))
    decode_axes.set_xlim(0, 1.2 * max([*decode, 1.0]))
    ap_axes.set_yticks(positions, labels, fontsize=8)
    ap_axes.invert_yaxis()
    ap_axes.set_xlabel("AP")
    decode_axes.set_xlabel("decoding time per image, p50 (ms)")
    figure.suptitle("AP and decoding time per variant (one shared forward)")
    return encode(figure, "png")


def mean_oks_png(mean_a: np.ndarray, mean_b: np.ndarray, label_a: str, label_b: str) -> bytes:
    """Per-image mean OKS of matched people, run A against run B (an image without matches at 0)."""
    figure = Figure(figsize=(6, 6), layout="constrained")
    axes = figure.subplots()
    axes.scatter(np.nan_to_num(mean_a), np.nan_to_num(mean_b), s=6, alpha=0.5)
    axes.plot([0, 1], [0, 1], color="grey", linewidth=0.8)
    axes.set_xlim(-0.02, 1.02)
    axes.set_ylim(-0.02, 1.02)
    axes.set_xlabel(f"A: {label_a}")
    axes.set_ylabel(f"B: {label_b}")
    axes.set_title("per-image mean OKS of matched people (OKS >= 0.5; none: 0)", fontsize=9)
    return encode(figure, "png")


def _defined(value: float | None) -> bool:
    return value is not None and np.isfinite(value) and value >= 0


def _colours(count: int) -> list:
    palette = colormaps["tab10" if count <= 10 else "tab20"]
    return [palette(index % palette.N) for index in range(count)]


def encode(figure: Figure, image_format: str) -> bytes:
    """The figure drawn on an Agg canvas and saved as ``image_format`` ("png" or "svg"), without a
    date and with fixed SVG ids, so that the same data gives the same bytes."""
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    with rc_context({"svg.hashsalt": "bench"}):
        figure.savefig(buffer, format=image_format, dpi=110,
                       metadata={"Date": None} if image_format == "svg" else None)
    return buffer.getvalue()

