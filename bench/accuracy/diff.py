"""`bench diff A B`: what changed between two runs on the same images, and where.

A and B are reproduce reports (a row's predictions are the results JSON it records, scored on the
annotation file it records, restricted to the images it evaluated) or mmpose-format results files
scored on ``--gt``. The AP differences (B - A) get paired-bootstrap intervals (the same resampled
images for both runs); per image, the detections, matched people and their mean OKS are compared and
the images ranked by how far they moved (``bench.evaluation.image_diff``). Runs on different images
or different annotations are refused (BenchError, exit status 2) before anything is computed.
"""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bench import atomic
from bench.errors import BenchError
from bench.evaluation import OFFICIAL_PROTOCOL, evaluate, metric_text, no_ground_truth_note
from bench.evaluation.bootstrap import (
    INTERVAL_METRICS,
    BootstrapSettings,
    PairedDelta,
    bootstrap_distributions,
    paired_deltas,
)
from bench.evaluation.image_diff import image_differences
from bench.reading import read_json, sha256_of
from bench.reports.markdown import markdown_table
from bench.reports.plots import mean_oks_png
from bench.reports.rows import RowResult, predictions_name
from bench.reports.schema import Report, report_from_dict

TOP_IMAGES = 20
FILE_NAMES = {"md": "diff.md", "csv": "images.csv", "png": "mean_oks.png"}


@dataclass(frozen=True)
class DiffConfig:
    """Two runs (report or results files), the GT for results files, the report row to take (None:
    the first row with predictions), the output folder and the bootstrap settings."""

    a: Path
    b: Path
    out_dir: Path
    gt: Path | None = None
    row: str | None = None
    bootstrap: BootstrapSettings = field(default_factory=BootstrapSettings)


@dataclass(frozen=True, eq=False)
class RunInput:
    """One side of a diff: what to call it, its GT (a dict restricted to its images), its detections,
    the protocol its numbers follow, and the sha256 of its annotation file."""

    label: str
    gt: dict[str, Any]
    results: str
    protocol: str
    annotations_sha256: str


@dataclass(frozen=True, eq=False)
class Diff:
    """The outcome: both inputs, the AP values and paired deltas, and the per-image table."""

    a: RunInput
    b: RunInput
    metrics_a: dict[str, float]
    metrics_b: dict[str, float]
    deltas: dict[str, PairedDelta]
    images: pd.DataFrame
    bootstrap: BootstrapSettings


def _sha256(path: Path) -> str:
    return sha256_of(path, "diff input")


def _restricted(gt: dict[str, Any], image_ids: tuple[int, ...] | None) -> dict[str, Any]:
    if image_ids is None:
        return gt
    wanted = set(image_ids)
    return dict(gt, images=[image for image in gt["images"] if image.get("id") in wanted],
                annotations=[ann for ann in gt["annotations"] if ann.get("image_id") in wanted])


def _report_row(report: Report, path: Path, name: str | None) -> RowResult:
    rows = [row.result for row in report.rows if row.result.metrics and row.result.behaviour]
    if name is not None:
        rows = [row for row in rows if row.name == name]
    if not rows:
        names = ", ".join(repr(row.result.name) for row in report.rows) or "none"
        wanted = f"a row named {name!r}" if name is not None else "a row"
        raise BenchError(f"{path}: no {wanted} with metrics and a results JSON (rows: {names})")
    return rows[0]


def load_run(path: Path, gt_path: Path | None, row_name: str | None) -> RunInput:
    """One side: a reproduce report (its row's results JSON and annotation file, ``gt_path``
    overriding the latter) or a results file (``gt_path`` required); BenchError for bad input."""
    data = read_json(path, "diff input")
    if isinstance(data, dict):
        report = report_from_dict(data, str(path))
        row = _report_row(report, path, row_name)
        results = recorded_results(row, path)
        annotations = gt_path or Path(row.subset.dataset)
        gt = _restricted(read_json(annotations, "ground-truth file"), row.behaviour.image_ids)
        return RunInput(f"{path.name}: {row.name}", gt, str(results), row.evaluator.protocol,
                        _sha256(annotations))
    if gt_path is None:
        raise BenchError(f"{path}: a results file needs --gt (the CrowdPose annotation file it was "
                         "predicted on)")
    return RunInput(path.name, read_json(gt_path, "ground-truth file"), str(path), OFFICIAL_PROTOCOL,
                    _sha256(gt_path))


def recorded_results(row: RowResult, report_path: Path) -> Path:
    """The results JSON a report's row recorded (in the prediction cache that made it, or beside the
    report, where reproduce and publish put it), once its bytes are shown to be the ones the row was
    scored on (the recorded sha256): a report never speaks for predictions it did not make."""
    recorded = row.behaviour.results_sha256
    places = [Path(row.behaviour.results_json),
              *([report_path.parent / predictions_name(recorded)] if recorded else [])]
    results = next((place for place in places if place.is_file()), None)
    if results is None:
        raise BenchError(f"{report_path}: row {row.name!r} records results {places[0]}, which does not exist "
                         f"(nor beside the report); rerun reproduce or pass the results file with --gt")
    if recorded is not None and sha256_of(results, "results file") != recorded:
        raise BenchError(f"{report_path}: row {row.name!r} records results {results} with sha256 "
                         f"{recorded[:12]}..., but that file now holds other bytes: these are not the "
                         "predictions the report scored")
    return results


def check_comparable(a: RunInput, b: RunInput) -> None:
    """BenchError unless both runs are on the same annotations and the same images."""
    if a.annotations_sha256 != b.annotations_sha256:
        raise BenchError(f"A ({a.label}) and B ({b.label}) were scored on different annotation files "
                         f"(sha256 {a.annotations_sha256[:12]}... and {b.annotations_sha256[:12]}...)")
    ids_a, ids_b = ({image.get("id") for image in run.gt["images"]} for run in (a, b))
    if ids_a != ids_b:
        raise BenchError(f"A ({a.label}) and B ({b.label}) are not on the same images: {len(ids_a - ids_b)} "
                         f"only in A, {len(ids_b - ids_a)} only in B; a diff compares runs image by image")


def run_diff(config: DiffConfig) -> Diff:
    """Load and check both runs, match every image once per run, bootstrap the paired AP deltas."""
    atomic.check_writable_folder(config.out_dir, "--out")
    a, b = (load_run(path, config.gt, config.row) for path in (config.a, config.b))
    if a.label == b.label:  # files of one name in two folders: name them by the paths given
        a, b = (dataclasses.replace(run, label=str(path) + run.label.removeprefix(path.name))
                for run, path in ((a, config.a), (b, config.b)))
    check_comparable(a, b)
    scored_a, scored_b = (evaluate(run.gt, run.results, run.protocol) for run in (a, b))
    samples = bootstrap_distributions([scored_a.matches, scored_b.matches], config.bootstrap)
    deltas = paired_deltas(scored_a.metrics, scored_b.metrics, samples[:, 0], samples[:, 1], config.bootstrap)
    return Diff(a, b, scored_a.metrics, scored_b.metrics, deltas,
                image_differences(scored_a.matches, scored_b.matches), config.bootstrap)


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4f}"


def _bounds(bounds: tuple[float, float] | None) -> str:
    return "-" if bounds is None else f"[{bounds[0]:+.4f}, {bounds[1]:+.4f}]"


def diff_markdown(diff: Diff) -> str:
    """The diff as Markdown: inputs, AP deltas with intervals, per-image totals, the images that moved."""
    confidence = f"{100 * diff.bootstrap.confidence:g}%"
    settings = diff.bootstrap.to_dict()
    metric_rows = [{"metric": name, "A": metric_text(diff.metrics_a[name]),
                    "B": metric_text(diff.metrics_b[name]),
                    "B - A": _signed(diff.deltas[name].delta),
                    f"{confidence} interval": _bounds(diff.deltas[name].ci95)}
                   for name in INTERVAL_METRICS]
    images = diff.images

    def both(column: str) -> str:
        return f"{images[column + '_a'].sum()} / {images[column + '_b'].sum()}"

    totals = {"images": len(images), "images that moved": int((images["moved"] > 0).sum()),
              "detections scored A / B": both("detections"),
              "people matched (OKS >= 0.5) A / B": both("matched")}
    top = images[images["moved"] > 0].head(TOP_IMAGES)
    sections = [
        "# Diff of two runs on the same images",
        f"- A: {diff.a.label} (results {diff.a.results}, {diff.a.protocol} protocol)\n"
        f"- B: {diff.b.label} (results {diff.b.results}, {diff.b.protocol} protocol)",
        f"## AP, B - A, with {confidence} paired-bootstrap intervals",
        f"The same resampled images for both runs ({settings['resamples']} resamples, seed "
        f"{settings['seed']}, {settings['method']}). The interval is test-set sampling noise of the "
        "difference, not a gate.",
        markdown_table(pd.DataFrame.from_records(metric_rows)),
        *no_ground_truth_note([*diff.metrics_a.values(), *diff.metrics_b.values()]),
        "## Per image",
        markdown_table(pd.DataFrame({"field": list(totals), "value": list(totals.values())})),
        "moved = |matched B - matched A| + |mean OKS B - mean OKS A| (matched: people matched at OKS >= "
        "0.5 as the evaluator matches; mean OKS over them, 0 for an image without matches).",
        *([f"### The {len(top)} images that moved most",
           markdown_table(top[["image_id", "crowd_index", "detections_a", "detections_b", "matched_a",
                               "matched_b", "mean_oks_a", "mean_oks_b", "moved"]])] if len(top) else
          ["No image moved: every image has the same matches and the same mean OKS in A and B."]),
    ]
    return "\n\n".join(sections) + "\n"


def write_diff(diff: Diff, out_dir: Path) -> dict[str, Path]:
    """diff.md, images.csv (one row per image, most moved first) and mean_oks.png, each atomically."""
    csv = io.StringIO()
    diff.images.to_csv(csv, index=False)
    png = mean_oks_png(diff.images["mean_oks_a"].to_numpy(), diff.images["mean_oks_b"].to_numpy(),
                       diff.a.label, diff.b.label)
    return {"md": atomic.write_text(out_dir / FILE_NAMES["md"], diff_markdown(diff)),
            "csv": atomic.write_text(out_dir / FILE_NAMES["csv"], csv.getvalue()),
            "png": atomic.write_bytes(out_dir / FILE_NAMES["png"], png)}

