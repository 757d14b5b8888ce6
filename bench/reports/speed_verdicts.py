"""Whether one set of stage durations is faster or slower than another: pure functions over samples.

A verdict compares the candidate's samples with the baseline's, stage by stage:

* a two-sided Mann-Whitney U rank test (``scipy.stats.mannwhitneyu``) at ``alpha`` on the raw samples;
* a minimum effect size: the ratio of medians (candidate / baseline) must be at least
  ``1 + threshold`` ("slower") or at most ``1 - threshold`` ("faster");
* and confidence that the shift is material: the ratio's bootstrap interval must lie wholly beyond
  ``1 + threshold / 2`` (or below ``1 - threshold / 2``). Samples of one run are not independent on a
  shared machine (a slow spell slows many consecutive iterations, and a run can drift), which makes
  the rank test alone overconfident: on a quiet 2-core VM one A/A pair of 20+ samples each came out
  10.5% "slower" at p = 0.003. Anything else is "no change";
* "too few samples" where the samples are absent (reports of schema < 3) or so few that no
  arrangement of them could reach ``alpha``: the smallest two-sided p-value of the exact test is
  ``2 / C(n_a + n_b, n_a)`` (3 against 3 samples: 0.1; ``min_samples``: 4 a side at alpha 0.05);
* "unstable" where the machine was too unsteady to judge the stage, as pyperf warns: its samples vary
  by more than ``VerdictRule.cv_limit`` of their mean (coefficient of variation, within each input a
  profile's batches cycle through: ``bench.reports.stats.steadiness``) on either side, or
  either whole report is unstable (``report_instability``: the machine's load while it was measured,
  or ``end_to_end`` varying above the limit), which leaves every stage of the pair undecided. Ratios,
  intervals and p-values are still given, for reading, never as a verdict: one busy run is 4x "faster"
  than another of the same commit at p = 2e-6.

The interval is a percentile interval of median(b) / median(a) from a *stationary block bootstrap*
(Politis & Romano 1994) of each side's time-ordered samples, resampled apart: a resample strings
together blocks of consecutive samples (wrapping around the end) whose lengths are geometric with a
mean ``block length`` chosen from that side's own autocorrelation by the automatic selection of
Politis & White (2004) with the correction of Patton, Politis & White (2009)
(``politis_white_block_length``, tested equal to ``arch.bootstrap.optimal_block_length``). An iid
bootstrap treats a slow spell of five iterations as five independent slow draws and so makes the
interval too narrow: on seeded A/A draws whose log times are AR(1) with coefficient 0.8 (30 samples
a side) it calls 11 of 100 pairs slower or faster, the block bootstrap 5
(``tests/test_speed_verdicts.py``). Mean block length 1 is the iid bootstrap. Sides of fewer than
``MIN_BLOCK_SAMPLES`` samples (too few to estimate autocorrelations) and constant ones resample with
block length 1. The resampling is seeded (``VerdictRule.seed``), so the same samples
always give the same interval.

Resampling within a run cannot see a difference between runs: where a whole run is slower (the
machine slower for all of it), the interval stays narrow whatever the blocks. One real same-commit
forward pass stays "slower", 1.117 [1.069, 1.283], because only 6 of the baseline's 24 samples lie
above the candidate's median / 1.05.

Nothing here reads files or knows about the command line, so result pages can reuse it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy import stats as scipy_stats

from bench.reports.records import ProfileRecord
from bench.reports.schema import Report
from bench.reports.stats import CV_LIMIT, END_TO_END, MIN_RELATIVE_CHANGE, StageStats, steadiness

VERDICTS = ("faster", "slower", "no change", "too few samples", "unstable")
DECIDED = ("faster", "slower", "no change")
"""The verdicts that judge a stage; "too few samples" and "unstable" leave it undecided."""

MIN_BLOCK_SAMPLES = 8
"""Fewest samples of one side whose block length is estimated; fewer resample with block length 1
(the estimator needs that many autocorrelations)."""


@dataclass(frozen=True)
class VerdictRule:
    """How verdicts are decided: rank-test level, minimum relative effect on the median, and the
    bootstrap of the ratio's interval (confidence level, resamples, seed)."""

    alpha: float = 0.05
    threshold: float = MIN_RELATIVE_CHANGE
    confidence: float = 0.95
    resamples: int = 2000
    seed: int = 0
    cv_limit: float = CV_LIMIT

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1 or not 0 < self.confidence < 1:
            raise ValueError(f"alpha and confidence must lie in (0, 1), got {self.alpha}, {self.confidence}")
        if not (math.isfinite(self.cv_limit) and self.cv_limit > 0):
            raise ValueError(f"cv_limit must be a positive number, got {self.cv_limit}")
        if not (math.isfinite(self.threshold) and 0 <= self.threshold < 1):
            raise ValueError(f"threshold must be a finite number in [0, 1), got {self.threshold}")
        if self.resamples < 100:
            raise ValueError(f"resamples must be >= 100, got {self.resamples}")

    def describe(self) -> str:
        return (f"two-sided Mann-Whitney U test at alpha {self.alpha:g}, a change of the median of at "
                f"least {self.threshold:.0%} and its interval beyond {self.threshold / 2:.0%}; ratio "
                f"candidate/baseline of medians with a {self.confidence:.0%} percentile interval from a "
                f"stationary block bootstrap of each run's time-ordered samples ({self.resamples} "
                f"resamples, seed {self.seed}; mean block lengths `block_a`/`block_b` chosen per run from "
                f"its autocorrelation by Politis-White, 1 below {MIN_BLOCK_SAMPLES} samples), because "
                f"samples of one run are not independent (slow spells, drift); at least "
                f"{min_samples(self.alpha)} samples a side; a stage whose samples vary by more than "
                f"{self.cv_limit:.0%} of their mean (either side), or any stage of a report measured on an "
                f"unsteady machine, is 'unstable', not judged")


@dataclass(frozen=True)
class StageVerdict:
    """One stage's verdict; ``_a`` is the baseline, ``_b`` the candidate (times in ms).

    ``ratio`` is median_b / median_a; ``ci_low``/``ci_high`` its bootstrap interval and ``p_value``
    the rank test's; ``block_a``/``block_b`` the mean block lengths the stationary bootstrap resampled
    each side with (1: independent samples). All None where they were not computed (too few or absent
    samples). ``note`` says why a stage was left undecided ("too few samples", "unstable").
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
    block_a: float | None = None
    block_b: float | None = None
    note: str | None = None

    @property
    def decided(self) -> bool:
        return self.verdict in DECIDED

    def describe(self) -> str:
        interval = ("" if self.ci_low is None else f" [{self.ci_low:.3f}, {self.ci_high:.3f}]")
        p_value = "" if self.p_value is None else f", p={self.p_value:.2g}"
        blocks = ("" if self.block_a is None
                  else f", mean block lengths {self.block_b:.3g} against {self.block_a:.3g}")
        note = "" if self.note is None else f" ({self.note})"
        return (f"{self.stage}: {self.verdict}{note}, median {self.median_b:.4g} ms against "
                f"{self.median_a:.4g} ms (baseline), ratio {self.ratio:.3f}{interval}{p_value}, "
                f"n={self.n_b} against {self.n_a}{blocks}")


def smallest_p_value(n_a: int, n_b: int) -> float:
    """The smallest two-sided p-value the exact rank test can give for these sample counts."""
    return min(1.0, float(Fraction(2, math.comb(n_a + n_b, n_a)))) if n_a and n_b else 1.0


def min_samples(alpha: float = VerdictRule.alpha) -> int:
    """The fewest samples a side (equal counts) that can reach ``alpha``: 4 at 0.05, 5 at 0.01."""
    count = 1
    while smallest_p_value(count, count) > alpha:
        count += 1
    return count


def too_few_note(n_a: int, n_b: int, alpha: float) -> str:
    return (f"{n_b} against {n_a} samples: the rank test needs at least {min_samples(alpha)} a side at "
            f"alpha {alpha:g}")


def sample_verdict(stage: str, baseline_ms: Sequence[float], candidate_ms: Sequence[float],
                   rule: VerdictRule = VerdictRule(),
                   block_lengths: tuple[float, float] | None = None) -> StageVerdict:
    """The verdict for one stage from its baseline and candidate samples (each [N] ms in time order,
    N >= 1). ``block_lengths`` (baseline, candidate) overrides the data-chosen mean block lengths;
    ``(1, 1)`` is the iid bootstrap."""
    a = np.asarray(baseline_ms, dtype=np.float64)
    b = np.asarray(candidate_ms, dtype=np.float64)
    if a.size == 0 or b.size == 0:
        raise ValueError(f"stage {stage!r}: sample_verdict needs at least one sample on each side")
    median_a, median_b = float(np.median(a)), float(np.median(b))
    ratio = safe_ratio(median_b, median_a)
    if smallest_p_value(a.size, b.size) > rule.alpha:
        return StageVerdict(stage, "too few samples", a.size, b.size, median_a, median_b, ratio,
                            None, None, None, note=too_few_note(a.size, b.size, rule.alpha))
    p_value = float(scipy_stats.mannwhitneyu(b, a, alternative="two-sided").pvalue)
    block_a, block_b = block_lengths or (block_length(a), block_length(b))
    ci_low, ci_high = median_ratio_interval(a, b, rule, block_a, block_b)
    margin = rule.threshold / 2
    if p_value < rule.alpha and ratio >= 1 + rule.threshold and ci_low > 1 + margin:
        verdict = "slower"
    elif p_value < rule.alpha and ratio <= 1 - rule.threshold and ci_high < 1 - margin:
        verdict = "faster"
    else:
        verdict = "no change"
    return StageVerdict(stage, verdict, a.size, b.size, median_a, median_b, ratio, ci_low, ci_high, p_value,
                        float(block_a), float(block_b))


def block_length(samples: np.ndarray) -> float:
    """The stationary bootstrap's mean block length for time-ordered ``samples`` [N]: Politis & White's
    automatic choice with the Patton-Politis-White correction (``politis_white_block_length``), at
    least 1 and at most N; 1 (independent resampling) below ``MIN_BLOCK_SAMPLES`` samples or for
    constant samples."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.size < MIN_BLOCK_SAMPLES or np.ptp(samples) == 0:
        return 1.0
    with np.errstate(divide="ignore", invalid="ignore"):  # short series: some lags have no pairs
        length = politis_white_block_length(samples)
    return min(max(length, 1.0), float(samples.size)) if math.isfinite(length) else 1.0


def politis_white_block_length(samples: np.ndarray) -> float:
    """Politis & White (2004) with the correction of Patton, Politis & White (2009): the mean block
    length of the stationary bootstrap that minimises the asymptotic error of the variance of the mean.

    The bandwidth M is twice the first lag m after which ``K_N = max(5, log10 N)`` consecutive sample
    autocorrelations lie inside ``+-2 sqrt(log10 N / N)`` (at least 2, at most ``ceil(sqrt N) + K_N``);
    with the flat-top kernel ``h(x) = min(1, 2 (1 - |x|))`` over lags k <= M, ``G = sum h(k/M) |k|
    R(k)`` and the long-run variance ``g(0) = sum h(k/M) R(k)`` (sums over -M..M, R the sample
    autocovariances), the length is ``(2 G^2 / D)^(1/3) N^(1/3)`` with ``D = 2 g(0)^2``, at most
    ``min(3 sqrt N, N / 3)``. The details follow arch 8.0's ``optimal_block_length`` (its test oracle):
    autocovariances divide by N, the autocorrelation of lag k is normalised by the sums of squares of
    the lag-(k + 1) overlaps, and the sums run in lag order, so the two agree to the last bit.
    """
    n = samples.size
    centred = samples - samples.mean()
    kn = max(5, int(np.log10(n)))
    m_max = int(np.ceil(np.sqrt(n))) + kn
    lags = range(m_max + 1)
    cross = np.array([centred[lag:] @ centred[:n - lag] for lag in lags])
    tails = np.array([centred[lag + 1:] @ centred[lag + 1:] for lag in lags])
    heads = np.array([centred[:-(lag + 1)] @ centred[:-(lag + 1)] for lag in lags])
    inside = np.abs(cross) / np.sqrt(tails * heads) < 2 * np.sqrt(np.log10(n) / n)
    first = next((lag - kn for lag in range(kn, m_max + 1) if inside[lag - kn:lag].all()), None)
    bandwidth = min(2 * max(first, 1), m_max) if first is not None else m_max
    autocovariance = cross / n
    kernel = [1.0 if lag / bandwidth <= 0.5 else 2 * (1 - lag / bandwidth) for lag in range(1, bandwidth + 1)]
    g = sum((2 * weight * lag * autocovariance[lag] for lag, weight in enumerate(kernel, start=1)), 0.0)
    long_run = sum((2 * weight * autocovariance[lag] for lag, weight in enumerate(kernel, start=1)),
                   autocovariance[0])
    length = ((2 * g ** 2) / (2 * long_run ** 2)) ** (1 / 3) * n ** (1 / 3)
    return float(min(length, np.ceil(min(3 * np.sqrt(n), n / 3))))


def stationary_indices(starts: np.ndarray, uniforms: np.ndarray, block: float) -> np.ndarray:
    """Stationary-bootstrap indices [R, N] into N time-ordered samples, the rule of
    ``arch.bootstrap.StationaryBootstrap``: position i starts a new block at ``starts[:, i]`` where
    ``uniforms[:, i] <= 1 / block`` (always at i = 0), else continues the block with the next sample,
    wrapping from the last to the first. ``starts`` [R, N] are uniform integers in [0, N),
    ``uniforms`` [R, N] uniform in [0, 1)."""
    size = starts.shape[1]
    positions = np.arange(size)
    new_block = uniforms <= 1.0 / block
    new_block[:, 0] = True
    block_start = np.maximum.accumulate(np.where(new_block, positions, 0), axis=1)  # [R, N]
    return (np.take_along_axis(starts, block_start, axis=1) + positions - block_start) % size


def bootstrap_medians(samples: np.ndarray, block: float, resamples: int,
                      rng: np.random.Generator) -> np.ndarray:
    """Medians [R] of ``resamples`` stationary-bootstrap resamples of ``samples`` [N]."""
    shape = (resamples, samples.size)
    starts = rng.integers(samples.size, size=shape, dtype=np.int64)
    indices = stationary_indices(starts, rng.random(shape), block)
    return np.median(samples[indices], axis=1)


def median_ratio_interval(a: np.ndarray, b: np.ndarray, rule: VerdictRule = VerdictRule(),
                          block_a: float = 1.0, block_b: float = 1.0) -> tuple[float, float]:
    """Percentile interval of median(b) / median(a) from stationary-bootstrap resamples of a [N_a] and
    b [N_b], drawn apart with mean block lengths ``block_a`` and ``block_b`` (1: iid) from one
    generator seeded with ``rule.seed``."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if np.ptp(a) == 0 and np.ptp(b) == 0:  # every resample gives the same ratio
        ratio = safe_ratio(float(b[0]), float(a[0]))
        return ratio, ratio
    rng = np.random.default_rng(rule.seed)
    medians_a = bootstrap_medians(a, block_a, rule.resamples, rng)
    medians_b = bootstrap_medians(b, block_b, rule.resamples, rng)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = medians_b / medians_a
    tail = (1 - rule.confidence) / 2
    low, high = np.quantile(ratios, [tail, 1 - tail])
    return float(low), float(high)


def stats_verdict(stage: str, baseline: StageStats, candidate: StageStats,
                  rule: VerdictRule = VerdictRule(), cycles: tuple[int, int] = (1, 1)) -> StageVerdict:
    """The verdict for one stage's statistics: from the samples, "too few samples" (medians from
    the summaries) where a report holds none, or "unstable" where either side's coefficient of
    variation (within each of the ``cycles`` inputs of the baseline and the candidate,
    ``steadiness``) is above ``rule.cv_limit``."""
    if baseline.samples_ms is None or candidate.samples_ms is None:
        median_a, median_b = float(baseline.p50_ms), float(candidate.p50_ms)
        return StageVerdict(stage, "too few samples", baseline.count, candidate.count, median_a, median_b,
                            safe_ratio(median_b, median_a), None, None, None,
                            note="a report holds summaries only, no samples (schema < 3)")
    verdict = sample_verdict(stage, baseline.samples_ms, candidate.samples_ms, rule)
    sides = (("baseline", baseline, cycles[0]), ("candidate", candidate, cycles[1]))
    varying = [(side, steadiness(stats, cycle)) for side, stats, cycle in sides]
    unsteady = [f"{side} varies by {cv:.0%}" for side, cv in varying if cv is not None and cv > rule.cv_limit]
    if unsteady and verdict.decided:
        return unstable(verdict, f"{' and '.join(unsteady)} of its mean, above {rule.cv_limit:.0%}")
    return verdict


def unstable(verdict: StageVerdict, why: str) -> StageVerdict:
    """``verdict`` left undecided: "unstable", because ``why`` (the note keeps what the samples alone
    would say)."""
    note = (f"{verdict.note}; {why}" if verdict.verdict == "unstable"
            else f"{why}; the samples alone would say {verdict.verdict}")
    return dataclasses.replace(verdict, verdict="unstable", note=note)


def timings_verdicts(baseline: Mapping[str, StageStats], candidate: Mapping[str, StageStats],
                     rule: VerdictRule = VerdictRule(),
                     cycles: tuple[int, int] = (1, 1)) -> list[StageVerdict]:
    """Verdicts for every stage both timings hold, in the baseline's order."""
    return [stats_verdict(stage, stats, candidate[stage], rule, cycles)
            for stage, stats in baseline.items() if stage in candidate]


def input_cycle(report: Report) -> int:
    """How many inputs a report's measured batches cycle through: a profile's images (batch i fed
    image i % n), as its stability record says; 1 otherwise."""
    if report.stability is not None:
        return report.stability.input_cycle
    return max(1, len(report.config.images)) if isinstance(report.config, ProfileRecord) else 1


def report_instability(report: Report, rule: VerdictRule = VerdictRule()) -> tuple[str, ...]:
    """Why ``report`` as a whole was measured on an unsteady machine (empty: it was not): the load
    warnings its profile recorded, and ``end_to_end`` varying above ``rule.cv_limit`` of its mean
    (within each input, ``steadiness``)."""
    reasons = list(report.stability.warnings) if report.stability is not None else []
    end_to_end = report.timings.get(END_TO_END)
    cv = None if end_to_end is None else steadiness(end_to_end, input_cycle(report))
    if cv is not None and cv > rule.cv_limit:
        reasons.append(f"whole batches (end_to_end) vary by {cv:.0%} of their mean, above "
                       f"{rule.cv_limit:.0%}")
    return tuple(reasons)


def report_verdicts(baseline: Report, candidate: Report,
                    rule: VerdictRule = VerdictRule()) -> list[StageVerdict]:
    """Per-stage verdicts of a candidate report against a baseline report of the same machine; every
    stage is "unstable" (undecided) where either report is (``report_instability``).

    Raises ValueError for reports of different machines (environment ``fingerprint_id``) or devices:
    their speeds are shown side by side, never tested against each other.
    """
    machines = [(report.fingerprint_id, report.config.device) for report in (baseline, candidate)]
    if machines[0] != machines[1]:
        raise ValueError(f"reports of machine {baseline.fingerprint_id} ({baseline.config.device}) and "
                         f"{candidate.fingerprint_id} ({candidate.config.device}) are not compared for speed")
    verdicts = timings_verdicts(baseline.timings, candidate.timings, rule,
                                (input_cycle(baseline), input_cycle(candidate)))
    reasons = [f"{side}: {reason}" for side, report in (("baseline", baseline), ("candidate", candidate))
               for reason in report_instability(report, rule)]
    if not reasons:
        return verdicts
    why = "unsteady machine: " + "; ".join(reasons)
    return [unstable(verdict, why) if verdict.decided or verdict.verdict == "unstable" else verdict
            for verdict in verdicts]


def safe_ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator`` for durations: infinite over a 0 ms baseline, 1 for 0 over 0."""
    if denominator > 0:
        return numerator / denominator
    return math.inf if numerator > 0 else 1.0
