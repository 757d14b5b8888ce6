"""`bench gate`: rerun a stratified random subset of a golden's images with the golden's settings and
compare every image with the golden.

Before any prediction, everything the comparison depends on is checked against the golden: the data
(the annotation file's sha256 and each drawn image's), the pipeline settings of every row as this code
builds them from the golden's settings, and the checkpoint's sha256; a difference is a BenchError
naming it (exit status 2). The subset then runs through ``bench reproduce`` (its report goes into
``out``), and each row's poses are compared with the golden's image by image
(``bench.evaluation.image_diff.compare_poses``): identical, within the tolerance (``tolerance_px`` for
every joint, ``tolerance_score`` for the person and joint scores: a GPU golden and a CPU rerun differ
in float rounding), or changed. Any changed image fails the gate, an improvement too, until the golden
is recorded again.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from bench.accuracy.cache import image_digests
from bench.accuracy.diff import recorded_results
from bench.accuracy.expected import load_expected
from bench.accuracy.plan import row_specs, stratified_subset
from bench.accuracy.reproduce import run_reproduction
from bench.accuracy.settings import ReproduceConfig
from bench.checkpoint import resolve_checkpoint
from bench.data.dataset import CrowdPoseDataset, DataConfig, load_dataset
from bench.errors import BenchError
from bench.evaluation import evaluate
from bench.evaluation.bootstrap import BootstrapSettings, PairedDelta
from bench.evaluation.image_diff import PoseChange, compare_poses, image_differences
from bench.evaluation.inputs import GroundTruth, load_detections, load_ground_truth
from bench.evaluation.subset import SubsetDraw, strata_of
from bench.gate.estimate import full_set_changes
from bench.gate.golden import Golden, GoldenHeader, RowPoses
from bench.gate.golden_file import load_golden
from bench.reading import sha256_of
from bench.reports.folders import DEFAULT_OUT
from bench.reports.typed import to_data
from bench.weights import Weights
from reference.pipeline import InputLimits

TOLERANCE_PX = 0.05
TOLERANCE_SCORE = 1e-4
MAX_NAMED = 5
"""Most image ids a refusal names (then a count)."""
RECORDED_SETTINGS = ("precision", "runtime", "calibration_images", "pipeline_options")
"""The reproduce settings a gate takes from its golden (besides the rows and the input limits)."""


@dataclass(frozen=True)
class GateConfig:
    """What `bench gate` reruns and how: the golden, the subset's size and seed, where the data and the
    checkpoint are, how the network runs (device, batch, workers, threads, caches, machine name: none of
    them part of the comparison), where the subset's report goes, the bootstrap of the estimates and the
    tolerances."""

    golden: Path
    subset: int
    subset_seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    checkpoint: str | None = None
    device: str = "auto"
    batch_size: int = 1
    out: str = str(DEFAULT_OUT)
    workers: int = 2
    threads: int | None = None
    cache_dir: str | None = None
    checkpoint_cache_dir: str | None = None
    network_cache_dir: str | None = None
    machine: str | None = None
    bootstrap: BootstrapSettings = field(default_factory=BootstrapSettings)
    tolerance_px: float = TOLERANCE_PX
    tolerance_score: float = TOLERANCE_SCORE


@dataclass(frozen=True, eq=False)
class RowOutcome:
    """One row compared: per subset image its change (image-id order) and status ("identical", "within
    tolerance", "changed"); where an image changed, the per-image match differences (``image_diff``)
    and the estimated full-set change of every published metric with its interval."""

    name: str
    golden_metrics: dict[str, float]
    changes: tuple[PoseChange, ...]
    statuses: tuple[str, ...]
    matches: pd.DataFrame | None = None
    estimate: dict[str, PairedDelta] | None = None

    def count(self, status: str) -> int:
        """How many images have ``status``."""
        return self.statuses.count(status)


@dataclass(frozen=True, eq=False)
class GateOutcome:
    """The gate's outcome: the golden (path, content sha256, header), the draw, the subset's image ids
    [n] and strata [n], every row compared, the subset run's report with its device and environment
    fingerprint, and the tolerances."""

    golden: Path
    golden_sha256: str
    header: GoldenHeader
    draw: SubsetDraw
    image_ids: np.ndarray
    strata: np.ndarray
    rows: tuple[RowOutcome, ...]
    report: Path
    rerun_on: str
    tolerance_px: float
    tolerance_score: float

    @property
    def changed_images(self) -> list[int]:
        """The ids of the images changed in any row."""
        changed = {change.image_id for row in self.rows
                   for change, status in zip(row.changes, row.statuses, strict=True) if status == "changed"}
        return sorted(changed)

    @property
    def exit_code(self) -> int:
        return 1 if self.changed_images else 0


def run_gate(config: GateConfig, model: nn.Module | None = None) -> GateOutcome:
    """Check, rerun and compare (see the module docstring); ``model`` replaces the checkpoint (tests)."""
    golden, golden_sha256 = load_golden(config.golden)
    dataset = checked_dataset(config, golden)
    subset, draw = stratified_subset(dataset, config.subset, config.subset_seed)
    check_images(subset, golden)
    rerun = rerun_config(config, golden.header)
    check_settings(rerun, golden.header)
    check_weights(rerun, golden.header, model)
    result = run_reproduction(rerun, model)
    report_path = result.paths["json"]
    gt = load_ground_truth(subset.ground_truth())
    image_ids = np.array(subset.image_ids, dtype=np.int64)
    positions = np.searchsorted(golden.image_ids, image_ids)
    rows = {row.result.name: row for row in result.report.rows}
    outcomes = []
    for golden_row, poses in zip(golden.header.rows, golden.poses, strict=True):
        row = rows[golden_row.name].result
        if row.behaviour is None:
            raise BenchError(f"row {row.name!r} did not run: {rows[golden_row.name].verdict.reason}")
        new = RowPoses.from_detections(load_detections(recorded_results(row, report_path), gt), image_ids)
        outcomes.append(compare_row(golden_row.name, golden_row.metrics, golden_row.protocol,
                                    poses.select(positions), new, image_ids, gt, draw, config))
    rerun_on = f"{result.report.config.device} (environment {result.report.environment.fingerprint_id})"
    return GateOutcome(config.golden, golden_sha256, golden.header, draw, image_ids,
                       strata_of(gt_crowd_index(gt, image_ids)), tuple(outcomes), report_path, rerun_on,
                       config.tolerance_px, config.tolerance_score)


def compare_row(name: str, golden_metrics: dict[str, float], protocol: str, golden: RowPoses, new: RowPoses,
                image_ids: np.ndarray, gt: GroundTruth, draw: SubsetDraw, config: GateConfig) -> RowOutcome:
    """One row's poses against the golden's on the subset; the estimates where an image changed."""
    changes = tuple(compare_poses(int(image_id), golden.image(position), new.image(position))
                    for position, image_id in enumerate(image_ids))
    statuses = tuple("identical" if change.identical else "within tolerance"
                     if change.within(config.tolerance_px, config.tolerance_score) else "changed"
                     for change in changes)
    if "changed" not in statuses:
        return RowOutcome(name, golden_metrics, changes, statuses)
    category = int(gt.table.category_ids[0])
    golden_matches, new_matches = (
        evaluate(gt, poses.detections(image_ids, category, source), protocol).matches
        for poses, source in ((golden, "golden"), (new, "rerun")))
    differing = np.array([not change.identical for change in changes])
    return RowOutcome(name, golden_metrics, changes, statuses, image_differences(golden_matches, new_matches),
                      full_set_changes(golden_matches, new_matches, draw, differing, config.bootstrap))


def checked_dataset(config: GateConfig, golden: Golden) -> CrowdPoseDataset:
    """The data set at ``config.data``'s location, once it is the golden's: the same annotation file
    (sha256) and the same images."""
    data = config.data
    dataset = load_dataset(data.data_root, ann_file=data.ann_file, img_dir=data.img_dir)
    recorded = golden.header.data
    annotations = sha256_of(dataset.ann_file, "annotation file")
    if annotations != recorded.annotations_sha256:
        raise BenchError(f"data differs from the golden's: annotation file {dataset.ann_file} has sha256 "
                         f"{annotations[:12]}..., the golden was recorded on {recorded.annotations} (sha256 "
                         f"{recorded.annotations_sha256[:12]}...)")
    if not np.array_equal(np.array(dataset.image_ids, dtype=np.int64), golden.image_ids):
        raise BenchError(f"data differs from the golden's: {len(dataset)} images in {dataset.ann_file}, "
                         f"{len(golden.image_ids)} in the golden")
    return dataset


def check_images(subset: CrowdPoseDataset, golden: Golden) -> None:
    """BenchError naming the drawn images whose files differ from the golden's (or cannot be read)."""
    recorded = golden.digests()
    found = image_digests({record["id"]: subset.image_path(record) for record in subset.images})
    differing = [image_id for image_id in subset.image_ids if found.get(image_id) != recorded[image_id]]
    if differing:
        named = ", ".join(map(str, differing[:MAX_NAMED])) + (
            f" and {len(differing) - MAX_NAMED} more" if len(differing) > MAX_NAMED else "")
        raise BenchError(f"data differs from the golden's: {len(differing)} drawn image file(s) changed or "
                         f"unreadable in {subset.img_dir}: image id {named}")


def rerun_config(config: GateConfig, header: GoldenHeader) -> ReproduceConfig:
    """The reproduce run of the subset: the golden's rows, precision, runtime, pipeline options and
    input limits; this machine's data location, checkpoint, device and schedule; no intervals and no
    sample run."""
    settings = header.settings
    recorded = {key: settings[key] for key in RECORDED_SETTINGS if key in settings}
    try:
        limits = InputLimits(**settings.get("input_limits", {}))
    except (TypeError, ValueError) as error:
        raise BenchError(f"golden settings: input_limits: {error}") from None
    data = dataclasses.replace(config.data, subset=config.subset, subset_seed=config.subset_seed)
    return ReproduceConfig(
        checkpoint=config.checkpoint, data=data, scales=tuple(row.scales for row in header.rows),
        device=config.device, out=config.out, batch_size=config.batch_size, workers=config.workers,
        threads=config.threads, cache_dir=config.cache_dir, checkpoint_cache_dir=config.checkpoint_cache_dir,
        network_cache_dir=config.network_cache_dir, machine=config.machine, sample=False,
        input_limits=limits, bootstrap=BootstrapSettings(resamples=0), **recorded)


def check_settings(rerun: ReproduceConfig, header: GoldenHeader) -> None:
    """BenchError naming every row and pipeline setting this code builds otherwise than the golden
    recorded them (a default changed since, say)."""
    specs = {spec.name: spec for spec in row_specs(rerun, load_expected(rerun.expected))}
    problems = []
    for row in header.rows:
        spec = specs.get(row.name)
        if spec is None:
            problems.append(f"row {row.name!r}: no such published row now (rows: {', '.join(specs)})")
            continue
        problems += [f"row {row.name!r}: {difference}"
                     for difference in setting_differences(row.pipeline, to_data(spec.config.to_dict()))]
        if spec.protocol != row.protocol:
            problems.append(f"row {row.name!r}: protocol: golden {row.protocol!r}, now {spec.protocol!r}")
    if problems:
        raise BenchError("settings differ from the golden's: " + "; ".join(problems))


def setting_differences(golden: dict[str, Any], now: dict[str, Any], prefix: str = "") -> list[str]:
    """"name: golden X, now Y" for every setting (nested ones as ``outer.inner``) that differs."""
    differences = []
    for name in sorted(set(golden) | set(now)):
        before, after = golden.get(name, "(none)"), now.get(name, "(none)")
        if isinstance(before, dict) and isinstance(after, dict):
            differences += setting_differences(before, after, f"{prefix}{name}.")
        elif before != after:
            differences.append(f"{prefix}{name}: golden {before!r}, now {after!r}")
    return differences


def check_weights(rerun: ReproduceConfig, header: GoldenHeader, model: nn.Module | None) -> None:
    """BenchError unless the rerun's weights are the golden's: the checkpoint's sha256 (resolved, and
    downloaded if need be, now), or the same kind of provided network."""
    recorded = header.weights
    if model is not None:
        found, sha256 = Weights.provided(model).to_record().kind, None
    else:
        spec = rerun.checkpoint or load_expected(rerun.expected).checkpoint.url
        found, sha256 = "checkpoint", resolve_checkpoint(spec, rerun.checkpoint_cache_dir).sha256
    if (found, sha256) != (recorded.kind, recorded.sha256):
        raise BenchError(f"checkpoint differs from the golden's: {found} weights"
                         f"{f' with sha256 {sha256[:12]}...' if sha256 else ''}, the golden's are "
                         f"{recorded.label}{f' (sha256 {recorded.sha256})' if recorded.sha256 else ''}")


def gt_crowd_index(gt: GroundTruth, image_ids: np.ndarray) -> np.ndarray:
    """[n] the crowd index of each of ``image_ids``."""
    order = np.argsort(gt.table.image_ids)
    return gt.table.crowd_index[order][np.searchsorted(gt.table.image_ids[order], image_ids)]

