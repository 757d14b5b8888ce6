"""Whether one set of stage durations is faster or slower than another: pure functions over samples.

A verdict compares the candidate's samples with the baseline's, stage by stage:

* a two-sided Mann-Whitney U rank test (``scipy.stats.mannwhitneyu``) at ``alpha``;
* a minimum effect size: the ratio of medians (candidate / baseline) must be at least
  ``1 + threshold`` ("slower") or at most ``1 - threshold`` ("faster");
* and confidence that the shift is material: the ratio's bootstrap interval must lie wholly beyond
  ``1 + threshold / 2`` (or below ``1 - threshold / 2``). Samples of one run are not independent on a
  shared machine (a slow spell slows many consecutive iterations), which makes the rank test alone
  overconfident: on a quiet 2-core VM one A/A pair of 20+ samples each came out 10.5% "slower" at
  p = 0.003 with its interval reaching down to 1.02. Anything else is "no change";
* "too few samples" where the samples are absent (reports of schema < 3) or so few that no
  arrangement of them could reach ``alpha``: the smallest two-sided p-value of the exact test is
  ``2 / C(n_a + n_b, n_a)`` (3 against 3 samples: 0.1);
* the ratio of medians with a seeded percentile bootstrap interval (``scipy.stats.bootstrap`` over
  the two samples, resampled apart).

Nothing here reads files or knows about the command line, so result pages can reuse it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy import stats as scipy_stats

from bench.reports.schema import Report
from bench.reports.stats import StageStats

VERDICTS = ("faster", "slower", "no change", "too few samples")


@dataclass(frozen=True)
class VerdictRule:
    """How verdicts are decided: rank-test level, minimum relative effect on the median, and the
    bootstrap of the ratio's interval (confidence level, resamples, seed)."""

    alpha: float = 0.05
    threshold: float = 0.10
    confidence: float = 0.95
    resamples: int = 2000
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1 or not 0 < self.confidence < 1:
            raise ValueError(f"alpha and confidence must lie in (0, 1), got {self.alpha}, {self.confidence}")
        if not (math.isfinite(self.threshold) and 0 <= self.threshold < 1):
            raise ValueError(f"threshold must be a finite number in [0, 1), got {self.threshold}")
        if self.resamples < 100:
            raise ValueError(f"resamples must be >= 100, got {self.resamples}")

    def describe(self) -> str:
        return (f"two-sided Mann-Whitney U test at alpha {self.alpha:g}, a change of the median of at "
                f"least {self.threshold:.0%} and its interval beyond {self.threshold / 2:.0%}; ratio "
                f"candidate/baseline of medians with a "
                f"{self.confidence:.0%} percentile bootstrap interval ({self.resamples} resamples, "
                f"seed {self.seed})")


@dataclass(frozen=True)
class StageVerdict:
    """One stage's verdict; ``_a`` is the baseline, ``_b`` the candidate (times in ms).

    ``ratio`` is median_b / median_a; ``ci_low``/``ci_high`` its bootstrap interval and ``p_value``
    the rank test's, None where they were not computed (too few or absent samples).
    """

    stage: str
    verdict: str
    n_a: int
    n_b: int
    median_a: float
    median_b: float
    ratio: float
    ci_low: float | None
    ci_high: float | None
    p_value: float | None

    def describe(self) -> str:
        interval = ("" if self.ci_low is None else f" [{self.ci_low:.3f}, {self.ci_high:.3f}]")
        p_value = "" if self.p_value is None else f", p={self.p_value:.2g}"
        return (f"{self.stage}: {self.verdict}, median {self.median_b:.4g} ms against "
                f"{self.median_a:.4g} ms (baseline), ratio {self.ratio:.3f}{interval}{p_value}, "
                f"n={self.n_b} against {self.n_a}")


def smallest_p_value(n_a: int, n_b: int) -> float:
    """The smallest two-sided p-value the exact rank test can give for these sample counts."""
    return min(1.0, float(Fraction(2, math.comb(n_a + n_b, n_a)))) if n_a and n_b else 1.0


def sample_verdict(stage: str, baseline_ms: Sequence[float], candidate_ms: Sequence[float],
                   rule: VerdictRule = VerdictRule()) -> StageVerdict:
    """The verdict for one stage from its baseline and candidate samples (each [N] ms, N >= 1)."""
    a = np.asarray(baseline_ms, dtype=np.float64)
    b = np.asarray(candidate_ms, dtype=np.float64)
    if a.size == 0 or b.size == 0:
        raise ValueError(f"stage {stage!r}: sample_verdict needs at least one sample on each side")
    median_a, median_b = float(np.median(a)), float(np.median(b))
    ratio = _ratio(median_b, median_a)
    if smallest_p_value(a.size, b.size) > rule.alpha:
        return StageVerdict(stage, "too few samples", a.size, b.size, median_a, median_b, ratio,
                            None, None, None)
    p_value = float(scipy_stats.mannwhitneyu(b, a, alternative="two-sided").pvalue)
    ci_low, ci_high = median_ratio_interval(a, b, rule)
    margin = rule.threshold / 2
    if p_value < rule.alpha and ratio >= 1 + rule.threshold and ci_low > 1 + margin:
        verdict = "slower"
    elif p_value < rule.alpha and ratio <= 1 - rule.threshold and ci_high < 1 - margin:
        verdict = "faster"
    else:
        verdict = "no change"
    return StageVerdict(stage, verdict, a.size, b.size, median_a, median_b, ratio, ci_low, ci_high, p_value)


def median_ratio_interval(a: np.ndarray, b: np.ndarray,
                          rule: VerdictRule = VerdictRule()) -> tuple[float, float]:
    """Percentile bootstrap interval of median(b) / median(a), resampling a [N_a] and b [N_b] apart."""
    if np.ptp(a) == 0 and np.ptp(b) == 0:  # every resample gives the same ratio
        ratio = _ratio(float(b[0]), float(a[0]))
        return ratio, ratio

    def median_ratio(first: np.ndarray, second: np.ndarray, axis: int) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.median(second, axis=axis) / np.median(first, axis=axis)

    result = scipy_stats.bootstrap((a, b), median_ratio, n_resamples=rule.resamples, paired=False,
                                   vectorized=True, confidence_level=rule.confidence, method="percentile",
                                   batch=200, rng=np.random.default_rng(rule.seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def stats_verdict(stage: str, baseline: StageStats, candidate: StageStats,
                  rule: VerdictRule = VerdictRule()) -> StageVerdict:
    """The verdict for one stage's statistics: from the samples, or "too few samples" (medians from
    the summaries) where a report holds none."""
    if baseline.samples_ms is None or candidate.samples_ms is None:
        median_a, median_b = float(baseline.p50_ms), float(candidate.p50_ms)
        return StageVerdict(stage, "too few samples", baseline.count, candidate.count, median_a, median_b,
                            _ratio(median_b, median_a), None, None, None)
    return sample_verdict(stage, baseline.samples_ms, candidate.samples_ms, rule)


def timings_verdicts(baseline: Mapping[str, StageStats], candidate: Mapping[str, StageStats],
                     rule: VerdictRule = VerdictRule()) -> list[StageVerdict]:
    """Verdicts for every stage both timings hold, in the baseline's order."""
    return [stats_verdict(stage, stats, candidate[stage], rule)
            for stage, stats in baseline.items() if stage in candidate]


def report_verdicts(baseline: Report, candidate: Report,
                    rule: VerdictRule = VerdictRule()) -> list[StageVerdict]:
    """Per-stage verdicts of a candidate report against a baseline report of the same machine.

    Raises ValueError for reports of different machines (environment ``fingerprint_id``) or devices:
    their speeds are shown side by side, never tested against each other.
    """
    machines = [(report.fingerprint_id, report.config.device) for report in (baseline, candidate)]
    if machines[0] != machines[1]:
        raise ValueError(f"reports of machine {baseline.fingerprint_id} ({baseline.config.device}) and "
                         f"{candidate.fingerprint_id} ({candidate.config.device}) are not compared for speed")
    return timings_verdicts(baseline.timings, candidate.timings, rule)


def _ratio(numerator: float, denominator: float) -> float:
    if denominator > 0:
        return numerator / denominator
    return math.inf if numerator > 0 else 1.0
