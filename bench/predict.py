"""Run a Predictor over a list of images: decode ahead, overlap post-processing, batch, cache, resume.

Images are decoded ahead in DataLoader worker processes. Each network batch is preprocessed,
forwarded and aggregated in the calling thread; its grouping and mapping back to image pixels
(``Predictor.group`` and ``Predictor.to_image``) run in one worker thread while the next network batch
goes through the network. Results reach the cache in input order, one loaded batch at a time, and
equal ``Predictor.predict_batch`` on the same batches bit for bit: the same stages on the same inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from bench.data import read_image
from bench.errors import BenchError
from bench.prediction_cache import PredictionCache
from reference.pipeline import Batch, Poses, Predictor

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


def people_to_results(image_id: int, keypoints: np.ndarray, scores: np.ndarray) -> list[dict]:
    """mmpose's results-JSON entries for one image: flattened (x, y, score) keypoints, the person score,
    and the keypoint-extent box, in the predictor's order."""
    results = []
    for person, score in zip(keypoints, scores, strict=True):
        x_min, y_min = person[:, :2].min(axis=0)
        x_max, y_max = person[:, :2].max(axis=0)
        results.append({
            "image_id": int(image_id),
            "category_id": 1,
            "keypoints": [float(v) for v in person[:, :3].reshape(-1)],
            "score": float(score),
            "bbox": [float(x_min), float(y_min), float(x_max - x_min), float(y_max - y_min)],
        })
    return results


def _network_stages(
    predictor: Predictor, images: list[np.ndarray]
) -> tuple[torch.Tensor, torch.Tensor, Batch]:
    """Preprocess, forward and aggregate one network batch: (heatmaps, tags, batch)."""
    batch = predictor.to_device(predictor.preprocess(images))
    heatmaps, tags = predictor.aggregate(predictor.forward(batch), batch)
    return heatmaps, tags, batch


def _post_stages(
    predictor: Predictor, heatmaps: torch.Tensor, tags: torch.Tensor, batch: Batch
) -> list[Poses]:
    """Group one network batch and map its people back to image pixels."""
    return predictor.to_image(predictor.group(heatmaps, tags), batch)


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
                maps = _network_stages(predictor, [images[index] for index in indices])
                if newest is not None:
                    newest.result()
                newest = pool.submit(_post_stages, predictor, *maps)
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
