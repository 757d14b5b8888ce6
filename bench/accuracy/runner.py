"""Predicting a data set with the schedule (``bench.schedule``): cached, resumable, one forward for
several decodings.

``predict_images`` runs the images a decoding's cache lacks through the schedule: results reach each
decoder's cache in input order, one loaded batch at a time, and equal ``Predictor.predict_batch`` of a
predictor with the decoder's settings bit for bit (a variant with flip off decoded from a flip forward:
to float32 rounding, see ``reference.pipeline``). ``plan_forwards`` groups decodings into as few network
runs as their settings allow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tqdm import tqdm

from bench.accuracy.cache import PredictionCache, image_digests
from bench.errors import BenchError
from bench.evaluation.results import people_to_results
from bench.schedule import ImageJob, LoadedBatch, Network, Schedule, image_loader, run_schedule
from reference.pipeline import PipelineConfig, check_variant, shared_forward


@dataclass(frozen=True)
class Decoder:
    """One decoding of the shared network outputs: ``variant`` settings (None: the predictor's own;
    see ``reference.pipeline.check_variant``) and the ``cache`` its predictions go to."""

    cache: PredictionCache
    variant: PipelineConfig | None = None


DEFAULT_SCHEDULE = Schedule()


@dataclass(frozen=True)
class PredictionRun:
    """Per decoder (in the order given): every job's results-JSON entries by image id, and the decoding
    time in ms per image run through the network here (a network batch's time over its images;
    empty when everything came from the caches). ``computed``: images run through the network."""

    predictions: tuple[dict[int, list[dict]], ...]
    decode_ms: tuple[tuple[float, ...], ...]
    computed: int


def predict_images(
    network: Network,
    jobs: Sequence[ImageJob],
    decoders: Sequence[Decoder],
    schedule: Schedule = DEFAULT_SCHEDULE,
    progress: str | None = "predict",
) -> PredictionRun:
    """Every decoder's predictions for every job, taken from its cache where present (and predicted
    from an image file with the same content digest as now).

    An image missing from any decoder's cache goes through the network once and through every
    decoder; each decoder's cache gets the images it lacks, per loaded batch, in order. A file that
    cannot be read raises BenchError naming it, after the batches before it are cached. A variant that
    needs another forward than the network's is refused (BenchError naming the setting) before any
    work. A job without its ``digest`` has its file hashed here. ``progress``: the progress bar's label
    (None: no bar).
    """
    if not decoders:
        raise BenchError("predict_images needs at least one decoder")
    for decoder in decoders:
        if decoder.variant is not None:
            try:
                check_variant(network.config, decoder.variant)
            except ValueError as error:
                raise BenchError(f"cannot decode this variant from the shared forward: {error}") from None
    digests = {job.image_id: job.digest for job in jobs if job.digest is not None}
    digests.update(image_digests({job.image_id: job.path for job in jobs if job.digest is None}))
    done = [decoder.cache.load(digests) for decoder in decoders]
    todo = [job for job in jobs if any(job.image_id not in cached for cached in done)]
    decode_ms: list[list[float]] = [[] for _ in decoders]
    with tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc=progress, unit="img",
              disable=progress is None) as bar:

        def record(batch: LoadedBatch) -> bool:
            poses = batch.poses(len(decoders))
            for decoder, cached, decoder_poses in zip(decoders, done, poses, strict=True):
                missing = [(image_id, people_to_results(image_id, *image_poses))
                           for image_id, image_poses in zip(batch.image_ids, decoder_poses, strict=True)
                           if image_id not in cached]
                decoder.cache.append((image_id, digests.get(image_id, ""), people)
                                     for image_id, people in missing)
                cached.update(missing)
            for decoded in batch.decoded():
                for samples, seconds in zip(decode_ms, decoded.seconds, strict=True):
                    samples += [1000.0 * seconds / len(decoded.positions)] * len(decoded.positions)
            bar.update(len(batch.image_ids))
            return True

        if todo:
            run_schedule(network.build(), image_loader(todo, network, schedule),
                         [decoder.variant for decoder in decoders], schedule, record)
    return PredictionRun(
        predictions=tuple({job.image_id: cached[job.image_id] for job in jobs} for cached in done),
        decode_ms=tuple(tuple(samples) for samples in decode_ms), computed=len(todo))


def plan_forwards(variants: Sequence[PipelineConfig]) -> list[tuple[PipelineConfig, list[int]]]:
    """Group decoding settings into as few network runs as possible: (the forward, the indices of the
    ``variants`` it serves), in order of first appearance. A variant joins the first group whose
    shared forward (``reference.pipeline.shared_forward``) still serves every member."""
    plans: list[tuple[PipelineConfig, list[int]]] = []
    for index, variant in enumerate(variants):
        for position, (_, members) in enumerate(plans):
            try:
                forward = shared_forward([variants[member] for member in members] + [variant])
            except ValueError:
                continue
            plans[position] = (forward, [*members, index])
            break
        else:
            plans.append((variant, [index]))
    return plans
