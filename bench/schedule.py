"""The schedule the pipeline runs on over image files: the one `bench reproduce` predicts with and
`bench profile` times.

Images are read (JPEG decoding, ``read_image``) ahead in DataLoader worker processes. Each network batch
goes through the pipeline's network half (``Predictor.run_network``) in the calling thread; its
decoding half (``Predictor.decode``: aggregation, grouping, mapping back) runs in one worker thread,
once per decoding (the predictor's own settings, or a variant that reads the same network outputs),
while the next network batch goes through the network. Every decoding has finished a batch before the
next batch's decoding starts, so at most two network batches' outputs exist at a time. On CUDA the
forward runs asynchronously and the predictor copies each batch's pinned inputs on a copy stream, so
the next batch's preprocessing and copy overlap the current forward. ``Schedule`` says how much
overlaps; ``Schedule(workers=0, overlap=False)`` runs every stage one after the other (serial).

A ``Clock`` observes the schedule: every stage of every network batch, wherever it ran (the read time
measured in the worker, the network stages in this thread, the decoding stages in the decoding
thread), and the moment each batch is finished. ``bench.speed.timer.StageTimer`` is one; the default
observes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from bench.data.images import read_image
from bench.errors import BenchError
from bench.limits import integer_problem
from reference.pipeline import (
    ForwardOutputs,
    InputLimits,
    MapsReplacement,
    PipelineConfig,
    Poses,
    Predictor,
    input_limit_problem,
)

READ_IMAGE = "read_image"
"""The stage that reads and decodes an image file (in a worker process when there are workers)."""
MAX_BATCH_SIZE = 256
"""Most images per loaded batch (``--batch-size``): far above what fills a GPU at the published input
size, below what exhausts memory reading them ahead."""
MAX_WORKERS = 64
"""Most image-reading worker processes (``workers``): each is a process with its own memory."""


@dataclass(frozen=True)
class ImageJob:
    """One image file to predict; ``digest``: the sha256 of its content where the caller has it (the
    prediction caches key images by it)."""

    image_id: int
    path: Path
    digest: str | None = None


@dataclass(frozen=True)
class Schedule:
    """How images flow through the pipeline: ``batch_size`` images per loaded batch, ``workers``
    processes reading images ahead of the network (0: in this process, before each batch), and
    ``overlap``: the decoding half of one network batch runs in a thread while the next batch goes
    through the network (else in the calling thread, after the batch's forward)."""

    batch_size: int = 1
    workers: int = 2
    overlap: bool = True

    def __post_init__(self) -> None:
        """BenchError naming the setting (``--batch-size``, ``workers``), its value and its limit: a
        run's config makes its schedules when it is made, so this refuses them before any work."""
        problem = (integer_problem("--batch-size", self.batch_size, 1, MAX_BATCH_SIZE)
                   or integer_problem("workers", self.workers, 0, MAX_WORKERS))
        if problem:
            raise BenchError(problem)

    @property
    def name(self) -> str:
        """"overlapped" (workers ahead and decoding beside the network) or "serial" (one stage at a time)."""
        return "serial" if not self.overlap and self.workers == 0 else "overlapped"


@dataclass(frozen=True)
class Network:
    """The forward to run, the input limits, and how to get its predictor: built only when an image
    needs the network (a run whose every image is cached builds none)."""

    config: PipelineConfig
    input_limits: InputLimits
    build: Callable[[], Predictor]

    @classmethod
    def of(cls, predictor: Predictor) -> Network:
        return cls(predictor.config, predictor.input_limits, lambda: predictor)

    def input_problem(self, height: int, width: int) -> str | None:
        config = self.config
        return input_limit_problem(height, width, config.input_size, config.scales, self.input_limits)


class BatchClock(Protocol):
    """Observes one network batch: its stages as they start and stop (``reference.stages.StageObserver``),
    and durations measured elsewhere (``record``, e.g. the read time in a worker)."""

    def start(self, stage: str) -> None: ...

    def stop(self, stage: str) -> None: ...

    def record(self, stage: str, elapsed_ms: float) -> None: ...


class Clock(Protocol):
    """Observes the schedule: ``batch(index)`` observes network batch ``index`` (counted from 0 in run
    order); ``finished(index)`` is called when its last decoding stage is done."""

    def batch(self, index: int) -> BatchClock: ...

    def finished(self, index: int) -> None: ...


class _Unobserved:
    """The default clock: observes nothing."""

    def batch(self, index: int) -> _Unobserved:
        return self

    def start(self, stage: str) -> None:
        """Nothing to do."""

    def stop(self, stage: str) -> None:
        """Nothing to do."""

    def record(self, stage: str, elapsed_ms: float) -> None:
        """Nothing to do."""

    def finished(self, index: int) -> None:
        """Nothing to do."""


UNOBSERVED = _Unobserved()


Loaded = tuple[int, np.ndarray | BenchError, float]
"""One image from the loader: its id, the RGB image (or the BenchError of a file that failed), and the
milliseconds its reading took."""


class _ReadImages(Dataset):
    """Reads images in DataLoader workers so the network never waits on JPEG decoding, and checks each
    against the network's input limits. A file that cannot be decoded, or is over the limits, comes
    back as its BenchError, raised in the main process without a worker trace."""

    def __init__(self, jobs: Sequence[ImageJob], input_problem: Callable[[int, int], str | None]):
        self.jobs = jobs
        self.input_problem = input_problem

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, index: int) -> Loaded:
        job = self.jobs[index]
        start = time.perf_counter()
        try:
            image = read_image(job.path)
        except BenchError as error:
            return job.image_id, error, 0.0
        elapsed_ms = 1000.0 * (time.perf_counter() - start)
        problem = self.input_problem(*image.shape[:2])
        if problem:
            return job.image_id, BenchError(f"{job.path} (image id {job.image_id}): {problem}; raise the "
                                            "input limits (max_input_pixels / max_aspect_ratio)"), 0.0
        return job.image_id, image, elapsed_ms


def image_loader(jobs: Sequence[ImageJob], network: Network, schedule: Schedule) -> DataLoader:
    """Batches of ``schedule.batch_size`` read images (``Loaded``), in job order."""
    return DataLoader(_ReadImages(jobs, network.input_problem), batch_size=schedule.batch_size,
                      num_workers=schedule.workers if len(jobs) > schedule.batch_size else 0,
                      collate_fn=list, persistent_workers=False)


@dataclass(frozen=True)
class DecodedBatch:
    """One network batch after every decoder: its index, the positions of its images in their loaded
    batch, per decoder the poses of each image, and per decoder the decoding seconds."""

    index: int
    positions: list[int]
    poses: list[list[Poses]]
    seconds: list[float]


@dataclass
class LoadedBatch:
    """One batch from the loader and its network batches in decoding."""

    image_ids: list[int]
    parts: list[Future] = field(default_factory=list)

    def succeeded(self) -> bool:
        """Wait for its decoding; True if none of it raised."""
        wait(self.parts)
        return all(part.exception() is None for part in self.parts)

    def decoded(self) -> list[DecodedBatch]:
        """Its network batches, decoded (re-raises a decoding error)."""
        return [part.result() for part in self.parts]

    def poses(self, decoders: int) -> list[list[Poses]]:
        """Per decoder, the poses of each image in input order."""
        poses: list[list[Poses | None]] = [[None] * len(self.image_ids) for _ in range(decoders)]
        for decoded in self.decoded():
            for per_decoder, decoder_poses in zip(poses, decoded.poses, strict=True):
                for position, image_poses in zip(decoded.positions, decoder_poses, strict=True):
                    per_decoder[position] = image_poses
        return poses


def run_schedule(predictor: Predictor, loaded_batches: Iterable[list[Loaded]],
                 variants: Sequence[PipelineConfig | None], schedule: Schedule,
                 on_batch: Callable[[LoadedBatch], bool], clock: Clock = UNOBSERVED,
                 replacement: Callable[[list[int]], MapsReplacement | None] | None = None) -> None:
    """Every loaded batch through the network once and through every decoder, then ``on_batch``, batch
    by batch in order, until the batches run out or ``on_batch`` returns False.

    With ``schedule.overlap`` one network batch is decoded (all decoders, in the decoding thread) while
    the next one goes through the network, else right after its own forward, in this thread. After an
    error, the batch before it is still handed on when its decoding succeeded, so a rerun resumes
    behind it. ``replacement`` gives, for a network batch's image ids, the pipeline's ``replace_maps``
    (a profiler's rendered maps).
    """
    previous: LoadedBatch | None = None
    newest: Future | None = None
    count = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode") as pool:
        try:
            for loaded in loaded_batches:
                image_ids, images, read_ms = _unpacked(loaded)
                current = LoadedBatch(image_ids)
                for positions in predictor.network_batches(images):
                    batch_ids = [image_ids[position] for position in positions]
                    batch_clock = clock.batch(count)
                    batch_clock.record(READ_IMAGE, sum(read_ms[position] for position in positions))
                    outputs = _run_network(predictor, [images[position] for position in positions], batch_ids,
                                           batch_clock)
                    if newest is not None:
                        newest.result()
                    maps = replacement(batch_ids) if replacement else None
                    job = _DecodeJob(count, positions, batch_clock, maps)
                    if schedule.overlap:
                        newest = pool.submit(_decode_all, predictor, variants, outputs, job, clock)
                    else:  # one stage after the other, all in this thread
                        newest = _done(_decode_all, predictor, variants, outputs, job, clock)
                    del outputs  # the decoding holds the only reference until it is done
                    count += 1
                    current.parts.append(newest)
                if previous is not None:
                    finished, previous = previous, None  # not handed on twice if on_batch itself fails
                    if not on_batch(finished):
                        current.succeeded()
                        on_batch(current)
                        return
                previous = current
        except Exception:
            if previous is not None and previous.succeeded():
                on_batch(previous)
            raise
        if previous is not None:
            previous.succeeded()
            on_batch(previous)


def _done(function: Callable, *arguments) -> Future:
    """``function(*arguments)`` run now, as a finished Future (holding its result or its exception)."""
    future: Future = Future()
    try:
        future.set_result(function(*arguments))
    except Exception as error:  # handed on as a decoding thread's error would be
        future.set_exception(error)
    return future


def _unpacked(loaded: list[Loaded]) -> tuple[list[int], list[np.ndarray], list[float]]:
    """Image ids, images and read times of a loaded batch; raises the BenchError of the first file that
    failed."""
    for _, image, _ in loaded:
        if isinstance(image, BenchError):
            raise image
    return [item[0] for item in loaded], [item[1] for item in loaded], [item[2] for item in loaded]


@dataclass(frozen=True)
class _DecodeJob:
    """What the decoding of one network batch needs beside its outputs: its index, its images' positions
    in their loaded batch, its clock, and the maps to decode instead of the network's, if any."""

    index: int
    positions: list[int]
    batch_clock: BatchClock
    replace_maps: MapsReplacement | None


def _decode_all(predictor: Predictor, variants: Sequence[PipelineConfig | None], outputs: ForwardOutputs,
                job: _DecodeJob, clock: Clock) -> DecodedBatch:
    """Every decoder's poses of one network batch, one after the other, each timed; then the batch is
    finished on the clock."""
    poses, seconds = [], []
    for variant in variants:
        start = time.perf_counter()
        poses.append(predictor.decode(outputs, job.batch_clock, replace_maps=job.replace_maps,
                                      variant=variant))
        seconds.append(time.perf_counter() - start)
    clock.finished(job.index)
    return DecodedBatch(job.index, job.positions, poses, seconds)


def _run_network(predictor: Predictor, images: list[np.ndarray], image_ids: list[int],
                 batch_clock: BatchClock) -> ForwardOutputs:
    """``predictor.run_network``; a CUDA out-of-memory error becomes a BenchError naming the batch."""
    try:
        return predictor.run_network(images, batch_clock)
    except torch.cuda.OutOfMemoryError as error:
        sizes = sorted({f"{image.shape[1]}x{image.shape[0]}" for image in images})
        raise BenchError(f"CUDA ran out of memory on a network batch of {len(images)} image(s) (ids "
                         f"{image_ids}, sizes {', '.join(sizes)}) at scales {list(predictor.config.scales)}: "
                         f"{str(error).splitlines()[0]}. Try a smaller --batch-size, or lower "
                         "max_input_pixels to refuse such images up front") from None
