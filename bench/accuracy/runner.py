"""Run a Predictor over a list of images: decode ahead, overlap post-processing, batch, cache, resume.

Images are decoded ahead in DataLoader worker processes. Each network batch goes through the
pipeline's network half (``Predictor.run_network``) once, in the calling thread; its decoding half
(``Predictor.decode``: grouping, mapping back to image pixels) runs in one worker thread, once per
``Decoder`` (the predictor's own settings, or a variant that reads the same network outputs), while
the next network batch goes through the network. Every decoder has finished a batch before the next
batch's decoding starts, so at most two network batches' outputs exist at a time (the one being
decoded and the one just forwarded), as with a single decoder. On CUDA the forward runs asynchronously
and the predictor copies each batch's pinned inputs on a copy stream, so the next batch's
preprocessing and copy overlap the current forward, as the JPEG decoding in the workers does. Results reach
each decoder's cache in input order, one loaded batch at a time, and equal
``Predictor.predict_batch`` of a predictor with the decoder's settings bit for bit: the same two
halves of the one pipeline on the same inputs (a variant with flip off decoded from a flip forward:
to float32 rounding, see ``reference.pipeline``).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from bench.accuracy.cache import PredictionCache, image_digests
from bench.data.images import read_image
from bench.errors import BenchError
from bench.evaluation.results import people_to_results
from reference.pipeline import (
    ForwardOutputs,
    PipelineConfig,
    Poses,
    Predictor,
    check_variant,
    input_limit_problem,
    shared_forward,
)

Entries = list[tuple[int, list[dict]]]


@dataclass(frozen=True)
class ImageJob:
    image_id: int
    path: Path


@dataclass(frozen=True)
class Decoder:
    """One decoding of the shared network outputs: ``variant`` settings (None: the predictor's own;
    see ``reference.pipeline.check_variant``) and the ``cache`` its predictions go to."""

    cache: PredictionCache
    variant: PipelineConfig | None = None


@dataclass(frozen=True)
class PredictionRun:
    """Per decoder (in the order given): every job's results-JSON entries by image id, and the decoding
    time in ms per image run through the network here (a network batch's time over its images;
    empty when everything came from the caches). ``computed``: images run through the network."""

    predictions: tuple[dict[int, list[dict]], ...]
    decode_ms: tuple[tuple[float, ...], ...]
    computed: int


class _DecodedImages(Dataset):
    """Decodes images in DataLoader workers so the device never waits on JPEG decoding, and checks each
    against the predictor's input limits. A file that cannot be decoded, or is over the limits, comes
    back as its BenchError, raised in the main process without a worker trace."""

    def __init__(self, jobs: Sequence[ImageJob], input_problem: Callable[[int, int], str | None]):
        self.jobs = list(jobs)
        self.input_problem = input_problem

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, index: int) -> tuple[int, np.ndarray | BenchError]:
        job = self.jobs[index]
        try:
            image = read_image(job.path)
        except BenchError as error:
            return job.image_id, error
        problem = self.input_problem(*image.shape[:2])
        if problem:
            return job.image_id, BenchError(f"{job.path} (image id {job.image_id}): {problem}; raise the "
                                            "limits with --max-input-pixels / --max-aspect-ratio")
        return job.image_id, image


DecodedBatch = tuple[list[list[Poses]], list[float]]
"""Per decoder, the poses of each image of one network batch, and the decoding seconds per decoder."""


@dataclass
class _LoadedBatch:
    """One batch from the loader, whose network batches are in post-processing."""

    image_ids: list[int]
    parts: list[tuple[list[int], Future]] = field(default_factory=list)

    def succeeded(self) -> bool:
        """Wait for its post-processing; True if none of it raised."""
        futures = [future for _, future in self.parts]
        wait(futures)
        return all(future.exception() is None for future in futures)

    def entries(self, decoders: int) -> list[Entries]:
        """Per decoder, (image_id, results-JSON entries) in input order; re-raises a post-processing error."""
        poses: list[list[Poses | None]] = [[None] * len(self.image_ids) for _ in range(decoders)]
        for indices, future in self.parts:
            decoded, _ = future.result()
            for per_decoder, decoder_poses in zip(poses, decoded, strict=True):
                for index, image_poses in zip(indices, decoder_poses, strict=True):
                    per_decoder[index] = image_poses
        return [[(image_id, people_to_results(image_id, *image_poses))
                 for image_id, image_poses in zip(self.image_ids, per_decoder, strict=True)]
                for per_decoder in poses]

    def decode_ms(self, decoders: int) -> list[list[float]]:
        """Per decoder, the decoding time in ms of each image (its network batch's time over its size)."""
        times: list[list[float]] = [[] for _ in range(decoders)]
        for indices, future in self.parts:
            for samples, seconds in zip(times, future.result()[1], strict=True):
                samples += [1000.0 * seconds / len(indices)] * len(indices)
        return times


def _decoded(loaded: list[tuple[int, np.ndarray | BenchError]]) -> tuple[list[int], list[np.ndarray]]:
    """Image ids and images of a loaded batch; raises the BenchError of the first file that failed."""
    for _, image in loaded:
        if isinstance(image, BenchError):
            raise image
    return [image_id for image_id, _ in loaded], [image for _, image in loaded]


def _decode_all(predictor: Predictor, variants: Sequence[PipelineConfig | None],
                outputs: ForwardOutputs) -> DecodedBatch:
    """Every decoder's poses of one network batch, one after the other, each timed."""
    decoded, seconds = [], []
    for variant in variants:
        start = time.perf_counter()
        decoded.append(predictor.decode(outputs, variant=variant))
        seconds.append(time.perf_counter() - start)
    return decoded, seconds


def _predict_in_order(predictor: Predictor, variants: Sequence[PipelineConfig | None],
                      loaded_batches: Iterable[list], pool: Executor, overlap: bool,
                      record: Callable[[_LoadedBatch], None]) -> None:
    """Run every loaded batch through the network once and through every decoder, and ``record`` it,
    batch by batch in order.

    At most one network batch is post-processed at a time (all decoders), while the next one is
    forwarded (without ``overlap``, right after its own forward). After an error, the batch before it
    is still recorded when its post-processing succeeded, so a rerun resumes behind it.
    """
    previous: _LoadedBatch | None = None
    newest: Future | None = None
    try:
        for loaded in loaded_batches:
            image_ids, images = _decoded(loaded)
            current = _LoadedBatch(image_ids)
            for indices in predictor.network_batches(images):
                outputs = _run_network(predictor, [images[index] for index in indices],
                                       [image_ids[index] for index in indices])
                if newest is not None:
                    newest.result()
                newest = pool.submit(_decode_all, predictor, variants, outputs)
                del outputs  # the decoding thread holds the only reference until it is done
                if not overlap:
                    newest.result()
                current.parts.append((indices, newest))
            if previous is not None:
                finished, previous = previous, None  # not recorded twice if recording itself fails
                record(finished)
            previous = current
    except Exception:
        if previous is not None and previous.succeeded():
            record(previous)
        raise
    if previous is not None:
        record(previous)


def _run_network(predictor: Predictor, images: list[np.ndarray], image_ids: list[int]) -> ForwardOutputs:
    """``predictor.run_network``; a CUDA out-of-memory error becomes a BenchError naming the batch."""
    try:
        return predictor.run_network(images)
    except torch.cuda.OutOfMemoryError as error:
        sizes = sorted({f"{image.shape[1]}x{image.shape[0]}" for image in images})
        raise BenchError(f"CUDA ran out of memory on a network batch of {len(images)} image(s) (ids "
                         f"{image_ids}, sizes {', '.join(sizes)}) at scales {list(predictor.config.scales)}: "
                         f"{str(error).splitlines()[0]}. Try a smaller --batch-size, or lower "
                         "--max-input-pixels to refuse such images up front") from None


def _check_counts(batch_size: int, workers: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise BenchError(f"batch_size must be a positive integer, got {batch_size!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise BenchError(f"workers must be a non-negative integer, got {workers!r}")


def predict_images(
    predictor: Predictor,
    jobs: Sequence[ImageJob],
    decoders: Sequence[Decoder],
    batch_size: int = 1,
    workers: int = 2,
    description: str = "predict",
    progress_bar: bool = True,
    overlap: bool = True,
    digests: Mapping[int, str] | None = None,
) -> PredictionRun:
    """Every decoder's predictions for every job, taken from its cache where present (and predicted
    from an image file with the same content digest as now).

    An image missing from any decoder's cache goes through the network once and through every
    decoder; each decoder's cache gets the images it lacks, per loaded batch of ``batch_size`` images,
    in order. ``workers`` decode ahead (0: in this process); with ``overlap`` the decoding of one
    network batch runs in a thread while the next is forwarded. A file that cannot be read raises
    BenchError naming it, after the batches before it are cached. A variant that needs another forward
    than the predictor's is refused (BenchError naming the setting) before any work. ``digests`` (image
    id -> sha256 of the file) are the images' content digests when the caller has them already.
    """
    _check_counts(batch_size, workers)
    if not decoders:
        raise BenchError("predict_images needs at least one decoder")
    for decoder in decoders:
        if decoder.variant is not None:
            try:
                check_variant(predictor.config, decoder.variant)
            except ValueError as error:
                raise BenchError(f"cannot decode this variant from the shared forward: {error}") from None
    if digests is None:
        digests = image_digests({job.image_id: job.path for job in jobs})
    done = [decoder.cache.load(digests) for decoder in decoders]
    todo = [job for job in jobs if any(job.image_id not in cached for cached in done)]
    decode_ms: list[list[float]] = [[] for _ in decoders]
    loader = DataLoader(
        _DecodedImages(todo, functools.partial(input_limit_problem, input_size=predictor.config.input_size,
                                               scales=predictor.config.scales,
                                               limits=predictor.input_limits)),
        batch_size=batch_size,
        num_workers=workers if len(todo) > batch_size else 0,
        collate_fn=list,
        persistent_workers=False,
    )
    with tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc=description, unit="img",
              disable=not progress_bar) as progress:

        def record(batch: _LoadedBatch) -> None:
            for decoder, cached, entries in zip(decoders, done, batch.entries(len(decoders)), strict=True):
                missing = [(image_id, people) for image_id, people in entries if image_id not in cached]
                decoder.cache.append((image_id, digests.get(image_id, ""), people)
                                     for image_id, people in missing)
                cached.update(missing)
            for samples, times in zip(decode_ms, batch.decode_ms(len(decoders)), strict=True):
                samples += times
            progress.update(len(batch.image_ids))

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="postprocess") as pool:
            _predict_in_order(predictor, [decoder.variant for decoder in decoders], loader, pool, overlap,
                              record)
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
