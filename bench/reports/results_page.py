"""One self-contained HTML page of a comparison: systems against workloads, verdicts, AP intervals.

Opening it needs no network: the tables are pandas Styler HTML, the per-stage charts are matplotlib
SVG inlined in the page, and the only script (click a column header to sort its table) is inline.
Everything on the page comes from the reports' data, as in `bench.reports.compare`, and a report may
come from another machine: every text taken from one (labels, row and file names, machines, workloads)
is HTML-escaped where it enters the page (table cells and headers, headings, captions; matplotlib
escapes the text it writes into the SVG), so a report cannot put markup or script into the page.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from collections.abc import Sequence

import pandas as pd

from bench.evaluation import AP_NAMES
from bench.reports.markdown import machine_name
from bench.reports.schema import Report
from bench.reports.stats import END_TO_END

_SORT_SCRIPT = """
function cellKey(row, column) {
  const text = row.cells[column].textContent.trim();
  const number = parseFloat(text.replace(/[^0-9eE.+-]/g, ""));
  return /^[-+]?[0-9.]/.test(text) && !isNaN(number) ? [0, number, text] : [1, 0, text];
}
function sortTable(table, column, header) {
  const ascending = header.dataset.order !== "ascending";
  table.querySelectorAll("thead th").forEach(other => delete other.dataset.order);
  header.dataset.order = ascending ? "ascending" : "descending";
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  rows.sort((first, second) => {
    const [a, b] = [cellKey(first, column), cellKey(second, column)];
    const order = a[0] - b[0] || (a[0] === 0 ? a[1] - b[1] : a[2].localeCompare(b[2]));
    return ascending || a[0] !== b[0] ? order : -order;
  });
  rows.forEach(row => body.appendChild(row));
}
document.querySelectorAll("table.sortable").forEach(table => {
  Array.from(table.tHead.rows[table.tHead.rows.length - 1].cells).forEach((header, column) => {
    header.title = "click to sort";
    header.addEventListener("click", () => sortTable(table, column, header));
  });
});
"""

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; }
thead th { background: #f0f0f0; cursor: pointer; user-select: none; }
th[data-order="ascending"]::after { content: " \\25B2"; }
th[data-order="descending"]::after { content: " \\25BC"; }
.note { color: #555; max-width: 60em; }
figure { margin: 1em 0; } figure svg { max-width: 100%; height: auto; }
"""

_VERDICT_COLOURS = {"slower": "background-color: #f8d0d0", "faster": "background-color: #d0f0d0"}


def systems_table(reports: Sequence[tuple[str, Report]]) -> pd.DataFrame:
    """One row per report: the system (CPU or GPU, device, driver, torch, precision) and the
    workload, with its throughput, end-to-end median and, for reproduce reports, its rows' verdicts."""
    records = []
    for name, report in reports:
        environment = report.environment
        end_to_end = report.timings.get(END_TO_END)
        records.append({
            "report": name,
            "system": "GPU" if report.config.device.startswith("cuda") else "CPU",
            "device": machine_name(report),
            "driver": environment.hardware.gpu_driver or "-",
            "torch": environment.software.torch or "-",
            "precision": report.config.precision or "-",
            "workload": report.config.label or report.kind,
            "images/s": report.throughput.images_per_s,
            "end-to-end p50 ms": None if end_to_end is None else end_to_end.p50_ms,
            "rows": ", ".join(f"{count} {status}" for status, count in
                              Counter(row.verdict.status for row in report.rows).items()) or "-",
        })
    return pd.DataFrame.from_records(records)


def throughput_pivot(systems: pd.DataFrame) -> pd.DataFrame:
    """MLPerf-style pivot: systems down, workloads across, images/s in the cells (the newest report
    of a system and workload when several exist; `systems` is in loading order)."""
    timed = systems.dropna(subset=["images/s"])
    if timed.empty:
        return pd.DataFrame()
    keys = ["system", "device", "driver", "torch", "precision"]
    return timed.pivot_table(index=keys, columns="workload", values="images/s", aggfunc="last").reset_index()


def accuracy_table(reports: Sequence[tuple[str, Report]]) -> pd.DataFrame:
    """One row per reproduce row: status and each AP metric with its 95% bootstrap interval if the
    report has one (``row.result.ci95``)."""
    records = []
    for name, report in reports:
        for row in report.rows:
            intervals = row.result.ci95 or {}
            record = {"report": name, "row": row.result.name, "status": row.verdict.status}
            for metric in AP_NAMES:
                record[metric] = _with_interval((row.result.metrics or {}).get(metric), intervals.get(metric))
            records.append(record)
    return pd.DataFrame.from_records(records)


def results_page(title: str, summary: str, systems: pd.DataFrame, verdicts: pd.DataFrame,
                 accuracy: pd.DataFrame, charts: Sequence[tuple[str, bytes]]) -> str:
    """The page: verdicts first (what a reader must act on), then the systems table, the pivot, the
    AP rows with intervals and the per-stage charts (``charts``: (caption, SVG bytes))."""
    sections = [f"<h1>{html.escape(title)}</h1>", f"<p class='note'>{html.escape(summary)}</p>"]
    sections += ["<h2>Speed verdicts</h2>",
                 _table(verdicts, "verdicts") if not verdicts.empty
                 else "<p>No two reports share a machine fingerprint and workload; nothing was judged.</p>"]
    sections += ["<h2>Reports</h2>", _table(systems, "results")]
    pivot = throughput_pivot(systems)
    if not pivot.empty:
        sections += ["<h2>Images/s by system and workload</h2>", _table(pivot, "pivot")]
    if not accuracy.empty:
        sections += ["<h2>Accuracy</h2>",
                     "<p class='note'>Intervals are 95% image-level bootstrap intervals: test-set sampling "
                     "noise, not the gate width (the gate is the published tolerance).</p>",
                     _table(accuracy, "accuracy")]
    if charts:
        sections.append("<h2>Per-stage latency</h2>")
        sections += [f"<figure>{svg.decode('utf-8').split('?>', 1)[-1]}"
                     f"<figcaption>{html.escape(caption)}</figcaption></figure>" for caption, svg in charts]
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
            + "\n".join(sections) + f"<script>{_SORT_SCRIPT}</script></body></html>\n")


def _table(frame: pd.DataFrame, name: str) -> str:
    """A sortable table; pandas gives it the id ``T_<name>``."""
    styler = (frame.style.hide(axis="index").format(_cell, na_rep="-").format_index(_cell, axis=1)
              .set_table_attributes('class="sortable"'))
    if "verdict" in frame.columns:
        styler = styler.map(lambda value: _VERDICT_COLOURS.get(value, ""), subset=["verdict"])
    return styler.to_html(table_uuid=name)


def _cell(value: object) -> str:
    """A table cell or header as HTML text: numbers to 4 digits, anything else escaped."""
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4g}"
    return html.escape(str(value))


def _with_interval(value: float | None, interval: Sequence[float] | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if not interval:
        return f"{value:.4f}"
    return f"{value:.4f} [{interval[0]:.4f}, {interval[1]:.4f}]"
