"""The JSON record of one gate run, written beside the subset's report in ``--out``
(``gate-<device>[-<runtime>]-<precision>-<time>.json``, claimed atomically as reports are): what a CI job
keeps or reads back without parsing the printed summary.

It holds the verdict and exit status; the golden (path, the file's sha256 and the content sha256 it
records, how it was recorded); the draw
(size, seed, per stratum its images, drawn count and drawn ids); how the subset reran (report, device,
runtime, precision, batch size, and the environment record: its fingerprint, and the code's git commit
in ``host``); the tolerances; per row its counts, its changed images (people before and after, the
largest joint move, which joint of which pair, the largest score change) and, where an image changed,
every published metric's estimated full-set change with its interval and the differing images it rests
on; on a pass the exact binomial bound; and the wall seconds of each phase (check, rerun, compare,
estimate).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import atomic
from bench.evaluation.bootstrap import INTERVAL_METRICS
from bench.evaluation.image_diff import PoseChange
from bench.gate.check import GateOutcome, RowOutcome
from bench.gate.estimate import changed_fraction_bound, differing_counts
from bench.reports.typed import to_data
from bench.reports.writing import device_label, slug, time_label
from reference.crowdpose import JOINT_NAMES
from reference.precisions import TORCH_RUNTIME

CONFIDENCE = 0.95


def gate_record(outcome: GateOutcome, created: str) -> dict[str, Any]:
    """The record of ``outcome`` (see the module docstring), stamped ``created`` (ISO 8601, UTC)."""
    header, rerun, draw = outcome.header, outcome.rerun, outcome.draw
    images = len(outcome.image_ids)
    changed = outcome.changed_images
    record: dict[str, Any] = {
        "kind": "gate", "created": created, "verdict": "fail" if changed else "pass",
        "exit_status": outcome.exit_code,
        "golden": {"path": str(outcome.golden), "sha256": outcome.golden_file_sha256,
                   "content_sha256": outcome.golden_sha256,
                   "images": header.data.num_images, "created": header.created, "device": header.device,
                   "runtime": header.runtime, "precision": header.precision,
                   "environment_fingerprint": header.environment_fingerprint,
                   "weights": to_data(header.weights)},
        "subset": {"size": draw.size, "seed": draw.seed, "strata": [
            {"name": stratum.name, "images": stratum.images, "drawn": stratum.drawn,
             "image_ids": outcome.image_ids[outcome.strata == position].tolist()}
            for position, stratum in enumerate(draw.strata)]},
        "rerun": {"report": str(rerun.report), "device": rerun.device, "runtime": rerun.runtime,
                  "precision": rerun.precision, "channels_last": rerun.channels_last,
                  "batch_size": rerun.batch_size,
                  "environment": to_data(rerun.environment)},
        "tolerance": {"joint_px": outcome.tolerance_px, "score": outcome.tolerance_score},
        "changed_images": changed,
        "rows": [row_record(outcome, row) for row in outcome.rows],
        "seconds": dict(outcome.seconds),
    }
    if not changed:
        record["bound"] = {"changed": 0, "images": images, "confidence": CONFIDENCE,
                           "largest_changed_fraction": changed_fraction_bound(0, images, CONFIDENCE),
                           "method": "one-sided Clopper-Pearson"}
    return record


def row_record(outcome: GateOutcome, row: RowOutcome) -> dict[str, Any]:
    """One row: its counts, its changed images and, where one changed, its estimates."""
    record: dict[str, Any] = {
        "name": row.name, "identical": row.count("identical"),
        "within_tolerance": row.count("within tolerance"), "changed": row.count("changed"),
        "changed_images": [change_record(outcome, change)
                           for change, status in zip(row.changes, row.statuses, strict=True)
                           if status == "changed"],
        "estimate": None}
    if row.estimate is not None:
        counts = differing_counts(row.differing, outcome.strata)
        record["estimate"] = {name: {"golden": row.golden_metrics.get(name), "change": delta.delta,
                                     "ci95": None if delta.ci95 is None else list(delta.ci95),
                                     "differing_images": counts[name]}
                              for name, delta in ((name, row.estimate[name]) for name in INTERVAL_METRICS)}
    return record


def change_record(outcome: GateOutcome, change: PoseChange) -> dict[str, Any]:
    """One changed image: its split, people before and after, and its pair with the largest joint move."""
    record: dict[str, Any] = {"image_id": change.image_id, "stratum": outcome.stratum(change.image_id),
                              "people": list(change.people),
                              "largest_joint_move_px": None, "joint": None, "pair": None,
                              "largest_score_change": max(change.score_changes, default=None)}
    largest = change.largest_move()
    if largest is not None:
        record.update(largest_joint_move_px=change.moves_px[largest],
                      joint=JOINT_NAMES[change.joints[largest]], pair=list(change.pairs[largest]))
    return record


def write_gate_record(outcome: GateOutcome, out: str | Path) -> Path:
    """Write the record of ``outcome`` into the folder ``out`` under the first free name (atomic)."""
    created = datetime.now(UTC).isoformat(timespec="seconds")
    rerun = outcome.rerun
    parts = ["gate", device_label(rerun.device, rerun.environment),
             "" if rerun.runtime == TORCH_RUNTIME else rerun.runtime, rerun.precision, time_label(created)]
    stem = "-".join(slug(part) for part in parts if part)
    return atomic.write_new(out, stem, ".json", atomic.json_bytes(gate_record(outcome, created)))
