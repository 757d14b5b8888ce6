"""What `bench reproduce` is asked to do: one frozen record, checked once when it is made.

Every setting a run depends on is a field, recorded verbatim in the report. A bad value raises a
BenchError naming the setting (exit status 2 from the command line), so a run never starts on input it
would trip over later.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.accuracy.expected import DEFAULT_EXPECTED
from bench.accuracy.sweep import Sweep
from bench.data.dataset import DataConfig
from bench.errors import BenchError
from bench.evaluation.bootstrap import BootstrapSettings
from bench.limits import LARGEST_INTEGER, integer_problem
from bench.reports.folders import DEFAULT_OUT
from bench.reports.records import ConfigFile
from bench.reports.writing import check_label
from bench.runtimes.export import default_cache_dir
from bench.runtimes.names import DEFAULT_CALIBRATION_IMAGES, MAX_CALIBRATION_IMAGES, runtime_problem
from bench.schedule import Schedule
from reference.pipeline import InputLimits, pipeline_config
from reference.precisions import TORCH_RUNTIME

MAX_THREADS = 256
"""Most CPU threads per process (``threads``): above any machine's cores; 100,000 crashed OpenMP."""


@dataclass(frozen=True)
class ReproduceConfig:
    """Everything a reproduce run depends on; recorded verbatim in its report.

    ``scales`` picks published rows by their test scales (None: all rows). ``pipeline_options`` are
    extra ``reference.pipeline.PipelineConfig`` options (e.g. ``stage_aggregation="2020"``; under a
    ``sweep``, the base its variants' options override). ``bootstrap`` draws every scored row's
    intervals (``resamples=0``: none). ``threads`` is the CPU thread count of every process (None: all
    cores), also under torchrun, which would otherwise give each rank one thread: CPU float results
    depend on it, and ranks must match a single process. ``sample``: run the bundled sample as a
    smoke run when a published row is skipped. ``config_file``: the ``--config`` file the settings
    came from, if any. ``machine``: the machine's name in the report (None: its host name).
    ``runtime`` runs the network of every row (``bench.runtimes``; a speed variant's float32 reference
    runs on torch); int8 calibrates on the first ``calibration_images`` images of the data set (fewer
    when it has fewer). ``network_cache_dir`` keeps exported and quantized networks.
    ``variant_references``: also predict each speed variant's float32 reference, for its AP change (a
    gate's rerun does not: it compares with its golden, and the reference would double its forwards).
    """

    checkpoint: str | None = None
    data: DataConfig = field(default_factory=DataConfig)
    scales: tuple[tuple[float, ...], ...] | None = None
    device: str = "auto"
    out: str = str(DEFAULT_OUT)
    strict: bool = False
    batch_size: int = 1
    workers: int = 2
    threads: int | None = None
    precision: str = "float32"
    pipeline_options: Mapping[str, Any] = field(default_factory=dict)
    cache_dir: str | None = None
    checkpoint_cache_dir: str | None = None
    expected: str = str(DEFAULT_EXPECTED)
    sample: bool = True
    sweep: Sweep | None = None
    input_limits: InputLimits = field(default_factory=InputLimits)
    bootstrap: BootstrapSettings = field(default_factory=BootstrapSettings)
    config_file: ConfigFile | None = None
    machine: str | None = None
    runtime: str = TORCH_RUNTIME
    calibration_images: int = DEFAULT_CALIBRATION_IMAGES
    network_cache_dir: str | None = None
    variant_references: bool = True

    def __post_init__(self) -> None:
        Schedule(self.batch_size, self.workers)  # checks --batch-size and workers against their limits
        problem = next(filter(None, self._integer_problems()), None) or runtime_problem(self.runtime,
                                                                                      self.precision)
        if problem:
            raise BenchError(problem)
        own = sorted({"scales", "flip", "precision", "runtime"} & set(self.pipeline_options))
        if own:
            raise BenchError(f"pipeline options must not set {own}: scales and flip come from the published "
                             "rows (scales picks rows), precision and runtime from their own settings")
        try:
            pipeline_config((1,), True, precision=self.precision, **self.base_options)
        except (TypeError, ValueError) as error:
            raise BenchError(f"pipeline options: {error}") from None
        for scales in self.scales or ():  # as every pipeline checks its scales (profile --scales too)
            try:
                pipeline_config(scales)
            except (TypeError, ValueError) as error:
                raise BenchError(f"--scales {','.join(f'{scale:g}' for scale in scales)}: {error}") from None
        if self.data.subset is not None and self.data.limit is not None:
            raise BenchError("--limit takes the first N images and --subset draws N at random; give one")
        if self.sweep is not None and self.scales is not None:
            raise BenchError("scales picks published rows and a sweep replaces them by its variants; "
                             "give one")
        check_label(self.label, "--sweep file name" if self.sweep else "--scales")

    def _integer_problems(self) -> Iterator[str | None]:
        """The problem of each integer setting but the schedule's, or None where it is fine."""
        if self.threads is not None:
            yield integer_problem("threads", self.threads, 1, MAX_THREADS)
        yield integer_problem("--calibration-images", self.calibration_images, 1, MAX_CALIBRATION_IMAGES)
        if self.data.limit is not None:
            yield integer_problem("--limit", self.data.limit, 1, LARGEST_INTEGER)
        if self.data.subset is not None:
            yield integer_problem("--subset", self.data.subset, 1, LARGEST_INTEGER)
        yield integer_problem("--subset-seed", self.data.subset_seed, 0, LARGEST_INTEGER)
        for image_id in self.data.image_ids or ():
            yield integer_problem("image_ids entry", image_id, 0, LARGEST_INTEGER)

    @property
    def label(self) -> str:
        """The report's label (its part of the report's file names): the sweep file's name, else the
        picked scales ("" for all published rows)."""
        if self.sweep is not None:
            return "sweep-" + Path(self.sweep.path).stem
        return "-".join("s" + "+".join(f"{s:g}" for s in scales) for scales in (self.scales or ()))

    @property
    def base_options(self) -> dict[str, Any]:
        """The pipeline options every row shares: the runtime and the ``[reproduce.pipeline]`` options."""
        return {"runtime": self.runtime, **self.pipeline_options}

    @property
    def network_cache_root(self) -> Path:
        """Where exported and quantized networks are kept: ``network_cache_dir``, else under the user's
        cache folder."""
        return Path(self.network_cache_dir) if self.network_cache_dir else default_cache_dir()

    @property
    def schedule(self) -> Schedule:
        """How the images flow through the pipeline: ``batch_size`` images per batch, ``workers`` readers."""
        return Schedule(self.batch_size, self.workers)

    @property
    def prediction_cache_root(self) -> Path:
        """Where per-image predictions are cached: ``cache_dir``, else under the user's cache folder."""
        if self.cache_dir:
            return Path(self.cache_dir)
        return Path.home() / ".cache" / "hhrnet-crowdpose-bench" / "predictions"
