"""What a gate's subset says about the full test set: how much of it may change, and by how much its
metrics change.

**No image changed.** The number of changed images among n drawn ones bounds the fraction of the set
that changes: the one-sided Clopper-Pearson upper bound (exact binomial; a draw without replacement
within strata is at least as informative, so the bound is conservative).

**Some changed.** The full-set change of each published metric is estimated on the subset, each drawn
image standing for the images of its stratum (``I_h / n_h``): the golden's predictions and the new ones
are scored on the same weighted images and differenced, so the changed images keep the share of the set
they have in it (substituting a few images into the golden's 8,000 and scaling the change up misjudges
AP: its interpolated precision absorbs isolated changes).

The 95% interval rests on a stratified bootstrap over the subset's images (resampled within each
stratum, the same draws for both runs), and on the number k of drawn images that differ among the
metric's images (all of them for AP, AP50 and AP75, its split's for AP(E/M/H)): a change is made by
those k images alone, and a split often holds only a few of them. It is the hull of two intervals:

* the bootstrap's percentiles at the expanded level of Hesterberg (2015), tails at
  ``Phi(-sqrt(k / (k - 1)) t(k - 1, 0.975))`` (k at least 2): a percentile interval made by few values
  is too narrow; this one keeps the skew of the bootstrap distribution;
* the estimate plus or minus ``t(k - 1, 0.975)`` bootstrap standard errors, each scaled by
  ``sqrt(U(k) / k)``, U(k) the upper end of the exact 95% interval of a Poisson mean when k were
  counted (Garwood): the standard error rests on k values (Student's t), and it grows with how many
  images differ, which a small k knows only to within a factor of several. A percentile interval
  cannot reach past the range of its resamples: alone, at k = 1 to 3 differing easy images, it held
  the true change in 58% to 90% of simulated trials.

Where many images differ, both approach the plain 95% interval (at k = 100, U(k) / k = 1.22). A split
with no differing drawn image has the interval [0, 0]: the subset says nothing about its change, and
the gate prints the count. The coverage is measured by simulation (``bench gate --coverage``, README).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import beta, chi2, norm
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


def count_upper(differing: int, confidence: float) -> float:
    """The upper end of the two-sided ``confidence`` interval of a Poisson mean when ``differing`` were
    counted (exact, Garwood)."""
    return float(chi2.ppf((1 + confidence) / 2, 2 * (differing + 1)) / 2)


def widened(delta: PairedDelta, differences: np.ndarray, differing: int, confidence: float) -> PairedDelta:
    """``delta`` (its expanded percentile interval) widened to the estimate plus or minus the count-scaled
    t interval (module docstring), from the bootstrap ``differences`` [S] and the ``differing`` images."""
    if delta.delta is None or delta.ci95 is None or differences.size < 2:
        return delta
    scale = np.sqrt(count_upper(differing, confidence) / max(differing, 1))
    half = student_t.ppf((1 + confidence) / 2, max(differing, 2) - 1) * scale * differences.std(ddof=1)
    low, high = delta.ci95
    return PairedDelta(delta.delta, (min(low, delta.delta - half), max(high, delta.delta + half)))


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
    counts = differing_counts(differing, strata)
    levels = {name: expanded_level(count, settings.confidence) for name, count in counts.items()}
    deltas = paired_deltas(golden_point, new_point, samples[:, 0], samples[:, 1], settings, levels)
    defined = (samples[:, 0] > -1) & (samples[:, 1] > -1)
    differences = samples[:, 1] - samples[:, 0]
    return {name: widened(deltas[name], differences[defined[:, m], m], counts[name], settings.confidence)
            for m, name in enumerate(INTERVAL_METRICS)}
