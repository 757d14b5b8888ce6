"""Image-level bootstrap intervals for AP, AP50, AP75 and AP(E/M/H), re-accumulating one set of matches.

A resample draws as many images as the run has, with replacement; an image drawn k times counts as k
images (k copies of its detections, its GT and its crowd index). Matching is per image
(:mod:`bench.evaluation.matching`), so a resample only changes the accumulation, and is computed as a
weight per image (:mod:`bench.evaluation.accumulate`); with every weight 1 that is the evaluator, so the
identity resample gives the evaluator's numbers exactly.

Ties in score: the one stable sort keeps COCOeval's mergesort order, tied detections of different
images in image-id order. A resample written out with fresh ids (consecutive copies, in original id
order) sorts the same way, so its numbers are exactly the weighted ones, except where one image holds
two detections of the same score: COCOeval interleaves their copies (d1 d2 d1 d2), the weights keep
each detection's copies together (d1 d1 d2 d2), which moves the precision read inside that tie block
only (measured < 1e-3 AP on generated data full of such ties; model scores rarely tie). Copies of
a GT with annotation id 0 keep the official "unmatched" marker, as the image's matches are reused.

Intervals are percentile intervals. Resamples in which a metric is undefined (-1: no non-ignored GT in
the split) are left out of that metric's interval; a metric undefined in every resample has none.
Shape letters: S resamples, R runs, M metrics, I images.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.evaluation import protocol
from bench.evaluation.accumulate import prepare, weighted_metrics
from bench.evaluation.matching import ImageMatches
from bench.limits import LARGEST_INTEGER, integer_problem

INTERVAL_METRICS = protocol.AP_NAMES
_INTERVAL_POSITIONS = [protocol.METRIC_NAMES.index(name) for name in INTERVAL_METRICS]
METHOD = "percentile"
RESAMPLED = ("images, with replacement, as many as the run has; an image drawn k times counts k times "
             "(its detections, GT and crowd index); the same draws for every metric and every run")
STRATIFIED_RESAMPLED = ("images within each crowd-index split (easy, medium, hard), with replacement, as "
                        "many as the split has in the run; otherwise as unstratified")
MAX_RESAMPLES = 100_000
"""Most bootstrap resamples: intervals settle long before (the default is 1,000), and every resample
re-accumulates every run, so 10^12 would run for ever (or fail allocating its samples)."""
@dataclass(frozen=True)
class BootstrapSettings:
    """How intervals are drawn: ``resamples`` (0: none), the generator ``seed``, the ``confidence``."""

    resamples: int = 1000
    seed: int = 0
    confidence: float = 0.95

    def __post_init__(self) -> None:
        """ValueError naming the setting, when the settings are made: never after the predictions."""
        problem = (integer_problem("bootstrap resamples", self.resamples, 0, MAX_RESAMPLES)
                   or integer_problem("bootstrap seed", self.seed, 0, LARGEST_INTEGER))
        if problem:
            raise ValueError(problem)
        confidence = self.confidence
        if isinstance(confidence, bool) or not isinstance(confidence, numbers.Real) \
                or not 0.0 < confidence < 1.0:
            raise ValueError(f"bootstrap confidence must be a number in (0, 1), got {confidence!r}")

    def to_dict(self, stratified: bool = False) -> dict[str, Any]:
        """The settings as a report records them, with the method and what is resampled (``stratified``:
        within the crowd-index splits of a stratified subset)."""
        return {"resamples": self.resamples, "seed": self.seed, "confidence": self.confidence,
                "method": METHOD, "resampled": STRATIFIED_RESAMPLED if stratified else RESAMPLED}


def resample_weights(num_images: int, settings: BootstrapSettings,
                     strata: np.ndarray | None = None) -> Iterator[np.ndarray]:
    """``settings.resamples`` draws of [I] copy counts (multinomial over images), from ``settings.seed``;
    with ``strata`` [I] (labels), as many images drawn within each stratum as it has."""
    generator = np.random.default_rng(settings.seed)
    members = [np.arange(num_images)] if strata is None else [
        np.flatnonzero(strata == label) for label in np.unique(strata)]
    for _ in range(settings.resamples):
        drawn = np.concatenate([group[generator.integers(0, len(group), len(group))] for group in members])
        yield np.bincount(drawn, minlength=num_images)


def bootstrap_distributions(runs: Sequence[ImageMatches], settings: BootstrapSettings,
                            strata: np.ndarray | None = None,
                            image_weights: np.ndarray | None = None) -> np.ndarray:
    """[S, R, M] metrics of every run under the same resampled images (paired across runs), drawn within
    ``strata`` [I] where given (a stratified subset), each copy of an image counting ``image_weights``
    [I] times (default 1: the images a stratified image stands for, in a full-set estimate).

    Raises:
        ValueError: the runs are not on the same images.
    """
    accumulations = [prepare(run) for run in runs]
    for accumulation in accumulations[1:]:
        if not np.array_equal(accumulation.image_ids, accumulations[0].image_ids):
            raise ValueError("paired bootstrap needs every run on the same images")
    num_images = len(accumulations[0].image_ids) if accumulations else 0
    scale = np.ones(num_images) if image_weights is None else image_weights
    samples = np.empty((settings.resamples, len(runs), len(INTERVAL_METRICS)))
    for index, weights in enumerate(resample_weights(num_images, settings, strata)):
        samples[index] = [weighted_metrics(accumulation, weights * scale)[_INTERVAL_POSITIONS]
                          for accumulation in accumulations]
    return samples


Interval = tuple[float, float]


@dataclass(frozen=True)
class PairedDelta:
    """One metric's difference B - A (None where either value is undefined, -1) and its paired
    percentile interval (None where no resample defines it for both runs)."""

    delta: float | None
    ci95: Interval | None


def percentile_interval(samples: np.ndarray, confidence: float) -> Interval | None:
    """(low, high) of ``samples`` [S] at ``confidence``, or None when there are none."""
    if not samples.size:
        return None
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(samples, [tail, 1.0 - tail])
    return float(low), float(high)


def intervals(samples: np.ndarray, settings: BootstrapSettings) -> dict[str, Interval | None]:
    """{metric: (low, high) or None} from one run's [S, M] samples, undefined (-1) resamples left out."""
    return {name: percentile_interval(samples[samples[:, m] > -1, m], settings.confidence)
            for m, name in enumerate(INTERVAL_METRICS)}


def paired_deltas(point_a: dict[str, float], point_b: dict[str, float], samples_a: np.ndarray,
                  samples_b: np.ndarray, settings: BootstrapSettings,
                  levels: dict[str, float] | None = None) -> dict[str, PairedDelta]:
    """{metric: B - A with its interval} from paired [S, M] samples of A and B, each interval the
    percentiles of ``levels[metric]`` where given (an expanded interval), else of ``settings.confidence``.

    Resamples where either run leaves the metric undefined are left out; the point delta is None
    where either point value is undefined.
    """
    deltas = {}
    for m, name in enumerate(INTERVAL_METRICS):
        defined = (samples_a[:, m] > -1) & (samples_b[:, m] > -1)
        point = None if point_a[name] == -1 or point_b[name] == -1 else point_b[name] - point_a[name]
        level = (levels or {}).get(name, settings.confidence)
        differences = samples_b[defined, m] - samples_a[defined, m]
        deltas[name] = PairedDelta(point, percentile_interval(differences, level))
    return deltas
