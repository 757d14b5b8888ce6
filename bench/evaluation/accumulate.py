"""The nine CrowdPose numbers from per-image matches: COCOeval's accumulate and summary, with image weights.

Detections are sorted by score once, as COCOeval's accumulate sorts them (stable, images in id order),
and every accumulation (all images, then the easy, medium and hard splits) takes weighted cumulative
sums of the true and counted detections in that order. A weight is the number of times an image counts:
every weight 1 is the evaluator itself, operation for operation (integer counts are exact in float64),
and a bootstrap resample is a weight vector (``bench.evaluation.bootstrap``).

Shape letters: T thresholds, R recall thresholds, I images, n detections of one accumulation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.evaluation import protocol
from bench.evaluation.matching import ImageMatches


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
    """A run's matches laid out for weighted accumulation: the full set, then easy, medium, hard."""

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
    masks = (np.ones(len(matches.image_ids), dtype=bool), *protocol.split_masks(matches.crowd_index))
    return Accumulation(matches.image_ids, matches.positive_gt,
                        tuple(_split(matches, order, images) for images in masks))


def _precision_recall(split: _Split, weights: np.ndarray,
                      positive_gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """COCOeval's interpolated precision [T, R] and recall [T] for image ``weights`` (-1 without
    non-ignored GT).

    Only the true positives are visited: the recall rises only there, and between two of them the
    precision falls (false positives) or stays (ignored, weight 0), so the precision COCOeval reads at
    each recall point, the maximum from there on, is the maximum over the true positives from there
    on. The counts at each true positive are integers, the same float64 values COCOeval divides.
    """
    recall_thresholds = protocol.recall_thresholds()
    num_thresholds = len(split.true_positions)
    positives = np.dot(weights[split.images], positive_gt[split.images])
    if positives == 0:
        return np.full((num_thresholds, len(recall_thresholds)), -1.0), np.full(num_thresholds, -1.0)
    precision = np.zeros((num_thresholds, len(recall_thresholds)))
    recall = np.zeros(num_thresholds)
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
        rises = tp / positives
        at = np.searchsorted(rises, recall_thresholds, side="left")
        inside = at < len(true)
        precision[threshold, inside] = interpolated[at[inside]]
        recall[threshold] = rises[-1]
    return precision, recall


def weighted_metrics(accumulation: Accumulation, weights: np.ndarray) -> np.ndarray:
    """[9] values of :data:`protocol.METRIC_NAMES` with image ``weights`` [I] (copies per image)."""
    weights = weights.astype(np.float64)
    (precision, recall), *splits = (_precision_recall(split, weights, accumulation.positive_gt)
                                    for split in accumulation.splits)
    # as COCOeval lays them out: [T, R, K, A, M] and [T, K, A, M], one category, area range, maxDets
    summary = protocol.summarize(precision[:, :, None, None, None], recall[:, None, None, None])
    return np.array([summary[name] for name in protocol.SUMMARY_NAMES] + [
        protocol.split_average_precision(split_precision[:, :, None, None, None])
        for split_precision, _ in splits])


def point_metrics(matches: ImageMatches) -> dict[str, float]:
    """The nine numbers of the official protocol: every image counted once."""
    values = weighted_metrics(prepare(matches), np.ones(len(matches.image_ids)))
    return dict(zip(protocol.METRIC_NAMES, values.tolist(), strict=True))
