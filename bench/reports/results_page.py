"""One self-contained HTML page of a comparison, built around "how do metrics and speed compare across
hardware" (MLPerf-style), top to bottom:

1. **Accuracy**: the published rows of every reproduce report, per system and runtime: the published
   AP, the measured AP, the row's status and the AP's bootstrap interval (``headline_table``).
2. **Speed across systems**: one row per named system, runtime and precision, images/s per workload
   (``systems_table``).
3. **Speed verdicts**: per judged pair (candidate against reference of one system and workload) a
   heading with its headline, then a compact per-stage table (``Pair``, ``verdict_table``).
4. **Details**, collapsed: the history of every figure with its change points, where the comparison
   keeps one (``History``: one PNG of small multiples per quantity, inlined, and a table of every
   series), the per-stage charts and the raw tables (every report, every AP row, every stage verdict
   with all its fields, and the notes).

Systems are named, not fingerprinted (``system_names``): the GPU or CPU model and the host name, with
``#1``, ``#2`` where different fingerprints would share a name (the table says what differs), so two
fingerprints never merge into one row.

Opening the page needs no network: the tables are plain HTML written here, the per-stage charts are
matplotlib SVG inlined in the page, and the only script (click a column header to sort its table) and
style are inline. Everything on the page comes from the reports' data, and a report may come from
another machine: every text taken from one (labels, row and file names, machines, workloads, notes)
is HTML-escaped where it enters the page (table cells and headers, headings, notes, captions, list
items; matplotlib escapes the text it writes into the SVG), so a report cannot put markup or script
into the page.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import math
import numbers
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC

import pandas as pd

from bench.evaluation import AP_NAMES, metric_text, no_ground_truth_note
from bench.reports.records import ProfileRecord, network_label
from bench.reports.schema import Report
from bench.reports.speed_verdicts import StageVerdict
from bench.reports.stats import END_TO_END

NamedReport = tuple[str, Report]
"""A report and the name of the file it was read from."""

RATIO_DIRECTION = "ratio = candidate median / reference median; above 1 is slower"

HISTORY_MEANING = ("AP is deterministic for a fixed environment and data, so any change point in an AP "
                   "series is real (a change of code, library or data), while speed series carry machine "
                   "noise.")

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
    header.title = header.title ? header.title + " (click to sort)" : "click to sort";
    header.addEventListener("click", () => sortTable(table, column, header));
  });
});
"""

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
table.compact td { white-space: nowrap; }
thead th { background: #f0f0f0; cursor: pointer; user-select: none; }
thead tr.group th { cursor: default; text-align: center; }
th[data-order="ascending"]::after { content: " \\25B2"; }
th[data-order="descending"]::after { content: " \\25BC"; }
.scroll { overflow-x: auto; max-width: 100%; margin: 0.5em 0 1em; }
.scroll > table { width: max-content; margin: 0; }
table.raw td { max-width: 24em; }
#T_systems th.workload { max-width: 7.5em; }
#T_systems tbody td:first-child { position: sticky; left: 0; background: #fff; white-space: nowrap; }
.note { color: #555; max-width: 60em; font-size: 0.9em; }
.slower { background-color: #f8d0d0; } .faster, .reproduced { background-color: #d0f0d0; }
.failed { background-color: #f8d0d0; } .matched { background-color: #e4f4d0; }
.undecided { background-color: #fbf0c8; }
h3 { margin-bottom: 0.2em; } p.headline { margin: 0.2em 0; }
details { margin: 1em 0; } summary { cursor: pointer; font-weight: bold; }
figure { margin: 1em 0; } figure svg, figure img { max-width: 100%; height: auto; }
"""

_TINTED = {"slower": "slower", "faster": "faster", "reproduced": "reproduced", "failed": "failed",
           "matched": "matched", "unstable": "undecided", "too few samples": "undecided"}
"""Cell values that colour their cell (verdict and status columns), mapped to their CSS class."""

STATUS_MEANINGS = {
    "reproduced": "within the published tolerance on the full test set",
    "matched": "within tolerance of a custom expected table (not the published numbers)",
    "failed": "outside the tolerance",
    "skipped": "not run (no usable checkpoint or data; the reason is in the raw AP rows)",
    "smoke": "a published row run on the bundled sample, never compared with the published numbers",
    "measured": "a sweep variant, or an int8 row within 99% of its float32 AP; measured, never compared",
}


@dataclass(frozen=True)
class Pair:
    """One speed check as the page shows it: the ``candidate`` (the newest report of its system and
    workload) against its ``reference`` (the one before it, or the ``--baseline`` file), each with the
    name of its file, their stage verdicts and the stages only one of them timed; ``status`` and ``why``
    are the check's word on the whole pair ("slower", "not slower", "unstable", ...; why stages or the
    pair were not judged), where the check gives them."""

    reference: NamedReport
    candidate: NamedReport
    verdicts: tuple[StageVerdict, ...]
    only_in_reference: tuple[str, ...] = ()
    only_in_candidate: tuple[str, ...] = ()
    status: str | None = None
    why: str = ""

    @property
    def slower(self) -> tuple[str, ...]:
        return tuple(verdict.stage for verdict in self.verdicts if verdict.verdict == "slower")


@dataclass(frozen=True)
class History:
    """What the History section shows: one PNG per quantity as (quantity, PNG bytes), its series as small
    multiples with their change points marked, and one row per series (``bench.reports.history
    .series_table``); ``notes`` say how change points are found."""

    charts: tuple[tuple[str, bytes], ...]
    series: pd.DataFrame
    notes: tuple[str, ...] = ()


def system_names(reports: Sequence[Report]) -> dict[str, str]:
    """A readable name for each machine fingerprint: the GPU model (with its count) or else the CPU
    model, and the machine's given name (``--machine``, where reports record one) or else its host
    name, e.g. "2x NVIDIA H100 80GB HBM3 (node-7)". Different fingerprints that would get one name are
    numbered ("AMD EPYC (vm) #1", "#2", oldest first), so none merge."""
    names = {}
    for base, fingerprints in _namesakes(reports).items():
        for number, fingerprint in enumerate(fingerprints, start=1):
            names[fingerprint] = base if len(fingerprints) == 1 else f"{base} #{number}"
    return names


def namesake_notes(reports: Sequence[Report], names: Mapping[str, str]) -> list[str]:
    """For machines numbered apart (one model and host name, different fingerprints), the fingerprinted
    fields they differ in."""
    first = _first_reports(reports)
    notes = []
    for base, fingerprints in _namesakes(reports).items():
        if len(fingerprints) < 2:
            continue
        fields = [_fingerprinted_fields(first[fingerprint]) for fingerprint in fingerprints]
        keys = sorted(set().union(*fields))
        differ = [key for key in keys if len({repr(field.get(key)) for field in fields}) > 1]
        members = ", ".join(f"{names[fingerprint]} is {fingerprint}" for fingerprint in fingerprints)
        notes.append(f"{len(fingerprints)} machines are named {base} ({members}); their fingerprints "
                     f"differ in {', '.join(differ) or 'nothing recorded'}.")
    return notes


def runtime(report: Report) -> str:
    """The software and device a report ran on, e.g. "torch 2.5.1+cu124 (CUDA 12.4) / cuda", with the
    network runtime first where it is not torch ("openvino 2026.4.1, torch 2.13.0+cpu / cpu")."""
    software = report.environment.software
    cuda = f" (CUDA {software.cuda})" if software.cuda and report.config.device.startswith("cuda") else ""
    network = f"{software.runtime}, " if software.runtime else ""
    return f"{network}torch {software.torch or '?'}{cuda} / {report.config.device}"


def headline_table(reports: Sequence[NamedReport], names: Mapping[str, str]) -> pd.DataFrame:
    """One row per published row of every reproduce report (rows with a published target: role
    "published" or "smoke"; a sweep's variants are in ``accuracy_table``), ordered by system, runtime
    and date: the published AP (the verdict's expected AP; "-" for a smoke row, never compared with
    it), the measured AP, the status and the AP's 95% bootstrap interval. Metric cells are text
    (``metric_text``: -1 is "n/a", None "-")."""
    records = []
    for _, report in sorted(reports, key=lambda named: (names[named[1].fingerprint_id], runtime(named[1]),
                                                           named[1].created_at)):
        for row in report.rows:
            result, verdict = row.result, row.verdict
            if result.role == "sweep":
                continue
            subset = result.subset
            records.append({
                "system": names[report.fingerprint_id],
                "runtime": runtime(report),
                "precision": report.config.precision,
                "row": result.name,
                "status": verdict.status,
                "published AP": "-" if result.role == "smoke" else metric_text(verdict.expected.get("AP")),
                "measured AP": metric_text((result.metrics or {}).get("AP")),
                "AP 95% interval": _interval((result.ci95 or {}).get("AP")),
                "test images": (f"{subset.num_images}{' (full)' if subset.full else ''}"
                                if subset.num_images else "-"),
                "date": _date(report),
            })
    return pd.DataFrame.from_records(records)


def systems_table(reports: Sequence[NamedReport], names: Mapping[str, str]
                  ) -> tuple[pd.DataFrame, list[str], str]:
    """Systems against workloads: one row per named system, device, runtime and precision, one column per
    workload, images/s in the cells (the newest report where several ran); and the workload columns'
    names and a sentence naming what every workload shares (left out of their names). The GPU and
    driver columns are left out where no system has a GPU.

    Systems are rows, as in MLPerf's results tables: a row reads as one complete system (model, GPU
    count, driver, torch, device, precision) that can be sorted by any of its columns or ranked by any
    workload, and comparing hardware on one workload means reading down one column. The transpose
    (workloads down, systems across) would stack the descriptions of a system into header rows that no
    click can sort by. Workloads grow sideways instead, so the page puts the table in a horizontally
    scrollable box with the system column pinned, and the column names keep only what differs between
    workloads (a label such as "synthetic-512x768-b2-s1-flip" wraps at its hyphens).
    """
    ordered = sorted(reports, key=lambda named: named[1].created_at)
    workloads = list(dict.fromkeys(_workload_parts(report) for _, report in ordered
                                   if report.throughput.images_per_s is not None))
    fixed = ("system", "GPU", "driver", "runtime", "precision", "fingerprint")
    headers, shared = _short_workloads(workloads, reserved=fixed)
    systems: dict[tuple[str, str, str, str], dict[str, object]] = {}
    for _, report in ordered:
        key = (report.fingerprint_id, report.config.device, report.config.runtime, report.config.precision)
        hardware = report.environment.hardware
        record = systems.setdefault(key, {
            "system": names[report.fingerprint_id],
            "GPU": _gpus(report) or "none",
            "driver": hardware.gpu_driver or "-",
            "runtime": runtime(report),
            "precision": report.config.precision or "-",
            **{header: None for header in headers},
            "fingerprint": report.fingerprint_id,
        })
        if report.throughput.images_per_s is not None:  # the newest report of a workload wins
            record[headers[workloads.index(_workload_parts(report))]] = report.throughput.images_per_s
    frame = pd.DataFrame.from_records(list(systems.values()))
    if not frame.empty:
        frame = frame.sort_values(["system", "runtime", "precision"], kind="stable")
        if (frame["GPU"] == "none").all():
            frame = frame.drop(columns=["GPU", "driver"])
    return frame, headers, shared


def verdict_table(pair: Pair) -> pd.DataFrame:
    """The compact per-stage table of one pair: end to end first, then the stages in report order (the
    verdicts' notes and bootstrap block lengths are in ``all_verdicts_table``)."""
    verdicts = sorted(pair.verdicts, key=lambda verdict: verdict.stage != END_TO_END)
    return pd.DataFrame.from_records([{
        "stage": verdict.stage,
        "verdict": verdict.verdict,
        "ref (ms)": verdict.median_a,
        "cand (ms)": verdict.median_b,
        "ratio": f"{verdict.ratio:.3f}" if math.isfinite(verdict.ratio) else str(verdict.ratio),
        "95% interval": "-" if verdict.ci_low is None else f"{verdict.ci_low:.3f} to {verdict.ci_high:.3f}",
        "p": "-" if verdict.p_value is None else f"{verdict.p_value:.2g}",
        "n ref / cand": f"{verdict.n_a} / {verdict.n_b}",
    } for verdict in verdicts])


def pair_headline(pair: Pair) -> str:
    """End to end's verdict and how many stages are slower (and faster, or undecided), as one sentence."""
    end_to_end = next((verdict for verdict in pair.verdicts if verdict.stage == END_TO_END), None)
    if end_to_end is None:
        overall = "End to end: not timed by both"
    else:
        interval = ("" if end_to_end.ci_low is None
                    else f", 95% interval {end_to_end.ci_low:.3f} to {end_to_end.ci_high:.3f}")
        overall = f"End to end: {end_to_end.verdict} (ratio {end_to_end.ratio:.3f}{interval})"
    stages = [verdict for verdict in pair.verdicts if verdict.stage != END_TO_END]
    counts = Counter(verdict.verdict for verdict in stages)
    others = "".join(f", {count} {verdict}" for verdict, count in counts.items()
                     if verdict not in ("slower", "no change"))
    status = f"{pair.status.capitalize()}. " if pair.status else ""
    return f"{status}{overall}; {counts['slower']} of {len(stages)} stages slower{others}."


def short_names(pair: Pair) -> tuple[str, str]:
    """Names for the reference and candidate of a pair (one system and workload, so what tells them
    apart is when they ran): their UTC start to the minute, the second, or else their file names
    without the parts they share."""
    reference, candidate = pair.reference[1], pair.candidate[1]
    for pattern in ("%Y-%m-%d %H:%M UTC", "%Y-%m-%d %H:%M:%S UTC"):
        names = tuple(report.created_at.astimezone(UTC).strftime(pattern)
                      for report in (reference, candidate))
        if names[0] != names[1]:
            return names
    first, second = pair.reference[0], pair.candidate[0]
    prefix = len(_common_prefix(first, second))
    suffix = len(_common_prefix(first[::-1], second[::-1]))
    return (first[prefix:len(first) - suffix] or first, second[prefix:len(second) - suffix] or second)


def reports_table(reports: Sequence[NamedReport], names: Mapping[str, str]) -> pd.DataFrame:
    """The raw view: one row per report with its file name, system, workload, images/s, end-to-end
    median and the count of its rows' statuses."""
    records = []
    for name, report in reports:
        end_to_end = report.timings.get(END_TO_END)
        records.append({
            "report": name,
            "system": names[report.fingerprint_id],
            "fingerprint": report.fingerprint_id,
            "runtime": runtime(report),
            "workload": workload_name(report),
            "created": report.created,
            "images/s": report.throughput.images_per_s,
            "end-to-end p50 (ms)": None if end_to_end is None else end_to_end.p50_ms,
            "rows": ", ".join(f"{count} {status}" for status, count in
                              Counter(row.verdict.status for row in report.rows).items()) or "-",
        })
    return pd.DataFrame.from_records(records)


def accuracy_table(reports: Sequence[NamedReport], names: Mapping[str, str]) -> pd.DataFrame:
    """The raw view of every reproduce row (sweep variants included): status, reason and each AP
    metric with its 95% bootstrap interval where the report has one (``row.result.ci95``)."""
    records = []
    for name, report in reports:
        for row in report.rows:
            intervals = row.result.ci95 or {}
            record = {"report": name, "system": names[report.fingerprint_id], "row": row.result.name,
                      "status": row.verdict.status}
            for metric in AP_NAMES:
                value = (row.result.metrics or {}).get(metric)
                bounds = intervals.get(metric)
                record[metric] = metric_text(value) + ("" if bounds is None else f" {_interval(bounds)}")
            record["reason"] = row.verdict.reason or "-"
            records.append(record)
    return pd.DataFrame.from_records(records)


def all_verdicts_table(pairs: Sequence[Pair]) -> pd.DataFrame:
    """The raw view: every stage verdict with all its fields and both file names."""
    return pd.DataFrame.from_records([
        {"candidate": pair.candidate[0], "reference": pair.reference[0], **dataclasses.asdict(verdict)}
        for pair in pairs for verdict in pair.verdicts])


def workload_name(report: Report) -> str:
    """What a report measured, machine aside, e.g. "profile synthetic-512x512-b1-s1-flip · torch float32 ·
    synthetic weights · overlapped schedule"."""
    kind, label, weights, schedule = _workload_parts(report)
    network = network_label(report.config.runtime, report.config.precision)
    return " · ".join(part for part in (f"{kind} {label}".strip(), network, weights, schedule) if part)


def results_page(title: str, summary: str, reports: Sequence[NamedReport], pairs: Sequence[Pair],
                 charts: Sequence[tuple[str, bytes]], rule: str = "",
                 notes: Mapping[str, Sequence[str]] | None = None, history: History | None = None) -> str:
    """The page (see the module docstring for its sections). ``charts``: (caption, SVG bytes) per
    workload; ``rule``: how a verdict is decided; ``notes``: titled lists for the details (files not
    compared, reports not judged); ``history``: the History section, left out where None."""
    names = system_names([report for _, report in reports])
    sections = [f"<h1>{html.escape(title)}</h1>", f"<p class='note'>{html.escape(summary)}</p>"]
    sections += _accuracy_section(reports, names)
    sections += _systems_section(reports, names)
    sections += _verdicts_section(pairs, names, rule)
    details = [] if history is None else [_history_section(history)]
    if charts:
        details.append("<details><summary>Per-stage latency charts (one per workload)</summary>"
                       + "".join(f"<figure>{svg.decode('utf-8').split('?>', 1)[-1]}"
                                 f"<figcaption>{html.escape(caption)}</figcaption></figure>"
                                 for caption, svg in charts)
                       + "</details>")
    raw = ["<h3>Reports</h3>", _table(reports_table(reports, names), "reports")]
    accuracy = accuracy_table(reports, names)
    if not accuracy.empty:
        raw += ["<h3>All AP rows</h3>", _table(accuracy, "accuracy"),
                *_notes(no_ground_truth_note(value for _, report in reports for row in report.rows
                                             for value in (row.result.metrics or {}).values()))]
    if pairs:
        raw += ["<h3>All stage verdicts</h3>", *([_note(f"Verdict rule: {rule}.")] if rule else []),
                _note("_a is the reference, _b the candidate; block_a/block_b are the mean block lengths "
                      "each side's samples were resampled with (1: as independent samples)."),
                _table(all_verdicts_table(pairs), "verdicts")]
    for heading, lines in (notes or {}).items():
        if lines:
            items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
            raw += [f"<h3>{html.escape(heading)}</h3>", f"<ul class='note'>{items}</ul>"]
    details.append("<details><summary>Raw tables</summary>" + "\n".join(raw) + "</details>")
    sections += ["<h2>Details</h2>", *details]
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
            + "\n".join(sections) + f"<script>{_SORT_SCRIPT}</script></body></html>\n")


def _history_section(history: History) -> str:
    """The collapsed History: what a change point means, how they are found, one figure per quantity
    (its PNG inlined, so the page still needs no other file) and the table of every series."""
    figures = "".join(f"<figure><img alt='{html.escape(quantity)}' src='data:image/png;base64,"
                      f"{base64.b64encode(png).decode('ascii')}'><figcaption>{html.escape(quantity)}"
                      "</figcaption></figure>" for quantity, png in history.charts)
    return ("<details id='history'><summary>History and change points</summary>"
            + _note(HISTORY_MEANING) + "".join(_notes(history.notes)) + figures
            + _table(history.series, "history") + "</details>")


def _accuracy_section(reports: Sequence[NamedReport], names: Mapping[str, str]) -> list[str]:
    headline = headline_table(reports, names)
    section = ["<h2>Accuracy against the published numbers</h2>"]
    if headline.empty:
        return [*section, _note("No reproduce report with published rows among the compared files.")]
    measured = [row.result.metrics.get("AP") for _, report in reports for row in report.rows
                if row.result.role != "sweep" and row.result.metrics]
    published = [row.verdict.expected.get("AP") for _, report in reports for row in report.rows
                 if row.result.role != "sweep"]
    statuses = dict.fromkeys(headline["status"])
    legend = "; ".join(f"{status}: {STATUS_MEANINGS[status]}" for status in statuses
                       if status in STATUS_MEANINGS)
    sweeps = any(row.result.role == "sweep" for _, report in reports for row in report.rows)
    return [*section, _table(headline, "headline", compact=True),
            *_notes(no_ground_truth_note([*measured, *published])),
            _note(f"Status: {legend}."),
            _note("AP is CrowdPose test AP (OKS); the published AP is the expected table's value the row was "
                  "judged against. The interval is the 95% image-level bootstrap interval of the measured "
                  "AP: test-set sampling noise, not the gate width (the gate is the published tolerance)."
                  + (" Sweep variants (measured, never compared) are in the raw AP rows below."
                     if sweeps else ""))]


def _systems_section(reports: Sequence[NamedReport], names: Mapping[str, str]) -> list[str]:
    systems, workloads, shared = systems_table(reports, names)
    section = ["<h2>Speed across systems</h2>"]
    if not workloads:
        section.append(_note("No report measured images/s (profile runs do)."))
    described = len(systems.columns) - len(workloads) - 1  # the columns before the workloads
    groups = ([("", described), ("images/s (higher is faster)", len(workloads)), ("", 1)]
              if workloads else ())
    section.append(_table(systems, "systems", groups=groups,
                          header_class={column: "workload" for column in workloads}))
    if shared:
        section.append(_note(f"Every workload column: {shared}."))
    section.append(_note("A cell is the images/s of the newest report of that system, runtime, precision "
                         "and workload; reproduce runs are not in it (their throughput depends on the "
                         "prediction cache)."
                         + ("" if "GPU" in systems.columns else " No system has a GPU.")))
    section += _notes(namesake_notes([report for _, report in reports], names))
    return section


def _verdicts_section(pairs: Sequence[Pair], names: Mapping[str, str], rule: str) -> list[str]:
    section = ["<h2>Speed verdicts</h2>"]
    if not pairs:
        return [*section, _note("No two reports share a system and workload; nothing was judged. Reports "
                                "of different systems are compared side by side above, never tested.")]
    undecided = any(verdict.verdict not in ("slower", "faster", "no change")
                    for pair in pairs for verdict in pair.verdicts)
    section.append(_note(f"Each candidate (the newest report of a system and workload) against its reference "
                         f"(the one before it, or the --baseline file), stage by stage: ref and cand are "
                         f"their medians (ms); {RATIO_DIRECTION}. A stage is slower or faster only where "
                         f"the rank test, the size of the change and its interval agree"
                         + (" (the rule is under Raw tables)." if rule else ".")
                         + (" Why a stage was left undecided is in the raw verdicts table." if undecided
                            else "")))
    for index, pair in enumerate(sorted(pairs, key=lambda pair: not pair.slower)):
        reference, candidate = short_names(pair)
        report = pair.candidate[1]
        heading = f"{names[report.fingerprint_id]}: {workload_name(report)}"
        tint = " class='slower'" if pair.slower else ""
        section += [f"<h3{tint}>{html.escape(heading)}</h3>",
                    f"<p class='headline'><strong>{html.escape(pair_headline(pair))}</strong></p>",
                    _note(f"Candidate {candidate} against reference {reference}."
                          + (f" {_not_judged(pair)}{pair.why}." if pair.why else ""))]
        section.append(_table(verdict_table(pair), f"pair{index + 1}", compact=True) if pair.verdicts
                       else _note("The two reports have no stage in common."))
        for side, stages in (("reference", pair.only_in_reference), ("candidate", pair.only_in_candidate)):
            if stages:
                section.append(_note(f"Stages only in the {side} (not compared): {', '.join(stages)}"))
    return section


def _not_judged(pair: Pair) -> str:
    """The words before ``pair.why``: the check's reasons name the unjudged stages themselves unless the
    whole pair was left undecided."""
    return "Not judged: " if pair.status in ("unstable", "inconclusive") else ""


def _table(frame: pd.DataFrame, name: str, groups: Sequence[tuple[str, int]] = (),
           header_class: Mapping[str, str] | None = None, compact: bool = False) -> str:
    """A sortable table with the id ``T_<name>`` in a horizontally scrollable box: every header and cell
    escaped, numbers right-aligned, verdict and status cells tinted. ``groups``: (text, column span) of
    an extra header row above; ``compact``: cells do not wrap (short values), else long ones do."""
    header_class = header_class or {}
    head = ""
    if groups:
        head = "<tr class='group'>" + "".join(f"<th colspan='{span}'>{html.escape(text)}</th>"
                                              for text, span in groups) + "</tr>"
    head += "<tr>" + "".join(
        f"<th{_class(header_class.get(column))}>{_cell(column)}</th>" for column in frame.columns) + "</tr>"
    body = []
    for values in frame.itertuples(index=False):
        cells = []
        for value in values:
            number = isinstance(value, numbers.Real) and not isinstance(value, bool)
            tint = _TINTED.get(value) if isinstance(value, str) else None
            cells.append(f"<td{_class('number' if number else tint)}>{_cell(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    classes = "sortable compact" if compact else "sortable raw"
    return (f"<div class='scroll'><table id='T_{name}' class='{classes}'><thead>{head}</thead><tbody>"
            + "\n".join(body) + "</tbody></table></div>")


def _class(name: str | None) -> str:
    return f" class='{name}'" if name else ""


def _cell(value: object) -> str:
    """A table cell or header as HTML text: numbers to 4 significant digits (one decimal from 100 on),
    None/NaN as '-', anything else escaped."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 100 else f"{value:.4g}"
    return html.escape(str(value))


def _note(text: str) -> str:
    return f"<p class='note'>{html.escape(text)}</p>"


def _notes(lines: Sequence[str]) -> list[str]:
    return [_note(line) for line in lines]


def _interval(bounds: Sequence[float] | None) -> str:
    return "-" if not bounds else f"[{metric_text(bounds[0])}, {metric_text(bounds[1])}]"


def _date(report: Report) -> str:
    return report.created_at.astimezone(UTC).strftime("%Y-%m-%d")


def _first_reports(reports: Sequence[Report]) -> dict[str, Report]:
    """The oldest report of each fingerprint, oldest first."""
    first: dict[str, Report] = {}
    for report in sorted(reports, key=lambda report: report.created_at):
        first.setdefault(report.fingerprint_id, report)
    return first


def _namesakes(reports: Sequence[Report]) -> dict[str, list[str]]:
    """The fingerprints by unnumbered machine name, oldest first."""
    groups: dict[str, list[str]] = {}
    for fingerprint, report in _first_reports(reports).items():
        groups.setdefault(_machine(report), []).append(fingerprint)
    return groups


def _machine(report: Report) -> str:
    """A machine's unnumbered name: GPU model (and count) or CPU model, and the machine's given name or
    else its host name."""
    hardware, host = report.environment.hardware, report.environment.host
    host = getattr(host, "machine", None) or host.hostname  # the --machine name where reports have one
    model = _gpus(report) or str(hardware.cpu_model or "unknown CPU")
    return f"{model} ({host})" if host else model


def _gpus(report: Report) -> str:
    gpus = Counter(gpu.name for gpu in report.environment.hardware.gpus)
    return ", ".join(f"{count}x {name}" if count > 1 else name for name, count in gpus.items())


def _fingerprinted_fields(report: Report) -> dict[str, object]:
    """The flattened fields the fingerprint hashes, e.g. {"software.os": ..., "software.packages.numpy":
    ...}."""
    environment = report.environment
    flat: dict[str, object] = {}

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                walk(f"{prefix}.{key}", item)
        else:
            flat[prefix] = value

    for section in ("hardware", "software", "numerics"):
        walk(section, dataclasses.asdict(getattr(environment, section)))
    return flat


def _workload_parts(report: Report) -> tuple[str, str, str, str]:
    """(kind, label, weights, schedule) of a report: its workload without the network (runtime and
    precision), which the systems table shows in columns of its own."""
    config = report.config
    schedule = f"{config.schedule} schedule" if isinstance(config, ProfileRecord) else ""
    return report.kind, config.label or "", f"{config.weights.kind} weights", schedule


def _short_workloads(workloads: Sequence[tuple[str, ...]], reserved: Sequence[str] = ()
                     ) -> tuple[list[str], str]:
    """Column names for workloads (only the parts that differ between them; one that would equal a
    ``reserved`` column name is marked as a workload) and the parts they share."""
    if not workloads:
        return [], ""
    varying = [index for index in range(len(workloads[0])) if len({parts[index] for parts in workloads}) > 1]
    if len(workloads) == 1:
        varying = [1] if workloads[0][1] else [0]
    shared = " · ".join(part for index, part in enumerate(workloads[0]) if index not in varying and part)
    headers = [" ".join(parts[index] for index in varying if parts[index]) or "-" for parts in workloads]
    return [f"{header} (workload)" if header in reserved else header for header in headers], shared


def _common_prefix(first: str, second: str) -> str:
    length = 0
    while length < min(len(first), len(second)) and first[length] == second[length]:
        length += 1
    return first[:length]
