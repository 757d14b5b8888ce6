"""Per-stage verdicts of two sides measured in alternating rounds: pure functions over one number per
stage, side and round.

Each round runs both sides once, in a random order, and gives each stage one number per side (``bench
ab``: the fastest of that round's samples, ``bench.moved.ab.round_minimums``).
Rounds are paired (both sides saw the same minutes of the machine), so a stage is judged on its log
ratios head/base per round:

* a two-sided Wilcoxon signed-rank test (``scipy.stats.wilcoxon``; exact for few rounds) of the log
  ratios, whose p-values are adjusted over all the stages compared with Holm's step-down method
  (``holm``), which keeps the chance of any false "faster" or "slower" among them at most ``alpha``;
* the ratio of their medians (head / base over the rounds) with a percentile interval from a paired
  bootstrap: rounds are resampled, both sides of a round together (``paired_ratio_interval``).

Three outcomes, on the effect floor ``MIN_RELATIVE_CHANGE`` (``VerdictRule.threshold``) of the
project's other speed verdicts (``bench.reports.speed_verdicts``, whose rule and record this reuses):

* "slower" / "faster": the adjusted p-value is below ``alpha``, the ratio is beyond ``1 +- threshold``
  and its interval wholly beyond ``1 +- threshold / 2`` (the rule of ``sample_verdict``);
* "same": the interval lies within ``(1 - threshold, 1 + threshold)``: evidence that any change is
  smaller than the floor, not merely the absence of a significant one (unlike ``compare``'s
  "no change");
* "inconclusive": neither, or fewer than ``MIN_ROUNDS`` rounds; ``ab`` runs more rounds.

Deciding after each round (stopping once no stage is inconclusive) is repeated testing: the chance of
a false alarm over a whole run is somewhat above ``alpha``, as in Chromium's Pinpoint, which also
runs more repeats while a comparison is undecided; the effect floor and the interval bound it in
practice. Nothing here reads files or runs anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats as scipy_stats

from bench.reports.speed_verdicts import StageVerdict, VerdictRule, safe_ratio

INCONCLUSIVE = "inconclusive"

MIN_ROUNDS = 5
"""Fewest rounds for any verdict: the paired bootstrap of fewer rounds has too few distinct resamples
to give an interval worth reading."""


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given: the i-th smallest (from 0) is multiplied
    by (m - i), made no smaller than the one before it, and capped at 1."""
    order = np.argsort(p_values, kind="stable")
    adjusted = np.empty(len(p_values))
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted.tolist()


def rounds_to_reach(alpha: float, tests: int) -> int:
    """Fewest rounds at which the exact signed-rank test can reach ``alpha / tests`` (Holm's first step):
    its smallest two-sided p-value is 2 / 2^n. 6 rounds for one stage at 0.05, 10 for 13 stages."""
    rounds = 1
    while 2.0 / 2 ** rounds > alpha / tests:
        rounds += 1
    return rounds


def signed_rank_p(base: np.ndarray, head: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of log(head / base) [R] (1 where every ratio is 1)."""
    log_ratios = np.log(head) - np.log(base)
    if not np.any(log_ratios):
        return 1.0
    return float(scipy_stats.wilcoxon(log_ratios).pvalue)


def paired_ratio_interval(base: np.ndarray, head: np.ndarray, rule: VerdictRule) -> tuple[float, float]:
    """Percentile interval of median(head) / median(base) [R rounds each] over ``rule.resamples``
    resamples of the rounds, both sides of a round drawn together (seeded with ``rule.seed``)."""
    rng = np.random.default_rng(rule.seed)
    rounds = rng.integers(base.size, size=(rule.resamples, base.size))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.median(head[rounds], axis=1) / np.median(base[rounds], axis=1)
    tail = (1 - rule.confidence) / 2
    low, high = np.quantile(ratios, [tail, 1 - tail])
    return float(low), float(high)


def decide(ratio: float, low: float, high: float, p_value: float, rule: VerdictRule) -> str:
    """The verdict of one stage from its ratio, interval and adjusted p-value (see the module)."""
    margin = rule.threshold / 2
    if p_value < rule.alpha and ratio >= 1 + rule.threshold and low > 1 + margin:
        return "slower"
    if p_value < rule.alpha and ratio <= 1 - rule.threshold and high < 1 - margin:
        return "faster"
    if 1 - rule.threshold < low and high < 1 + rule.threshold:
        return "same"
    return INCONCLUSIVE


def round_verdicts(base_rounds: Sequence[Mapping[str, float]], head_rounds: Sequence[Mapping[str, float]],
                   rule: VerdictRule) -> list[StageVerdict]:
    """A verdict per stage that every round measured on both sides (in the base's order), from the
    per-round numbers in ms of each side ([R] mappings stage -> ms, paired by index). ``p_value`` is
    the Holm-adjusted one; ``n_a``/``n_b`` count rounds."""
    count = len(base_rounds)
    stages = [stage for stage in (base_rounds[0] if count else {})
              if all(stage in measured for measured in (*base_rounds, *head_rounds))]
    pairs = {stage: (np.array([measured[stage] for measured in base_rounds], dtype=np.float64),
                     np.array([measured[stage] for measured in head_rounds], dtype=np.float64))
             for stage in stages}
    adjusted = holm([signed_rank_p(base, head) for base, head in pairs.values()])
    reach = rounds_to_reach(rule.alpha, len(pairs))
    verdicts = []
    for (stage, (base, head)), p_value in zip(pairs.items(), adjusted, strict=True):
        median_base, median_head = float(np.median(base)), float(np.median(head))
        ratio = safe_ratio(median_head, median_base)
        low, high = paired_ratio_interval(base, head, rule)
        verdict = decide(ratio, low, high, p_value, rule) if count >= MIN_ROUNDS else INCONCLUSIVE
        note = None if verdict != INCONCLUSIVE else undecided_note(count, reach, rule)
        verdicts.append(StageVerdict(stage, verdict, count, count, median_base, median_head, ratio, low, high,
                                     p_value, note=note))
    return verdicts


def undecided_note(count: int, reach: int, rule: VerdictRule) -> str:
    """Why a stage is inconclusive after ``count`` rounds, and what would decide it."""
    if count < MIN_ROUNDS:
        return f"{count} of at least {MIN_ROUNDS} rounds"
    reached = "" if count >= reach else f"; the test can reach Holm's alpha from {reach} rounds"
    return (f"neither a change of at least {rule.threshold:.0%} shown nor an interval within "
            f"+-{rule.threshold:.0%}{reached}")
