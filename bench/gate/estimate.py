"""What a gate's subset says about the full test set: how much of it may change, and by how much its
metrics change.

**No image changed.** The number of changed images among n drawn ones bounds the fraction of the set
that changes: the one-sided Clopper-Pearson upper bound (exact binomial; a draw without replacement
within strata is at least as informative, so the bound is conservative).

**Some changed.** The full-set change of each published metric is estimated on the subset, each drawn
image standing for the images of its stratum (``I_h / n_h``): the golden's predictions and the new ones
are scored on the same weighted images and differenced, so the changed images keep the share of the set
they have in it (substituting a few images into the golden's 8,000 and scaling the change up misjudges
AP: its interpolated precision absorbs isolated changes). The 95% interval is a stratified bootstrap
over the subset's images (resampled within each stratum, the same draws for both runs), read at the
expanded percentiles of Hesterberg (2015): a percentile interval is too narrow when few values make it,
and here a change is made by the few drawn images that differ, so the tails are at
``Phi(-sqrt(n / (n - 1)) t(n - 1, 0.975))`` with n the differing images among the metric's images (all
of them for AP, AP50 and AP75, its split's for AP(E/M/H); at least 2). The coverage of these intervals
is measured by simulation (``bench gate --coverage``): at least 93% but where a split's interval rests
on a few differing images (about 3 drawn easy ones: 75%), which is why the gate prints that count.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import beta, norm
from scipy.stats import t as student_t

from bench.evaluation.accumulate import prepare, weighted_metrics
from bench.evaluation.bootstrap import (
    INTERVAL_METRICS,
    BootstrapSettings,
    PairedDelta,
    bootstrap_distributions,
    paired_deltas,
)
from bench.evaluation.matching import ImageMatches
from bench.evaluation.protocol import METRIC_NAMES, SPLIT_NAMES
from bench.evaluation.subset import SubsetDraw, strata_of

_POSITIONS = [METRIC_NAMES.index(name) for name in INTERVAL_METRICS]


def changed_fraction_bound(changed: int, images: int, confidence: float = 0.95) -> float:
    """The largest fraction of the set that changes, at ``confidence``, when ``changed`` of ``images``
    drawn images changed (one-sided Clopper-Pearson)."""
    if changed >= images:
        return 1.0
    return float(beta.ppf(confidence, changed + 1, images - changed))


def expanded_level(differing: int, confidence: float) -> float:
    """The percentile interval's level that gives ``confidence`` when ``differing`` values make it (the
    expanded percentile interval; at least 2 values)."""
    values = max(differing, 2)
    tail = norm.cdf(-np.sqrt(values / (values - 1)) * student_t.ppf((1 + confidence) / 2, values - 1))
    return float(1 - 2 * tail)


def differing_counts(differing: np.ndarray, strata: np.ndarray) -> dict[str, int]:
    """{metric: how many of its images differ} from ``differing`` [n] and ``strata`` [n]: all of them for
    AP, AP50 and AP75, its split's for AP(E/M/H) (what each estimate, and its interval's width, rests on)."""
    return {name: int(np.count_nonzero(differing & (strata == SPLIT_NAMES.index(name) if name in SPLIT_NAMES
                                                    else True)))
            for name in INTERVAL_METRICS}


def full_set_changes(golden: ImageMatches, new: ImageMatches, draw: SubsetDraw, differing: np.ndarray,
                     settings: BootstrapSettings) -> dict[str, PairedDelta]:
    """{metric: estimated full-set change (new - golden) with its interval} of every published metric,
    from the golden's and the new predictions' matches on the subset's images, ``differing`` [n] where
    their predictions differ (see the module docstring).

    Raises:
        ValueError: the runs are not on the same images.
    """
    strata = strata_of(golden.crowd_index)
    weights = draw.scales[strata]
    golden_point, new_point = ({name: float(value) for name, value in zip(
        INTERVAL_METRICS, weighted_metrics(prepare(run), weights)[_POSITIONS], strict=True)}
        for run in (golden, new))
    samples = bootstrap_distributions([golden, new], settings, strata, weights)
    levels = {name: expanded_level(count, settings.confidence)
              for name, count in differing_counts(differing, strata).items()}
    return paired_deltas(golden_point, new_point, samples[:, 0], samples[:, 1], settings, levels)
