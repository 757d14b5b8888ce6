"""The case matrix of `bench device-check`, read from cases.toml and checked: the profiles, the published
rows, the throughput goals and the pose tolerance against the CPU."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.reading import read_toml
from bench.speed.profile import ProfileConfig
from reference.pipeline import pipeline_config
from reference.precisions import PRECISIONS

DIFFERENCE_KINDS = ("people", "joints")


@dataclass(frozen=True)
class Explanation:
    """Why the device's poses on one sample image differ from the CPU's in one ``kind`` of way."""

    image_id: int
    kind: str
    reason: str


@dataclass(frozen=True)
class Goal:
    """A throughput goal of one profiled case (``label``) at one ``precision``: at least
    ``min_images_per_s`` images/s on the overlapped schedule and, where given, post-processing at most
    ``max_postprocess_vs_network`` of the network time."""

    label: str
    precision: str
    min_images_per_s: float
    max_postprocess_vs_network: float | None = None

    def describe(self, row: dict[str, Any] | None) -> dict[str, str]:
        """``status`` ("met", "not met", "not measured") and a ``detail`` line for the speed row."""
        if row is None:
            return {"status": "not measured", "detail": "no profile of this case and precision"}
        failures = []
        if row["images_per_s"] < self.min_images_per_s:
            failures.append(f"{row['images_per_s']:.1f} images/s < {self.min_images_per_s:g}")
        ratio, most = row["postprocess_vs_network"], self.max_postprocess_vs_network
        if most is not None and (ratio is None or ratio > most):
            failures.append(f"post-processing {ratio} of the network > {most:g}")
        detail = f"{row['images_per_s']:.1f} images/s, post-processing {ratio:.3g} of the network" \
            if ratio is not None else f"{row['images_per_s']:.1f} images/s"
        return {"status": "not met" if failures else "met", "detail": "; ".join(failures) or detail}


@dataclass(frozen=True)
class CaseMatrix:
    """One matrix of cases: profiled batches x precisions on the sample and synthetic ``sizes``
    ((width, height)) at scale 1, and at scales [2, 1] for ``two_scale_batches`` (bounded apart: its
    inputs are 4x larger); the published rows (``reproduce_scales``) run on the sample, the network
    input size of each, time bounds, and the throughput goals judged on the profiles."""

    batches: tuple[int, ...]
    precisions: tuple[str, ...]
    sizes: tuple[tuple[int, int], ...]
    iters: int
    warmup: int
    profile_input_size: int
    reproduce_input_size: int
    reproduce_scales: tuple[tuple[float, ...], ...]
    pytest_timeout_s: float
    reproduce_timeout_s: float
    two_scale_batches: tuple[int, ...] = ()
    goals: tuple[Goal, ...] = ()

    def profile_configs(self, **settings: Any) -> list[ProfileConfig]:
        """The profiles of the matrix (``settings``: device, precision, checkpoint, out_dir): every batch
        on the sample and the synthetic sizes at scale 1, the two-scale batches at scales [2, 1]."""
        common = {"iters": self.iters, "warmup": self.warmup, "input_size": self.profile_input_size,
                  **settings}
        configs = [ProfileConfig(inputs="sample", batch_sizes=self.batches, **common),
                   ProfileConfig(inputs="synthetic", sizes=self.sizes, batch_sizes=self.batches, **common)]
        if self.two_scale_batches:
            configs.append(ProfileConfig(inputs="synthetic", sizes=self.sizes, scales=(2.0, 1.0),
                                         batch_sizes=self.two_scale_batches, **common))
        return configs


@dataclass(frozen=True)
class PoseTolerance:
    """How close the device's poses must be to the CPU's, and the differences explained in advance."""

    joint_tolerance_px: float
    explained: tuple[Explanation, ...]


def load_matrix(path: Path, quick: bool) -> CaseMatrix:
    """The ``[quick]`` or ``[full]`` table of the cases file, checked."""
    table = _table(path, "quick" if quick else "full")
    try:
        matrix = CaseMatrix(  # integers as written (a bool or 1.5 is no batch size): the profile checks them
            batches=tuple(table["batches"]),
            precisions=tuple(str(name) for name in table["precisions"]),
            sizes=tuple(_size(text) for text in table["sizes"]),
            iters=table["iters"], warmup=table["warmup"],
            profile_input_size=table["profile_input_size"],
            reproduce_input_size=table["reproduce_input_size"],
            reproduce_scales=tuple(tuple(float(s) for s in scales) for scales in table["reproduce_scales"]),
            pytest_timeout_s=float(table["pytest_timeout_s"]),
            reproduce_timeout_s=float(table["reproduce_timeout_s"]),
            two_scale_batches=tuple(table.get("two_scale_batches", [])),
            goals=tuple(Goal(str(goal["label"]), str(goal["precision"]), float(goal["min_images_per_s"]),
                             None if goal.get("max_postprocess_vs_network") is None
                             else float(goal["max_postprocess_vs_network"]))
                        for goal in table.get("goals", [])))
    except (KeyError, TypeError, ValueError) as error:
        raise BenchError(f"{path} [{'quick' if quick else 'full'}]: missing or bad entry: {error}") from None
    unknown = sorted(set(matrix.precisions) - set(PRECISIONS))
    if unknown or not matrix.reproduce_scales:
        raise BenchError(f"{path}: precisions must be among {PRECISIONS} (unknown: {unknown}), and "
                         "reproduce_scales not empty")
    try:
        _check_runs(matrix)
    except BenchError as error:
        raise BenchError(f"{path} [{'quick' if quick else 'full'}]: {error}") from None
    return matrix


def _check_runs(matrix: CaseMatrix) -> None:
    """The matrix's profiles and reproduce runs under the checks `bench profile` and `bench reproduce`
    make (BenchError), so that a bad entry stops device-check before its first step, not after the gpu
    tests ran."""
    matrix.profile_configs()
    for scales in matrix.reproduce_scales:
        try:
            pipeline_config(scales, input_size=matrix.reproduce_input_size)
        except (TypeError, ValueError) as error:
            raise BenchError(f"reproduce settings: {error}") from None


def load_pose_tolerance(path: Path) -> PoseTolerance:
    """The ``[poses]`` table of the cases file: the joint tolerance and the explained differences."""
    table = _table(path, "poses")
    try:
        explained = tuple(Explanation(int(entry["image_id"]), str(entry["kind"]), str(entry["reason"]))
                          for entry in table.get("explained", []))
        tolerance = PoseTolerance(float(table["joint_tolerance_px"]), explained)
    except (KeyError, TypeError, ValueError) as error:
        raise BenchError(f"{path} [poses]: missing or bad entry: {error}") from None
    bad = [entry for entry in explained if entry.kind not in DIFFERENCE_KINDS]
    if bad:
        raise BenchError(f"{path} [poses]: explained kinds must be one of {DIFFERENCE_KINDS}, got {bad}")
    return tolerance


def _table(path: Path, name: str) -> dict[str, Any]:
    document = read_toml(path, "device-check cases")
    if not isinstance(document.get(name), dict):
        raise BenchError(f"{path}: no [{name}] table")
    return document[name]


def _size(text: str) -> tuple[int, int]:
    width, _, height = str(text).lower().partition("x")
    return int(width), int(height)
