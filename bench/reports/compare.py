"""Cross-hardware comparison of reports and the speed-regression check.

A report's *workload* is what it measured, whatever the machine: its kind, ``config.label`` (the
profiler's label names inputs, image size, batch, scales and flip), precision and weights kind.
Tables put every report side by side; speed ratios relate each machine to a baseline machine on the
same workload. The regression check only compares reports of the same machine (environment
``fingerprint_id``), device and workload: the newest report against the one before it (or against
the ``--baseline`` file), stage by stage on the median (p50) latency.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench import atomic
from bench.errors import BenchError
from bench.reports import markdown, results_page
from bench.reports.schema import Report, load_report
from bench.reports.stats import END_TO_END

DEFAULT_THRESHOLD = 0.10


@dataclass(frozen=True)
class CompareConfig:
    """What to compare: report files or folders, the baseline machine, the regression threshold."""

    paths: tuple[Path, ...]
    baseline: str | None = None
    threshold: float = DEFAULT_THRESHOLD
    out_dir: Path | None = None
    html: Path | None = None


@dataclass(frozen=True)
class LoadedReport:
    path: Path
    report: Report

    @property
    def workload(self) -> str:
        """What was measured, independent of the machine, e.g.
        ``profile/sample-natural-b1-s1-flip/float32/synthetic``."""
        config = self.report.config
        parts = (config.label, config.precision, config.weights.kind)
        return "/".join([self.report.kind, *(part for part in parts if part)])

    @property
    def device(self) -> str:
        return self.report.config.device

    @property
    def group(self) -> tuple[str, str, str]:
        """Reports of one group (machine, device, workload) may be checked for regressions."""
        return self.report.fingerprint_id, self.device, self.workload


@dataclass(frozen=True)
class StageDelta:
    """Median latency of one stage in the reference and the candidate report."""

    stage: str
    reference_p50_ms: float
    candidate_p50_ms: float
    threshold: float

    @property
    def change(self) -> float:
        """Relative change of the median; positive is slower."""
        if self.reference_p50_ms > 0:
            return self.candidate_p50_ms / self.reference_p50_ms - 1.0
        return math.inf if self.candidate_p50_ms > 0 else 0.0

    @property
    def regressed(self) -> bool:
        return self.change > self.threshold


@dataclass(frozen=True)
class RegressionCheck:
    """The candidate report of one (machine, configuration) group against its reference."""

    reference: LoadedReport
    candidate: LoadedReport
    deltas: tuple[StageDelta, ...]
    only_in_reference: tuple[str, ...]
    only_in_candidate: tuple[str, ...]

    @property
    def regressed(self) -> bool:
        return any(delta.regressed for delta in self.deltas)


@dataclass(frozen=True)
class Comparison:
    """Everything `bench compare` found; tables are pandas frames, notes are human-readable lines."""

    reports: tuple[LoadedReport, ...]
    skipped: tuple[str, ...]
    baseline_fingerprint: str
    speed: pd.DataFrame
    ratios: pd.DataFrame
    metrics: pd.DataFrame
    checks: tuple[RegressionCheck, ...]
    not_checked: tuple[str, ...]
    threshold: float

    @property
    def regressed(self) -> bool:
        return any(check.regressed for check in self.checks)


def compare(config: CompareConfig) -> Comparison:
    """Load the reports under ``config.paths`` and build the tables and the regression check."""
    if not (config.threshold >= 0 and math.isfinite(config.threshold)):
        raise BenchError(f"--threshold must be a finite number >= 0, got {config.threshold}")
    if config.out_dir is not None:
        atomic.check_writable_folder(config.out_dir, "--out")
    if config.html is not None:
        atomic.check_writable_file(config.html, "--html")
    loaded, skipped = load_reports(report_paths(config.paths))
    reference_file = _baseline_file(config.baseline)
    if reference_file is not None and not any(_same_file(item, reference_file) for item in loaded):
        loaded.insert(0, reference_file)
    if not loaded:
        raise BenchError("no readable report among the given paths:\n  " + "\n  ".join(skipped or ["(none)"]))
    baseline = _baseline_fingerprint(config.baseline, reference_file, loaded)
    checks, not_checked = regression_checks(loaded, config.threshold, reference_file)
    return Comparison(
        reports=tuple(loaded),
        skipped=tuple(skipped),
        baseline_fingerprint=baseline,
        speed=speed_table(loaded),
        ratios=speed_ratios(loaded, baseline, None if reference_file is None else reference_file.device),
        metrics=metrics_table(loaded),
        checks=tuple(checks),
        not_checked=tuple(not_checked),
        threshold=config.threshold,
    )


def report_paths(paths: Iterable[Path]) -> list[Path]:
    """The given files, plus every ``*.json`` below the given folders (sorted)."""
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(path.rglob("*.json")))
        elif path.is_file():
            found.append(path)
        else:
            raise BenchError(f"no such report file or folder: {path}")
    return found


def load_reports(paths: Sequence[Path]) -> tuple[list[LoadedReport], list[str]]:
    """Reports that load, and one message per file that does not (naming the file and why)."""
    loaded, skipped = [], []
    for path in paths:
        try:
            loaded.append(LoadedReport(path, load_report(path)))
        except BenchError as error:
            skipped.append(str(error))
    return loaded, skipped


def speed_table(loaded: Sequence[LoadedReport]) -> pd.DataFrame:
    """One row per report: machine, configuration, throughput and the p50 (ms) of every stage."""
    records = []
    for item in loaded:
        report = item.report
        records.append({
            "report": item.path.name,
            "fingerprint": report.fingerprint_id,
            "machine": markdown.machine_name(report),
            "device": item.device,
            "workload": item.workload,
            "created": report.created,
            "images_per_s": report.throughput.get("images_per_s"),
            **{f"{stage} p50 ms": stats.p50_ms for stage, stats in report.timings.items()},
        })
    return pd.DataFrame.from_records(records)


def speed_ratios(loaded: Sequence[LoadedReport], baseline_fingerprint: str,
                 baseline_device: str | None = None) -> pd.DataFrame:
    """End-to-end speed of each machine and device relative to the baseline machine, per workload.

    ``speedup`` is baseline p50 / this p50 (above 1: faster than the baseline). The newest report
    of each (machine, device, workload) is used; the baseline is the newest report of the workload
    on the baseline machine (on ``baseline_device`` if given). Workloads it did not run are left out.
    """
    newest = _newest_per_group(item for item in loaded if END_TO_END in item.report.timings)
    baseline: dict[str, LoadedReport] = {}
    for (fingerprint, device, workload), item in newest.items():
        older = baseline.get(workload)
        on_baseline = fingerprint == baseline_fingerprint and baseline_device in (None, device)
        if on_baseline and (older is None or item.report.created >= older.report.created):
            baseline[workload] = item
    records = []
    for (fingerprint, device, workload), item in newest.items():
        reference = baseline.get(workload)
        if reference is None:
            continue
        this_ms = item.report.timings[END_TO_END].p50_ms
        base_ms = reference.report.timings[END_TO_END].p50_ms
        records.append({
            "workload": workload,
            "fingerprint": fingerprint,
            "device": device,
            "machine": markdown.machine_name(item.report),
            "end_to_end p50 ms": this_ms,
            "baseline p50 ms": base_ms,
            "speedup": base_ms / this_ms if this_ms > 0 else math.inf,
        })
    return pd.DataFrame.from_records(records)


def metrics_table(loaded: Sequence[LoadedReport]) -> pd.DataFrame:
    """One row per (report, reproduce row) with its status and metrics."""
    records = [
        {"report": item.path.name, "fingerprint": item.report.fingerprint_id, "row": row.name,
         "status": row.status, **row.metrics}
        for item in loaded for row in item.report.rows
    ]
    return pd.DataFrame.from_records(records)


def regression_checks(
    loaded: Sequence[LoadedReport], threshold: float, reference_file: LoadedReport | None = None
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
        members = sorted(members, key=lambda item: item.report.created)
        if reference_file is not None and reference_file.group == group and len(members) > 1:
            reference = next(item for item in members if _same_file(item, reference_file))
            candidate = [item for item in members if item is not reference][-1]
        elif len(members) > 1:
            reference, candidate = members[-2], members[-1]
        else:
            notes.append(_unchecked_note(members[0], groups))
            continue
        checks.append(check_regression(reference, candidate, threshold))
    return checks, notes


def check_regression(reference: LoadedReport, candidate: LoadedReport, threshold: float) -> RegressionCheck:
    """Compare the p50 of every stage both reports timed; list the stages only one of them has."""
    before, after = reference.report.timings, candidate.report.timings
    return RegressionCheck(
        reference=reference,
        candidate=candidate,
        deltas=tuple(StageDelta(stage, before[stage].p50_ms, after[stage].p50_ms, threshold)
                     for stage in before if stage in after),
        only_in_reference=tuple(stage for stage in before if stage not in after),
        only_in_candidate=tuple(stage for stage in after if stage not in before),
    )


def comparison_markdown(comparison: Comparison) -> str:
    """All tables and verdicts as one Markdown document."""
    summary = (f"{len(comparison.reports)} report(s); baseline machine `{comparison.baseline_fingerprint}`; "
               f"regression threshold {comparison.threshold:.0%} on p50.")
    sections = ["# Cross-hardware comparison", summary]
    if comparison.skipped:
        sections += ["## Files not compared", "\n".join(f"- {message}" for message in comparison.skipped)]
    sections += ["## Speed (p50 ms per stage)", markdown.markdown_table(comparison.speed)]
    if not comparison.ratios.empty:
        sections += ["## Speed relative to the baseline machine", markdown.markdown_table(comparison.ratios)]
    if not comparison.metrics.empty:
        sections += ["## Metrics", markdown.markdown_table(comparison.metrics)]
    sections.append("## Speed-regression check")
    for check in comparison.checks:
        verdict = "REGRESSION" if check.regressed else "ok"
        sections.append(f"### {check.candidate.path.name} against {check.reference.path.name}: {verdict}")
        sections.append(markdown.markdown_table(_deltas_frame(check)) if check.deltas
                        else "The two reports have no stage in common.")
        for side, stages in (("reference", check.only_in_reference), ("candidate", check.only_in_candidate)):
            if stages:
                sections.append(f"Stages only in the {side} (not compared): {', '.join(stages)}")
    if not comparison.checks:
        sections.append("No two reports share a machine fingerprint and configuration; nothing was checked.")
    if comparison.not_checked:
        sections.append("\n".join(f"- {note}" for note in comparison.not_checked))
    return "\n\n".join(sections) + "\n"


def write_comparison(comparison: Comparison, out_dir: Path) -> dict[str, Path]:
    """Write comparison.md, the CSV tables and the stacked stage plot (atomically) into ``out_dir``."""
    tables = {"speed": comparison.speed, "ratios": comparison.ratios, "metrics": comparison.metrics,
              "regressions": _all_deltas(comparison)}
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
    """The comparison as one self-contained HTML page (`bench.reports.results_page`)."""
    from bench.reports import plots  # matplotlib is imported only when a plot is drawn

    named = [(item.path.name, item.report) for item in comparison.reports]
    charts = []
    for workload in dict.fromkeys(item.workload for item in comparison.reports if item.report.timings):
        entries = [(f"{markdown.machine_label(item.report)} ({item.report.created})", item.report.timings)
                   for item in comparison.reports if item.workload == workload and item.report.timings]
        charts.append((workload, plots.encode(plots.stage_bars_figure(entries), "svg")))
    summary = (f"{len(comparison.reports)} report(s); baseline machine {comparison.baseline_fingerprint}; "
               f"a stage is judged only against a report of the same machine fingerprint and workload.")
    return results_page.results_page("Cross-hardware comparison", summary, results_page.systems_table(named),
                                     _all_deltas(comparison), results_page.accuracy_table(named), charts)


def _deltas_frame(check: RegressionCheck) -> pd.DataFrame:
    return pd.DataFrame.from_records([
        {"stage": delta.stage, "reference p50 ms": delta.reference_p50_ms,
         "candidate p50 ms": delta.candidate_p50_ms, "change": f"{delta.change:+.1%}",
         "regressed": delta.regressed}
        for delta in check.deltas
    ])


def _all_deltas(comparison: Comparison) -> pd.DataFrame:
    frames = [_deltas_frame(check).assign(reference=check.reference.path.name,
                                          candidate=check.candidate.path.name)
              for check in comparison.checks if check.deltas]
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
        if item.group not in newest or item.report.created >= newest[item.group].report.created:
            newest[item.group] = item
    return newest


def _same_file(first: LoadedReport, second: LoadedReport) -> bool:
    return first.path.resolve() == second.path.resolve()


def _baseline_file(baseline: str | None) -> LoadedReport | None:
    if baseline is None or not Path(baseline).is_file():
        return None
    return LoadedReport(Path(baseline), load_report(baseline))


def _baseline_fingerprint(baseline: str | None, reference_file: LoadedReport | None,
                          loaded: Sequence[LoadedReport]) -> str:
    """The baseline file's machine, the machine whose fingerprint starts with ``baseline``, or the first."""
    if reference_file is not None:
        return reference_file.report.fingerprint_id
    fingerprints = list(dict.fromkeys(item.report.fingerprint_id for item in loaded))
    if baseline is None:
        return fingerprints[0]
    matches = [fingerprint for fingerprint in fingerprints if fingerprint.startswith(baseline)]
    if len(matches) != 1:
        found = "no report" if not matches else f"{len(matches)} machines ({', '.join(matches)})"
        raise BenchError(f"--baseline {baseline!r}: neither a report file nor a unique fingerprint prefix; "
                         f"it matches {found}. Known fingerprints: {', '.join(fingerprints)}")
    return matches[0]
