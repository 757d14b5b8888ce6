"""Report plots and their Markdown: which rows are plotted, stage colours, titles, legends, labels."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from helpers import SYNTHETIC, profile_record, reproduce_record
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex

from bench.evaluation.protocol import NO_GROUND_TRUTH_NOTE
from bench.reports import plots
from bench.reports.markdown import byte_text, forward_label, render_markdown
from bench.reports.rows import Check, Evaluator, Row, RowBehaviour, RowResult, Subset, Verdict
from bench.reports.schema import ForwardThroughput, Memory, Throughput
from bench.reports.stats import END_TO_END, StageStats
from bench.reports.writing import new_report

EXPECTED = {"AP": 0.655, "AP50": 0.859}
TOLERANCE = {"AP": 0.003, "AP50": 0.003}
SMOKE_METRICS = {"AP": 0.0, "AP50": 0.0, "AP_easy": -1.0}


def _row(name: str, role: str, status: str, metrics: dict[str, float] | None,
         expected: dict[str, float] | None = None, version: str | None = "0123456789ab",
         images: int = 2) -> Row:
    ran = metrics is not None
    result = RowResult(
        name=name, role=role, scales=(1.0,), flip=True,
        subset=Subset(dataset="crowdpose", num_images=images, full=False), metrics=metrics,
        not_run=None if ran else "no checkpoint",
        evaluator=Evaluator("crowdpose", "bench.evaluation", version) if ran else None,
        behaviour=RowBehaviour(pipeline={}, forward={}, weights=SYNTHETIC, results_json="r.json",
                               results_sha256=None) if ran else None)
    expected = EXPECTED if expected is None else expected
    checks = tuple(Check(metric, value, (metrics or {}).get(metric), TOLERANCE[metric], False)
                   for metric, value in expected.items())
    return Row(result, Verdict(status, None, expected, TOLERANCE if expected else {}, checks))


def _reproduce(environment, *rows: Row, **fields):
    return new_report("reproduce", reproduce_record(), command=["bench"], environment=environment,
                      rows=rows, **fields)


def _stats(samples: list[float], in_iteration: bool = True) -> StageStats:
    return StageStats.from_samples(samples, in_iteration=in_iteration)


def _bar_colours(axes) -> dict[str, str]:
    """Each stage's colour in a stacked-bar axes, by the label of its bars."""
    return {container.get_label(): to_hex(container.patches[0].get_facecolor())
            for container in axes.containers}


def _bar_widths(axes) -> dict[str, list[float]]:
    return {container.get_label(): [patch.get_width() for patch in container.patches]
            for container in axes.containers}


# 1. The reproduce metrics plot compares only compared rows; smoke rows stand apart.

def test_metrics_plot_compares_only_compared_rows_and_shows_smoke_apart(environment):
    compared = _row("scales=[1], flip", "published", "failed", {"AP": 0.650, "AP50": 0.861})
    smoke = _row("sample: scales=[1], flip", "smoke", "smoke", SMOKE_METRICS)
    skipped = _row("scales=[2, 1], flip", "published", "skipped", None)
    report = _reproduce(environment, skipped, compared, smoke)
    assert plots.compared_rows(report) == [compared] and plots.smoke_rows(report) == [smoke]
    figure = plots.metrics_figure(report)
    values_axes, delta_axes, smoke_axes = figure.axes
    compared_labels = values_axes.get_legend_handles_labels()[1]
    assert all("scales=[1], flip:" in label and "sample" not in label for label in compared_labels)
    deltas = [line.get_ydata() for line in delta_axes.lines if line.get_marker() == "o"]
    assert len(deltas) == 1 and np.allclose(deltas[0], [0.650 - 0.655, 0.861 - 0.859])
    assert "not compared" in smoke_axes.get_title() and "2-image sample" in smoke_axes.get_title()
    assert smoke_axes.get_legend_handles_labels()[1] == ["sample: scales=[1], flip: measured"]
    assert [text.get_text() for text in smoke_axes.texts] == ["n/a"]  # AP_easy's -1, not a dot at -1
    assert figure.get_suptitle() == "Metrics against the published values"


def test_smoke_only_report_draws_no_difference_to_published(environment):
    report = _reproduce(environment, _row("sample: scales=[1], flip", "smoke", "smoke", SMOKE_METRICS))
    assert set(plots.render_plots(report)) == {"metrics"}
    figure = plots.metrics_figure(report)
    assert len(figure.axes) == 1
    assert not any(word in axes.get_ylabel() for axes in figure.axes for word in ("published", "expected"))
    assert "not compared" in figure.axes[0].get_title()
    assert figure.get_suptitle() == "No row was compared with the published values"


# 2. Stage charts: fixed colours, titles, legend inside the picture, p50.

def test_stage_colours_are_fixed_across_charts_and_stable_for_unknown_stages():
    first = {"preprocess": _stats([1.0]), "forward_x1": _stats([5.0]), END_TO_END: _stats([7.0])}
    second = {"match": _stats([1.0]), "forward_x2": _stats([9.0]), "forward_x1": _stats([5.0]),
              "my_stage": _stats([1.0]), "preprocess": _stats([2.0])}
    one = plots.stage_bars_figure([("a", first)]).axes[0]
    two = plots.stage_bars_figure([("b", second)]).axes[0]
    colours_one, colours_two = _bar_colours(one), _bar_colours(two)
    for stage in ("preprocess", "forward_x1"):
        assert colours_one[stage] == colours_two[stage] == to_hex(plots.STAGE_COLOURS[stage])
    assert colours_two["my_stage"] == plots.stage_colour("my_stage") == plots.stage_colour("my_stage")
    assert plots.stage_colour("forward_x3") != plots.stage_colour("forward_x1")
    # segments in pipeline order, largest forward first, unknown stages after to_image's slot
    assert list(_bar_colours(two)) == ["preprocess", "forward_x2", "forward_x1", "match", "my_stage"]


def test_stage_chart_plots_p50_with_titles_and_an_unclipped_legend():
    skewed = [1.0, 1.0, 1.0, 1.0, 100.0]  # mean 20.8, p50 1.0
    timings = {"preprocess": _stats(skewed), "forward_x1": _stats([10.0] * 5),
               END_TO_END: _stats([12.0] * 5), "evaluate": _stats([3.0], in_iteration=False)}
    figure = plots.stage_bars_figure([("machine", timings)])
    absolute_axes, share_axes = figure.axes
    widths = _bar_widths(absolute_axes)
    assert widths["preprocess"] == [1.0] and widths[plots.OTHER_STAGE] == [1.0]
    assert "evaluate" not in widths
    assert "p50" in absolute_axes.get_xlabel() and "mean" not in absolute_axes.get_xlabel()
    assert figure.get_suptitle() and absolute_axes.get_title() and share_axes.get_title()
    assert absolute_axes.get_legend() is None and len(figure.legends) == 1
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    box, frame = figure.legends[0].get_window_extent(canvas.get_renderer()), figure.bbox
    assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend == ["preprocess", "forward_x1", plots.OTHER_STAGE, plots.END_TO_END_MARK]


# 3. One workload, machines on one axis.

def test_machines_figure_puts_each_machine_on_one_axis_with_the_stage_colours():
    cpu = {"preprocess": _stats([3.0, 4.0, 5.0]), "forward_x1": _stats([400.0, 410.0, 900.0]),
           END_TO_END: _stats([420.0, 430.0, 910.0])}
    gpu = {"preprocess": _stats([1.0, 1.0, 2.0]), "forward_x1": _stats([8.0, 9.0, 10.0]),
           END_TO_END: _stats([10.0, 11.0, 12.0])}
    figure = plots.machines_figure("synthetic-512x512-b1", [("EPYC cpu", cpu), ("H100 gpu", gpu)])
    axes = figure.axes[0]
    assert "synthetic-512x512-b1" in figure.get_suptitle()
    assert [label.get_text() for label in axes.get_yticklabels()] == ["EPYC cpu", "H100 gpu"]
    assert _bar_widths(axes)["forward_x1"] == [410.0, 9.0]  # p50s, not means
    assert _bar_colours(axes)["forward_x1"] == to_hex(plots.STAGE_COLOURS["forward_x1"])
    assert "p50" in axes.get_xlabel()


# 4. The sweep plot: wrapped names, an empty AP panel says why.

@pytest.mark.parametrize(("ap", "note"), [(0.0, "all variants scored AP 0"), (-1.0, "nothing to score")])
def test_sweep_plot_wraps_long_names_and_explains_an_empty_ap_panel(environment, ap, note):
    names = ["2020 stage aggregation (before mmpose PR #906)",
             "xtcocotools keypoints_crowd (mmpose's evaluator)", "flip off"]
    rows = [_row(name, "sweep", "measured", {"AP": ap, "AP50": 0.0}, expected={}) for name in names]
    figure = plots.variants_figure(_reproduce(environment, *rows))
    ap_axes = figure.axes[0]
    labels = [label.get_text() for label in ap_axes.get_yticklabels()]
    assert all("\n" in label for label in labels[:2]) and labels[2] == "flip off"
    assert all(max(len(line) for line in label.splitlines()) <= plots.WRAP_CHARS for label in labels)
    assert [text.get_text() for text in ap_axes.texts if note in text.get_text()]


def test_sweep_plot_with_an_ap_has_no_empty_note(environment):
    rows = [_row(name, "sweep", "measured", {"AP": ap}, expected={}) for name, ap in (("a", 0.5), ("b", 0.0))]
    ap_axes = plots.variants_figure(_reproduce(environment, *rows)).axes[0]
    assert [text.get_text() for text in ap_axes.texts] == ["0.5000", "0.0000"]


# 5. Markdown: n/a, memory units, evaluator label, long throughput keys.

def test_markdown_says_n_a_once_and_labels_the_evaluator(environment):
    rows = (_row("scales=[1], flip", "published", "failed", {"AP": 0.65, "AP_easy": -1.0, "AP_hard": -1.0}),
            _row("old", "published", "failed", {"AP": 0.6}, version=None))
    markdown = render_markdown(_reproduce(environment, *rows))
    line = next(line for line in markdown.splitlines() if line.startswith("| scales=[1], flip |"))
    assert "| 0.6500 | n/a | n/a |" in line and "-1" not in line
    assert markdown.count(NO_GROUND_TRUTH_NOTE) == 1
    assert "| crowdpose protocol (official), bench.evaluation 0123456789ab |" in line
    old = next(line for line in markdown.splitlines() if line.startswith("| old |")).split(" | ")
    assert "crowdpose protocol (official), bench.evaluation (version not recorded)" in old


def test_markdown_without_minus_one_has_no_note(environment):
    markdown = render_markdown(_reproduce(environment, _row("r", "published", "failed", {"AP": 0.65})))
    assert NO_GROUND_TRUTH_NOTE not in markdown


def test_markdown_gives_memory_in_binary_units_and_shortens_long_forward_keys(environment):
    names = tuple(f"variant {index} " + "x" * 150 for index in range(10))
    report = new_report(
        "profile", profile_record(), command=["bench"], environment=environment,
        throughput=Throughput(images_per_s=2.0, forwards=(ForwardThroughput(names, 0.5, 0, 4),)),
        memory=Memory("peak RSS", 763326464, peak_reserved_bytes=3 * 2**30))
    markdown = render_markdown(report)
    assert "| peak memory (peak RSS) | 728.0 MiB |" in markdown
    assert "| peak reserved memory | 3.00 GiB |" in markdown and "763326464" not in markdown
    key = forward_label(names)
    assert len(key) < 120 and "10 rows" in key and "sha256 " in key
    assert f"| {key}: images/s | 0.5 |" in markdown
    assert forward_label(names) != forward_label(names[:-1])
    assert forward_label(("a", "b")) == "a + b"
    assert [byte_text(value) for value in (512, 2048, 5 * 2**20)] == ["512 bytes", "2.0 KiB", "5.0 MiB"]


def test_render_plots_of_a_report_with_stages_and_rows(environment):
    report = dataclasses.replace(
        _reproduce(environment, _row("scales=[1], flip", "published", "failed", {"AP": 0.65, "AP50": 0.86})),
        timings={"preprocess": _stats([1.0, 2.0]), END_TO_END: _stats([3.0, 4.0])})
    pngs = plots.render_plots(report)
    assert set(pngs) == {"stages", "metrics"}
    assert all(data.startswith(b"\x89PNG") for data in pngs.values())
