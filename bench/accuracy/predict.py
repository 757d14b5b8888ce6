"""Step 2 of `bench reproduce`: predict. Every row's poses, with one network run per shared forward.

Rows whose network inputs coincide share one forward (``runner.plan_forwards``): the [1] row is decoded
from the scale-1 outputs of the [2, 1] row's forward, bit-identical to running it alone. Each decoding
has its own resumable prediction cache, keyed by everything that can change a prediction. Under
torchrun this rank predicts its share of the images and rank 0 gathers them. The predictions of each
decoding are written as an mmpose-format results JSON named by its content's sha256, beside its cache,
before anything scores them (``bench evaluate`` can rescore it), so a report's results file never
changes under it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bench import atomic
from bench.accuracy import distributed
from bench.accuracy.cache import PredictionCache, reference_code_version
from bench.accuracy.plan import DataRun
from bench.accuracy.runner import Decoder, plan_forwards, predict_images
from bench.accuracy.settings import ReproduceConfig
from bench.data.dataset import CrowdPoseDataset
from bench.reports.schema import ForwardThroughput
from bench.runtimes.build import BuiltNetwork, build_network
from bench.schedule import ImageJob, Network
from reference.pipeline import PipelineConfig, Predictor
from reference.precisions import QUANTIZED


@dataclass(frozen=True)
class Site:
    """Where the network runs: the device, this process's place among torchrun's ranks, and the
    environment fingerprint (it keys the prediction caches: float results depend on it)."""

    device: torch.device
    topology: distributed.Topology
    environment_id: str


@dataclass(frozen=True)
class RowPrediction:
    """One decoding's gathered predictions: the detections (mmpose results format, in image order),
    their results JSON and its sha256, the decoding time in ms of each image computed here, and the
    forward they were decoded from."""

    detections: list[dict]
    results_path: Path
    results_sha256: str
    decode_ms: tuple[float, ...]
    forward: PipelineConfig


@dataclass(frozen=True)
class Predicted:
    """Per row its predictions and, for a speed variant, those of its float32 reference; and one
    throughput record per forward."""

    rows: tuple[RowPrediction, ...]
    references: tuple[RowPrediction | None, ...]
    forwards: tuple[ForwardThroughput, ...]


def predict_rows(run: DataRun, config: ReproduceConfig, site: Site) -> Predicted | None:
    """Every row's predictions (and its float32 reference's), gathered on rank 0; None on other ranks."""
    decodings = [spec.config for spec in run.specs] + [reference for reference in run.references if reference]
    names = [spec.name for spec in run.specs] + [f"{spec.name} (float32 reference)"
                                                  for spec, reference in zip(run.specs, run.references,
                                                                             strict=True) if reference]
    model: list[torch.nn.Module] = []  # built once, on first need, for every forward of the run
    built: dict[PipelineConfig, BuiltNetwork] = {}  # each forward's runtime network, where one was needed

    def build(forward: PipelineConfig) -> Predictor:
        if not model:
            model.append(run.weights.build_model())
        calibration_images = [path for _, path in calibration(run.dataset, config.calibration_images)]
        built[forward] = build_network(model[0], run.weights.cache_id, forward, site.device,
                                       config.network_cache_root, calibration_images)
        return Predictor.from_config(built[forward].module, forward, device=site.device,
                                     batch_size=config.batch_size, input_limits=config.input_limits)

    predicted: list[RowPrediction | None] = [None] * len(decodings)
    forwards = []
    for forward, members in plan_forwards(decodings):
        network = Network(forward, config.input_limits, lambda forward=forward: build(forward))
        results, throughput = _predict_forward(network, [(names[m], decodings[m]) for m in members], run,
                                               config, site, built)
        for member, result in zip(members, results, strict=True):
            predicted[member] = result
        forwards.append(throughput)
    if not site.topology.is_main:
        return None
    references = iter(predicted[len(run.specs):])
    return Predicted(tuple(predicted[:len(run.specs)]),
                     tuple(next(references) if reference else None for reference in run.references),
                     tuple(forwards))


def _predict_forward(network: Network, decodings: Sequence[tuple[str, PipelineConfig]], run: DataRun,
                     config: ReproduceConfig, site: Site, built: dict[PipelineConfig, BuiltNetwork]
                     ) -> tuple[list[RowPrediction | None], ForwardThroughput]:
    """This rank's share of the images through one forward and every (name, settings) decoding of it
    (cached per decoding; decodings with the same settings, e.g. rows that differ only in how they are
    scored, share one decoding and its time), gathered on rank 0, where each decoding's results JSON
    is written. A runtime's network build (in ``built`` once the forward needed it) is timed apart:
    its seconds are left out of the images/s and its record goes with the throughput."""
    names = [name for name, _ in decodings]
    dataset = run.dataset
    jobs = [ImageJob(record["id"], dataset.image_path(record), run.digests.images[record["id"]])
            for record in dataset.images]
    settings = list(dict.fromkeys(setting for _, setting in decodings))
    decoders = [Decoder(PredictionCache(config.prediction_cache_root,
                                        cache_fields(setting, network.config, run, config, site),
                                        shard_name=f"rank{site.topology.rank}"), setting)
                for setting in settings]
    start = time.perf_counter()
    prediction = predict_images(network, distributed.shard(jobs, site.topology), decoders, config.schedule,
                                progress=progress_label(names) if site.topology.is_main else None)
    network_build = built.get(network.config)
    elapsed = time.perf_counter() - start - (network_build.seconds if network_build else 0.0)
    gathered = distributed.gather_to_main((prediction, elapsed), site.topology)
    computed = sum(part.computed for part, _ in gathered) if gathered else 0
    seconds = max((seconds for _, seconds in gathered), default=0.0) if gathered else 0.0
    throughput = ForwardThroughput(tuple(names), computed / max(seconds, 1e-9) if computed else None,
                                   len(jobs) - computed, computed,
                                   network_build.build if network_build else None)
    if gathered is None:
        return [None] * len(decodings), throughput
    results = []
    for position, decoder in enumerate(decoders):
        merged = {image_id: people for part, _ in gathered
                  for image_id, people in part.predictions[position].items()}
        detections = [person for job in jobs for person in merged[job.image_id]]
        encoded = json.dumps(detections).encode("utf-8")
        digest = hashlib.sha256(encoded).hexdigest()
        path = atomic.write_bytes(decoder.cache.directory / f"results-{digest[:16]}.json", encoded)
        decode_ms = tuple(ms for part, _ in gathered for ms in part.decode_ms[position])
        results.append(RowPrediction(detections, path, digest, decode_ms, network.config))
    return [results[settings.index(setting)] for _, setting in decodings], throughput


def cache_fields(decoding: PipelineConfig, forward: PipelineConfig, run: DataRun, config: ReproduceConfig,
                 site: Site) -> dict[str, Any]:
    """Everything that can change a prediction: weights, pipeline, the network batches it was decoded
    from, data location, the code, and the environment (device model, library versions, thread count:
    float results depend on them)."""
    batching: dict[str, Any] = {"batch_size": config.batch_size}
    if config.batch_size > 1:  # which images share a batch depends on all forward scales
        batching["forward_scales"] = list(forward.scales)
    dataset = run.dataset
    fields = {"weights": run.weights.cache_id, "pipeline": decoding.to_dict(), "network_batches": batching,
              "device": site.device.type, "environment": site.environment_id,
              "images": str(dataset.img_dir.resolve()), "annotations": str(dataset.ann_file.resolve()),
              "annotations_sha256": run.digests.annotations, "reference_code": reference_code_version()}
    if decoding.precision in QUANTIZED:  # the calibration images change every image's prediction
        fields["calibration_images"] = [run.digests.images[image_id]
                                        for image_id, _ in calibration(dataset, config.calibration_images)]
    return fields


def calibration(dataset: CrowdPoseDataset, count: int) -> list[tuple[int, Path]]:
    """(id, path) of the images a quantized network calibrates on: the first ``count`` images of the data
    set being evaluated (all of them when it has fewer)."""
    return [(record["id"], dataset.image_path(record)) for record in dataset.images[:count]]


def progress_label(names: Sequence[str]) -> str:
    """The progress bar's label for one forward decoded as the rows ``names``: the row's name, or how
    many rows share it (a sweep's variant names joined would fill the terminal)."""
    return names[0] if len(names) == 1 else f"{len(names)} rows of one forward"
