"""The case matrix of `bench device-check`, read from cases.toml and checked: the profiles, the runtime
cases profiled beside them, the published rows, the throughput goals and the pose tolerance against the
CPU."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from bench.errors import BenchError
from bench.reading import read_toml
from bench.runtimes.names import runtime_problem
from bench.speed.profile import ProfileConfig
from reference.pipeline import pipeline_config
from reference.precisions import PRECISIONS, TORCH_RUNTIME

DIFFERENCE_KINDS = ("people", "joints")
T = TypeVar("T")


@dataclass(frozen=True)
class Explanation:
    """Why the device's poses on one sample image differ from the CPU's in one ``kind`` of way."""

    image_id: int
    kind: str
    reason: str


@dataclass(frozen=True)
class RuntimeCase:
    """A runtime profiled at one ``precision`` beside the matrix, in the same run, on one synthetic
    workload: ``size`` (width, height) at ``batch``, scale 1 with flip (TensorRT and ONNX Runtime's CUDA
    provider on the goals' workload, so that one run compares them with PyTorch)."""

    runtime: str
    precision: str
    size: tuple[int, int]
    batch: int

    def __post_init__(self) -> None:
        problem = runtime_problem(self.runtime, self.precision)  # any device: a CPU reads the file too
        if problem:
            raise ValueError(problem)

    @property
    def name(self) -> str:
        return f"{self.runtime} {self.precision}"


@dataclass(frozen=True)
class Goal:
    """A throughput goal of one profiled case (``label``) on ``runtime`` at ``precision``, each bound where
    given: at least ``min_images_per_s`` images/s on the overlapped schedule, post-processing at most
    ``max_postprocess_vs_network`` of the network time, and at least ``min_ratio`` times the images/s of
    the same case on another runtime and precision (``relative_to``: (runtime, precision))."""

    label: str
    precision: str
    min_images_per_s: float | None = None
    max_postprocess_vs_network: float | None = None
    runtime: str = TORCH_RUNTIME
    relative_to: tuple[str, str] | None = None
    min_ratio: float | None = None

    def __post_init__(self) -> None:
        problems = [runtime_problem(runtime, precision) for runtime, precision in self.workloads]
        if (self.relative_to is None) != (self.min_ratio is None):
            problems.append("relative_to and min_ratio go together")
        if self.min_images_per_s is None and self.min_ratio is None:
            problems.append("needs min_images_per_s or min_ratio")
        if any(problems):
            raise ValueError("; ".join(filter(None, problems)))

    @property
    def workloads(self) -> tuple[tuple[str, str], ...]:
        """(runtime, precision) of the case judged and, for a relative goal, of the case it is relative to."""
        return ((self.runtime, self.precision), *((self.relative_to,) if self.relative_to else ()))

    def describe(self, row: dict[str, Any] | None, baseline: dict[str, Any] | None = None) -> dict[str, str]:
        """``status`` ("met", "not met", "not measured") and a ``detail`` line for the speed row of the
        case and, for a relative goal, the speed row of the case it is relative to (``baseline``)."""
        rows = (row, baseline)[:len(self.workloads)]
        unmeasured = [f"no profile of this case on {runtime} at {precision}"
                      for (runtime, precision), found in zip(self.workloads, rows, strict=True) if not found]
        if row is None or unmeasured:
            return {"status": "not measured", "detail": "; ".join(unmeasured)}
        speedup = row["images_per_s"] / baseline["images_per_s"] if self.relative_to and baseline else None
        failures = self._failures(row, speedup)
        return {"status": "not met" if failures else "met",
                "detail": "; ".join(failures) or self._measured(row, speedup)}

    def _failures(self, row: dict[str, Any], speedup: float | None) -> list[str]:
        failures = []
        if self.min_images_per_s is not None and row["images_per_s"] < self.min_images_per_s:
            failures.append(f"{row['images_per_s']:.1f} images/s < {self.min_images_per_s:g}")
        ratio, most = row["postprocess_vs_network"], self.max_postprocess_vs_network
        if most is not None and (ratio is None or ratio > most):
            failures.append(f"post-processing {ratio} of the network > {most:g}")
        if self.min_ratio is not None and speedup is not None and speedup < self.min_ratio:
            failures.append(f"{speedup:.2f}x {self._baseline} < {self.min_ratio:g}x")
        return failures

    def _measured(self, row: dict[str, Any], speedup: float | None) -> str:
        parts = [f"{row['images_per_s']:.1f} images/s"]
        if row["postprocess_vs_network"] is not None:
            parts.append(f"post-processing {row['postprocess_vs_network']:.3g} of the network")
        if speedup is not None:
            parts.append(f"{speedup:.2f}x {self._baseline}")
        return ", ".join(parts)

    @property
    def _baseline(self) -> str:
        return " ".join(self.relative_to or ())


@dataclass(frozen=True)
class CaseMatrix:
    """One matrix of cases: profiled batches x precisions on the sample and synthetic ``sizes``
    ((width, height)) at scale 1, and at scales [2, 1] for ``two_scale_batches`` (bounded apart: its
    inputs are 4x larger); the published rows (``reproduce_scales``) run on the sample, the network
    input size of each, time bounds, the throughput goals judged on the profiles, and the runtime cases
    profiled beside the matrix in the same run."""

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
    runtime_cases: tuple[RuntimeCase, ...] = ()

    def profile_configs(self, **settings: Any) -> list[ProfileConfig]:
        """The profiles of the matrix (``settings``: device, precision, runtime, checkpoint, out_dir, ...):
        every batch on the sample and the synthetic sizes at scale 1, the two-scale batches at scales
        [2, 1]."""
        common = self._common(settings)
        configs = [ProfileConfig(inputs="sample", batch_sizes=self.batches, **common),
                   ProfileConfig(inputs="synthetic", sizes=self.sizes, batch_sizes=self.batches, **common)]
        if self.two_scale_batches:
            configs.append(ProfileConfig(inputs="synthetic", sizes=self.sizes, scales=(2.0, 1.0),
                                         batch_sizes=self.two_scale_batches, **common))
        return configs

    def runtime_profile_config(self, case: RuntimeCase, **settings: Any) -> ProfileConfig:
        """The profile of one runtime case (``settings``: device, checkpoint, out_dir, ...): its
        synthetic size and batch at scale 1 on its runtime and precision, the matrix's iterations and
        input size."""
        return ProfileConfig(inputs="synthetic", sizes=(case.size,), batch_sizes=(case.batch,),
                             runtime=case.runtime, precision=case.precision, **self._common(settings))

    def _common(self, settings: dict[str, Any]) -> dict[str, Any]:
        return {"iters": self.iters, "warmup": self.warmup, "input_size": self.profile_input_size, **settings}


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
            goals=_entries(table, "goals", _goal),
            runtime_cases=_entries(table, "runtime_cases", _runtime_case))
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
    for case in matrix.runtime_cases:
        matrix.runtime_profile_config(case)
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


def _entries(table: dict[str, Any], key: str, read: Callable[[dict[str, Any]], T]) -> tuple[T, ...]:
    """Each ``[[key]]`` entry of the table, read; a bad one (ValueError) is named by its key, position and
    content."""
    entries = []
    for index, entry in enumerate(table.get(key, []), 1):
        try:
            entries.append(read(entry))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{key} entry {index} {entry}: {error}") from None
    return tuple(entries)


def _goal(entry: dict[str, Any]) -> Goal:
    """A ``[[goals]]`` entry; ``runtime`` is torch unless given, ``relative_to`` an inline table
    ``{runtime = ..., precision = ...}``."""
    relative_to = entry.get("relative_to")
    return Goal(str(entry["label"]), str(entry["precision"]), _optional_float(entry, "min_images_per_s"),
                _optional_float(entry, "max_postprocess_vs_network"),
                str(entry.get("runtime", TORCH_RUNTIME)),
                None if relative_to is None else (str(relative_to["runtime"]), str(relative_to["precision"])),
                _optional_float(entry, "min_ratio"))


def _runtime_case(entry: dict[str, Any]) -> RuntimeCase:
    """A ``[[runtime_cases]]`` entry (its batch as written: the profile checks it)."""
    return RuntimeCase(str(entry["runtime"]), str(entry["precision"]), _size(entry["size"]), entry["batch"])


def _optional_float(entry: dict[str, Any], key: str) -> float | None:
    return None if entry.get(key) is None else float(entry[key])


def _size(text: str) -> tuple[int, int]:
    width, _, height = str(text).lower().partition("x")
    return int(width), int(height)
