"""Cross-hardware comparison of reports and the speed-regression check.

A report's *workload* is what it measured, whatever the machine: its kind, ``config.label`` (the
profiler's label names inputs, image size, batch, scales and flip), the network (runtime and precision,
``records.network_label``: reports of two runtimes never pair) and weights kind.
Machines are shown by name (``Environment.machine_name``: ``--machine`` or the host name), cores and
CPU/GPU model beside their fingerprint. Tables put every report side by side; time ratios relate each
machine to a baseline machine on the same workload: this machine's time / the baseline's, the same
direction as the verdicts' ratio (candidate / baseline; above 1: slower). The baseline machine is the
``--baseline`` one, else the machine of the oldest report (by parsed ``created``, ties to the smallest
fingerprint), whatever the files are called. The regression check only compares reports of the same
machine (environment ``fingerprint_id``), device and workload: the newest report against the one
before it (or against the ``--baseline`` file), stage by stage on the raw samples
(``bench.reports.speed_verdicts``: a rank test, a minimum change of the median and a block-bootstrap
interval of it). A "slower" stage or end to end is a regression. A pair is "unstable" where either
report was measured on an unsteady machine (its load, or whole batches varying too much) and
"inconclusive" where no stage had samples enough: neither is ever worded as a pass.

Reports are ordered by their parsed ``created`` time (``Report.created_at``) and identified by their
content (``Report.digest``): a report found twice (a copy or a link in a subfolder, a file given twice,
the ``--baseline`` file also under a compared folder) is compared once, never against itself, and the
other files holding it are named in the notes. A file that is not a valid report is named and skipped.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench import atomic
from bench.errors import BenchError
from bench.reports import markdown, results_page
from bench.reports.change_points import MIN_POINTS, SIGNIFICANCE
from bench.reports.history import Appended, Series, append_history, history_series, series_table
from bench.reports.records import ProfileRecord, network_label
from bench.reports.rows import is_predictions_name
from bench.reports.schema import Report, load_report
from bench.reports.speed_verdicts import (
    StageVerdict,
    VerdictRule,
    min_samples,
    report_instability,
    report_verdicts,
)
from bench.reports.stats import END_TO_END, StageStats

DEFAULT_THRESHOLD = VerdictRule.threshold
TIME_RATIO = "time ratio"
"""The cross-machine table's column: this machine's end-to-end p50 / the baseline machine's."""
RATIO_NOTE = ("`time ratio` = this machine's end-to-end p50 / the baseline machine's (above 1: slower than "
              "the baseline), the direction of the verdicts' `ratio` = candidate / reference")
SUMMARY_WIDTH = 120
"""Widest line of the terminal summary (``comparison_summary``)."""


@dataclass(frozen=True)
class CompareConfig:
    """What to compare: report files or folders, the baseline machine, and the smallest relative
    change of a stage's median that counts (the rest of the rule is ``VerdictRule``'s defaults);
    ``history``: the history CSV the compared reports' figures are appended to (``bench.reports
    .history``), None for none."""

    paths: tuple[Path, ...]
    baseline: str | None = None
    threshold: float = DEFAULT_THRESHOLD
    out_dir: Path | None = None
    html: Path | None = None
    history: Path | None = None


@dataclass(frozen=True)
class LoadedReport:
    path: Path
    report: Report

    @property
    def workload(self) -> str:
        """What was measured, independent of the machine, e.g.
        ``profile/sample-natural-b1-s1-flip/torch float32/synthetic/overlapped`` (a profile's schedule is
        part of it: an overlapped and a serial run of one case measure different things)."""
        config = self.report.config
        parts = (config.label, network_label(config.runtime, config.precision), config.weights.kind,
                 config.schedule if isinstance(config, ProfileRecord) else "")
        return "/".join([self.report.kind, *(part for part in parts if part)])

    @property
    def device(self) -> str:
        return self.report.config.device

    @property
    def group(self) -> tuple[str, str, str]:
        """Reports of one group (machine, device, workload) may be checked for regressions."""
        return self.report.fingerprint_id, self.device, self.workload


PAIR_STATUSES = ("slower", "inconclusive", "unstable", "not slower")
"""What a regression check says of its pair, in this order of precedence: a stage "slower"; no stage
with samples enough ("inconclusive"); either report unstable ("unstable"); else "not slower", which
some stage was judged for."""


@dataclass(frozen=True)
class RegressionCheck:
    """The candidate report of one (machine, device, workload) group against its reference, per stage;
    ``unstable_reasons`` say why either report was measured on an unsteady machine."""

    reference: LoadedReport
    candidate: LoadedReport
    verdicts: tuple[StageVerdict, ...]
    only_in_reference: tuple[str, ...]
    only_in_candidate: tuple[str, ...]
    unstable_reasons: tuple[str, ...] = ()

    @property
    def slower(self) -> tuple[StageVerdict, ...]:
        """The stages (end to end included) the candidate is significantly slower in."""
        return tuple(verdict for verdict in self.verdicts if verdict.verdict == "slower")

    @property
    def regressed(self) -> bool:
        return bool(self.slower)

    @property
    def undecided(self) -> tuple[StageVerdict, ...]:
        """The stages left undecided ("too few samples", "unstable")."""
        return tuple(verdict for verdict in self.verdicts if not verdict.decided)

    @property
    def status(self) -> str:
        """One of ``PAIR_STATUSES``."""
        if self.slower:
            return "slower"
        if all(verdict.verdict == "too few samples" for verdict in self.verdicts):
            return "inconclusive"  # also with no stage in common
        if self.unstable_reasons or not any(verdict.decided for verdict in self.verdicts):
            return "unstable"
        return "not slower"

    @property
    def worst(self) -> StageVerdict | None:
        """The stage (end to end left out where another exists) whose median grew most."""
        stages = [verdict for verdict in self.verdicts if verdict.stage != END_TO_END] or list(self.verdicts)
        return max(stages, key=lambda verdict: verdict.ratio, default=None)

    def why(self) -> str:
        """Why the pair was not judged, or which stages were not ("" when every stage was)."""
        status = self.status
        if status == "inconclusive":
            if not self.verdicts:
                return "the two reports have no stage in common"
            counts = sorted({(verdict.n_a, verdict.n_b) for verdict in self.verdicts})
            listed = ", ".join(f"{n_b} against {n_a}" for n_a, n_b in counts)
            no_samples = any(verdict.note and "no samples" in verdict.note for verdict in self.verdicts)
            kept = "; samples not kept in a report" if no_samples else ""
            return f"too few samples: {listed}, at least {min_samples()} a side{kept}"
        if status == "unstable":
            if self.unstable_reasons:
                return "unsteady machine: " + "; ".join(self.unstable_reasons)
            return "; ".join(dict.fromkeys(f"{verdict.stage}: {verdict.note}" for verdict in self.undecided))
        undecided = {kind: [verdict.stage for verdict in self.undecided if verdict.verdict == kind]
                     for kind in ("unstable", "too few samples")}
        return "; ".join(f"{kind}, not judged: {', '.join(stages)}"
                         for kind, stages in undecided.items() if stages)

    def headline(self) -> str:
        """The pair's verdict in words: "SLOWER (forward, end_to_end)", "UNSTABLE, not judged: ...",
        "INCONCLUSIVE, not judged: too few samples (...)", or "not slower" (with the stages that were
        not judged)."""
        status, why = self.status, self.why()
        if status == "slower":
            text = f"SLOWER ({', '.join(verdict.stage for verdict in self.slower)})"
            return f"{text}; {why}" if why else text
        if status in ("unstable", "inconclusive"):
            return f"{status.upper()}, not judged: {why}"
        return f"not slower ({why})" if why else "not slower"


@dataclass(frozen=True)
class Comparison:
    """Everything `bench compare` found; tables are pandas frames, notes are human-readable lines."""

    reports: tuple[LoadedReport, ...]
    skipped: tuple[str, ...]
    baseline_fingerprint: str
    baseline_reason: str
    speed: pd.DataFrame
    ratios: pd.DataFrame
    metrics: pd.DataFrame
    checks: tuple[RegressionCheck, ...]
    not_checked: tuple[str, ...]
    rule: VerdictRule
    history: Appended | None = None

    @property
    def regressed(self) -> bool:
        return any(check.regressed for check in self.checks)


def compare(config: CompareConfig) -> Comparison:
    """Load the reports under ``config.paths`` and build the tables and the regression check."""
    if not (0 <= config.threshold < 1 and math.isfinite(config.threshold)):
        raise BenchError(f"--threshold must be a number in [0, 1), got {config.threshold}")
    rule = VerdictRule(threshold=config.threshold)
    if config.out_dir is not None:
        atomic.check_writable_folder(config.out_dir, "--out")
    if config.html is not None:
        atomic.check_writable_file(config.html, "--html")
    if config.history is not None:
        atomic.check_writable_file(config.history, "--history")
    loaded, skipped = load_reports(report_paths(config.paths))
    reference_file = _baseline_file(config.baseline)
    if reference_file is not None:
        loaded, duplicates = distinct_reports([reference_file, *loaded])
        skipped.extend(duplicates)
    if not loaded:
        raise BenchError("no readable report among the given paths:\n  " + "\n  ".join(skipped or ["(none)"]))
    baseline, reason = _baseline_fingerprint(config.baseline, reference_file, loaded)
    checks, not_checked = regression_checks(loaded, rule, reference_file)
    return Comparison(
        reports=tuple(loaded),
        skipped=tuple(skipped),
        baseline_fingerprint=baseline,
        baseline_reason=reason,
        speed=speed_table(loaded),
        ratios=speed_ratios(loaded, baseline, None if reference_file is None else reference_file.device),
        metrics=metrics_table(loaded),
        checks=tuple(checks),
        not_checked=tuple(not_checked),
        rule=rule,
        history=None if config.history is None else append_history(
            config.history, [(item.report, item.workload) for item in loaded]),
    )


def report_paths(paths: Iterable[Path]) -> list[Path]:
    """The given files, plus every ``*.json`` below the given folders (sorted) but the predictions that
    reports keep beside them (``predictions_name``)."""
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(found_path for found_path in path.rglob("*.json")
                                if not is_predictions_name(found_path.name)))
        elif path.is_file():
            found.append(path)
        else:
            raise BenchError(f"no such report file or folder: {path}")
    return found


def load_reports(paths: Sequence[Path]) -> tuple[list[LoadedReport], list[str]]:
    """Each distinct report once, and one message per file that does not load (naming the file and
    why) or holds a report already loaded (``distinct_reports``)."""
    loaded, skipped = [], []
    for path in paths:
        try:
            loaded.append(LoadedReport(path, load_report(path)))
        except BenchError as error:
            skipped.append(str(error))
    distinct, duplicates = distinct_reports(loaded)
    return distinct, skipped + duplicates


def distinct_reports(items: Iterable[LoadedReport]) -> tuple[list[LoadedReport], list[str]]:
    """The first file of each report (by ``Report.digest``), and a note for every later file holding
    the same report: a report compared with its own copy would judge any slowdown "no change"."""
    first: dict[str, LoadedReport] = {}
    notes = []
    for item in items:
        kept = first.setdefault(item.report.digest, item)
        if kept is not item:
            notes.append(f"{item.path}: a duplicate of {kept.path} (the same report: a copy, a link or the "
                         "same file twice); compared once")
    return list(first.values()), notes


def machine_columns(report: Report) -> dict[str, object]:
    """How tables name a report's machine: its name, fingerprint, usable cores and CPU/GPU model."""
    hardware = report.environment.hardware
    return {"machine": report.environment.machine_name, "fingerprint": report.fingerprint_id,
            "cores": hardware.usable_cores, "cpu/gpu": markdown.machine_name(report)}


def speed_table(loaded: Sequence[LoadedReport]) -> pd.DataFrame:
    """One row per report: machine, configuration, throughput and the p50 (ms) of every stage."""
    records = []
    for item in loaded:
        report = item.report
        records.append({
            "report": item.path.name,
            **machine_columns(report),
            "device": item.device,
            "workload": item.workload,
            "created": report.created,
            "images_per_s": report.throughput.images_per_s,
            **{f"{stage} p50 ms": stats.p50_ms for stage, stats in report.timings.items()},
        })
    return pd.DataFrame.from_records(records)


def speed_ratios(loaded: Sequence[LoadedReport], baseline_fingerprint: str,
                 baseline_device: str | None = None) -> pd.DataFrame:
    """End-to-end time of each machine and device relative to the baseline machine, per workload.

    ``time ratio`` is this p50 / the baseline's p50 (above 1: slower than the baseline), the direction
    of the verdicts' ``ratio`` (candidate / baseline). The newest report of each (machine, device,
    workload) is used; the baseline is the newest report of the workload on the baseline machine (on
    ``baseline_device`` if given). Workloads it did not run are left out.
    """
    newest = _newest_per_group(item for item in loaded if END_TO_END in item.report.timings)
    baseline: dict[str, LoadedReport] = {}
    for (fingerprint, device, workload), item in newest.items():
        older = baseline.get(workload)
        on_baseline = fingerprint == baseline_fingerprint and baseline_device in (None, device)
        if on_baseline and (older is None or item.report.created_at >= older.report.created_at):
            baseline[workload] = item
    records = []
    for (_, device, workload), item in newest.items():
        reference = baseline.get(workload)
        if reference is None:
            continue
        this_ms = item.report.timings[END_TO_END].p50_ms
        base_ms = reference.report.timings[END_TO_END].p50_ms
        records.append({
            "workload": workload,
            **machine_columns(item.report),
            "device": device,
            "end_to_end p50 ms": this_ms,
            "baseline p50 ms": base_ms,
            TIME_RATIO: this_ms / base_ms if base_ms > 0 else (1.0 if this_ms == 0 else math.inf),
        })
    return pd.DataFrame.from_records(records)


def metrics_table(loaded: Sequence[LoadedReport]) -> pd.DataFrame:
    """One row per (report, reproduce row) with its status and metrics."""
    records = [
        {"report": item.path.name, "fingerprint": item.report.fingerprint_id, "row": row.result.name,
         "status": row.verdict.status, **(row.result.metrics or {})}
        for item in loaded for row in item.report.rows
    ]
    return pd.DataFrame.from_records(records)


def regression_checks(
    loaded: Sequence[LoadedReport], rule: VerdictRule, reference_file: LoadedReport | None = None
) -> tuple[list[RegressionCheck], list[str]]:
    """Check the newest report of each (machine, configuration) against its reference.

    The reference is ``reference_file`` for its own group, otherwise the second-newest report of
    the group. Returns the checks and a note for every report that could not be checked.
    """
    groups: dict[tuple[str, str, str], list[LoadedReport]] = {}
    for item in loaded:
        if item.report.timings:
            groups.setdefault(item.group, []).append(item)
    checks, notes = [], []
    for group, members in groups.items():
        members = sorted(members, key=lambda item: item.report.created_at)
        if reference_file is not None and reference_file.group == group and len(members) > 1:
            reference = next(item for item in members if item.report.digest == reference_file.report.digest)
            candidate = [item for item in members if item is not reference][-1]
        elif len(members) > 1:
            reference, candidate = members[-2], members[-1]
        else:
            notes.append(_unchecked_note(members[0], groups))
            continue
        checks.append(check_regression(reference, candidate, rule))
    return checks, notes


def check_regression(reference: LoadedReport, candidate: LoadedReport, rule: VerdictRule) -> RegressionCheck:
    """Verdicts for every stage both reports timed; list the stages only one of them has, and why
    either report is unstable."""
    before, after = reference.report.timings, candidate.report.timings
    reasons = [f"{side}: {reason}" for side, item in (("reference", reference), ("candidate", candidate))
               for reason in report_instability(item.report, rule)]
    return RegressionCheck(
        reference=reference,
        candidate=candidate,
        verdicts=tuple(report_verdicts(reference.report, candidate.report, rule)),
        only_in_reference=tuple(stage for stage in before if stage not in after),
        only_in_candidate=tuple(stage for stage in after if stage not in before),
        unstable_reasons=tuple(reasons),
    )


def baseline_text(comparison: Comparison) -> str:
    """The baseline machine by name and fingerprint, and how it was chosen."""
    named = next((item.report.environment.machine_name for item in comparison.reports
                  if item.report.fingerprint_id == comparison.baseline_fingerprint), None)
    name = f"{named} [{comparison.baseline_fingerprint}]" if named else comparison.baseline_fingerprint
    return f"baseline machine {name}: {comparison.baseline_reason}"


def comparison_markdown(comparison: Comparison) -> str:
    """All tables and verdicts as one Markdown document."""
    summary = (f"{len(comparison.reports)} report(s); {baseline_text(comparison)}; "
               f"speed verdicts: {comparison.rule.describe()}.")
    sections = ["# Cross-hardware comparison", summary]
    if comparison.skipped:
        sections += ["## Files not compared", "\n".join(f"- {message}" for message in comparison.skipped)]
    sections += ["## Speed (p50 ms per stage)", markdown.markdown_table(comparison.speed)]
    if not comparison.ratios.empty:
        sections += ["## Time relative to the baseline machine", f"{RATIO_NOTE}.",
                     markdown.markdown_table(comparison.ratios)]
    if not comparison.metrics.empty:
        sections += ["## Metrics", markdown.markdown_table(comparison.metrics)]
    sections += ["## Speed-regression check",
                 "Per stage on the raw samples; `_a` is the reference (baseline) report, `_b` the candidate, "
                 "`ratio` = median_b / median_a (above 1: slower) with its bootstrap interval "
                 "`ci_low`..`ci_high`, `block_a`/`block_b` the mean block lengths each side was resampled "
                 "with (1: as independent samples), `note` why a stage was not judged."]
    for check in comparison.checks:
        sections.append(f"### {check.candidate.path.name} against {check.reference.path.name}: "
                        f"{check.headline()}")
        if check.slower:
            sections.append("\n".join(f"- {verdict.describe()}" for verdict in check.slower))
        sections.append(markdown.markdown_table(_verdicts_frame(check)) if check.verdicts
                        else "The two reports have no stage in common.")
        for side, stages in (("reference", check.only_in_reference), ("candidate", check.only_in_candidate)):
            if stages:
                sections.append(f"Stages only in the {side} (not compared): {', '.join(stages)}")
    if not comparison.checks:
        sections.append("No two reports share a machine fingerprint and configuration; nothing was checked.")
    if comparison.not_checked:
        sections.append("\n".join(f"- {note}" for note in comparison.not_checked))
    return "\n\n".join(sections) + "\n"


def comparison_summary(comparison: Comparison, written: Mapping[str, Path] | None = None,
                       html: Path | None = None, width: int = SUMMARY_WIDTH) -> str:
    """What `bench compare` prints: a few lines of at most ``width`` characters, as asv and
    pytest-benchmark print, one per checked pair with its verdict and its worst stage, then where
    the full tables went (``written`` by ``write_comparison``, the ``html`` page; paths are never
    clipped) or how to get them."""
    machines = {item.report.fingerprint_id for item in comparison.reports}
    rule = comparison.rule
    lines = [f"{len(comparison.reports)} report(s), {len(machines)} machine(s); {baseline_text(comparison)}",
             f"x = candidate / reference time (above 1: slower); judged from {min_samples(rule.alpha)} "
             f"samples a side; samples varying above {rule.cv_limit:.0%} (CV): unstable"]
    lines += [_pair_line(check) for check in comparison.checks]
    if not comparison.checks:
        lines.append("no two reports share a machine fingerprint, device and workload: nothing was checked")
    if comparison.not_checked:
        lines.append(f"{len(comparison.not_checked)} report(s) not checked (no earlier report of the same "
                     "machine, device and workload)")
    lines = [_clip(line, width) for line in lines]
    if written:
        lines.append(f"full comparison (tables, every stage's verdict): {written['md']}")
        others = [path.name for role, path in written.items() if role != "md"]
        if others:
            lines.append(f"  and in {written['md'].parent}: {', '.join(others)}")
    if html is not None:
        lines.append(f"page: {html}")
    if not written and html is None:
        lines.append("full tables and every stage's verdict: --out DIR (Markdown, CSV, plot) or --html FILE")
    return "\n".join(lines)


def _pair_line(check: RegressionCheck) -> str:
    """One checked pair: its status, machine, case and device, and end to end and the worst stage
    (judged pairs) or why none was judged and the worst stage's ratio."""
    report = check.candidate.report
    end_to_end = next((verdict for verdict in check.verdicts if verdict.stage == END_TO_END), None)
    worst = check.worst
    if check.status in ("slower", "not slower"):
        shown = [("", end_to_end), ("worst ", worst if worst is not end_to_end else None)]
        ratios = [f"{label}{verdict.stage} x{verdict.ratio:.2f} {verdict.verdict}"
                  for label, verdict in shown if verdict is not None]
        parts = [", ".join(ratios), check.why()]
    else:  # none was judged: why first
        parts = [check.why(), "" if worst is None else f"worst {worst.stage} x{worst.ratio:.2f}"]
    status_width = max(len(status) for status in PAIR_STATUSES)
    return (f"{check.status.upper():<{status_width}} {report.environment.machine_name} {report.config.label} "
            f"{check.candidate.device}: {'; '.join(part for part in parts if part)}")


def _clip(line: str, width: int) -> str:
    return line if len(line) <= width else line[:width - 3] + "..."


def write_comparison(comparison: Comparison, out_dir: Path) -> dict[str, Path]:
    """Write comparison.md, the CSV tables and the stacked stage plot (atomically) into ``out_dir``."""
    tables = {"speed": comparison.speed, "ratios": comparison.ratios, "metrics": comparison.metrics,
              "verdicts": _all_verdicts(comparison)}
    written = {"md": atomic.write_text(out_dir / "comparison.md", comparison_markdown(comparison))}
    for name, frame in tables.items():
        if not frame.empty:
            written[f"{name}_csv"] = atomic.write_text(out_dir / f"{name}.csv", frame.to_csv(index=False))
    timed = [(f"{markdown.machine_label(item.report)} ({item.report.created})", item.report.timings)
             for item in comparison.reports if item.report.timings]
    if timed:
        from bench.reports import plots  # matplotlib is imported only when a plot is drawn

        written["stages_png"] = atomic.write_bytes(out_dir / "stages.png", plots.stage_bars_png(timed))
    return written


def comparison_page(comparison: Comparison) -> str:
    """The comparison as one self-contained HTML page (`bench.reports.results_page`): accuracy against
    the published rows, images/s of every system against every workload, the speed verdicts per judged
    pair, and the per-stage charts (machines on one axis for each workload several reports ran, bars
    named by system and date, and one for the workloads of one report each) and raw tables."""
    from bench.reports import plots  # matplotlib is imported only when a plot is drawn

    named = [(item.path.name, item.report) for item in comparison.reports]
    names = results_page.system_names([item.report for item in comparison.reports])
    by_workload: dict[str, list[LoadedReport]] = {}
    for item in comparison.reports:
        if item.report.timings:
            by_workload.setdefault(item.workload, []).append(item)

    def bars(entries: list[tuple[str, LoadedReport]]) -> list[tuple[str, Mapping[str, StageStats]]]:
        return [(f"{label}{names[item.report.fingerprint_id]}, {item.device}, {item.report.created[:16]}",
                 item.report.timings) for label, item in entries]

    def chart(entries: list[tuple[str, LoadedReport]]) -> bytes:
        return plots.encode(plots.stage_bars_figure(bars(entries)), "svg")

    charts = [(workload, plots.encode(plots.machines_figure(workload, bars([("", item) for item in items])),
                                      "svg"))
              for workload, items in by_workload.items() if len(items) > 1]
    once = [items[0] for items in by_workload.values() if len(items) == 1]
    if once:  # one chart for the workloads of one report each, not one single bar per chart
        charts.append(("Workloads with one report each (one bar per workload)",
                       chart([(f"{item.report.config.label or item.report.kind} "
                               f"{network_label(item.report.config.runtime, item.report.config.precision)}: ",
                               item) for item in once])))
    pairs = _page_verdicts(comparison)
    slower = sum(1 for pair in pairs if pair.slower)
    summary = (f"{len(named)} report(s) from {len(names)} system(s); {len(pairs)} pair(s) of reports of one "
               f"system and workload judged for speed, {slower} of them slower. Reports of different "
               f"systems are set side by side, never tested against each other.")
    notes = {"Files not compared": comparison.skipped, "Reports not judged for speed": comparison.not_checked}
    history = None if comparison.history is None else _page_history(comparison.history)
    return results_page.results_page("Cross-hardware comparison", summary, named, pairs, charts,
                                     rule=comparison.rule.describe(), notes=notes, history=history)


def _page_history(appended: Appended) -> results_page.History:
    """Every series of the history with its change points: one PNG of small multiples per quantity (of
    the series with two points or more: one point is no history) and the table of every series."""
    from bench.reports import plots  # matplotlib is imported only when a plot is drawn

    series = history_series(appended.table)
    plotted: dict[str, list[Series]] = {}
    for item in series:
        if len(item.values) > 1:
            plotted.setdefault(item.quantity, []).append(item)
    charts = tuple((quantity, plots.encode(plots.history_figure(quantity, members), "png"))
                   for quantity, members in plotted.items())
    single = sum(1 for item in series if len(item.values) == 1)
    short = sum(1 for item in series if len(item.values) < MIN_POINTS)
    notes = (f"{len(series)} series from {appended.table['digest'].nunique()} report(s) in "
             f"{appended.path.name}. A series is one figure (a stage's p50, or an AP metric of one row) of "
             "one machine fingerprint, device and workload, oldest first. Change points: changeforest's "
             f"nearest-neighbour binary segmentation (E-Divisive-style) with a permutation test at level "
             f"{SIGNIFICANCE}; a dashed line marks each, before its first point, and a solid line each "
             f"segment's mean level. {short} series have fewer than {MIN_POINTS} points, too few for the "
             f"test: none of them is marked; {single} have one point only and are in "
             "the table, not plotted.",)
    return results_page.History(charts=charts, series=series_table(series), notes=notes)


def _page_verdicts(comparison: Comparison) -> list[results_page.Pair]:
    """Every regression check as the page shows it: both reports with their file names, the verdicts,
    and the check's status and why stages were not judged."""
    return [results_page.Pair(reference=(check.reference.path.name, check.reference.report),
                              candidate=(check.candidate.path.name, check.candidate.report),
                              verdicts=check.verdicts, only_in_reference=check.only_in_reference,
                              only_in_candidate=check.only_in_candidate,
                              status=check.status, why=check.why())
            for check in comparison.checks]


def _verdicts_frame(check: RegressionCheck) -> pd.DataFrame:
    """One row per stage: the verdict record's fields (baseline = reference, candidate) as columns."""
    return pd.DataFrame.from_records([dataclasses.asdict(verdict) for verdict in check.verdicts])


def _all_verdicts(comparison: Comparison) -> pd.DataFrame:
    frames = [_verdicts_frame(check).assign(reference=check.reference.path.name,
                                            candidate=check.candidate.path.name)
              for check in comparison.checks if check.verdicts]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _unchecked_note(item: LoadedReport, groups: dict[tuple[str, str, str], list[LoadedReport]]) -> str:
    fingerprint, device, workload = item.group
    others = sorted({f"{other} ({other_device})" for other, other_device, other_workload in groups
                     if other_workload == workload and (other, other_device) != (fingerprint, device)})
    if others:
        return (f"{item.path.name}: not compared for regression, the other reports of workload "
                f"{workload!r} ran on different machines or devices ({', '.join(others)}; this one "
                f"{fingerprint} ({device}))")
    return (f"{item.path.name}: not compared for regression, no other report of workload {workload!r} "
            f"on machine {fingerprint} ({device})")


def _newest_per_group(items: Iterable[LoadedReport]) -> dict[tuple[str, str, str], LoadedReport]:
    newest: dict[tuple[str, str, str], LoadedReport] = {}
    for item in items:
        if item.group not in newest or item.report.created_at >= newest[item.group].report.created_at:
            newest[item.group] = item
    return newest


def _baseline_file(baseline: str | None) -> LoadedReport | None:
    if baseline is None or not Path(baseline).is_file():
        return None
    return LoadedReport(Path(baseline), load_report(baseline))


def _baseline_fingerprint(baseline: str | None, reference_file: LoadedReport | None,
                          loaded: Sequence[LoadedReport]) -> tuple[str, str]:
    """The baseline machine's fingerprint and how it was chosen: the baseline file's machine, the
    machine whose fingerprint starts with ``baseline`` (or that ``baseline`` names, where the name
    has one fingerprint), or else the machine of the oldest report (by parsed ``created``; ties to
    the smallest fingerprint), never an accident of file names."""
    if reference_file is not None:
        return (reference_file.report.fingerprint_id,
                f"the machine of the --baseline file {reference_file.path.name}")
    if baseline is None:
        oldest = min(loaded, key=lambda item: (item.report.created_at, item.report.fingerprint_id))
        return (oldest.report.fingerprint_id,
                f"the machine of the oldest report ({oldest.report.created[:16]})")
    fingerprints = sorted({item.report.fingerprint_id for item in loaded})
    matches = [fingerprint for fingerprint in fingerprints if fingerprint.startswith(baseline)]
    if not matches:
        matches = sorted({item.report.fingerprint_id for item in loaded
                          if item.report.environment.machine_name == baseline})
    if len(matches) != 1:
        found = "no report" if not matches else f"{len(matches)} machines ({', '.join(matches)})"
        names = sorted({f"{item.report.environment.machine_name} [{item.report.fingerprint_id}]"
                        for item in loaded})
        raise BenchError(f"--baseline {baseline!r}: neither a report file nor a unique fingerprint prefix or "
                         f"machine name; it matches {found}. Known machines: {', '.join(names)}")
    return matches[0], f"chosen with --baseline {baseline}"
