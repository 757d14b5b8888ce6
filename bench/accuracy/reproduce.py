"""`bench reproduce`: rerun the published CrowdPose rows and say, row by row, what reproduced.

A row is *reproduced* or *failed* only when its metrics come from the published checkpoint (sha256
prefix as in its name) on the whole test set; any other run (a subset, another checkpoint) is measured,
recorded and *skipped* with its reason, and a row that cannot run at all (no checkpoint, no dataset) is
*skipped* with what is missing and how to supply it. Then the bundled 2-image sample runs end to end
(*smoke* rows, never compared), with the checkpoint if there is one, else with deterministic synthetic
weights calibrated to give plausible heatmaps and tags (so grouping does real work). Under torchrun
the images are sharded over ranks and rank 0 evaluates and reports.

Rows whose network inputs coincide share one network run: the [1] row is decoded from the scale-1
outputs of the [2, 1] row's forward (``bench.accuracy.runner.plan_forwards``), bit-identical to
running it alone. A sweep (``--sweep FILE``, ``bench.accuracy.sweep``) replaces the published rows by
its variants, all decoded from one forward; its rows are *measured*, never compared.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from bench import atomic
from bench.accuracy import distributed
from bench.accuracy.cache import PredictionCache, cache_key, image_digests, reference_code_version
from bench.accuracy.expected import DEFAULT_EXPECTED, ExpectedRow, ExpectedTable, check_metrics, load_expected
from bench.accuracy.runner import Decoder, ImageJob, plan_forwards, predict_images
from bench.accuracy.sweep import Sweep, variant_configs
from bench.checkpoint import ResolvedCheckpoint, default_checkpoint, resolve_checkpoint
from bench.data.dataset import (
    CrowdPoseDataset,
    DataConfig,
    image_set_digest,
    load_dataset,
    locate_files,
    open_dataset,
    validate,
)
from bench.data.sample import SAMPLE_DIR, SAMPLE_GT
from bench.devices import resolve_device
from bench.errors import BenchError
from bench.evaluation import DEFAULT_BACKEND, OFFICIAL_PROTOCOL, evaluate_with_info
from bench.evaluation.api import backend_module, image_matches
from bench.evaluation.bootstrap import BootstrapSettings, bootstrap_distributions, intervals, paired_deltas
from bench.reports.environment import fingerprint
from bench.reports.records import ReproduceRecord
from bench.reports.schema import Evaluator, Report, Row, Subset
from bench.reports.stats import StageStats
from bench.reports.writing import new_report, write_report
from bench.weights import Weights
from reference.pipeline import InputLimits, PipelineConfig, Predictor, input_limit_problem, pipeline_config

SUMMARY_METRICS = ("AP", "AP50", "AP75", "AP_easy", "AP_medium", "AP_hard")
VARIANT_AP_TOLERANCE = 0.001
# Pipeline options a compared row may set: the recorded mmpose-version behaviours and speed variants.
RECORDED_BEHAVIOURS = ("stage_aggregation", "group_limit", "ignore_too_much", "joint_order", "matcher",
                       "channels_last", "compile")


@dataclass(frozen=True)
class ReproduceConfig:
    """Everything a reproduce run depends on; recorded verbatim in its report.

    ``scales`` picks published rows by their test scales (None: all rows). ``pipeline_options`` are
    extra ``reference.pipeline.Predictor`` options (e.g. ``stage_aggregation="2020"``; under a
    ``sweep``, the base its variants' options override). ``bootstrap`` draws every scored row's
    intervals (``resamples=0``: none). ``threads`` is
    the CPU thread count of every process (None: all cores), also under torchrun, which would otherwise
    give each rank one thread: CPU float results depend on it, and ranks must match a single process.
    """

    checkpoint: str | None = None
    data: DataConfig = field(default_factory=DataConfig)
    scales: tuple[tuple[float, ...], ...] | None = None
    device: str = "auto"
    out: str = "results"
    strict: bool = False
    backend: str | None = None
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


@dataclass(frozen=True)
class ReproductionResult:
    """The report (None on ranks other than 0), the files written, the summary table, the exit code."""

    report: dict | None
    paths: dict[str, Path]
    summary: str
    exit_code: int


def run_reproduction(config: ReproduceConfig) -> ReproductionResult:
    """Run the selected published rows (and the sample smoke run), write the report, summarise."""
    table = load_expected(config.expected)
    check_settings(config)
    rows = (sweep_specs(config.sweep, config) if config.sweep
            else published_specs(select_rows(table, config.scales), config))
    device = resolve_device(config.device)
    if device.type == "cpu":  # the same count in every process: CPU float results depend on it
        torch.set_num_threads(config.threads or os.cpu_count() or 1)
    topology = distributed.init_from_env(device.type)
    if topology.distributed and device.type == "cuda":
        device = torch.device("cuda", topology.local_rank)
    try:
        problems: list[str] = []
        runner = _RowRunner(config, device, topology)
        spec = config.checkpoint or table.checkpoint.url
        with distributed.main_first(topology):  # one rank downloads, the others then find it cached
            checkpoint = _attempt(
                lambda: runner.load(resolve_checkpoint(spec, config.checkpoint_cache_dir,
                                                       progress=topology.is_main)),
                "checkpoint", problems, explicit=config.checkpoint is not None)
        data = config.data
        located = _attempt(lambda: locate_files(data.data_root, data.ann_file, data.img_dir), "dataset",
                           problems, explicit=any((data.data_root, data.ann_file, data.img_dir)))
        limits_check = _input_check(rows, config.input_limits)
        dataset = _selected_dataset(data, limits_check) if located is not None else None
        published = default_checkpoint()  # the package's, whatever table the rows are judged against
        weights = (Weights.from_checkpoint(checkpoint, published) if checkpoint is not None
                   else Weights.synthetic("calibrated", published=published))
        if checkpoint is not None and dataset is not None:
            report_rows = runner.run(rows, weights, dataset, table)
        else:
            report_rows = [_not_run(row, problems) for row in rows]
        # rank 0 holds the real statuses (other ranks hold placeholders), so it decides for all
        any_skipped = any(row.status == "skipped" for row in report_rows)
        if distributed.broadcast_from_main(config.sample and any_skipped, topology):
            sample = load_dataset(ann_file=SAMPLE_GT, img_dir=SAMPLE_DIR)
            report_rows += runner.run(rows, weights, sample, table, smoke=True)
        if not topology.is_main:
            return ReproductionResult(None, {}, "", distributed.broadcast_from_main(0, topology))
        report = new_report("reproduce", _config_record(config, device, weights, table),
                            rows=tuple(report_rows), throughput=runner.throughput, errors=tuple(problems))
        paths = write_report(report, config.out)
        summary = summarize(report, paths)
        exit_code = distributed.broadcast_from_main(exit_code_of(report_rows, config.strict), topology)
        return ReproductionResult(report.to_dict(), paths, summary, exit_code)
    finally:
        distributed.shutdown(topology)


def select_rows(table: ExpectedTable, scales: Sequence[Sequence[float]] | None) -> list[ExpectedRow]:
    """The published rows to run: all, or those whose test scales were asked for."""
    if scales is None:
        return list(table.rows)
    wanted = [tuple(float(s) for s in row_scales) for row_scales in scales]
    unknown = [s for s in wanted if s not in {row.scales for row in table.rows}]
    if unknown:
        published = ", ".join(",".join(f"{s:g}" for s in row.scales) for row in table.rows)
        raise BenchError(f"no published row for --scales {unknown}; published rows have scales {published} "
                         f"({table.path})")
    return [row for row in table.rows if row.scales in wanted]


def exit_code_of(rows: Sequence[Row], strict: bool) -> int:
    """1 if a row failed, or (strict, for gates) if a published row was skipped; else 0."""
    if any(row.status == "failed" for row in rows):
        return 1
    if strict and any(row.status == "skipped" for row in rows):
        return 1
    return 0


def summarize(report: Report, paths: Mapping[str, Path]) -> str:
    """The summary: a metrics table with each row's status, each row's reason, what is missing and how
    to supply it, and where the report went."""
    table = pd.DataFrame([
        {"row": row.name, "status": row.status,
         **{name: _fmt(row.metrics.get(name)) for name in SUMMARY_METRICS}}
        for row in report.rows
    ])
    lines = [table.to_string(index=False), ""]
    lines += [f"{row.name}: {row.status}: {row.reason}" for row in report.rows if row.reason]
    if report.errors:
        lines += ["", "What is missing, and how to supply it:"]
        lines += [f"- {problem}" for problem in report.errors]
    lines += [""] + [f"report: {path}" for role, path in paths.items() if role in ("json", "md")]
    return "\n".join(lines)


@dataclass(frozen=True)
class RowSpec:
    """What one report row decodes and how it is scored: its name, its pipeline settings, the
    evaluation protocol, and the published row it is judged against (None for a sweep variant)."""

    name: str
    config: PipelineConfig
    protocol: str = OFFICIAL_PROTOCOL
    published: ExpectedRow | None = None


def published_specs(rows: Sequence[ExpectedRow], config: ReproduceConfig) -> list[RowSpec]:
    """The published rows with this run's precision and pipeline options."""
    return [RowSpec(row.name, pipeline_config(row.scales, row.flip, precision=config.precision,
                                              **config.pipeline_options), published=row)
            for row in rows]


def sweep_specs(sweep: Sweep, config: ReproduceConfig) -> list[RowSpec]:
    """The sweep's variants, one row each, with this run's precision and base pipeline options."""
    configs = variant_configs(sweep, config.precision, config.pipeline_options)
    return [RowSpec(variant.name, variant_config, variant.evaluator)
            for variant, variant_config in zip(sweep.variants, configs, strict=True)]


class _RowRunner:
    """Runs rows on one device and rank, reusing the model across rows with the same weights and the
    network across rows whose network inputs coincide."""

    def __init__(self, config: ReproduceConfig, device: torch.device, topology: distributed.Topology):
        self.config = config
        self.device = device
        self.topology = topology
        self.throughput: dict[str, float] = {}
        self._models: dict[str, torch.nn.Module] = {}
        self._environment_id = fingerprint()["fingerprint_id"]

    def run(self, specs: Sequence[RowSpec], weights: Weights, dataset: CrowdPoseDataset, table: ExpectedTable,
            smoke: bool = False) -> list[Row]:
        """Predict every row (shared forwards), score each with its protocol, and judge it."""
        names = [f"sample: {spec.name}" if smoke else spec.name for spec in specs]
        decodings = list(zip(names, (spec.config for spec in specs), strict=True))
        variants = [] if smoke else [index for index, spec in enumerate(specs)  # judged rows only
                                     if spec.published and is_variant(spec.config)]
        references = [(f"{names[index]} (float32 reference)", float32_reference(specs[index].config))
                      for index in variants]
        digests = data_digests(dataset)
        predicted = self._predict(decodings + references, weights, dataset, digests)
        reference_of = dict(zip(variants, predicted[len(decodings):], strict=True))
        subset = data_subset(dataset, table, smoke, digests)
        rows = [self._row(spec, names[index], predicted[index], reference_of.get(index), weights, dataset,
                          table, subset, smoke)
                for index, spec in enumerate(specs)]
        return self._with_intervals(rows, predicted[:len(specs)], dataset)

    def _with_intervals(self, rows: Sequence[Row], predicted: Sequence[_Predicted | None],
                        dataset: CrowdPoseDataset) -> list[Row]:
        """Each scored row with its bootstrap intervals, all rows drawn on the same resampled images;
        under a sweep, each variant after the first also with its paired difference to the first."""
        settings = self.config.bootstrap
        scored = [index for index, (row, result) in enumerate(zip(rows, predicted, strict=True))
                  if result is not None and row.metrics]
        if not settings.resamples or not scored:
            return list(rows)
        gt = dataset.ground_truth()
        samples = bootstrap_distributions(
            [image_matches(gt, predicted[index].detections, rows[index].evaluator.protocol)
             for index in scored], settings)
        updated = list(rows)
        baseline = rows[scored[0]]
        for position, index in enumerate(scored):
            extra: dict[str, Any] = {"ci95": intervals(samples[:, position], settings),
                                     "bootstrap": settings.to_dict()}
            if self.config.sweep is not None and position > 0:
                extra["paired_delta"] = paired_deltas(baseline.metrics, rows[index].metrics, samples[:, 0],
                                                      samples[:, position], settings)
                extra["baseline_row"] = baseline.name
            updated[index] = dataclasses.replace(rows[index], **extra)
        return updated

    def _row(self, spec: RowSpec, name: str, predicted: _Predicted | None, reference: _Predicted | None,
             weights: Weights, dataset: CrowdPoseDataset, table: ExpectedTable, subset: Subset,
             smoke: bool) -> Row:
        if predicted is None:
            return _placeholder_for_other_ranks(spec, name)
        gt = dataset.ground_truth()
        evaluation = evaluate_with_info(gt, predicted.detections, self.config.backend, spec.protocol)
        variant = reference and _variant_record(
            evaluation.metrics,
            evaluate_with_info(gt, reference.detections, self.config.backend, spec.protocol).metrics)
        status, reason = _judge(spec, weights, subset, table, smoke, evaluation.metrics, variant,
                                self.config.pipeline_options)
        published = spec.published
        expected = dict(published.expected) if published else {}
        tolerance = dict(published.tolerance) if published else {}
        checks = check_metrics(expected, tolerance, evaluation.metrics) if published and not smoke else []
        return Row(
            name=name, scales=spec.config.scales, flip=spec.config.flip, status=status, reason=reason,
            subset=subset,
            metrics=evaluation.metrics, expected=expected, tolerance=tolerance, checks=tuple(checks),
            evaluator=Evaluator(evaluation.backend, evaluation.backend_version, evaluation.official,
                                evaluation.protocol),
            behaviour={"pipeline": spec.config.to_dict(), "forward": predicted.forward.to_dict(),
                       "weights": dataclasses.asdict(weights.to_record()),
                       "results_json": str(predicted.results_path), "image_ids": _selection(dataset),
                       "variant_vs_float32": variant,
                       "evaluation_inputs": evaluation.input_report.to_dict()},
            decode_ms=StageStats.from_samples(list(predicted.decode_ms), in_iteration=False)
            if predicted.decode_ms else None,
        )

    def load(self, checkpoint: ResolvedCheckpoint) -> ResolvedCheckpoint:
        """Build the model from ``checkpoint`` now, so an unloadable file counts as a missing checkpoint."""
        self._model(Weights.from_checkpoint(checkpoint))
        return checkpoint

    def _model(self, weights: Weights) -> torch.nn.Module:
        if weights.cache_id not in self._models:
            self._models[weights.cache_id] = weights.build_model()
        return self._models[weights.cache_id]

    def _predict(self, decodings: Sequence[tuple[str, PipelineConfig]], weights: Weights,
                 dataset: CrowdPoseDataset, digests: DataDigests) -> list[_Predicted | None]:
        """Every (name, settings) decoding's predictions, with one network run per shared forward."""
        predicted: list[_Predicted | None] = [None] * len(decodings)
        for forward, members in plan_forwards([config for _, config in decodings]):
            for index, result in zip(members, self._predict_forward(
                    forward, [decodings[member] for member in members], weights, dataset, digests),
                    strict=True):
                predicted[index] = result
        return predicted

    def _predict_forward(self, forward: PipelineConfig, decodings: Sequence[tuple[str, PipelineConfig]],
                         weights: Weights, dataset: CrowdPoseDataset,
                         digests: DataDigests) -> list[_Predicted | None]:
        """This rank's share of the images through one forward and every decoding of it (cached per
        decoding; decodings with the same settings, e.g. rows that differ only in how they are
        scored, share one decoding and its time), gathered on rank 0, where each decoding's
        mmpose-format results JSON is written before scoring (``bench evaluate`` can rescore it)."""
        predictor = Predictor.from_config(self._model(weights), forward, device=self.device,
                                          batch_size=self.config.batch_size,
                                          input_limits=self.config.input_limits)
        jobs = [ImageJob(record["id"], dataset.image_path(record)) for record in dataset.images]
        settings = list(dict.fromkeys(config for _, config in decodings))
        decoders = [Decoder(PredictionCache(prediction_cache_root(self.config),
                                            self._cache_fields(config, forward, weights, dataset,
                                                               digests.annotations),
                                            shard_name=f"rank{self.topology.rank}"), config)
                    for config in settings]
        mine = distributed.shard(jobs, self.topology)
        label = " + ".join(name for name, _ in decodings)
        start = time.perf_counter()
        run = predict_images(predictor, mine, decoders, batch_size=self.config.batch_size,
                             workers=self.config.workers, description=label,
                             progress_bar=self.topology.is_main, digests=digests.images)
        gathered = distributed.gather_to_main((run, time.perf_counter() - start), self.topology)
        if gathered is None:
            return [None] * len(decodings)
        computed = sum(part.computed for part, _ in gathered)
        if computed:  # images taken from the cache say nothing about speed
            seconds = max(seconds for _, seconds in gathered)
            self.throughput[f"{label}: images/s"] = computed / max(seconds, 1e-9)
        self.throughput[f"{label}: images from cache"] = len(jobs) - computed
        ids_hash = cache_key({"image_ids": [job.image_id for job in jobs]})[:8]
        results = []
        for position, decoder in enumerate(decoders):
            merged = {image_id: people for part, _ in gathered
                      for image_id, people in part.predictions[position].items()}
            detections = [person for job in jobs for person in merged[job.image_id]]
            results_path = decoder.cache.directory / f"results-{len(jobs)}img-{ids_hash}.json"
            atomic.write_json(results_path, detections, indent=None)
            decode_ms = tuple(ms for part, _ in gathered for ms in part.decode_ms[position])
            results.append(_Predicted(detections, results_path, decode_ms, forward))
        return [results[settings.index(config)] for _, config in decodings]

    def _cache_fields(self, config: PipelineConfig, forward: PipelineConfig, weights: Weights,
                      dataset: CrowdPoseDataset, annotations_sha256: str) -> dict[str, Any]:
        """Everything that can change a prediction: weights, pipeline, the network batches it was
        decoded from, data location, the code, and the environment (device model, library versions,
        thread count: float results depend on them)."""
        batching = {"batch_size": self.config.batch_size}
        if self.config.batch_size > 1:  # which images share a batch depends on all forward scales
            batching["forward_scales"] = list(forward.scales)
        return {"weights": weights.cache_id, "pipeline": config.to_dict(), "network_batches": batching,
                "device": self.device.type, "environment": self._environment_id,
                "images": str(dataset.img_dir.resolve()), "annotations": str(dataset.ann_file.resolve()),
                "annotations_sha256": annotations_sha256,
                "reference_code": reference_code_version()}


@dataclass(frozen=True)
class _Predicted:
    """One decoding's gathered results: detections, the results JSON written, decode ms per image
    (of the images computed here), and the forward they were decoded from."""

    detections: list[dict]
    results_path: Path
    decode_ms: tuple[float, ...]
    forward: PipelineConfig


def float32_reference(config: PipelineConfig) -> PipelineConfig:
    """The float32 run a speed variant is measured against: same decoding, plain float32 network."""
    return dataclasses.replace(config, precision="float32", channels_last=False, compile=False)


def is_variant(config: PipelineConfig) -> bool:
    """True for a speed variant of the float32 reference (lower precision, TF32, channels_last, compile)."""
    return config.precision != "float32" or config.channels_last or config.compile


def _variant_record(metrics: Mapping[str, float], float32_metrics: Mapping[str, float]) -> dict[str, Any]:
    delta = metrics["AP"] - float32_metrics["AP"]
    return {"float32_metrics": dict(float32_metrics), "AP_delta": delta,
            "accepted": abs(delta) <= VARIANT_AP_TOLERANCE, "tolerance": VARIANT_AP_TOLERANCE}


def _judge(spec: RowSpec, weights: Weights, subset: Subset, table: ExpectedTable, smoke: bool,
           metrics: Mapping[str, float], variant: Mapping[str, Any] | None,
           options: Mapping[str, Any]) -> tuple[str, str | None]:
    """A row's status and reason. Only the table shipped in the package can be *reproduced*, and only
    with the published checkpoint (as strongly as the registry pins it) on the whole test set; a
    custom table's rows can only *match* it."""
    if smoke:
        return "smoke", (f"pipeline smoke run on the bundled {subset.num_images}-image sample with "
                         f"{weights.label} weights; never compared with the published numbers")
    row = spec.published
    if row is None:
        return "measured", (f"sweep variant on {subset.num_images} images with {weights.label} weights, "
                            "decoded from the sweep's shared forward; measured, never compared with the "
                            "published numbers")
    custom = "" if table.bundled else f"custom table {table.path} (sha256 {table.sha256[:12]}...)"
    sha256 = weights.checkpoint.sha256 if weights.checkpoint else ""
    if not table.checkpoint.matches(sha256):
        return "skipped", (f"measured with checkpoint sha256 {sha256[:12]}..., not the "
                           f"{'published ' if table.bundled else ''}{table.checkpoint.file_name}"
                           f"{' of ' + custom if custom else ''}; not compared")
    if not subset.full:
        return "skipped", (f"measured on {subset.num_images} images, not the whole {table.dataset_name} set "
                           f"({table.dataset_num_images} distinct images and files); not compared")
    if subset.data_pinned is False:
        return "skipped", (f"the {table.dataset_name} data differs from the fingerprints pinned in "
                           f"{table.path} (annotations sha256 {subset.annotations_sha256[:12]}..., images "
                           f"{subset.images_digest[:12]}...); not compared")
    changed = sorted(set(options) - set(RECORDED_BEHAVIOURS))
    if changed:
        return "skipped", (f"pipeline options {changed} change the published test configuration; measured, "
                           "not compared")
    if variant and not variant["accepted"]:
        return "skipped", (f"speed variant: AP differs from the float32 run by {variant['AP_delta']:+.4f} "
                           f"(more than {VARIANT_AP_TOLERANCE}); labelled, not accepted as a reproduction")
    failed = [check for check in check_metrics(row.expected, row.tolerance, metrics) if not check.passed]
    if failed:
        against = f"against {custom}: " if custom else ""
        return "failed", against + "; ".join(check.describe() for check in failed)
    strength = (f"checkpoint {table.checkpoint.verification}; data "
                + ("pinned" if subset.data_pinned else "unpinned (fingerprints in the report, not pinned in "
                   "the package yet)"))
    if custom:
        return "matched", (f"matched {custom}; not the table shipped in the package, so not a reproduction "
                           f"of the published numbers ({strength})")
    return "reproduced", strength


@dataclass(frozen=True)
class DataDigests:
    """The content of a run's data, read once: the annotation file's sha256 and each selected image's
    (by id). The prediction caches and the report's fingerprints both use them."""

    annotations: str
    images: Mapping[int, str]


def data_digests(dataset: CrowdPoseDataset) -> DataDigests:
    """Hash the annotation file and every selected image file of ``dataset``."""
    return DataDigests(hashlib.sha256(dataset.ann_file.read_bytes()).hexdigest(),
                       image_digests({record["id"]: dataset.image_path(record) for record in dataset.images}))


def data_subset(dataset: CrowdPoseDataset, table: ExpectedTable, smoke: bool, digests: DataDigests) -> Subset:
    """What a row was evaluated on, with the fingerprints of the annotation file and of the image set."""
    annotations = digests.annotations
    images = image_set_digest(dataset, digests.images)
    pins = [(pin, value) for pin, value in ((table.annotations_sha256, annotations),
                                             (table.images_digest, images)) if pin]
    pinned = all(pin == value for pin, value in pins) if pins and not smoke else None
    return Subset(str(dataset.ann_file), len(dataset), _is_full(dataset, table) and not smoke,
                  annotations_sha256=annotations, images_digest=images, data_pinned=pinned)


def _is_full(dataset: CrowdPoseDataset, table: ExpectedTable) -> bool:
    """The whole test set: every image of the annotation file, as many as the table says, with that
    many distinct ids and distinct files (ids are checked unique on reading)."""
    files = {dataset.image_path(record).resolve() for record in dataset.images}
    return len(dataset) == table.dataset_num_images == len(dataset.gt["images"]) == len(files)


def _selection(dataset: CrowdPoseDataset) -> list[int] | None:
    """The evaluated image ids when they are not all the annotation file's (None: all of them), so a
    row's results JSON can be rescored on the same images (``bench diff``)."""
    return None if len(dataset) == len(dataset.gt["images"]) else list(dataset.image_ids)


def _not_run(spec: RowSpec, problems: Sequence[str]) -> Row:
    missing = " and ".join(problem.split(":", 1)[0] for problem in problems)
    published = spec.published
    return Row(name=spec.name, scales=spec.config.scales, flip=spec.config.flip, status="skipped",
               reason=f"not run: no usable {missing} (see below)", subset=Subset("", 0, False), metrics={},
               expected=dict(published.expected) if published else {},
               tolerance=dict(published.tolerance) if published else {}, checks=(),
               evaluator=Evaluator(DEFAULT_BACKEND, None, False, spec.protocol), behaviour={})


def _placeholder_for_other_ranks(spec: RowSpec, name: str) -> Row:
    return dataclasses.replace(_not_run(spec, ["evaluated on rank 0"]), name=name)


def _attempt(step, what: str, problems: list[str], explicit: bool):
    """Run ``step``; on a BenchError record '<what>: <message>' in ``problems`` and return None, unless
    the user named the input explicitly: then it is bad input and the error stands (exit status 2)."""
    try:
        return step()
    except BenchError as error:
        if explicit:
            raise
        problems.append(f"{what}: {error}")
        return None


def _selected_dataset(data: DataConfig,
                      input_problem: Callable[[int, int], str | None]) -> CrowdPoseDataset:
    """The selected images, validated (``input_problem`` as for ``validate``); a broken dataset, an
    image over the input limits or a bad selection is an error, not a skip."""
    dataset = open_dataset(data)
    validate(dataset, input_problem=input_problem)
    return dataset


def _input_check(specs: Sequence[RowSpec], limits: InputLimits) -> Callable[[int, int], str | None]:
    """``(height, width) -> problem or None`` over every forward the rows will run."""
    forwards = [forward for forward, _ in plan_forwards([spec.config for spec in specs])]

    def problem(height: int, width: int) -> str | None:
        return next((found for forward in forwards if (found := input_limit_problem(
            height, width, forward.input_size, forward.scales, limits))), None)

    return problem


def check_settings(config: ReproduceConfig) -> None:
    """Reject bad settings before any work (BenchError, exit status 2)."""
    if config.batch_size < 1 or config.workers < 0:
        raise BenchError(f"--batch-size must be >= 1 and --workers >= 0, got {config.batch_size} and "
                         f"{config.workers}")
    if config.threads is not None and config.threads < 1:
        raise BenchError(f"--threads must be at least 1, got {config.threads}")
    if config.data.limit is not None and config.data.limit < 1:
        raise BenchError(f"--limit must be at least 1, got {config.data.limit}")
    own_flags = sorted({"scales", "flip", "precision"} & set(config.pipeline_options))
    if own_flags:
        raise BenchError(f"--pipeline-options must not set {own_flags}: scales and flip come from the "
                         "published rows (--scales picks rows), precision from --precision")
    try:
        pipeline_config((1,), True, precision=config.precision, **config.pipeline_options)
    except (TypeError, ValueError) as error:
        raise BenchError(f"--pipeline-options: {error}") from None
    if config.sweep is not None and config.scales is not None:
        raise BenchError("--scales picks published rows and --sweep replaces them by its variants; give one")
    backend_module(config.backend).version()  # unknown or not installed: said now, not after predicting
    atomic.check_writable_folder(config.out, "--out")
    atomic.check_writable_folder(prediction_cache_root(config), "--cache-dir")
    if config.checkpoint_cache_dir is not None:
        atomic.check_writable_folder(config.checkpoint_cache_dir, "--checkpoint-cache-dir")


def prediction_cache_root(config: ReproduceConfig) -> Path:
    """Where per-image predictions are cached: ``--cache-dir``, else under the user's cache folder."""
    if config.cache_dir:
        return Path(config.cache_dir)
    return Path.home() / ".cache" / "hhrnet-crowdpose-bench" / "predictions"


def _config_record(config: ReproduceConfig, device: torch.device, weights: Weights,
                   table: ExpectedTable) -> ReproduceRecord:
    settings = dataclasses.asdict(config)
    label = "-".join("s" + "+".join(f"{s:g}" for s in scales) for scales in (config.scales or ()))
    if config.sweep is not None:
        label = "sweep-" + Path(config.sweep.path).stem
    return ReproduceRecord(label=label, device=str(device), precision=config.precision,
                           weights=weights.to_record(), expected_table=table.path, settings=settings)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
