"""`bench gate`: rerun a stratified random subset of a golden's images with the golden's settings and
compare every image with the golden.

Before any prediction, everything the comparison depends on is checked against the golden: the data
(the annotation file's sha256 and each drawn image's), the pipeline settings of every row as this code
builds them from the golden's settings, the precision, and the weights (the checkpoint's sha256, or a
provided network's state digest); a difference is a BenchError naming it (exit status 2). The runtime
is exempt, as the device is: it says how the network runs, not what it computes, so a float32 golden
recorded with torch on a GPU is gated with ONNX Runtime on a CPU runner, and the tolerances decide. An
int8 golden is refused: its network was quantized on calibration images a subset rerun does not have.
The subset then runs through ``bench reproduce`` (its report goes into ``out``), and each row's poses
are compared with the golden's image by image (``bench.evaluation.image_diff.compare_poses``):
identical, within the tolerance (``tolerance_px`` for every joint, ``tolerance_score`` for the person
and joint scores: a GPU golden and a CPU rerun differ in float rounding), or changed. Any changed image
fails the gate, an improvement too, until the golden is recorded again.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
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
from bench.evaluation.image_diff import (
    TOLERANCE_PX,
    TOLERANCE_SCORE,
    PoseChange,
    compare_poses,
    image_differences,
)
from bench.evaluation.inputs import GroundTruth, load_detections, load_ground_truth
from bench.evaluation.subset import STRATA, SubsetDraw, strata_of
from bench.gate.estimate import full_set_changes
from bench.gate.golden import Golden, GoldenHeader, RowPoses
from bench.gate.golden_file import load_golden
from bench.reading import sha256_of
from bench.reports.environment import Environment
from bench.reports.folders import DEFAULT_OUT
from bench.reports.typed import to_data
from bench.weights import Weights
from reference.pipeline import InputLimits
from reference.precisions import QUANTIZED

MAX_NAMED = 5
"""Most image ids a refusal names (then a count)."""
RECORDED_SETTINGS = ("calibration_images", "pipeline_options")
"""The reproduce settings a gate takes from its golden (besides the rows, the input limits and, unless
given, the runtime and precision)."""
EXECUTION_SETTINGS = ("runtime", "channels_last")
"""Pipeline settings that say how the network runs, not what it computes: like the device, the gate
may change them (the tolerances decide), so the settings check leaves them out."""
FULL_PRECISION = "float32"
"""The one precision whose reruns round as the golden's did to the tolerances; every other one (tf32,
bfloat16, float16) is reduced."""


@dataclass(frozen=True)
class GateConfig:
    """What `bench gate` reruns and how: the golden, the subset's size and seed, where the data and the
    checkpoint are, how the network runs (device, runtime, torch's channels_last memory layout, batch,
    workers, threads, caches, machine name: none of them part of the comparison; ``runtime`` None: the
    golden's), the precision (None: the golden's; any other is refused), where the subset's report and
    the gate's record go, the bootstrap of the estimates and the tolerances."""

    golden: Path
    subset: int
    subset_seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    checkpoint: str | None = None
    device: str = "auto"
    runtime: str | None = None
    precision: str | None = None
    channels_last: bool = False
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

    @property
    def differing(self) -> np.ndarray:
        """[n] whether each image's poses differ from the golden's at all (within tolerance included)."""
        return np.array([not change.identical for change in self.changes])


@dataclass(frozen=True)
class Rerun:
    """How the subset ran: the report it wrote, its device, runtime, precision, memory layout (torch's
    channels_last or not) and batch size, and the environment it ran in (fingerprint, and the code's git
    commit in ``host``)."""

    report: Path
    device: str
    runtime: str
    precision: str
    channels_last: bool
    batch_size: int
    environment: Environment

    def describe(self) -> str:
        layout = " channels_last" if self.channels_last else ""
        return (f"{self.device} with {self.runtime} {self.precision}{layout} (environment "
                f"{self.environment.fingerprint_id})")


@dataclass(frozen=True, eq=False)
class GateOutcome:
    """The gate's outcome: the golden (path, content and file sha256, header), the draw, the subset's
    image ids [n] and strata [n], every row compared, how the subset ran, the tolerances, and the wall
    seconds of each phase (check, rerun, compare, estimate)."""

    golden: Path
    golden_sha256: str
    golden_file_sha256: str
    header: GoldenHeader
    draw: SubsetDraw
    image_ids: np.ndarray
    strata: np.ndarray
    rows: tuple[RowOutcome, ...]
    rerun: Rerun
    tolerance_px: float
    tolerance_score: float
    seconds: dict[str, float]

    @property
    def changed_images(self) -> list[int]:
        """The ids of the images changed in any row."""
        changed = {change.image_id for row in self.rows
                   for change, status in zip(row.changes, row.statuses, strict=True) if status == "changed"}
        return sorted(changed)

    @property
    def exit_code(self) -> int:
        return 1 if self.changed_images else 0

    def stratum(self, image_id: int) -> str:
        """The split of the drawn image ``image_id``."""
        return STRATA[self.strata[int(np.flatnonzero(self.image_ids == image_id)[0])]]


def run_gate(config: GateConfig, model: nn.Module | None = None) -> GateOutcome:
    """Check, rerun and compare (see the module docstring); ``model`` replaces the checkpoint (tests)."""
    started = time.perf_counter()
    golden, golden_sha256 = load_golden(config.golden)
    golden_file_sha256 = sha256_of(config.golden, "golden file")
    dataset = checked_dataset(config, golden)
    subset, draw = stratified_subset(dataset, config.subset, config.subset_seed)
    check_images(subset, golden)
    rerun = rerun_config(config, golden.header)
    check_settings(rerun, golden.header)
    check_weights(rerun, golden.header, model)
    checked = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gate-predictions-") as scratch:
        # a fresh cache unless one is named: a cached prediction is keyed by reference/ and torch only,
        # and would hide what the gate is there to see (another OpenCV, numpy or bench/)
        fresh = rerun if config.cache_dir else dataclasses.replace(rerun, cache_dir=scratch)
        result = run_reproduction(fresh, model)
    report_path = result.paths["json"]
    gt = load_ground_truth(subset.ground_truth())
    image_ids = np.array(subset.image_ids, dtype=np.int64)
    positions = np.searchsorted(golden.image_ids, image_ids)
    rows = {row.result.name: row for row in result.report.rows}
    reran = time.perf_counter()
    pairs = []
    for golden_row, poses in zip(golden.header.rows, golden.poses, strict=True):
        row = rows[golden_row.name].result
        if row.behaviour is None:
            raise BenchError(f"row {row.name!r} did not run: {rows[golden_row.name].verdict.reason}")
        new = RowPoses.from_detections(load_detections(recorded_results(row, report_path), gt), image_ids)
        pairs.append((poses.select(positions), new))
    compared = [compare_row(golden_row.name, golden_row.metrics, golden, new, image_ids, config)
                for golden_row, (golden, new) in zip(golden.header.rows, pairs, strict=True)]
    ended_compare = time.perf_counter()
    outcomes = tuple(estimated(row, golden_row.protocol, *pair, image_ids, gt, draw, config.bootstrap)
                     for row, golden_row, pair in zip(compared, golden.header.rows, pairs, strict=True))
    ended = time.perf_counter()
    report = result.report
    layout = bool(report.config.settings.get("pipeline_options", {}).get("channels_last", False))
    ran = Rerun(report_path, report.config.device, report.config.runtime, report.config.precision, layout,
                config.batch_size, report.environment)
    seconds = {"check": checked - started, "rerun": reran - checked, "compare": ended_compare - reran,
               "estimate": ended - ended_compare}
    return GateOutcome(config.golden, golden_sha256, golden_file_sha256, golden.header, draw, image_ids,
                       strata_of(gt_crowd_index(gt, image_ids)), outcomes, ran, config.tolerance_px,
                       config.tolerance_score, seconds)


def compare_row(name: str, golden_metrics: dict[str, float], golden: RowPoses, new: RowPoses,
                image_ids: np.ndarray, config: GateConfig) -> RowOutcome:
    """One row's poses against the golden's on the subset, image by image."""
    changes = tuple(compare_poses(int(image_id), golden.image(position), new.image(position))
                    for position, image_id in enumerate(image_ids))
    statuses = tuple(change.outcome(config.tolerance_px, config.tolerance_score) for change in changes)
    return RowOutcome(name, golden_metrics, changes, statuses)


def estimated(row: RowOutcome, protocol: str, golden: RowPoses, new: RowPoses, image_ids: np.ndarray,
              gt: GroundTruth, draw: SubsetDraw, bootstrap: BootstrapSettings) -> RowOutcome:
    """``row`` with its per-image match differences and full-set estimates where an image changed."""
    if "changed" not in row.statuses:
        return row
    category = int(gt.table.category_ids[0])
    golden_matches, new_matches = (
        evaluate(gt, poses.detections(image_ids, category, source), protocol).matches
        for poses, source in ((golden, "golden"), (new, "rerun")))
    return dataclasses.replace(row, matches=image_differences(golden_matches, new_matches),
                               estimate=full_set_changes(golden_matches, new_matches, draw, row.differing,
                                                         bootstrap))


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


def rerun_precision(config: GateConfig, header: GoldenHeader) -> str:
    """The rerun's precision: the golden's. BenchError naming both for another one (a golden is gated at
    its own precision), and for an int8 golden: its network was quantized with the first
    ``calibration_images`` images of the full set, and a subset rerun would calibrate on the first of its
    own, so every prediction could differ for that alone."""
    precision = config.precision or header.precision
    if precision != header.precision:
        raise BenchError(f"--precision {precision} differs from the golden's {header.precision}: a golden is "
                         f"gated at its own precision (record a {precision} golden to gate {precision} runs)")
    if precision in QUANTIZED:
        count = header.settings.get("calibration_images")
        raise BenchError(f"the golden is {precision}: its network was quantized on the first {count} images "
                         f"of the full set, and a subset rerun would quantize on images of its own, so it "
                         f"cannot match; gate a float32 golden (any float32 runtime), or rerun the whole "
                         f"set and compare the reports with `bench diff`")
    return precision


def rerun_config(config: GateConfig, header: GoldenHeader) -> ReproduceConfig:
    """The reproduce run of the subset: the golden's rows, precision, pipeline options and input limits,
    and its runtime unless ``config`` names one; this machine's data location, checkpoint, device,
    memory layout and schedule; no intervals, no sample run, and no float32 torch reference of a
    variant (another runtime or layout): the golden is what the rerun is compared with."""
    settings = header.settings
    recorded = {key: settings[key] for key in RECORDED_SETTINGS if key in settings}
    recorded.update(precision=rerun_precision(config, header), runtime=config.runtime or header.runtime)
    # the layout, like the runtime, is this machine's choice: the golden's own is not carried over
    options = {key: value for key, value in recorded.get("pipeline_options", {}).items()
               if key != "channels_last"}
    recorded["pipeline_options"] = {**options, **({"channels_last": True} if config.channels_last else {})}
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
        input_limits=limits, bootstrap=BootstrapSettings(resamples=0), variant_references=False, **recorded)


def check_settings(rerun: ReproduceConfig, header: GoldenHeader) -> None:
    """BenchError naming every row and pipeline setting this code builds otherwise than the golden
    recorded them (a default changed since, say); the ``EXECUTION_SETTINGS`` (runtime, layout) are left
    out."""
    specs = {spec.name: spec for spec in row_specs(rerun, load_expected(rerun.expected))}
    problems = []
    for row in header.rows:
        spec = specs.get(row.name)
        if spec is None:
            problems.append(f"row {row.name!r}: no such published row now (rows: {', '.join(specs)})")
            continue
        golden, now = ({name: value for name, value in pipeline.items() if name not in EXECUTION_SETTINGS}
                       for pipeline in (row.pipeline, to_data(spec.config.to_dict())))
        problems += [f"row {row.name!r}: {difference}" for difference in setting_differences(golden, now)]
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
    """BenchError unless the rerun's weights are the golden's: the same kind, and the same sha256 (of the
    checkpoint, resolved and downloaded if need be now; of a provided network's state)."""
    recorded = header.weights
    if model is not None:
        provided = Weights.provided(model).to_record()
        found, sha256 = provided.kind, provided.sha256
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

