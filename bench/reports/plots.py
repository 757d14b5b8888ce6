"""PNG plots of reports and comparisons, computed from the report data alone (never from a live run).

Plots use matplotlib's Agg canvas on a private ``Figure`` (no pyplot state), and are returned as PNG
bytes so that the caller writes them atomically.
"""

from __future__ import annotations

import hashlib
import io
import re
import textwrap
from collections.abc import Mapping, Sequence
from itertools import pairwise

import numpy as np
from matplotlib import colormaps, rc_context
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from bench.evaluation.protocol import NO_GROUND_TRUTH
from bench.reports.change_points import MIN_POINTS
from bench.reports.history import Series
from bench.reports.markdown import machine_label
from bench.reports.rows import Row
from bench.reports.schema import Report
from bench.reports.stats import END_TO_END, StageStats

OTHER_STAGE = "other (untimed)"
END_TO_END_MARK = "end_to_end p50"

STAGE_ORDER = ("read_image", "decode", "preprocess", "to_device", "forward", "aggregate", "nms_topk", "match",
               "adjust", "refine", "to_image", OTHER_STAGE)
"""The pipeline's stages in the order they run (``reference.stages``; "forward" stands for every
``forward_x<scale>``, largest scale first): the order of the bars' segments and of the legend. A stage
not named here goes after ``to_image``, by name."""

STAGE_COLOURS = {
    "read_image": "#17becf", "decode": "#9edae5", "preprocess": "#1f77b4", "to_device": "#aec7e8",
    "forward_x1": "#ff7f0e", "forward_x2": "#ffbb78", "forward_x0.5": "#e6550d", "aggregate": "#2ca02c",
    "nms_topk": "#98df8a", "match": "#d62728", "adjust": "#ff9896", "refine": "#9467bd",
    "to_image": "#8c564b", OTHER_STAGE: "#c7c7c7",
}
"""One fixed colour per stage, the same in every chart; other stages get one from ``stage_colour``."""

HISTORY_COLOURS = {"value": "#1f77b4", "change point": "#d62728", "level": "#2ca02c"}
"""The history plots' fixed colours: the series' points, its change points, and the mean level of each
segment between them."""
HISTORY_COLUMNS = 3
"""Panels per row of a history figure (one panel per series)."""

SMOKE_TITLE = "smoke run on the {images}-image sample: not compared with the published numbers"
WRAP_CHARS = 34
"""Longest line of a variant's name on the sweep plot's axis (longer names are wrapped)."""


def render_plots(report: Report) -> dict[str, bytes]:
    """PNG plots the report has data for: "stages" (latency breakdown), and "metrics" (vs. published)
    or, for a sweep, "variants" (AP and decode time per variant)."""
    plots = {}
    if report.timings:
        plots["stages"] = stage_bars_png([(machine_label(report), report.timings)])
    if any(row.result.metrics for row in report.rows):
        if any(row.result.role == "sweep" for row in report.rows):
            plots["variants"] = variants_png(report)
        elif compared_rows(report) or smoke_rows(report):
            plots["metrics"] = metrics_png(report)
    return plots


def stage_sort_key(stage: str) -> tuple[int, float, str]:
    """Where ``stage`` goes in ``STAGE_ORDER`` (``forward_x<scale>`` by scale, largest first)."""
    scale = _forward_scale(stage)
    if scale is not None:
        return STAGE_ORDER.index("forward"), -scale, stage
    if stage in STAGE_ORDER:
        return STAGE_ORDER.index(stage), 0.0, stage
    return STAGE_ORDER.index(OTHER_STAGE) - 1, 1.0, stage  # after to_image, before the untimed rest


def stage_colour(stage: str) -> str:
    """The stage's colour in every chart: ``STAGE_COLOURS``, else one chosen by a hash of its name
    (the same in every process and run): an orange for another ``forward_x<scale>``, else tab20b."""
    if stage in STAGE_COLOURS:
        return STAGE_COLOURS[stage]
    index = int(hashlib.sha256(stage.encode()).hexdigest()[:8], 16)
    if _forward_scale(stage) is not None:
        return to_hex(colormaps["Oranges"](0.35 + 0.5 * (index % 64) / 63))
    palette = colormaps["tab20b"]
    return to_hex(palette(index % palette.N))


def _forward_scale(stage: str) -> float | None:
    match = re.fullmatch(r"forward_x([0-9.]+)", stage)
    try:
        return float(match.group(1)) if match else None
    except ValueError:
        return None


def _p50(stats: StageStats) -> float:
    return stats.mean_ms if stats.p50_ms is None else stats.p50_ms  # p50 is reported from one sample on


def stacked_stage_p50s(timings: Mapping[str, StageStats]) -> dict[str, float]:
    """The p50 ms of each stage inside the iteration in pipeline order (``stage_sort_key``), and
    ``OTHER_STAGE``: what the p50 of end_to_end leaves over their sum (0 where the stages overlap)."""
    parts = {stage: _p50(stats) for stage, stats in timings.items()
             if stats.in_iteration and stage != END_TO_END}
    if END_TO_END in timings:
        parts[OTHER_STAGE] = max(0.0, _p50(timings[END_TO_END]) - sum(parts.values()))
    return dict(sorted(parts.items(), key=lambda item: stage_sort_key(item[0])))


def stage_bars_png(entries: Sequence[tuple[str, Mapping[str, StageStats]]]) -> bytes:
    """`stage_bars_figure` as PNG bytes."""
    return encode(stage_bars_figure(entries), "png")


def stage_bars_figure(entries: Sequence[tuple[str, Mapping[str, StageStats]]],
                      title: str = "Per-stage latency (p50)") -> Figure:
    """Horizontal stacked bars of the p50 of each stage, one bar per (label, timings) entry: in ms on
    the left, as a share of the bar on the right (readable when machines differ by orders of magnitude).
    A black tick marks the p50 of end_to_end. Colours are ``stage_colour``'s, the same in every chart."""
    return _stacked_stage_figure(entries, title)


def machines_figure(workload: str, entries: Sequence[tuple[str, Mapping[str, StageStats]]]) -> Figure:
    """One workload on several machines: one horizontal stacked bar of p50 ms per stage for each
    (machine label, timings) entry, top to bottom in the order given, with the stage colours of every
    other chart (``stage_colour``); the right panel gives each stage's share of its machine's bar."""
    return _stacked_stage_figure(entries, f"{workload}: p50 per stage on each machine")


def _stacked_stage_figure(entries: Sequence[tuple[str, Mapping[str, StageStats]]], title: str) -> Figure:
    stacks = [(label, stacked_stage_p50s(timings)) for label, timings in entries]
    stages = sorted(dict.fromkeys(stage for _, parts in stacks for stage in parts), key=stage_sort_key)
    widths = np.array([[parts.get(stage, 0.0) for stage in stages] for _, parts in stacks]).reshape(
        len(stacks), len(stages))
    totals = widths.sum(axis=1, keepdims=True)
    shares = 100.0 * widths / np.where(totals > 0, totals, 1.0)
    labels = [textwrap.fill(label, 56) for label, _ in stacks]
    lines = sum(label.count("\n") + 1 for label in labels)
    figure = Figure(figsize=(14, max(1.5 + 0.45 * len(stages), 1.6 + 0.25 * lines + 0.3 * len(stacks))),
                    layout="constrained")
    absolute_axes, share_axes = figure.subplots(1, 2, sharey=True, width_ratios=(3, 2))
    positions = np.arange(len(stacks))
    for axes, values in ((absolute_axes, widths), (share_axes, shares)):
        left = np.zeros(len(stacks))
        for column, stage in enumerate(stages):
            axes.barh(positions, values[:, column], left=left, color=stage_colour(stage), label=stage)
            left += values[:, column]
    end_to_end = [(position, _p50(timings[END_TO_END])) for position, (_, timings) in zip(
        positions, entries, strict=True) if END_TO_END in timings]
    if end_to_end:
        absolute_axes.plot([ms for _, ms in end_to_end], [position for position, _ in end_to_end], "|",
                           color="black", markersize=18, markeredgewidth=2, label=END_TO_END_MARK)
    absolute_axes.set_yticks(positions, labels, fontsize=8)
    absolute_axes.invert_yaxis()
    absolute_axes.set_xlabel("p50 ms")
    absolute_axes.set_title("p50 of each stage (ms)", fontsize=10)
    share_axes.set_xlabel("share of the bar (%)")
    share_axes.set_title("share of the summed p50s", fontsize=10)
    share_axes.set_xlim(0, 100)
    figure.suptitle(title)
    handles, names = absolute_axes.get_legend_handles_labels()
    order = sorted(range(len(names)), key=lambda index: names[index] == END_TO_END_MARK)  # the mark last
    figure.legend([handles[index] for index in order], [names[index] for index in order],
                  loc="outside right upper", fontsize=8)
    return figure


def compared_rows(report: Report) -> list[Row]:
    """Rows that ran and were judged against expected values (published or a custom table)."""
    return [row for row in report.rows if row.result.metrics and row.verdict.expected
            and not _is_smoke(row)]


def smoke_rows(report: Report) -> list[Row]:
    """Rows run on the bundled sample as a pipeline smoke test, never compared with expected values."""
    return [row for row in report.rows if row.result.metrics and _is_smoke(row)]


def _is_smoke(row: Row) -> bool:
    return row.result.role == "smoke" or row.verdict.status == "smoke"


def metrics_png(report: Report) -> bytes:
    """`metrics_figure` as PNG bytes."""
    return encode(metrics_figure(report), "png")


def metrics_figure(report: Report) -> Figure:
    """The rows compared with expected values (``compared_rows``): measured metrics (dots) and expected
    ones (squares) above, measured minus expected with the tolerance band shaded below. Smoke rows
    (``smoke_rows``) get a panel of their own, their measured values only: they are never compared.
    COCO's -1 (no ground truth to score) is marked "n/a" instead of a dot."""
    compared, smoke = compared_rows(report), smoke_rows(report)
    panels = ([3, 2] if compared else []) + ([2] if smoke else [])
    if not panels:
        raise ValueError("metrics_figure: no row was compared or smoke-run")
    names = _metric_names(compared + smoke)
    figure = Figure(figsize=(max(9.0, 4.5 + 0.8 * len(names)), 1.2 + 1.0 * sum(panels)),
                    layout="constrained")
    grid = figure.add_gridspec(len(panels), 1, height_ratios=panels)
    if compared:
        values_axes = figure.add_subplot(grid[0])
        delta_axes = figure.add_subplot(grid[1], sharex=values_axes)
        _compared_panels(values_axes, delta_axes, compared, _metric_names(compared))
        figure.suptitle("Metrics against the published values" if any(
            row.verdict.status != "matched" for row in compared) else "Metrics against the expected values")
    else:
        figure.suptitle("No row was compared with the published values")
    if smoke:
        smoke_axes = figure.add_subplot(grid[len(panels) - 1])
        _smoke_panel(smoke_axes, smoke, _metric_names(smoke))
    return figure


def _metric_names(rows: Sequence[Row]) -> list[str]:
    return list(dict.fromkeys(name for row in rows
                              for name in (*row.verdict.expected, *(row.result.metrics or {}))))


def _offsets(count: int) -> np.ndarray:
    return np.linspace(-0.2, 0.2, count) if count > 1 else np.zeros(1)


def _compared_panels(values_axes: Axes, delta_axes: Axes, rows: Sequence[Row], names: list[str]) -> None:
    for row, offset, colour in zip(rows, _offsets(len(rows)), _colours(len(rows)), strict=True):
        metrics, expected, tolerances = row.result.metrics or {}, row.verdict.expected, row.verdict.tolerance
        reference = "expected" if row.verdict.status == "matched" else "published"
        measured = [name for name in names if _defined(metrics.get(name))]
        listed = [name for name in names if name in expected]
        both = [name for name in listed if name in measured]
        x = {name: names.index(name) + offset for name in names}
        label = row.result.name
        values_axes.plot([x[name] for name in measured], [metrics[name] for name in measured], "o",
                         color=colour, label=f"{label}: measured ({row.verdict.status})")
        values_axes.plot([x[name] for name in listed], [expected[name] for name in listed], "s",
                         mfc="none", color=colour, label=f"{label}: {reference}")
        _mark_not_applicable(values_axes, metrics, x)
        tolerance = np.array([tolerances.get(name, 0.0) for name in listed])
        delta_axes.bar([x[name] for name in listed], 2 * tolerance, bottom=-tolerance, width=0.3,
                       color=colour, alpha=0.2, label=f"{label}: tolerance")
        delta_axes.plot([x[name] for name in both], [metrics[name] - expected[name] for name in both], "o",
                        color=colour)
    delta_axes.axhline(0.0, color="grey", linewidth=0.8)
    delta_axes.set_xticks(np.arange(len(names)), names, rotation=30)
    delta_axes.set_xlim(-0.6, len(names) - 0.4)
    values_axes.tick_params(labelbottom=False)
    values_axes.set_ylabel("value")
    delta_axes.set_ylabel("measured - expected")
    values_axes.set_title("rows compared with the expected table", fontsize=10)
    values_axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    delta_axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def _smoke_panel(axes: Axes, rows: Sequence[Row], names: list[str]) -> None:
    for row, offset, colour in zip(rows, _offsets(len(rows)), _colours(len(rows)), strict=True):
        metrics = row.result.metrics or {}
        measured = [name for name in names if _defined(metrics.get(name))]
        x = {name: names.index(name) + offset for name in names}
        axes.plot([x[name] for name in measured], [metrics[name] for name in measured], "o", color=colour,
                  label=f"{row.result.name}: measured")
        _mark_not_applicable(axes, metrics, x)
    images = "/".join(str(size) for size in dict.fromkeys(row.result.subset.num_images for row in rows))
    axes.set_title(SMOKE_TITLE.format(images=images), fontsize=10)
    axes.set_xticks(np.arange(len(names)), names, rotation=30)
    axes.set_xlim(-0.6, len(names) - 0.4)
    axes.set_ylim(-0.05, 1.05)
    axes.set_ylabel("measured value")
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def _mark_not_applicable(axes: Axes, metrics: Mapping[str, float], x: Mapping[str, float]) -> None:
    for name, position in x.items():
        if metrics.get(name) == NO_GROUND_TRUTH:
            axes.text(position, 0.02, "n/a", transform=axes.get_xaxis_transform(), ha="center",
                      fontsize=7, color="grey")


def variants_png(report: Report) -> bytes:
    """`variants_figure` as PNG bytes."""
    return encode(variants_figure(report), "png")


def variants_figure(report: Report) -> Figure:
    """One bar per measured row (a sweep's variants, top to bottom in file order): AP on the left, the
    decoding time per image (p50) on the right. Rows without an AP (COCO's -1) get no bar; a panel with
    nothing to show says why. Long variant names are wrapped."""
    rows = [row for row in report.rows if row.result.metrics]
    labels = [variant_label(row) for row in rows]
    defined = [_defined(row.result.metrics.get("AP")) for row in rows]
    ap = [row.result.metrics["AP"] if ok else 0.0 for row, ok in zip(rows, defined, strict=True)]
    decode = [row.result.decode_ms.p50_ms if row.result.decode_ms else 0.0 for row in rows]
    lines = sum(label.count("\n") + 1 for label in labels)
    figure = Figure(figsize=(12, 1.6 + 0.2 * lines + 0.2 * len(rows)), layout="constrained")
    ap_axes, decode_axes = figure.subplots(1, 2, sharey=True, width_ratios=(3, 2))
    positions = np.arange(len(rows))
    colours = _colours(len(rows))
    ap_axes.barh(positions, ap, color=colours)
    decode_axes.barh(positions, decode, color=colours)
    for position, value, ms, row, ok in zip(positions, ap, decode, rows, defined, strict=True):
        ap_axes.annotate(f"{value:.4f}" if ok else "n/a", (value, position), xytext=(3, 0),
                         textcoords="offset points", va="center", fontsize=7)
        decode_axes.annotate(f"{ms:.0f}" if row.result.decode_ms else "cached", (ms, position),
                             xytext=(3, 0), textcoords="offset points", va="center", fontsize=7)
    empty_ap = _empty_ap_note(ap, defined)
    if empty_ap:
        ap_axes.text(0.5, 0.5, empty_ap, transform=ap_axes.transAxes, ha="center", va="center",
                     fontsize=10, color="dimgrey", wrap=True)
    if not any(row.result.decode_ms for row in rows):
        decode_axes.text(0.5, 0.5, "no decoding time: every image came from the cache",
                         transform=decode_axes.transAxes, ha="center", va="center", fontsize=9,
                         color="dimgrey")
    ap_axes.set_xlim(0, 1.0 if empty_ap else 1.15 * max(ap))
    decode_axes.set_xlim(0, 1.2 * max([*decode, 1.0]))
    ap_axes.set_yticks(positions, labels, fontsize=8)
    ap_axes.invert_yaxis()
    ap_axes.set_xlabel("AP")
    decode_axes.set_xlabel("decoding time per image, p50 (ms)")
    figure.suptitle("AP and decoding time per variant (one shared forward)")
    return figure


def variant_label(row: Row) -> str:
    """A variant's name wrapped to ``WRAP_CHARS`` per line (at most 3 lines), with its status unless it
    is a sweep's usual "measured"."""
    status = "" if row.verdict.status == "measured" else f" ({row.verdict.status})"
    return textwrap.fill(row.result.name + status, WRAP_CHARS, max_lines=3, placeholder=" ...")


def _empty_ap_note(ap: Sequence[float], defined: Sequence[bool]) -> str | None:
    """Why the AP panel has no bar, or None when it has one."""
    if any(value > 0 for value in ap):
        return None
    if not any(defined):
        return "no AP: nothing to score\n(every variant n/a: no ground truth)"
    if all(defined):
        return "all variants scored AP 0\n(no detection matched a person at OKS >= 0.5)"
    return "no variant scored above AP 0\n(the others n/a: nothing to score)"


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


def history_figure(quantity: str, series: Sequence[Series]) -> Figure:
    """Small multiples of one quantity: one panel per series (machine, device and workload), its values
    oldest first, each change point a vertical line before its first point and the mean level of every
    segment between change points a horizontal line; a series too short to test says so."""
    columns = min(HISTORY_COLUMNS, len(series))
    rows = -(-len(series) // columns)
    figure = Figure(figsize=(4.2 * columns, 0.6 + 2.4 * rows), layout="constrained")
    panels = figure.subplots(rows, columns, squeeze=False).ravel()
    for axes, item in zip(panels, series, strict=False):
        positions = np.arange(len(item.values))
        axes.plot(positions, item.values, "o-", color=HISTORY_COLOURS["value"], markersize=3, linewidth=1)
        if item.change_points:
            bounds = [0, *(point.index for point in item.change_points), len(item.values)]
            levels = [item.change_points[0].before, *(point.after for point in item.change_points)]
            for (start, stop), level in zip(pairwise(bounds), levels, strict=True):
                axes.hlines(level, start - 0.4, stop - 0.6, color=HISTORY_COLOURS["level"], linewidth=2)
        for point in item.change_points:
            axes.axvline(point.index - 0.5, color=HISTORY_COLOURS["change point"], linestyle="--")
        found = (f"too few points to test (< {MIN_POINTS})" if len(item.values) < MIN_POINTS
                 else f"{len(item.change_points)} change point(s)")
        axes.set_title(f"{textwrap.fill(item.key, 60)}\n{len(item.values)} point(s), {found}", fontsize=7)
        axes.set_xticks(positions if len(positions) <= 12 else positions[::len(positions) // 12 + 1])
        axes.tick_params(labelsize=7)
    for axes in panels[len(series):]:
        axes.set_visible(False)
    figure.supxlabel("report, oldest first (by created, then commit)", fontsize=8)
    figure.suptitle(quantity)
    return figure


def encode(figure: Figure, image_format: str) -> bytes:
    """The figure drawn on an Agg canvas and saved as ``image_format`` ("png" or "svg"), without a
    date and with fixed SVG ids, so that the same data gives the same bytes."""
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    with rc_context({"svg.hashsalt": "bench"}):
        figure.savefig(buffer, format=image_format, dpi=110,
                       metadata={"Date": None} if image_format == "svg" else None)
    return buffer.getvalue()

