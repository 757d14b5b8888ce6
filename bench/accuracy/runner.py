"""Run a Predictor over a list of images: decode ahead, overlap post-processing, batch, cache, resume.

Images are decoded ahead in DataLoader worker processes. Each network batch goes through the
pipeline's network half (``Predictor.run_network``) in the calling thread; its decoding half
(``Predictor.decode``: grouping, mapping back to image pixels) runs in one worker thread while the next
network batch goes through the network. Results reach the cache in input order, one loaded batch at a
time, and equal ``Predictor.predict_batch`` on the same batches bit for bit: the same two halves of the
one pipeline on the same inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from bench.accuracy.cache import PredictionCache
from bench.data.images import read_image
from bench.errors import BenchError
from bench.evaluation.results import people_to_results
from reference.pipeline import Poses, Predictor

Entries = list[tuple[int, list[dict]]]


@dataclass(frozen=True)
class ImageJob:
    image_id: int
    path: Path


class _DecodedImages(Dataset):
    """Decodes images in DataLoader workers so the device never waits on JPEG decoding. A file that
    cannot be decoded comes back as its BenchError, raised in the main process without a worker trace."""

    def __init__(self, jobs: Sequence[ImageJob]):
        self.jobs = list(jobs)

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, index: int) -> tuple[int, np.ndarray | BenchError]:
        job = self.jobs[index]
        try:
            return job.image_id, read_image(job.path)
        except BenchError as error:
            return job.image_id, error


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

    def entries(self) -> Entries:
        """(image_id, results-JSON entries) in input order; re-raises a post-processing error."""
        poses: list[Poses | None] = [None] * len(self.image_ids)
        for indices, future in self.parts:
            for index, image_poses in zip(indices, future.result(), strict=True):
                poses[index] = image_poses
        return [(image_id, people_to_results(image_id, *image_poses))
                for image_id, image_poses in zip(self.image_ids, poses, strict=True)]


def _decoded(loaded: list[tuple[int, np.ndarray | BenchError]]) -> tuple[list[int], list[np.ndarray]]:
    """Image ids and images of a loaded batch; raises the BenchError of the first file that failed."""
    for _, image in loaded:
        if isinstance(image, BenchError):
            raise image
    return [image_id for image_id, _ in loaded], [image for _, image in loaded]


def _predict_in_order(predictor: Predictor, loaded_batches: Iterable[list], pool: Executor, overlap: bool,
                      record: Callable[[Entries], None]) -> None:
    """Run every loaded batch through the predictor and ``record`` its entries, batch by batch in order.

    At most one network batch is post-processed at a time, while the next one is forwarded (without
    ``overlap``, right after its own forward). After an error, the batch before it is still recorded
    when its post-processing succeeded, so a rerun resumes behind it.
    """
    previous: _LoadedBatch | None = None
    newest: Future | None = None
    try:
        for loaded in loaded_batches:
            image_ids, images = _decoded(loaded)
            current = _LoadedBatch(image_ids)
            for indices in predictor.network_batches(images):
                maps = predictor.run_network([images[index] for index in indices])
                if newest is not None:
                    newest.result()
                newest = pool.submit(predictor.decode, maps)
                if not overlap:
                    newest.result()
                current.parts.append((indices, newest))
            if previous is not None:
                finished, previous = previous, None  # not recorded twice if recording itself fails
                record(finished.entries())
            previous = current
    except Exception:
        if previous is not None and previous.succeeded():
            record(previous.entries())
        raise
    if previous is not None:
        record(previous.entries())


def predict_images(
    predictor: Predictor,
    jobs: Sequence[ImageJob],
    cache: PredictionCache,
    batch_size: int = 1,
    workers: int = 2,
    description: str = "predict",
    progress_bar: bool = True,
    overlap: bool = True,
) -> dict[int, list[dict]]:
    """Predictions for every job, taken from ``cache`` where present; new ones are appended per loaded
    batch of ``batch_size`` images, in order. ``workers`` decode ahead (0: in this process); with
    ``overlap`` the grouping of one network batch runs in a thread while the next is forwarded.
    A file that cannot be read raises BenchError naming it, after the batches before it are cached."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise BenchError(f"batch_size must be a positive integer, got {batch_size!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise BenchError(f"workers must be a non-negative integer, got {workers!r}")
    done = cache.load()
    todo = [job for job in jobs if job.image_id not in done]
    loader = DataLoader(
        _DecodedImages(todo),
        batch_size=batch_size,
        num_workers=workers if len(todo) > batch_size else 0,
        collate_fn=list,
        persistent_workers=False,
    )
    with tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc=description, unit="img",
              disable=not progress_bar) as progress:

        def record(entries: Entries) -> None:
            cache.append(entries)
            done.update(entries)
            progress.update(len(entries))

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="postprocess") as pool:
            _predict_in_order(predictor, loader, pool, overlap, record)
    return {job.image_id: done[job.image_id] for job in jobs}
