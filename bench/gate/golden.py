"""What a golden holds, and making one from a reproduce report (``python -m bench golden record``).

A golden is the reference a gate compares against: per image its id and the sha256 of its file; per
row of the report its predictions (people, joints, scores, as float32: the pipeline's own precision, so
nothing is lost), its pipeline settings and its full-set metrics; the checkpoint's sha256, the run's
settings and the environment it ran in. It is made from a report whose rows scored every image of their
annotation file, with the predictions kept beside the report, and the images the report ran on (their
digests are recomputed and checked against the report's fingerprint). Before it is written, the stored
predictions are scored again and must give the report's metrics exactly.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.accuracy.cache import image_digests
from bench.accuracy.diff import recorded_results
from bench.data.dataset import CrowdPoseDataset, DataConfig, image_set_digest, load_dataset
from bench.errors import BenchError
from bench.evaluation import evaluate
from bench.evaluation.image_diff import Poses
from bench.evaluation.inputs import Detections, GroundTruth, load_detections, load_ground_truth
from bench.reading import sha256_of
from bench.reports.records import WeightsRecord
from bench.reports.rows import Row, Subset
from bench.reports.schema import Report, load_report
from bench.reports.typed import to_data
from reference.crowdpose import NUM_JOINTS

FORMAT = "bench-golden"
VERSION = 1


@dataclass(frozen=True)
class GoldenRow:
    """One row of the report a golden was made from: its name and role, the published row it runs, its
    test scales and flip, the protocol it was scored with, its pipeline settings and forward
    (``PipelineConfig.to_dict``), its full-set metrics and the sha256 of its results JSON."""

    name: str
    role: str
    published_row: str | None
    scales: tuple[float, ...]
    flip: bool
    protocol: str
    pipeline: dict[str, Any]
    forward: dict[str, Any]
    metrics: dict[str, float]
    results_sha256: str


@dataclass(frozen=True)
class GoldenData:
    """The data a golden was recorded on: the annotation file as the report names it, its sha256, the
    digest over the image set (``image_set_digest``) and the number of images."""

    annotations: str
    annotations_sha256: str
    images_digest: str
    num_images: int


@dataclass(frozen=True)
class GoldenHeader:
    """Everything of a golden but its arrays: the report it came from (path and digest), the weights, the
    environment (its fingerprint id and record), the reproduce settings, device, runtime and precision,
    the data and the rows."""

    format: str
    version: int
    created: str
    report: str
    report_digest: str
    weights: WeightsRecord
    environment_fingerprint: str
    environment: dict[str, Any]
    settings: dict[str, Any]
    device: str
    runtime: str
    precision: str
    data: GoldenData
    rows: tuple[GoldenRow, ...]


@dataclass(frozen=True, eq=False)
class RowPoses:
    """One row's predictions over the golden's images: ``people`` [I] per image, ``keypoints`` [P, K, 3]
    (x, y, score) and ``scores`` [P], images in id order, each image's people in the predictor's order."""

    people: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray

    @classmethod
    def from_detections(cls, detections: Detections, image_ids: np.ndarray) -> RowPoses:
        """The poses of checked ``detections`` on the images ``image_ids`` (sorted), as float32."""
        position = np.searchsorted(image_ids, detections.image_ids)
        order = np.argsort(position, kind="stable")
        return cls(np.bincount(position, minlength=len(image_ids)).astype(np.int32),
                   detections.keypoints[order].reshape(-1, NUM_JOINTS, 3).astype(np.float32),
                   detections.scores[order].astype(np.float32))

    @functools.cached_property
    def starts(self) -> np.ndarray:
        """[I + 1] where each image's people start, and the end."""
        return np.concatenate([[0], np.cumsum(self.people, dtype=np.int64)])

    def image(self, position: int) -> Poses:
        """The poses of the image at ``position``."""
        start, end = self.starts[position], self.starts[position + 1]
        return self.keypoints[start:end], self.scores[start:end]

    def select(self, positions: np.ndarray) -> RowPoses:
        """The poses of the images at ``positions`` only, in that order."""
        people = [np.arange(self.starts[position], self.starts[position + 1]) for position in positions]
        kept = np.concatenate(people) if people else np.zeros(0, dtype=np.int64)
        return RowPoses(self.people[positions], self.keypoints[kept], self.scores[kept])

    def detections(self, image_ids: np.ndarray, category_id: int, source: str) -> Detections:
        """These poses as detections to evaluate on the images ``image_ids``."""
        return Detections(np.repeat(image_ids, self.people), np.full(len(self.scores), category_id),
                          self.keypoints.reshape(len(self.scores), -1).astype(np.float64),
                          self.scores.astype(np.float64), source)


@dataclass(frozen=True, eq=False)
class Golden:
    """A golden: its header, the image ids [I] (sorted) with the sha256 of each file [I, 32] bytes, and
    each row's poses (in the order of ``header.rows``)."""

    header: GoldenHeader
    image_ids: np.ndarray
    image_sha256: np.ndarray
    poses: tuple[RowPoses, ...]

    def digests(self) -> dict[int, str]:
        """image id -> the hex sha256 of its file."""
        return {int(image_id): digest.tobytes().hex()
                for image_id, digest in zip(self.image_ids, self.image_sha256, strict=True)}


def golden_rows(report: Report, path: Path) -> list[Row]:
    """The rows a golden records: every row with predictions; BenchError for a report without any, for a
    sweep's rows (a gate reruns published rows) and for rows that did not score every image."""
    rows = [row for row in report.rows if row.result.behaviour is not None and row.result.role != "smoke"]
    if not rows:
        raise BenchError(f"{path}: no row with predictions on a data set (rows: "
                         f"{', '.join(row.result.name for row in report.rows) or 'none'})")
    for row in rows:
        result = row.result
        if result.role != "published":
            raise BenchError(f"{path}: row {result.name!r} is a {result.role} row; a golden records the "
                             "published rows a gate reruns")
        if result.behaviour.image_ids is not None:
            raise BenchError(f"{path}: row {result.name!r} scored {len(result.behaviour.image_ids)} of the "
                             f"images of {result.subset.dataset}; a golden records a run over all of them")
        if result.behaviour.results_sha256 is None:
            raise BenchError(f"{path}: row {result.name!r} records no sha256 of its predictions; rerun "
                             "reproduce")
    datasets = {row.result.subset.annotations_sha256 for row in rows}
    if len(datasets) > 1:
        raise BenchError(f"{path}: the rows were scored on {len(datasets)} different annotation files")
    return rows


def locate_images(report: Report, path: Path, wanted: Subset,
                  data: DataConfig | None) -> tuple[CrowdPoseDataset, dict[int, str]]:
    """The report's data set (``data``, else where the report's settings found it) and each image's
    sha256, once shown to be the annotation file and the images the report's rows ran on (``wanted``)."""
    if data is None:
        recorded = report.config.settings.get("data", {})
        data = DataConfig(**{key: recorded.get(key) for key in ("data_root", "ann_file", "img_dir")})
    dataset = load_dataset(data.data_root, ann_file=data.ann_file, img_dir=data.img_dir)
    annotations = sha256_of(dataset.ann_file, "annotation file")
    if annotations != wanted.annotations_sha256:
        raise BenchError(f"{dataset.ann_file} (sha256 {annotations[:12]}...) is not the annotation file the "
                         f"report {path} ran on (sha256 {(wanted.annotations_sha256 or '')[:12]}...)")
    digests = image_digests({record["id"]: dataset.image_path(record) for record in dataset.images})
    if image_set_digest(dataset, digests) != wanted.images_digest:
        raise BenchError(f"the images in {dataset.img_dir} are not the ones the report {path} ran on (their "
                         "digest differs from the report's images_digest)")
    return dataset, digests


def golden_from_report(path: Path, data: DataConfig | None = None) -> Golden:
    """The golden of the reproduce report at ``path`` (see the module docstring); BenchError for a report
    that cannot make one."""
    report = load_report(path)
    if report.kind != "reproduce":
        raise BenchError(f"{path}: a {report.kind} report; a golden is made from a reproduce report")
    rows = golden_rows(report, path)
    subset = rows[0].result.subset
    dataset, digests = locate_images(report, path, subset, data)
    gt = load_ground_truth(dataset.ground_truth())
    image_ids = np.array(dataset.image_ids, dtype=np.int64)
    poses = tuple(checked_poses(row, path, gt, image_ids) for row in rows)
    header = GoldenHeader(
        format=FORMAT, version=VERSION, created=report.created, report=str(path), report_digest=report.digest,
        weights=report.config.weights, environment_fingerprint=report.environment.fingerprint_id,
        environment=to_data(report.environment), settings=dict(report.config.settings),
        device=report.config.device, runtime=report.config.runtime, precision=report.config.precision,
        data=GoldenData(subset.dataset, subset.annotations_sha256, subset.images_digest, len(image_ids)),
        rows=tuple(golden_row(row) for row in rows))
    sha256 = np.array([bytes.fromhex(digests[int(image_id)]) for image_id in image_ids], dtype="S32")
    return Golden(header, image_ids, np.frombuffer(sha256.tobytes(), np.uint8).reshape(-1, 32), poses)


def checked_poses(row: Row, path: Path, gt: GroundTruth, image_ids: np.ndarray) -> RowPoses:
    """A row's predictions (kept beside the report) as poses, once they score the row's metrics exactly."""
    result = row.result
    detections = load_detections(recorded_results(result, path), gt)
    poses = RowPoses.from_detections(detections, image_ids)
    stored = poses.detections(image_ids, int(gt.table.category_ids[0]), detections.source)
    metrics = evaluate(gt, stored, result.evaluator.protocol).metrics
    if metrics != result.metrics:
        raise BenchError(f"{path}: row {result.name!r}: its predictions stored as float32 score {metrics}, "
                         f"not the report's {result.metrics}; a golden must give the run's numbers")
    return poses


def golden_row(row: Row) -> GoldenRow:
    """The header entry of one report row."""
    result = row.result
    return GoldenRow(result.name, result.role, result.published_row, result.scales, result.flip,
                     result.evaluator.protocol, result.behaviour.pipeline, result.behaviour.forward,
                     dict(result.metrics), result.behaviour.results_sha256)
