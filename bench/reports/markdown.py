"""Markdown views of reports and comparisons, computed from the report data alone (never from a live run).

No plotting library is imported here, so reading and tabulating reports stays light.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from bench.evaluation import metric_text, no_ground_truth_note
from bench.evaluation.bootstrap import PairedDelta
from bench.reports.records import NetworkBuild, ProfileRecord
from bench.reports.rows import Evaluator, RowResult
from bench.reports.schema import Report
from bench.reports.stats import PERCENTILES, STAT_FIELDS, StageStats
from bench.reports.typed import to_data


def render_markdown(report: Report, images: Mapping[str, str] | None = None) -> str:
    """The report as Markdown: environment, configuration, rows, per-stage statistics, errors.

    ``images`` maps plot roles ("stages", "metrics" with a ``_png`` suffix) to file names to embed.
    """
    title = f"# {report.kind.capitalize()} report, {report.created}"
    sections = [title, f"Command: `{' '.join(report.command)}`", "## Environment", environment_table(report)]
    config = json.dumps(to_data(report.config), indent=2)
    sections += ["## Configuration", f"```json\n{config}\n```"]
    if report.rows:
        sections += ["## Rows", rows_table(report)]
        sections += no_ground_truth_note(value for row in report.rows
                                         for value in (row.result.metrics or {}).values())
        failed = [check for row in report.rows for check in row.verdict.checks if not check.passed]
        if failed:
            sections += ["### Failed checks", "\n".join(f"- {check.describe()}" for check in failed)]
        sections += interval_sections(report)
    if report.timings:
        sections += ["## Per-stage latency (ms)", markdown_table(stage_frame(report.timings))]
    throughput = throughput_fields(report)
    if throughput:
        sections += ["## Throughput and memory", markdown_table(_key_value_frame(throughput))]
    if report.errors:
        sections += ["## Errors", "\n".join(f"- {error}" for error in report.errors)]
    for role, name in (images or {}).items():
        sections.append(f"![{role.removesuffix('_png')}]({name})")
    return "\n\n".join(sections) + "\n"


def machine_name(report: Report) -> str:
    """The device a report ran on: the GPU name for CUDA runs, the CPU model otherwise."""
    hardware = report.environment.hardware
    if report.config.device.startswith("cuda") and hardware.gpus:
        return hardware.gpus[0].name
    return str(hardware.cpu_model or "cpu")


def machine_label(report: Report) -> str:
    """Short label for the machine and configuration of a report (bar and table labels)."""
    return f"{machine_name(report)} [{report.fingerprint_id}] {report.config.label or report.kind}"


def environment_table(report: Report) -> str:
    env = report.environment
    hardware, software, host = env.hardware, env.software, env.host
    gpus = ", ".join(f"{gpu.name} (sm {gpu.compute_capability}, {gpu.memory_bytes / 2**30:.0f} GiB)"
                     for gpu in hardware.gpus) or "none"
    fields = {
        "fingerprint_id": env.fingerprint_id,
        "cpu": hardware.cpu_model,
        "cores (usable / total)": f"{hardware.usable_cores} / {hardware.cpu_count}",
        "gpus": gpus,
        "gpu driver": hardware.gpu_driver,
        "os": software.os,
        "python": software.python,
        "torch / cuda / cudnn": f"{software.torch} / {software.cuda} / {software.cudnn}",
        "network runtime": software.runtime or "torch",
        **{f"numerics: {key}": value for key, value in to_data(env.numerics).items()},
        **{f"package: {name}": version for name, version in software.packages.items() if version is not None},
        "git commit": host.git_commit or f"unknown ({host.code_source or 'not recorded'})",
        "git dirty": host.git_dirty,
        "hostname": host.hostname,
    }
    return markdown_table(_key_value_frame(fields))


def throughput_fields(report: Report) -> dict[str, object]:
    """A profile's throughput and memory, or a reproduce run's images/s and cached images per forward."""
    throughput, fields = report.throughput, {}
    if isinstance(report.config, ProfileRecord) and report.config.network is not None:  # reproduce: below
        fields["network build"] = network_build_text(report.config.network)
    for name in ("images_per_s", "iterations_per_s", "batch"):
        if getattr(throughput, name) is not None:
            fields[name] = getattr(throughput, name)
    for forward in throughput.forwards:
        rows = forward_label(forward.rows)
        speed = forward.images_per_s
        fields[f"{rows}: images/s"] = "all from the cache" if speed is None else speed
        if forward.from_cache is not None:
            fields[f"{rows}: images from the cache"] = forward.from_cache
        if forward.network is not None:
            fields[f"{rows}: network build"] = network_build_text(forward.network)
    if report.memory is not None:
        fields[f"peak memory ({report.memory.kind})"] = byte_text(report.memory.peak_bytes)
        if report.memory.peak_reserved_bytes is not None:
            fields["peak reserved memory"] = byte_text(report.memory.peak_reserved_bytes)
    return fields


def network_build_text(build: NetworkBuild) -> str:
    """One line for a runtime's network build, e.g. "openvino 2026.4.1: export 3.1 s (cached), nncf
    3.4.0 on 50 images 18.2 s, compile 0.8 s"."""
    parts = [f"export {build.export_s:.1f} s{' (cached)' if build.export_cached else ''}"]
    if build.quantizer is not None:
        parts.append(f"{build.quantizer} on {build.calibration_images} images {build.quantize_s or 0:.1f} s"
                     + (" (cached)" if build.quantize_cached else ""))
    parts.append(f"compile {build.compile_s:.1f} s")
    providers = f" [{', '.join(build.providers)}]" if build.providers else ""
    return f"{build.runtime} {build.version}{providers}: " + ", ".join(parts)


MAX_FORWARD_LABEL = 80
"""Longest label of a forward's rows (joined by ' + ') shown whole; a longer one is shortened."""


def forward_label(rows: Sequence[str]) -> str:
    """How the throughput table names one forward: its rows joined by ' + ' while that stays within
    ``MAX_FORWARD_LABEL`` characters, else the row count, the first and last row (clipped) and the
    first 12 hex digits of the sha256 of the joined names (which tells two such forwards apart)."""
    joined = " + ".join(rows)
    if len(joined) <= MAX_FORWARD_LABEL:
        return joined
    digest = hashlib.sha256(joined.encode()).hexdigest()[:12]
    if len(rows) == 1:
        return f"row '{_clip(rows[0], 60)}' (sha256 {digest})"
    return f"{len(rows)} rows, '{_clip(rows[0])}' to '{_clip(rows[-1])}' (sha256 {digest})"


def _clip(text: str, limit: int = 28) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def byte_text(count: float) -> str:
    """A byte count in binary units: "728.0 MiB", "1.50 GiB" (bytes below 1 KiB)."""
    for unit, size, digits in (("GiB", 2**30, 2), ("MiB", 2**20, 1), ("KiB", 2**10, 1)):
        if count >= size:
            return f"{count / size:.{digits}f} {unit}"
    return f"{int(count)} bytes"


def evaluator_label(evaluator: Evaluator | None) -> str:
    """What scored a row: "crowdpose protocol (official), bench.evaluation 0123456789ab"; a version the
    report does not hold is said so rather than left out."""
    if evaluator is None:
        return "-"
    official = " (official)" if evaluator.official else ""
    version = (evaluator.version or "").strip() or "(version not recorded)"
    return " ".join(f"{evaluator.protocol} protocol{official}, {evaluator.implementation} {version}".split())


def subset_kind(result: RowResult) -> str:
    """How a row's images were chosen: "full" (the whole test set), "stratified" (``--subset``) or
    "limited" (any other selection)."""
    return "full" if result.subset.full else "stratified" if result.subset.draw else "limited"


def rows_table(report: Report) -> str:
    metric_names = list(dict.fromkeys(name for row in report.rows for name in (row.result.metrics or {})))
    timed = any(row.result.decode_ms for row in report.rows)
    records = []
    for row in report.rows:
        result, verdict = row.result, row.verdict
        failed = [check.metric for check in verdict.checks if not check.passed]
        records.append({
            "row": result.name,
            "scales": ",".join(f"{scale:g}" for scale in result.scales),
            "flip": result.flip,
            "status": verdict.status,
            "subset": f"{result.subset.dataset} ({result.subset.num_images} images, {subset_kind(result)})",
            **{name: metric_text((result.metrics or {}).get(name)) for name in metric_names},
            **({"decode p50 ms/img": result.decode_ms and result.decode_ms.percentile_cell("p50_ms")}
               if timed else {}),
            "failed checks": ", ".join(failed) or "-",
            "evaluator": evaluator_label(result.evaluator),
            "reason": verdict.reason or "",
        })
    return markdown_table(pd.DataFrame.from_records(records))


INTERVAL_NOTE = ("Intervals are test-set sampling noise: how much each number would move on another test "
                 "set of this size, from an image-level bootstrap ({settings}). They are not the gate "
                 "width: a published row is still judged against the published tolerance.")


def interval_sections(report: Report) -> list[str]:
    """The rows' bootstrap intervals and, for a sweep, the paired differences to its first variant."""
    with_intervals = [row.result for row in report.rows if row.result.ci95]
    if not with_intervals:
        return []
    settings = with_intervals[0].bootstrap or {}
    described = (f"{settings.get('resamples')} resamples, seed {settings.get('seed')}, "
                 f"{settings.get('method')}; resampled: {settings.get('resampled')}")
    confidence = f"{100 * settings.get('confidence', 0.95):g}%"
    sections = [f"## {confidence} intervals (image bootstrap)", INTERVAL_NOTE.format(settings=described),
                markdown_table(pd.DataFrame.from_records(
                    [{"row": result.name, **{name: _interval(value) for name, value in result.ci95.items()}}
                     for result in with_intervals]))]
    paired = [result for result in with_intervals if result.paired_delta]
    deltas = [{"row": result.name, **{name: _delta(delta) for name, delta in result.paired_delta.items()}}
              for result in paired]
    if paired:
        sections += [f"## Paired differences to {paired[0].baseline_row!r} (B - A, {confidence} paired "
                     "bootstrap on the same resampled images)",
                     markdown_table(pd.DataFrame.from_records(deltas))]
    return sections


def _interval(bounds: Sequence[float] | None) -> str:
    return "-" if bounds is None else f"[{bounds[0]:.4f}, {bounds[1]:.4f}]"


def _delta(value: PairedDelta) -> str:
    point = "-" if value.delta is None else f"{value.delta:+.4f}"
    return f"{point} {_interval(value.ci95)}"


def stage_frame(timings: Mapping[str, StageStats]) -> pd.DataFrame:
    """One row per stage with all statistics; stages outside the iteration are marked, and a
    percentile too few samples support says so (e.g. "n=3 < 10") instead of a number."""
    records = [
        {"stage": stage if stats.in_iteration else f"{stage} (separate)",
         **{name: stats.percentile_cell(name) if name in PERCENTILES else getattr(stats, name)
            for name in STAT_FIELDS}}
        for stage, stats in timings.items()
    ]
    return pd.DataFrame.from_records(records)


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
