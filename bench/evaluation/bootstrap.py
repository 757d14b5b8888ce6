"""Image-level bootstrap intervals for AP, AP50, AP75 and AP(E/M/H), re-accumulating precomputed matches.

A resample draws as many images as the run has, with replacement; an image drawn k times counts as k
images (k copies of its detections, its GT and its crowd index). Matching is per image
(:mod:`bench.evaluation.matching`), so a resample only changes the accumulation, and is computed as a
weight per image: detections are sorted by score once, as COCOeval's accumulate sorts them (stable,
images in id order), and each resample takes weighted cumulative sums of the true and counted
detections in that order. With every weight 1 this is COCOeval's accumulate operation for operation
(integer counts are exact in float64), so the identity resample gives the evaluator's numbers exactly.

Ties in score: the one stable sort keeps COCOeval's mergesort order, tied detections of different
images in image-id order. A resample written out with fresh ids (consecutive copies, in original id
order) sorts the same way, so its numbers are exactly the weighted ones, except where one image holds
two detections of the same score: COCOeval interleaves their copies (d1 d2 d1 d2), the weights keep
each detection's copies together (d1 d1 d2 d2), which moves the precision read inside that tie block
only (measured < 1e-3 AP on generated data full of such ties; model scores rarely tie). Copies of
a GT with annotation id 0 keep the official "unmatched" marker, as the image's matches are reused.

Intervals are percentile intervals. Resamples in which a metric is undefined (-1: no non-ignored GT in
the split) are left out of that metric's interval; a metric undefined in every resample has none.
Shape letters: S resamples, R runs, M metrics, T thresholds, N detections, I images.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.evaluation import protocol
from bench.evaluation.matching import ImageMatches

INTERVAL_METRICS = ("AP", "AP50", "AP75") + protocol.SPLIT_NAMES
METHOD = "percentile"
RESAMPLED = ("images, with replacement, as many as the run has; an image drawn k times counts k times "
             "(its detections, GT and crowd index); the same draws for every metric and every run")


@dataclass(frozen=True)
class BootstrapSettings:
    """How intervals are drawn: ``resamples`` (0: none), the generator ``seed``, the ``confidence``."""

    resamples: int = 1000
    seed: int = 0
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if self.resamples < 0:
            raise ValueError(f"bootstrap resamples must be >= 0, got {self.resamples}")
        if self.seed < 0:
            raise ValueError(f"bootstrap seed must be >= 0, got {self.seed}")
        if not 0.0 < self.confidence < 1.0:
            raise ValueError(f"bootstrap confidence must be in (0, 1), got {self.confidence}")

    def to_dict(self) -> dict[str, Any]:
        """The settings as a report records them, with the method and what is resampled."""
        return {"resamples": self.resamples, "seed": self.seed, "confidence": self.confidence,
                "method": METHOD, "resampled": RESAMPLED}


@dataclass(frozen=True, eq=False)
class _Split:
    """One accumulation (all images, or a crowdIndex split): its n detections in score order, and per
    threshold the positions of its true positives and of its ignored detections in that order."""

    det_image: np.ndarray  # [n] image position of each detection
    true_positions: tuple[np.ndarray, ...]  # T arrays of positions
    ignored_positions: tuple[np.ndarray, ...]  # T arrays of positions
    ignored_before: tuple[np.ndarray, ...]  # T arrays: ignored detections before each true positive
    images: np.ndarray  # [I] bool: the split's images


@dataclass(frozen=True, eq=False)
class Accumulation:
    """A run's matches laid out for weighted re-accumulation: the full set, then easy, medium, hard."""

    image_ids: np.ndarray
    positive_gt: np.ndarray
    splits: tuple[_Split, ...]


def _split(matches: ImageMatches, order: np.ndarray, images: np.ndarray) -> _Split:
    members = order[images[matches.det_image[order]]]
    true_positions = tuple(np.flatnonzero(row) for row in matches.true_positive[:, members])
    ignored_positions = tuple(np.flatnonzero(row) for row in matches.ignored[:, members])
    return _Split(matches.det_image[members], true_positions, ignored_positions,
                  tuple(np.searchsorted(ignored, true) for ignored, true in zip(
                      ignored_positions, true_positions, strict=True)), images)


def prepare(matches: ImageMatches) -> Accumulation:
    """Sort the detections by score once (stable, as COCOeval) and cut out each split's share."""
    order = np.argsort(-matches.scores, kind="stable")
    low, high = protocol.SPLIT_THRESHOLDS
    crowd = matches.crowd_index
    masks = (np.ones(len(crowd), dtype=bool), crowd < low, (crowd >= low) & (crowd < high), crowd >= high)
    return Accumulation(matches.image_ids, matches.positive_gt,
                        tuple(_split(matches, order, images) for images in masks))


def _precision(split: _Split, weights: np.ndarray, positive_gt: np.ndarray) -> np.ndarray:
    """COCOeval's interpolated precision [T, 101] for image ``weights`` (-1 without non-ignored GT).

    Only the true positives are visited: the recall rises only there, and between two of them the
    precision falls (false positives) or stays (ignored, weight 0), so the precision COCOeval reads at
    each recall point, the maximum from there on, is the maximum over the true positives from there
    on. The counts at each true positive are integers, the same float64 values COCOeval divides.
    """
    recall_thresholds = protocol.recall_thresholds()
    num_thresholds = len(split.true_positions)
    positives = np.dot(weights[split.images], positive_gt[split.images])
    if positives == 0:
        return np.full((num_thresholds, len(recall_thresholds)), -1.0)
    precision = np.zeros((num_thresholds, len(recall_thresholds)))
    det_weights = weights[split.det_image]
    detections_so_far = np.cumsum(det_weights)
    for threshold, (true, ignored, ignored_before) in enumerate(zip(
            split.true_positions, split.ignored_positions, split.ignored_before, strict=True)):
        if not len(true):
            continue
        tp = np.cumsum(det_weights[true])
        ignored_so_far = np.concatenate(([0.0], np.cumsum(det_weights[ignored])))[ignored_before]
        counted = detections_so_far[true] - ignored_so_far
        interpolated = np.maximum.accumulate((tp / (counted + np.spacing(1)))[::-1])[::-1]
        at = np.searchsorted(tp / positives, recall_thresholds, side="left")
        inside = at < len(true)
        precision[threshold, inside] = interpolated[at[inside]]
    return precision


def weighted_metrics(accumulation: Accumulation, weights: np.ndarray) -> np.ndarray:
    """[M] values of :data:`INTERVAL_METRICS` with image ``weights`` [I] (copies per image)."""
    weights = weights.astype(np.float64)
    full, *splits = (_precision(split, weights, accumulation.positive_gt) for split in accumulation.splits)
    as_coco = full[:, :, None, None, None]  # [T, R, K, A, M] with one category, area range, maxDets
    summary = protocol.summarize(as_coco, np.zeros((full.shape[0], 1, 1, 1)))
    return np.array([summary["AP"], summary["AP50"], summary["AP75"]] + [
        protocol.split_average_precision(split[:, :, None, None, None]) for split in splits])


def resample_weights(num_images: int, settings: BootstrapSettings) -> Iterator[np.ndarray]:
    """``settings.resamples`` draws of [I] copy counts (multinomial over images), from ``settings.seed``."""
    generator = np.random.default_rng(settings.seed)
    for _ in range(settings.resamples):
        yield np.bincount(generator.integers(0, num_images, num_images), minlength=num_images)


def bootstrap_distributions(runs: Sequence[ImageMatches], settings: BootstrapSettings) -> np.ndarray:
    """[S, R, M] metrics of every run under the same resampled images (paired across runs).

    Raises:
        ValueError: the runs are not on the same images.
    """
    accumulations = [prepare(run) for run in runs]
    for accumulation in accumulations[1:]:
        if not np.array_equal(accumulation.image_ids, accumulations[0].image_ids):
            raise ValueError("paired bootstrap needs every run on the same images")
    num_images = len(accumulations[0].image_ids) if accumulations else 0
    samples = np.empty((settings.resamples, len(runs), len(INTERVAL_METRICS)))
    for index, weights in enumerate(resample_weights(num_images, settings)):
        samples[index] = [weighted_metrics(accumulation, weights) for accumulation in accumulations]
    return samples


def point_metrics(matches: ImageMatches) -> dict[str, float]:
    """The identity resample (every image once): the evaluator's values of :data:`INTERVAL_METRICS`."""
    values = weighted_metrics(prepare(matches), np.ones(len(matches.image_ids)))
    return dict(zip(INTERVAL_METRICS, values.tolist(), strict=True))


def percentile_interval(samples: np.ndarray, confidence: float) -> list[float] | None:
    """[low, high] of ``samples`` [S] at ``confidence``, or None when there are none."""
    if not samples.size:
        return None
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(samples, [tail, 1.0 - tail])
    return [float(low), float(high)]


def intervals(samples: np.ndarray, settings: BootstrapSettings) -> dict[str, list[float] | None]:
    """{metric: [low, high] or None} from one run's [S, M] samples, undefined (-1) resamples left out."""
    return {name: percentile_interval(samples[samples[:, m] > -1, m], settings.confidence)
            for m, name in enumerate(INTERVAL_METRICS)}


def paired_deltas(point_a: dict[str, float], point_b: dict[str, float], samples_a: np.ndarray,
                  samples_b: np.ndarray, settings: BootstrapSettings) -> dict[str, dict[str, Any]]:
    """{metric: {delta: B - A, ci95: [low, high] or None}} from paired [S, M] samples of A and B.

    Resamples where either run leaves the metric undefined are left out; the point delta is None
    where either point value is undefined.
    """
    deltas = {}
    for m, name in enumerate(INTERVAL_METRICS):
        defined = (samples_a[:, m] > -1) & (samples_b[:, m] > -1)
        point = None if point_a[name] == -1 or point_b[name] == -1 else point_b[name] - point_a[name]
        deltas[name] = {"delta": point, "ci95": percentile_interval(
            samples_b[defined, m] - samples_a[defined, m], settings.confidence)}
    return deltas
