"""The matrix table: every declared environment against the reference (the pinned environment), per row of
the reference's report: its images identical / within tolerance / changed (``compare_poses`` per image,
``TOLERANCE_PX`` and ``TOLERANCE_SCORE``), the first stage whose goldens differ, and the AP change with
its paired-bootstrap interval (``bench diff``'s ``run_diff``: the same resampled images for both runs)
when the images have ground truth. An environment that could not be installed, failed or has no entry
yet gets one line saying so, never none."""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bench import atomic
from bench.accuracy.diff import DiffConfig, run_diff
from bench.errors import BenchError
from bench.evaluation.bootstrap import BootstrapSettings, PairedDelta
from bench.evaluation.image_diff import (
    CHANGED,
    IDENTICAL,
    NO_POSES,
    TOLERANCE_PX,
    TOLERANCE_SCORE,
    WITHIN_TOLERANCE,
    compare_poses,
    poses_by_image,
)
from bench.matrix.declared import Environment, reference_environment
from bench.matrix.measure import MEASURED
from bench.reading import read_json
from bench.reports.markdown import markdown_table

FILE_NAMES = {"md": "matrix.md", "csv": "matrix.csv"}
NO_STAGE = "none"


@dataclass(frozen=True)
class RowComparison:
    """One row of an environment against the reference's: how many images are identical, within the
    tolerance and changed, and AP (reference, this environment, paired change; None without GT)."""

    identical: int
    within_tolerance: int
    changed: int
    ap_reference: float | None
    ap: float | None
    ap_change: PairedDelta


@dataclass(frozen=True)
class TableSettings:
    """The bootstrap of the AP change, and a folder ``run_diff`` may write into (it writes nothing there)."""

    scratch: Path
    bootstrap: BootstrapSettings = field(default_factory=BootstrapSettings)


def compare_row(row: str, reference: Mapping[str, Any], other: Mapping[str, Any],
                settings: TableSettings) -> RowComparison:
    """``other``'s predictions of ``row`` against ``reference``'s, each ``{"predictions": report or results
    file, "gt": annotation file or None}`` as ``bench diff`` takes them."""
    gt = reference["gt"] and Path(reference["gt"])
    diff = run_diff(DiffConfig(a=Path(reference["predictions"]), b=Path(other["predictions"]),
                               out_dir=settings.scratch, gt=gt, row=row, bootstrap=settings.bootstrap))
    poses_a, poses_b = (poses_by_image(read_json(run.results, "results file")) for run in (diff.a, diff.b))
    image_ids = [image["id"] for image in diff.a.gt["images"]]
    changes = [compare_poses(image_id, poses_a.get(image_id, NO_POSES), poses_b.get(image_id, NO_POSES))
               for image_id in image_ids]
    outcomes = [change.outcome() for change in changes]
    return RowComparison(outcomes.count(IDENTICAL), outcomes.count(WITHIN_TOLERANCE), outcomes.count(CHANGED),
                         _defined(diff.metrics_a["AP"]), _defined(diff.metrics_b["AP"]), diff.deltas["AP"])


def _defined(value: float) -> float | None:
    """An AP, None where the images have no ground truth (the protocol's -1)."""
    return None if value == -1 else value


def matrix_frame(environments: tuple[Environment, ...], entries: Mapping[str, dict[str, Any] | None],
                 settings: TableSettings) -> pd.DataFrame:
    """One line per environment and row of the reference's report (one line for an environment without
    a measured entry), in the declared order; BenchError when the reference has no measured entry."""
    reference = reference_environment(environments)
    reference_entry = entries.get(reference.name)
    if not reference_entry or reference_entry["status"] != MEASURED:
        raise BenchError(f"the reference environment {reference.name!r} has no measured entry: run "
                         f"`nox -s \"matrix(environment='{reference.name}')\"` first")
    lines = []
    for environment in environments:
        entry = entries.get(environment.name)
        head = {"environment": environment.name, "pins": _pins(environment),
                **_versions(entry), "status": entry["status"] if entry else "not run"}
        if not entry or entry["status"] != MEASURED:
            lines.append({**head, "note": entry["reason"] if entry else "no entry: not run yet"})
            continue
        stage = entry["stage_goldens"]["first_stage"] or NO_STAGE
        for row, predictions in reference_entry["rows"].items():
            theirs = entry["rows"].get(row)
            if theirs is None:
                lines.append({**head, "row": row, "first stage that differs": stage, "note": "row not run"})
                continue
            comparison = compare_row(row, predictions, theirs, settings)
            lines.append({**head, "row": row, **_comparison_columns(comparison),
                          "first stage that differs": stage,
                          "note": "reference" if environment.is_reference else ""})
    return pd.DataFrame.from_records(lines, columns=COLUMNS)


COUNTS = ["identical", "within tolerance", "changed"]
COLUMNS = ["environment", "pins", "numpy", "OpenCV", "torch", "status", "row", "identical",
           "within tolerance", "changed", "first stage that differs", "AP reference", "AP", "AP change",
           "AP change low", "AP change high", "note"]


def _pins(environment: Environment) -> str:
    pins = ", ".join(f"{package} {version}" for package, version in environment.pins.items())
    return pins or "constraints.txt"


def _versions(entry: Mapping[str, Any] | None) -> dict[str, str | None]:
    """The versions the environment imported (None where it did not run)."""
    versions = (entry or {}).get("versions", {})
    return {name: versions.get(name) for name in ("numpy", "OpenCV", "torch")}


def _comparison_columns(comparison: RowComparison) -> dict[str, Any]:
    interval = comparison.ap_change.ci95 or (None, None)
    return {"identical": comparison.identical, "within tolerance": comparison.within_tolerance,
            "changed": comparison.changed, "AP reference": comparison.ap_reference, "AP": comparison.ap,
            "AP change": comparison.ap_change.delta, "AP change low": interval[0],
            "AP change high": interval[1]}


def matrix_markdown(frame: pd.DataFrame, entries: Mapping[str, dict[str, Any] | None], reference: str,
                    settings: TableSettings) -> str:
    """The table as Markdown, with what it was run on, how to read it and, per environment, the stage
    goldens' message and the reason it failed."""
    first = entries[reference]
    confidence = f"{100 * settings.bootstrap.confidence:g}%"
    sections = [
        "# Environment matrix",
        "Does the checkpoint still give its numbers with other library versions? Each environment is "
        "constraints.txt with the pins shown; its predictions are compared with the reference "
        f"environment's (`{reference}`) image by image, on the same images with the same weights.",
        f"- Images: {first['images']} of `{_shown(first['annotations'])}`\n"
        f"- Weights: {first['weights']}\n"
        f"- Identical: every keypoint and score equal; within tolerance: the same people, every joint within "
        f"{TOLERANCE_PX} px and every score within {TOLERANCE_SCORE}; changed: the rest.\n"
        "- First stage that differs: the stage goldens (HigherHRNet-W32 with fan-in synthetic weights, input "
        "128, the bundled sample) against the committed record `tests/data/stage_goldens.json`.\n"
        f"- AP change: this environment minus the reference, with its {confidence} paired-bootstrap interval "
        f"({settings.bootstrap.resamples} resamples of the images, `bench diff`). On a few images the "
        "interval says little (on the 2-image sample, nothing), and with synthetic weights AP itself means "
        "nothing: the counts of changed images are the answer there; the AP columns are printed anyway.",
        markdown_table(_shown_table(frame)),
        *_details(entries),
    ]
    return "\n\n".join(sections) + "\n"


def _shown(path: str) -> str:
    """``path`` relative to the current folder when it lies inside it (the committed table names no
    machine's folders), else as it is."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(Path.cwd())) if resolved.is_relative_to(Path.cwd()) else path


def _shown_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as the Markdown shows it: the AP change and its interval in one column, and a note of
    more than one line left to the details."""
    records = frame.to_dict("records")
    notes = ["see the details" if "\n" in str(record["note"]) else record["note"] for record in records]
    return frame.drop(columns=["AP change", "AP change low", "AP change high", "note"]).assign(
        **{"AP change [95% interval]": [_change_text(record) for record in records], "note": notes})


def _change_text(record: Mapping[str, Any]) -> str:
    """A compared row's AP change with its interval, or that its images have no ground truth; "-" for an
    environment that was not compared."""
    if pd.isna(record["identical"]):
        return "-"
    delta, low, high = record["AP change"], record["AP change low"], record["AP change high"]
    if pd.isna(delta):
        return "no ground truth"
    return f"{delta:+.4f}" + ("" if pd.isna(low) else f" [{low:+.4f}, {high:+.4f}]")


def _details(entries: Mapping[str, dict[str, Any] | None]) -> list[str]:
    """Per environment with something to explain: the stage goldens' message, or why it did not run (paths
    inside the current folder shown relative to it)."""
    sections = []
    for name, entry in entries.items():
        text = entry and (entry.get("reason") or (entry.get("stage_goldens") or {}).get("message"))
        if text:
            sections += [f"### {name}", "```\n" + _relative_paths(text.strip()) + "\n```"]
    return ["## Details", *sections] if sections else []


def _relative_paths(text: str) -> str:
    """``text`` with the paths inside the current folder relative to it."""
    return text.replace(f"{Path.cwd()}/", "")


def write_matrix(frame: pd.DataFrame, markdown: str, out: Path) -> dict[str, Path]:
    """``matrix.md`` and ``matrix.csv`` (the frame, image counts as integers, notes on one line each) into
    ``out``, atomically."""
    csv = io.StringIO()
    one_line = frame["note"].fillna("").map(_relative_paths).str.replace(r"\s*\n\s*", " | ", regex=True)
    frame.assign(note=one_line).astype({column: "Int64" for column in COUNTS}).to_csv(csv, index=False)
    return {"md": atomic.write_text(Path(out) / FILE_NAMES["md"], markdown),
            "csv": atomic.write_text(Path(out) / FILE_NAMES["csv"], csv.getvalue())}
