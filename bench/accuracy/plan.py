"""Step 1 of `bench reproduce`: the plan. Which rows run, with which weights, on which images.

Everything the run needs is found and checked here, before any prediction: the rows (published or a
sweep's variants), the weights (a checkpoint, resolved and verified; or a provided network), the data
(located, validated, every image within the input limits, fingerprinted). Bad input the user gave is
an error now (exit status 2); a default checkpoint or data set that is not there makes the rows "not
run", with what is missing and how to supply it (``Plan.problems``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from torch import nn

from bench import atomic
from bench.accuracy import distributed
from bench.accuracy.cache import check_writable, image_digests
from bench.accuracy.expected import ExpectedRow, ExpectedTable
from bench.accuracy.runner import plan_forwards
from bench.accuracy.settings import ReproduceConfig
from bench.accuracy.sweep import variant_configs
from bench.checkpoint import default_checkpoint, resolve_checkpoint
from bench.data.dataset import (
    CrowdPoseDataset,
    image_set_digest,
    load_dataset,
    locate_files,
    open_dataset,
    validate,
)
from bench.data.sample import SAMPLE_DIR, SAMPLE_GT
from bench.errors import BenchError
from bench.evaluation import OFFICIAL_PROTOCOL
from bench.evaluation.subset import SubsetDraw, draw_subset
from bench.reading import sha256_of
from bench.reports.rows import Subset
from bench.weights import Weights
from reference.pipeline import InputLimits, PipelineConfig, input_limit_problem, pipeline_config
from reference.precisions import TORCH_RUNTIME

SMOKE_PREFIX = "sample: "
"""How a smoke row is named: the row it runs on the bundled sample, after this prefix."""


@dataclass(frozen=True)
class RowSpec:
    """What one report row decodes and how it is scored: its name, its role (``ROW_ROLES``), its
    pipeline settings, the evaluation protocol, and the published row it runs (None for a sweep
    variant)."""

    name: str
    role: str
    config: PipelineConfig
    protocol: str = OFFICIAL_PROTOCOL
    published: ExpectedRow | None = None


@dataclass(frozen=True)
class DataDigests:
    """The content of a run's data, read once: the annotation file's sha256 and each selected image's
    (by id). The prediction caches and the report's fingerprints both use them."""

    annotations: str
    images: dict[int, str]


@dataclass(frozen=True, eq=False)
class DataRun:
    """Rows that run together: one data set, one set of weights, their shared forwards.

    ``references`` holds, per row, the float32 run a speed variant of a published row is measured
    against (None for every other row); it is predicted beside the rows, never reported on its own.
    """

    specs: tuple[RowSpec, ...]
    weights: Weights
    dataset: CrowdPoseDataset
    digests: DataDigests
    subset: Subset
    references: tuple[PipelineConfig | None, ...]

    @property
    def stratified(self) -> bool:
        """Whether the images are a stratified random subset (``--subset``): intervals resample within
        the strata."""
        return self.subset.draw is not None


@dataclass(frozen=True, eq=False)
class Plan:
    """The rows asked for and how they run: ``run`` is None when they cannot (``problems`` then says
    what is missing and how to supply it); ``weights`` are the ones a smoke run on the sample uses."""

    table: ExpectedTable
    specs: tuple[RowSpec, ...]
    weights: Weights
    run: DataRun | None
    problems: tuple[str, ...]


def make_plan(config: ReproduceConfig, table: ExpectedTable, topology: distributed.Topology,
              model: nn.Module | None = None) -> Plan:
    """The plan of ``config``'s rows (``model``, if given, replaces the checkpoint: "provided" weights)."""
    atomic.check_writable_folder(config.out, "--out")
    check_writable(config.prediction_cache_root, "cache_dir")
    if config.checkpoint_cache_dir is not None:
        atomic.check_writable_folder(config.checkpoint_cache_dir, "checkpoint_cache_dir")
    specs = row_specs(config, table)
    problems: list[str] = []
    if model is not None:
        if config.checkpoint is not None:
            raise BenchError("a provided model replaces the checkpoint; give one of them")
        weights: Weights | None = Weights.provided(model)
    else:
        with distributed.main_first(topology):  # one rank downloads, the others then find it cached
            weights = _attempt(lambda: _checked_weights(config, table, topology.is_main), "checkpoint",
                               problems, explicit=config.checkpoint is not None)
    data = config.data
    located = _attempt(lambda: locate_files(data.data_root, data.ann_file, data.img_dir), "dataset", problems,
                       explicit=any((data.data_root, data.ann_file, data.img_dir)))
    input_problem = _input_check(specs, config.input_limits)
    dataset, draw = None, None
    if located is not None:
        dataset = open_dataset(data)
        if data.subset is not None:
            validate(dataset, check_images=False)  # the crowd indices the draw reads
            dataset, draw = stratified_subset(dataset, data.subset, data.subset_seed)
        validate(dataset, input_problem=input_problem)
    sample_weights = weights or Weights.synthetic("calibrated", published=default_checkpoint())
    run = (data_run(specs, sample_weights, dataset, table, draw,
                    variant_references=config.variant_references) if weights and dataset else None)
    return Plan(table, specs, sample_weights, run, tuple(problems))


def smoke_run(plan: Plan) -> DataRun:
    """The plan's rows on the bundled 2-image sample, as smoke rows (never compared)."""
    specs = tuple(dataclasses.replace(spec, name=SMOKE_PREFIX + spec.name, role="smoke")
                  for spec in plan.specs)
    return data_run(specs, plan.weights, load_dataset(ann_file=SAMPLE_GT, img_dir=SAMPLE_DIR), plan.table)


def stratified_subset(dataset: CrowdPoseDataset, size: int, seed: int) -> tuple[CrowdPoseDataset, SubsetDraw]:
    """``size`` of the dataset's images drawn at random within the crowd-index splits (``seed``), and the
    draw; BenchError unless ``size`` is smaller than the set."""
    crowd_index = np.array([record["crowdIndex"] for record in dataset.images], dtype=np.float64)
    try:
        image_ids, draw = draw_subset(np.array(dataset.image_ids), crowd_index, size, seed)
    except ValueError as error:
        raise BenchError(f"--subset: {error}") from None
    return dataset.select(image_ids=image_ids.tolist()), draw


def data_run(specs: Sequence[RowSpec], weights: Weights, dataset: CrowdPoseDataset,
             table: ExpectedTable, draw: SubsetDraw | None = None,
             variant_references: bool = True) -> DataRun:
    """Rows on a data set (``draw``: how it was drawn, for a stratified subset): its content
    fingerprinted, the float32 references of speed variants (none unless ``variant_references``)."""
    paths = {record["id"]: dataset.image_path(record) for record in dataset.images}
    digests = DataDigests(sha256_of(dataset.ann_file, "annotation file"), image_digests(paths))
    smoke = any(spec.role == "smoke" for spec in specs)
    references = tuple(float32_reference(spec.config)
                       if variant_references and spec.role == "published" and is_variant(spec.config)
                       else None
                       for spec in specs)
    return DataRun(tuple(specs), weights, dataset, digests, data_subset(dataset, table, smoke, digests, draw),
                   references)


def row_specs(config: ReproduceConfig, table: ExpectedTable) -> tuple[RowSpec, ...]:
    """The sweep's variants, or the published rows asked for, with this run's precision, runtime and
    options."""
    if config.sweep is not None:
        configs = variant_configs(config.sweep, config.precision, config.base_options)
        return tuple(RowSpec(variant.name, "sweep", variant_config, variant.protocol)
                     for variant, variant_config in zip(config.sweep.variants, configs, strict=True))
    return tuple(RowSpec(row.name, "published", pipeline_config(
        row.scales, row.flip, precision=config.precision, **config.base_options), published=row)
                 for row in select_rows(table, config.scales))


def select_rows(table: ExpectedTable, scales: Sequence[Sequence[float]] | None) -> list[ExpectedRow]:
    """The published rows to run: all, or those whose test scales were asked for."""
    if scales is None:
        return list(table.rows)
    wanted = [tuple(float(s) for s in row_scales) for row_scales in scales]
    unknown = [s for s in wanted if s not in {row.scales for row in table.rows}]
    if unknown:
        published = ", ".join(",".join(f"{s:g}" for s in row.scales) for row in table.rows)
        raise BenchError(f"no published row for scales {unknown}; published rows have scales {published} "
                         f"({table.path})")
    return [row for row in table.rows if row.scales in wanted]


def float32_reference(config: PipelineConfig) -> PipelineConfig:
    """The float32 run a speed variant is measured against: same decoding, plain float32 network on
    torch (the reference model itself, as MLPerf measures a quantized model against its FP32 reference)."""
    return dataclasses.replace(config, precision="float32", channels_last=False, compile=False,
                               runtime=TORCH_RUNTIME)


def is_variant(config: PipelineConfig) -> bool:
    """True for a speed variant of the float32 reference (lower precision, TF32, channels_last, compile,
    another runtime)."""
    return (config.precision != "float32" or config.channels_last or config.compile
            or config.runtime != TORCH_RUNTIME)


def data_subset(dataset: CrowdPoseDataset, table: ExpectedTable, smoke: bool, digests: DataDigests,
                draw: SubsetDraw | None = None) -> Subset:
    """What a row was evaluated on, with the fingerprints of the annotation file and of the image set
    (and ``draw``, how a stratified subset was drawn)."""
    images = image_set_digest(dataset, digests.images)
    pins = [(pin, value) for pin, value in ((table.annotations_sha256, digests.annotations),
                                             (table.images_digest, images)) if pin]
    pinned = all(pin == value for pin, value in pins) if pins and not smoke else None
    return Subset(str(dataset.ann_file), len(dataset), is_full(dataset, table) and not smoke,
                  annotations_sha256=digests.annotations, images_digest=images, data_pinned=pinned, draw=draw)


def is_full(dataset: CrowdPoseDataset, table: ExpectedTable) -> bool:
    """The whole test set: every image of the annotation file, as many as the table says, with that
    many distinct ids and distinct files (ids are checked unique on reading)."""
    files = {dataset.image_path(record).resolve() for record in dataset.images}
    return len(dataset) == table.dataset_num_images == len(dataset.gt["images"]) == len(files)


def _checked_weights(config: ReproduceConfig, table: ExpectedTable, progress: bool) -> Weights:
    """The checkpoint asked for (default: the table's), downloaded if needed, verified and checked to fit
    the network, so that an unloadable file counts as a missing checkpoint before any work."""
    resolved = resolve_checkpoint(config.checkpoint or table.checkpoint.url, config.checkpoint_cache_dir,
                                  progress=progress)
    weights = Weights.from_checkpoint(resolved, default_checkpoint())
    weights.check()
    return weights


def _attempt(step: Callable, what: str, problems: list[str], explicit: bool):
    """Run ``step``; on a BenchError record '<what>: <message>' in ``problems`` and return None, unless
    the user named the input explicitly: then it is bad input and the error stands (exit status 2)."""
    try:
        return step()
    except BenchError as error:
        if explicit:
            raise
        problems.append(f"{what}: {error}")
        return None


def _input_check(specs: Sequence[RowSpec], limits: InputLimits) -> Callable[[int, int], str | None]:
    """``(height, width) -> problem or None`` over every forward the rows will run."""
    forwards = [forward for forward, _ in plan_forwards([spec.config for spec in specs])]

    def problem(height: int, width: int) -> str | None:
        return next((found for forward in forwards if (found := input_limit_problem(
            height, width, forward.input_size, forward.scales, limits))), None)

    return problem
