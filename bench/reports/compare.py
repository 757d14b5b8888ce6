"""Cross-hardware comparison of reports and the speed-regression check.

A report's *workload* is what it measured, whatever the machine: its kind, ``config.label`` (the
profiler's label names inputs, image size, batch, scales and flip), precision and weights kind.
Tables put every report side by side; speed ratios relate each machine to a baseline machine on the
same workload. The regression check only compares reports of the same machine (environment
``fingerprint_id``), device and workload: the newest report against the one before it (or against
the ``--baseline`` file), stage by stage on the raw samples (``bench.reports.speed_verdicts``: a
rank test, a minimum change of the median and a block-bootstrap interval of it). A "slower" stage
or end to end is a regression.

Reports are ordered by their parsed ``created`` time (``Report.created_at``) and identified by their
content (``Report.digest``): a report found twice (a copy or a link in a subfolder, a file given twice,
the ``--baseline`` file also under a compared folder) is compared once, never against itself, and the
other files holding it are named in the notes. A file that is not a valid report is named and skipped.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench import atomic
from bench.errors import BenchError
from bench.reports import markdown, results_page
from bench.reports.records import ProfileRecord
from bench.reports.schema import Report, load_report
from bench.reports.speed_verdicts import StageVerdict, VerdictRule, report_verdicts
from bench.reports.stats import END_TO_END

DEFAULT_THRESHOLD = VerdictRule.threshold


@dataclass(frozen=True)
class CompareConfig:
    """What to compare: report files or folders, the baseline machine, and the smallest relative
    change of a stage's median that counts (the rest of the rule is ``VerdictRule``'s defaults)."""

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
        ``profile/sample-natural-b1-s1-flip/float32/synthetic/overlapped`` (a profile's schedule is part
        of it: an overlapped and a serial run of one case measure different things)."""
        config = self.report.config
        parts = (config.label, config.precision, config.weights.kind,
                 config.schedule if isinstance(config, ProfileRecord) else "")
        return "/".join([self.report.kind, *(part for part in parts if part)])

    @property
    def device(self) -> str:
        return self.report.config.device

    @property
    def group(self) -> tuple[str, str, str]:
        """Reports of one group (machine, device, workload) may be checked for regressions."""
        return self.report.fingerprint_id, self.device, self.workload


@dataclass(frozen=True)
class RegressionCheck:
    """The candidate report of one (machine, device, workload) group against its reference, per stage."""

    reference: LoadedReport
    candidate: LoadedReport
    verdicts: tuple[StageVerdict, ...]
    only_in_reference: tuple[str, ...]
    only_in_candidate: tuple[str, ...]

    @property
    def slower(self) -> tuple[StageVerdict, ...]:
        """The stages (end to end included) the candidate is significantly slower in."""
        return tuple(verdict for verdict in self.verdicts if verdict.verdict == "slower")

    @property
    def regressed(self) -> bool:
        return bool(self.slower)


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
    rule: VerdictRule

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
    loaded, skipped = load_reports(report_paths(config.paths))
    reference_file = _baseline_file(config.baseline)
    if reference_file is not None:
        loaded, duplicates = distinct_reports([reference_file, *loaded])
        skipped.extend(duplicates)
    if not loaded:
        raise BenchError("no readable report among the given paths:\n  " + "\n  ".join(skipped or ["(none)"]))
    baseline = _baseline_fingerprint(config.baseline, reference_file, loaded)
    checks, not_checked = regression_checks(loaded, rule, reference_file)
    return Comparison(
        reports=tuple(loaded),
        skipped=tuple(skipped),
        baseline_fingerprint=baseline,
        speed=speed_table(loaded),
        ratios=speed_ratios(loaded, baseline, None if reference_file is None else reference_file.device),
        metrics=metrics_table(loaded),
        checks=tuple(checks),
        not_checked=tuple(not_checked),
        rule=rule,
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
            "images_per_s": report.throughput.images_per_s,
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
        if on_baseline and (older is None or item.report.created_at >= older.report.created_at):
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
    """Verdicts for every stage both reports timed; list the stages only one of them has."""
    before, after = reference.report.timings, candidate.report.timings
    return RegressionCheck(
        reference=reference,
        candidate=candidate,
        verdicts=tuple(report_verdicts(reference.report, candidate.report, rule)),
        only_in_reference=tuple(stage for stage in before if stage not in after),
        only_in_candidate=tuple(stage for stage in after if stage not in before),
    )


def comparison_markdown(comparison: Comparison) -> str:
    """All tables and verdicts as one Markdown document."""
    summary = (f"{len(comparison.reports)} report(s); baseline machine `{comparison.baseline_fingerprint}`; "
               f"speed verdicts: {comparison.rule.describe()}.")
    sections = ["# Cross-hardware comparison", summary]
    if comparison.skipped:
        sections += ["## Files not compared", "\n".join(f"- {message}" for message in comparison.skipped)]
    sections += ["## Speed (p50 ms per stage)", markdown.markdown_table(comparison.speed)]
    if not comparison.ratios.empty:
        sections += ["## Speed relative to the baseline machine", markdown.markdown_table(comparison.ratios)]
    if not comparison.metrics.empty:
        sections += ["## Metrics", markdown.markdown_table(comparison.metrics)]
    sections += ["## Speed-regression check",
                 "Per stage on the raw samples; `_a` is the reference (baseline) report, `_b` the candidate, "
                 "`ratio` = median_b / median_a with its bootstrap interval `ci_low`..`ci_high`, "
                 "`block_a`/`block_b` the mean block lengths each side was resampled with (1: as "
                 "independent samples)."]
    for check in comparison.checks:
        slower = ", ".join(verdict.stage for verdict in check.slower)
        verdict = f"SLOWER ({slower})" if slower else "not slower"
        sections.append(f"### {check.candidate.path.name} against {check.reference.path.name}: {verdict}")
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
                                     _page_verdicts(comparison), results_page.accuracy_table(named),
                                     charts)


def _page_verdicts(comparison: Comparison) -> pd.DataFrame:
    """Every stage verdict, the pair it judges first."""
    frame = _all_verdicts(comparison)
    if frame.empty:
        return frame
    return frame[["candidate", "reference", *(column for column in frame.columns
                                               if column not in ("candidate", "reference"))]]


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
