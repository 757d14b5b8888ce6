"""Run a Predictor over a list of images: decode ahead in worker processes, batch, cache, resume."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from bench.data import read_image
from bench.prediction_cache import PredictionCache
from reference.pipeline import Predictor


@dataclass(frozen=True)
class ImageJob:
    image_id: int
    path: Path


class _DecodedImages(Dataset):
    """Decodes images in DataLoader workers so the device never waits on JPEG decoding."""

    def __init__(self, jobs: Sequence[ImageJob]):
        self.jobs = list(jobs)

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, index: int) -> tuple[int, np.ndarray]:
        job = self.jobs[index]
        return job.image_id, read_image(job.path)


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


def predict_images(
    predictor: Predictor,
    jobs: Sequence[ImageJob],
    cache: PredictionCache,
    batch_size: int = 1,
    workers: int = 2,
    description: str = "predict",
    progress_bar: bool = True,
) -> dict[int, list[dict]]:
    """Predictions for every job, taken from ``cache`` where present; new ones are appended per batch."""
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
        for batch in loader:
            image_ids = [image_id for image_id, _ in batch]
            with torch.inference_mode():
                outputs = predictor.predict_batch([image for _, image in batch])
            entries = [
                (image_id, people_to_results(image_id, keypoints, scores))
                for image_id, (keypoints, scores) in zip(image_ids, outputs, strict=True)
            ]
            cache.append(entries)
            done.update(entries)
            progress.update(len(batch))
    return {job.image_id: done[job.image_id] for job in jobs}
