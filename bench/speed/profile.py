"""Per-stage latency profile of the HigherHRNet + AE pipeline on this machine: the schedule that
`bench reproduce` runs, timed.

Every measured network batch runs the runner's schedule (``bench.accuracy.runner.run_schedule``, the
one ``bench reproduce`` predicts with), observed by one ``StageTimer``: ``read_image`` (JPEG file to
RGB, in the worker processes), then the pipeline's own stages ``preprocess``, ``to_device``,
``forward_x<scale>`` (one network call per scale, flip test included), ``aggregate``, the grouping
stages ``nms_topk``, ``match``, ``adjust``, ``refine`` (person scores are part of ``adjust``) and
``to_image`` (mapping back to image pixels), and ``end_to_end``, the wall time the schedule spends per
batch. By default the schedule is ``overlapped``, as `bench reproduce` runs it: images are read ahead
in worker processes and each batch's decoding half runs in a thread while the next batch goes through
the network, so stages overlap and ``end_to_end`` is less than their sum (images/s is what a user's
run gets). ``serial`` runs every stage one after the other in this process: each stage's latency
without overlap, and ``end_to_end`` their sum. ``evaluate`` is timed apart, on the bundled sample's
ground truth.

With deterministic synthetic weights the network output is noise, and grouping noise is both slow
and meaningless (hundreds of candidates per image), so the pipeline is handed realistic rendered maps
(``bench.speed.synthetic_maps``) of the aggregated maps' size in place of the network's, through its
``replace_maps`` injection point; the report says so. ``maps="broad"`` runs the "fan-in" weights instead
(seed 5) and decodes their own broad maps, where many joints are missing and refine does real work.
With a checkpoint the pipeline decodes the network's own output.

Measured batches continue until at least ``iters`` were made and their ``end_to_end`` times add up
to at least ``min_time_s`` seconds (as MLPerf's minimum duration; warm-up and evaluation not counted),
and stop at ``MAX_ITERATIONS`` whatever the time. Every stage keeps its raw samples. `bench profile`
calibrates by default as pytest-benchmark and asv do: at least ``DEFAULT_ITERS`` batches and
``DEFAULT_MIN_TIME_S`` seconds of them, enough samples for `bench compare` to judge a pair.

Each report records how steady the machine was (``bench.reports.schema.Stability``): the load averages
before the profile and around the case's batches, the CPU clock, the cores the profile itself used,
and each stage's coefficient of variation; a case measured on an unsteady machine (``stability_of``)
is named in a ``warning:`` line on stderr as soon as it is measured, as pyperf does, and `bench
compare` leaves it undecided ("unstable") instead of calling it faster or slower.

One report is written per case (input size and batch size), so that ``bench compare`` can line up
the same case across machines.
"""

from __future__ import annotations

import dataclasses
import math
import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from bench import atomic
from bench.checkpoint import resolve_checkpoint
from bench.data.images import read_image
from bench.data.sample import SAMPLE_GT, sample_images
from bench.devices import resolve_device
from bench.errors import BenchError
from bench.evaluation import evaluate
from bench.evaluation.results import people_to_results
from bench.limits import integer_problem
from bench.reading import read_json
from bench.reports.environment import Environment, machine_name_problem
from bench.reports.folders import DEFAULT_OUT
from bench.reports.machine import cpu_mhz, load_average, process_cpu_seconds, this_environment
from bench.reports.records import ConfigFile, NetworkBuild, ProfileRecord
from bench.reports.schema import Memory, Report, Stability, Throughput
from bench.reports.speed_verdicts import min_samples
from bench.reports.stats import (
    CV_LIMIT,
    END_TO_END,
    StageStats,
    steadiness,
    unstable_stages,
)
from bench.reports.writing import check_name, new_report, write_report
from bench.runtimes.available import check_runtime
from bench.runtimes.build import build_network
from bench.runtimes.export import default_cache_dir
from bench.runtimes.names import DEFAULT_CALIBRATION_IMAGES, MAX_CALIBRATION_IMAGES, runtime_problem
from bench.schedule import ImageJob, LoadedBatch, Network, Schedule, image_loader, run_schedule
from bench.speed.network_maps import BROAD_FILL, BROAD_SEED
from bench.speed.options import (
    DEFAULT_ITERS,
    DEFAULT_MIN_TIME_S,
    DEFAULT_SIZES,
    INPUT_KINDS,
    MAX_IMAGE_SIDE,
    MAX_ITERATIONS,
    MAX_MIN_TIME_S,
    MAX_WARMUP,
    SCHEDULES,
)
from bench.speed.synthetic_maps import SyntheticMapsConfig, render_maps
from bench.speed.timer import StageTimer
from bench.weights import Weights
from reference.pipeline import (
    DEFAULT_LIMITS,
    MapsReplacement,
    NetworkMaps,
    PipelineConfig,
    Poses,
    Predictor,
    input_limit_problem,
    pipeline_config,
)
from reference.precisions import TORCH_RUNTIME

# what grouping decodes without a checkpoint: rendered peaky maps in place of the noise of the fixtures'
# weights, or the broad maps of the fan-in weights' own output (many joints missing, refine does real work)
MAP_KINDS = ("rendered", "broad")
TRACE_ITERATIONS = 3
SYNTHETIC_JPEG_QUALITY = 95
SYNTHETIC_WEIGHTS = {"rendered": Weights.synthetic("deterministic", seed=0),
                     "broad": Weights.synthetic(BROAD_FILL, seed=BROAD_SEED)}
LOAD_WINDOW_S = 60.0
"""Time constant of the 1-minute load average (Linux: exp(-5 s / 60 s) decay per 5-second tick)."""
LOAD_NOISE = 0.5
"""Change of the 1-minute load average taken as noise, whatever the case's length: the kernel counts
the runnable threads once per 5-second tick with weight 0.08, and at that instant several of the
profile's own threads (network, decoding, image workers) may be runnable at once."""
Load = tuple[float, float, float]
"""The 1-, 5- and 15-minute load averages."""




@dataclass(frozen=True)
class ProfileConfig:
    """What `bench profile` measures.

    ``sizes`` are (width, height) of the synthetic input images (the first sample image resized, so
    reading costs what a photo costs); ``batch_sizes`` are profiled one after the other; ``trace``
    names a Chrome-trace file for a few batches of the first case. Each case measures at least
    ``iters`` batches and at least ``min_time_s`` seconds of them (at most ``MAX_ITERATIONS``); the
    command's defaults are ``DEFAULT_ITERS`` and ``DEFAULT_MIN_TIME_S`` (these fields' defaults are a
    quick run's, too short for `bench compare` to judge: the profile warns).
    ``schedule`` is "overlapped" (as `bench reproduce` runs, with ``workers`` reading images ahead) or
    "serial" (one stage at a time). The network settings are validated as the pipeline's own
    (``pipeline``). ``machine`` names the machine in the reports (default: its host name). ``runtime``
    runs the network (``bench.runtimes``); int8 calibrates on the first ``calibration_images`` sample
    images; ``network_cache_dir`` keeps exported and quantized networks (default: the user's cache).
    """

    device: str = "auto"
    scales: tuple[float, ...] = (1.0,)
    batch_sizes: tuple[int, ...] = (1,)
    iters: int = 3
    warmup: int = 1
    min_time_s: float = 0.0
    inputs: str = "sample"
    sizes: tuple[tuple[int, int], ...] = DEFAULT_SIZES
    checkpoint: str | None = None
    precision: str = "float32"
    cudnn_benchmark: bool = False
    flip: bool = True
    input_size: int = 512
    trace: Path | None = None
    out_dir: Path = DEFAULT_OUT
    maps: str = "rendered"
    schedule: str = "overlapped"
    workers: int = 2
    config_file: ConfigFile | None = None
    machine: str | None = None
    runtime: str = TORCH_RUNTIME
    calibration_images: int = DEFAULT_CALIBRATION_IMAGES
    network_cache_dir: str | None = None

    def __post_init__(self) -> None:
        for checks in (self._problems, self._input_problems):  # the input limits need valid settings
            problems = list(dict.fromkeys(filter(None, checks())))
            if problems:
                raise BenchError("; ".join(problems))

    def _problems(self) -> Iterator[str | None]:
        """Every problem of the settings (None where a check passed)."""
        if self.maps not in MAP_KINDS:
            yield f"maps must be one of {MAP_KINDS}, got {self.maps!r}"
        if self.maps != "rendered" and self.checkpoint is not None:
            yield "broad maps apply only without a checkpoint (a checkpoint's maps are its own)"
        if self.inputs not in INPUT_KINDS:
            yield f"--inputs must be one of {INPUT_KINDS}, got {self.inputs!r}"
        if self.schedule not in SCHEDULES:
            yield f"--schedule must be one of {SCHEDULES}, got {self.schedule!r}"
        if self.machine is not None:
            yield machine_name_problem(self.machine)
        yield integer_problem("iters", self.iters, 1, MAX_ITERATIONS)
        yield integer_problem("warmup", self.warmup, 0, MAX_WARMUP)
        if not 0 <= self.min_time_s <= MAX_MIN_TIME_S:
            yield f"--min-time must be in [0, {MAX_MIN_TIME_S:g}] seconds, got {self.min_time_s}"
        if not self.batch_sizes or not self.sizes:
            yield "--batch-size and --sizes need at least one value each"
        for batch in self.batch_sizes:
            try:
                Schedule(batch, self.workers)  # the schedule's limits of --batch-size and workers
            except BenchError as error:
                yield str(error)
        for width, height in self.sizes:
            yield (integer_problem("--sizes width", width, 1, MAX_IMAGE_SIDE)
                   or integer_problem("--sizes height", height, 1, MAX_IMAGE_SIDE))
        yield integer_problem("--calibration-images", self.calibration_images, 1, MAX_CALIBRATION_IMAGES)
        runtime = runtime_problem(self.runtime, self.precision)
        yield runtime
        try:
            if runtime is None:  # else the pipeline would say it again
                self.pipeline  # noqa: B018 (the network settings are checked by the pipeline's own rules)
        except (TypeError, ValueError) as error:
            yield f"pipeline settings: {error}"

    def _input_problems(self) -> Iterator[str | None]:
        """Why an image a case feeds is over the input limits: found only on reading it otherwise, after
        earlier cases ran and its maps were rendered."""
        pipeline = self.pipeline
        settings = f"input_size {pipeline.input_size}, --scales {','.join(f'{s:g}' for s in pipeline.scales)}"
        for width, height in self._image_sizes():
            problem = input_limit_problem(height, width, pipeline.input_size, pipeline.scales, DEFAULT_LIMITS)
            yield problem and f"{settings}: {problem}"

    def _image_sizes(self) -> Sequence[tuple[int, int]]:
        """(width, height) of the images the cases feed: the synthetic sizes, or the sample's own."""
        if self.inputs == "synthetic":
            return self.sizes
        images = read_json(SAMPLE_GT, "sample ground truth")["images"]
        return [(image["width"], image["height"]) for image in images]

    @property
    def pipeline(self) -> PipelineConfig:
        """The pipeline settings every case runs with."""
        return pipeline_config(self.scales, self.flip, input_size=self.input_size, precision=self.precision,
                               runtime=self.runtime)

    def runner_schedule(self, batch: int) -> Schedule:
        """The runner's schedule for one case's batch size."""
        if self.schedule == "serial":
            return Schedule(batch, workers=0, overlap=False)
        return Schedule(batch, workers=self.workers, overlap=True)


@dataclass(frozen=True)
class Case:
    """One measured setting: iteration i feeds ``batch`` copies of ``images[i % len(images)]``."""

    inputs: str
    images: tuple[Path, ...]
    image_ids: tuple[int | None, ...]
    size: tuple[int, int] | None
    batch: int

    def label(self, scales: Sequence[float], flip: bool) -> str:
        size = "natural" if self.size is None else f"{self.size[0]}x{self.size[1]}"
        scale_text = "+".join(f"{scale:g}" for scale in scales)
        return f"{self.inputs}-{size}-b{self.batch}-s{scale_text}-{'flip' if flip else 'noflip'}"


def run_profile(
    config: ProfileConfig, model: nn.Module | None = None
) -> list[tuple[Report, dict[str, Path]]]:
    """Profile every case of ``config`` and write one report per case into ``config.out_dir``.

    ``model`` replaces HigherHRNet-W32 (for tests with a tiny network); its weights are "provided".
    A case measured on an unsteady machine is named in ``warning:`` lines on stderr as soon as it is measured.
    Returns each report with the paths written for it.
    """
    load_start = load_average()  # before the profile adds its own work
    device = resolve_device(config.device)
    runtime = check_runtime(config.runtime, config.precision, device)  # a runtime that cannot run: exit 2
    atomic.check_writable_folder(config.out_dir, "--out")
    if config.trace is not None:
        atomic.check_writable_file(config.trace, "--trace")
        check_name(config.trace.name, "--trace")
    saved_benchmark = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = config.cudnn_benchmark
    try:
        if model is not None:
            network, weights = model, Weights.provided(model)
        else:
            weights = (SYNTHETIC_WEIGHTS[config.maps] if config.checkpoint is None
                       else Weights.from_checkpoint(resolve_checkpoint(config.checkpoint)))
            network = weights.build_model()
        built = build_network(network, weights.cache_id, config.pipeline, device,
                              Path(config.network_cache_dir or default_cache_dir()),
                              sample_images()[0][:config.calibration_images])
        predictor = Predictor.from_config(built.module, config.pipeline, device=device,
                                          batch_size=max(config.batch_sizes))
        environment = this_environment(config.machine, runtime)
        results = []
        with tempfile.TemporaryDirectory(prefix="bench-profile-") as scratch:
            for index, case in enumerate(profile_cases(config, Path(scratch))):
                trace = config.trace if index == 0 else None
                report = profile_case(predictor, case, config, weights, environment, trace,
                                      load_start=load_start, network=built.build)
                for line in stability_warnings(report):
                    print(f"warning: {report.config.label}: {line}", file=sys.stderr)
                results.append((report, write_report(report, config.out_dir)))
        return results
    finally:
        torch.backends.cudnn.benchmark = saved_benchmark


def profile_cases(config: ProfileConfig, scratch: Path) -> list[Case]:
    """The cases of ``config``; synthetic inputs are JPEG files written into ``scratch``."""
    if config.inputs == "sample":
        images, ids = sample_images()
        return [Case("sample", images, ids, None, batch) for batch in config.batch_sizes]
    source = read_image(sample_images()[0][0])
    cases = []
    for width, height in config.sizes:
        resized = cv2.resize(source, (width, height), interpolation=cv2.INTER_AREA)
        ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(resized, cv2.COLOR_RGB2BGR),
                                   [cv2.IMWRITE_JPEG_QUALITY, SYNTHETIC_JPEG_QUALITY])
        if not ok:
            raise BenchError(f"could not encode a {width}x{height} synthetic JPEG")
        path = atomic.write_bytes(scratch / f"synthetic-{width}x{height}.jpg", encoded.tobytes())
        cases += [Case("synthetic", (path,), (None,), (width, height), batch) for batch in config.batch_sizes]
    return cases


def profile_case(predictor: Predictor, case: Case, config: ProfileConfig, weights: Weights,
                 environment: Environment, trace: Path | None = None, *,
                 load_start: Load | None = None, network: NetworkBuild | None = None) -> Report:
    """Warm up, measure ``case`` until ``measured_enough`` (watching the machine's load and clock),
    time evaluation, build the report; ``network``: how the predictor's runtime network was built (its
    time is none of the stages')."""
    device = predictor.device
    # broad maps are another workload than rendered ones: the label (and so the file name) says so
    label = case.label(config.scales, config.flip) + ("" if config.maps == "rendered" else f"-{config.maps}")
    rendered = rendered_maps(predictor, case) if weights.kind != "checkpoint" and config.maps == "rendered" \
        else None
    timer = StageTimer(warmup=config.warmup, device=device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    load_before, mhz_before, cpu_before = load_average(), cpu_mhz(), process_cpu_seconds()
    started = time.perf_counter()
    predictions = run_case(predictor, case, config, timer, rendered)
    wall_s = time.perf_counter() - started
    own_cores = (process_cpu_seconds() - cpu_before) / wall_s if wall_s > 0 else None
    load_after, mhz_after = load_average(), cpu_mhz()
    evaluation = time_evaluation(timer, case, predictions, config)
    if trace is not None:
        write_trace(predictor, case, config, rendered, trace)
    stats = timer.stats()
    measured = stats[END_TO_END].count
    total_s = sum(timer.samples(END_TO_END)) / 1000.0
    record = ProfileRecord(
        label=label, device=str(device),
        device_name=torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        precision=config.precision, weights=weights.to_record(), inputs=case.inputs,
        images=tuple(path.name for path in case.images), image_size=case.size, batch=case.batch,
        scales=tuple(config.scales), flip=config.flip, iters=config.iters, warmup=config.warmup,
        min_time_s=config.min_time_s, cudnn_benchmark=config.cudnn_benchmark,
        postprocess_input=_postprocess_source(rendered is not None, config.maps, weights),
        evaluation=evaluation, trace=None if trace is None else str(trace),
        pipeline=predictor.config.to_dict(), settings=dataclasses.asdict(config), schedule=config.schedule,
        config_file=config.config_file, runtime=config.runtime, network=network,
    )
    stability = stability_of(stats, load_start=load_start, load_before=load_before, load_after=load_after,
                             wall_s=wall_s, own_cores=own_cores, cpu_mhz_before=mhz_before,
                             cpu_mhz_after=mhz_after, usable_cores=environment.hardware.usable_cores,
                             input_cycle=len(case.images))
    return new_report(
        "profile", record, environment=environment, timings=stats,
        throughput=Throughput(images_per_s=case.batch * measured / total_s,
                              iterations_per_s=measured / total_s, batch=case.batch),
        memory=peak_memory(device), stability=stability,
    )


def stability_of(timings: dict[str, StageStats], *, load_start: Load | None, load_before: Load | None,
                 load_after: Load | None, wall_s: float, own_cores: float | None,
                 cpu_mhz_before: float | None = None, cpu_mhz_after: float | None = None,
                 usable_cores: int | None = None, cv_limit: float = CV_LIMIT,
                 input_cycle: int = 1) -> Stability:
    """The stability record of one case whose batches cycled through ``input_cycle`` images: its
    conditions, the stages varying above ``cv_limit`` within each image and the load warnings
    (``load_warnings``)."""
    return Stability(
        load_start=load_start, load_before=load_before, load_after=load_after, wall_s=wall_s,
        own_cores=own_cores, cpu_mhz_before=cpu_mhz_before, cpu_mhz_after=cpu_mhz_after,
        usable_cores=usable_cores, cv_limit=cv_limit, input_cycle=input_cycle,
        unstable_stages=tuple(unstable_stages(timings, cv_limit, input_cycle)),
        warnings=tuple(load_warnings(load_start, load_before, load_after, wall_s, own_cores, usable_cores)))


def load_warnings(load_start: Load | None, load_before: Load | None, load_after: Load | None, wall_s: float,
                  own_cores: float | None, usable_cores: int | None) -> list[str]:
    """Why the machine's load makes a case's timings unreliable (1-minute load averages; empty: it
    does not), two heuristics:

    * busy: the load average before the profile (``load_start``, before it added its own work) was
      above the usable core count: other work competed for every core;
    * rose: over the case's ``wall_s`` seconds the 1-minute average moves towards the mean number of
      runnable threads with weight ``w = 1 - exp(-wall_s / 60)``. Whatever of ``load_before`` was other
      work going on (at most all of it) or the profile's own earlier work fading, the average after
      the case is at most ``load_before + own_cores w`` without new work. Where ``load_after`` is above
      that by more than ``w`` times half the usable cores (at least 1) plus ``LOAD_NOISE``, other work
      started during the case: its first and last batches ran on different machines. ``own_cores``
      (CPU time over wall time) undercounts threads that wait for a core, which the margin covers.

    A load that fell during a case cannot be told from the profile's own earlier work fading; the
    stages' coefficients of variation show it.
    """
    cores = usable_cores or os.cpu_count() or 1
    warnings = []
    if load_start is not None and load_start[0] > cores:
        warnings.append(f"the machine was busy: load average {load_start[0]:.2f} before the profile started, "
                        f"above its {cores} usable cores")
    if load_before is not None and load_after is not None and own_cores is not None and wall_s > 0:
        weight = 1 - math.exp(-wall_s / LOAD_WINDOW_S)
        excess = load_after[0] - (load_before[0] + own_cores * weight)
        if excess > max(1.0, cores / 2) * weight + LOAD_NOISE:
            warnings.append(
                f"the load rose during the case: load average {load_before[0]:.2f} -> {load_after[0]:.2f} "
                f"over {wall_s:.0f} s, {excess:.2f} more than the profile's own {own_cores:.1f} cores "
                f"explain (other work started: about {excess / weight:.1f} cores)")
    return warnings


def stability_warnings(report: Report) -> list[str]:
    """What a profile should say on stderr about ``report``: why it is unstable, its unsteady stages,
    and too few batches for `bench compare` to judge (empty: nothing to say)."""
    lines = []
    stability = report.stability
    if stability is not None:
        lines += [f"unstable measurement: {warning}" for warning in stability.warnings]
        cvs = {stage: steadiness(report.timings[stage], stability.input_cycle)
               for stage in stability.unstable_stages}
        if END_TO_END in cvs:
            lines.append(f"unstable measurement: whole batches (end_to_end) vary by "
                         f"{cvs.pop(END_TO_END):.0%} of their mean (coefficient of variation), above "
                         f"{stability.cv_limit:.0%}")
        if cvs:
            listed = ", ".join(f"{stage} {cv:.0%}" for stage, cv in cvs.items())
            lines.append(f"stage(s) vary by more than {stability.cv_limit:.0%} of their mean: {listed}; "
                         "`bench compare` will not judge them")
        if stability.unstable:
            lines.append("`bench compare` will call this profile unstable and judge none of its stages; "
                         "rerun it on a quiet machine")
    measured = report.timings[END_TO_END].count if END_TO_END in report.timings else 0
    if measured < min_samples():
        lines.append(f"only {measured} measured batch(es): `bench compare` needs at least {min_samples()} to "
                     f"judge a stage (the default, {DEFAULT_ITERS} and {DEFAULT_MIN_TIME_S:g} s, is enough)")
    return lines


class _RepeatedJobs(Sequence[ImageJob]):
    """The images a case feeds, computed on demand: job k is case image ``(k // batch) % n``, so
    batch i is ``batch`` copies of image ``i % n``, for as many batches as a profile may measure."""

    def __init__(self, case: Case, batches: int) -> None:
        self.case, self.batches = case, batches

    def __len__(self) -> int:
        return self.batches * self.case.batch

    def __getitem__(self, job: int) -> ImageJob:
        if not 0 <= job < len(self):
            raise IndexError(job)
        index = job // self.case.batch % len(self.case.images)
        return ImageJob(index, self.case.images[index])


def run_case(predictor: Predictor, case: Case, config: ProfileConfig, timer: StageTimer,
             rendered: list[tuple[torch.Tensor, torch.Tensor]] | None) -> dict[int, Poses]:
    """The case's batches through the runner's schedule, observed by ``timer``, until the measured
    batches are enough (``measured_enough``); the first poses of each case image."""
    schedule = config.runner_schedule(case.batch)
    jobs = _RepeatedJobs(case, config.warmup + MAX_ITERATIONS)
    predictions: dict[int, Poses] = {}
    replacement = None if rendered is None else (lambda ids: _replacement(rendered[ids[0]]))
    with tqdm(total=config.warmup + config.iters, desc=case.label(config.scales, config.flip), unit="batch",
              leave=False) as progress:

        def on_batch(batch: LoadedBatch) -> bool:
            predictions.setdefault(batch.image_ids[0], batch.poses(1)[0][0])
            progress.update()
            return not measured_enough(timer.samples(END_TO_END), config)

        loader = image_loader(jobs, Network.of(predictor), schedule)
        run_schedule(predictor, loader, [None], schedule, on_batch, clock=timer, replacement=replacement)
    return predictions


def measured_enough(end_to_end_ms: Sequence[float], config: ProfileConfig) -> bool:
    """Whether the measured iterations so far (their end-to-end times in ms) meet ``config.iters`` and
    ``config.min_time_s``, or reached ``MAX_ITERATIONS``."""
    count = len(end_to_end_ms)
    long_enough = sum(end_to_end_ms) >= 1000.0 * config.min_time_s
    return count >= MAX_ITERATIONS or (count >= config.iters and long_enough)


def _postprocess_source(rendered: bool, maps: str, weights: Weights) -> str:
    """What the report says grouping decoded."""
    if rendered:
        return (f"rendered maps (bench.speed.synthetic_maps, {SyntheticMapsConfig().num_people} people per "
                "image) at the aggregated-map size, handed to the pipeline in place of the network's: "
                "untrained weights give noise maps")
    if maps == "broad":
        return f"network output, broad maps ({weights.label})"
    return "network output"


def _replacement(rendered: tuple[torch.Tensor, torch.Tensor] | None) -> MapsReplacement | None:
    """The pipeline's ``replace_maps`` that hands it ``rendered`` (heatmaps, tags) instead."""
    if rendered is None:
        return None

    def replace(maps: NetworkMaps) -> NetworkMaps:
        return dataclasses.replace(maps, heatmaps=rendered[0], tags=rendered[1])

    return replace


def rendered_maps(predictor: Predictor, case: Case) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per case image: heatmaps [B,K,H,W] and tags [B,K,H,W,L] rendered at its aggregated-map size,
    on the predictor's device (B = batch, one seed per batch entry, L = 2 with flip test else 1)."""
    maps = []
    for path in case.images:
        base_w, base_h = predictor.map_size(*read_image(path).shape[:2])
        rendered = [render_maps(SyntheticMapsConfig(height=base_h, width=base_w, seed=seed,
                                                    num_tag_dims=2 if predictor.config.flip else 1))
                    for seed in range(case.batch)]
        heatmaps = torch.from_numpy(np.stack([item.heatmaps for item in rendered])).to(predictor.device)
        tags = torch.from_numpy(np.stack([item.tags for item in rendered])).to(predictor.device)
        maps.append((heatmaps, tags))
    return maps


def time_evaluation(timer: StageTimer, case: Case, predictions: dict[int, Poses],
                    config: ProfileConfig) -> str:
    """Time ``bench.evaluation.evaluate`` on the sample's ground truth (one untimed warm-up call)."""
    if case.inputs != "sample" or len(predictions) < len(case.images):
        return "not timed: only the sample images have ground truth, and every one needs a prediction"
    results = [entry for index, (keypoints, scores) in sorted(predictions.items())
               for entry in people_to_results(case.image_ids[index], keypoints, scores)]
    evaluate(SAMPLE_GT, results)
    for _ in range(config.iters):
        with timer.stage("evaluate"):
            evaluate(SAMPLE_GT, results)
    return f"timed on {SAMPLE_GT.name} ({len(case.images)} images, {len(results)} detections)"


def peak_memory(device: torch.device) -> Memory:
    """Peak device memory of the measured iterations (CUDA) or the peak RSS of this process (CPU)."""
    if device.type == "cuda":
        return Memory("cuda max_memory_allocated over the run (warm-up included)",
                      int(torch.cuda.max_memory_allocated(device)),
                      int(torch.cuda.max_memory_reserved(device)))
    rss_unit = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is in bytes on macOS, KiB on Linux
    return Memory("peak resident set size of the whole process",
                  int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * rss_unit)


def write_trace(predictor: Predictor, case: Case, config: ProfileConfig, rendered: list | None,
                path: Path) -> None:
    """A torch.profiler Chrome trace of a few batches, stages labelled, written atomically. The trace runs
    the serial schedule: torch.profiler records the thread that starts it, and there every stage runs."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if predictor.device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    timer = StageTimer(device=predictor.device, annotate=True)
    briefly = dataclasses.replace(config, iters=TRACE_ITERATIONS, warmup=0, min_time_s=0.0, schedule="serial")
    with torch.profiler.profile(activities=activities) as profiler:
        run_case(predictor, case, briefly, timer, rendered)
    with tempfile.TemporaryDirectory(prefix="bench-trace-") as scratch:
        raw = Path(scratch) / "trace.json"
        profiler.export_chrome_trace(str(raw))
        atomic.write_bytes(path, raw.read_bytes())
