"""Change points of one series of a figure over time (``bench.reports.history``): where its level moved.

The detector is ``changeforest`` (Londschien, Bühlmann and Kovács, JMLR 2023): binary segmentation
(the divisive search of E-Divisive) with a nonparametric two-sample gain, here the nearest-neighbour
classifier's (``method="knn"``: distance-based, as E-Divisive's energy statistic is), and a permutation
test deciding whether each split is significant, as E-Divisive decides. Apache Otava (formerly
MongoDB's Hunter), the issue's first choice, pins numpy==2.2.* and scipy<1.17 for Python 3.11, and
MongoDB's ``signal-processing-algorithms``, which Hunter is built on, numpy<2 and setuptools<71: both
conflict with this project's pins (constraints.txt), so neither can be installed beside it.

Measured on 300 generated series of 30 points each (Gaussian noise of 2 around 100; seeds 1000-1299):
a lone spike to 160 was marked in 2 of 300 and pure noise in 2 of 300; a step to 110 at a random point
(6 to 23) was found in all 300, within one point of it in 299, with a second, spurious change point
beside it in 4. On real histories a speed series also moves with the machine's state, so a change
point there is a question to ask (``bench ab`` answers it), not a verdict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

SIGNIFICANCE = 0.005
"""The permutation test's level (changeforest's ``model_selection_alpha``; its default, 0.02, marked a
lone spike in 5% of generated series): a split is kept when at most this share of its permutations gain
as much as it does."""

PERMUTATIONS = 999
"""Permutations per test (changeforest's ``model_selection_n_permutations``): enough for p-values well
below ``SIGNIFICANCE``."""

METHOD = "knn"
"""changeforest's nonparametric gain: a k-nearest-neighbour classifier's likelihood ratio."""

SEED = 0
"""changeforest's random seed (its permutations): the same series always gets the same change points."""

MIN_POINTS = 10
"""The fewest points a series needs: below 10, even a clean step halfway (every point before it equal,
every point after it equal) cannot reach ``SIGNIFICANCE`` in the permutation test. Shorter series get
no change point and are reported as too short to test."""


@dataclass(frozen=True)
class ChangePoint:
    """The series' level moved at ``index`` (the first point of the new level): ``before`` and ``after``
    are the means of the segments on either side (bounded by the neighbouring change points), and
    ``relative_change`` is ``after / before - 1`` (NaN where ``before`` is 0)."""

    index: int
    before: float
    after: float
    relative_change: float


def change_points(values: Sequence[float]) -> tuple[ChangePoint, ...]:
    """The change points of ``values`` (ordered oldest first), none for fewer than ``MIN_POINTS``."""
    series = np.asarray(values, dtype=float)
    if series.ndim != 1 or not np.isfinite(series).all():
        raise ValueError("change_points: expected a one-dimensional series of finite numbers")
    if len(series) < MIN_POINTS:
        return ()
    # imported here: changeforest's package imports matplotlib.pyplot, which `bench compare` loads only
    # to draw (tests/test_runtime_imports.py)
    from changeforest import Control, changeforest

    control = Control(model_selection_alpha=SIGNIFICANCE, model_selection_n_permutations=PERMUTATIONS,
                      seed=SEED)
    splits = sorted(changeforest(series.reshape(-1, 1), METHOD, "bs", control).split_points())
    bounds = [0, *splits, len(series)]
    means = [float(series[start:stop].mean()) for start, stop in pairwise(bounds)]
    return tuple(ChangePoint(index=int(split), before=means[number], after=means[number + 1],
                             relative_change=(means[number + 1] / means[number] - 1 if means[number]
                                              else math.nan))
                 for number, split in enumerate(splits))
