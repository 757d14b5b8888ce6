"""Speed verdicts from samples: error rates over seeded draws of known distributions (no timing here).

Error rates of the default rule over 100 seeded draws of 30 samples a side (the block bootstrap picks
its mean block lengths from each draw: 2.8 on average for independent draws, 4.3 for AR(1) ones):

* independent log-normal, equal: 100 "no change"; 20% slower: 98 "slower"; 20% faster: 99 "faster"
  (the same counts as the iid bootstrap);
* AR(1) with phi 0.8 on log times (slow spells lasting several iterations), equal: 95 "no change"
  with the block bootstrap, 89 with the iid bootstrap (5 "slower", 6 "faster"); 30% slower: 96
  "slower" with the block bootstrap.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np
import pytest
from helpers import profile_record

from bench.reports.speed_verdicts import (
    MIN_BLOCK_SAMPLES,
    VerdictRule,
    block_length,
    median_ratio_interval,
    politis_white_block_length,
    report_verdicts,
    sample_verdict,
    smallest_p_value,
    stationary_indices,
    stats_verdict,
)
from bench.reports.stats import StageStats
from bench.reports.writing import new_report

DRAWS = 100
SAMPLES = 30
MEDIAN_MS = 100.0
SPREAD = 0.1
"""Log-normal sigma: latencies scatter by about 10%, skewed to the slow side as real ones are."""


def latencies(rng: np.random.Generator, scale: float = 1.0, size: int = SAMPLES) -> np.ndarray:
    """``size`` log-normal durations (ms) with median ``MEDIAN_MS * scale``."""
    return MEDIAN_MS * scale * np.exp(rng.normal(0.0, SPREAD, size=size))


PHI = 0.8
"""AR(1) coefficient of the autocorrelated draws: a slow spell fades over about five iterations."""


def autocorrelated_latencies(rng: np.random.Generator, scale: float = 1.0, size: int = SAMPLES) -> np.ndarray:
    """``size`` durations (ms) in time order whose log is AR(1) with coefficient ``PHI``, stationary with
    the same log-normal marginal as :func:`latencies` (median ``MEDIAN_MS * scale``, sigma ``SPREAD``)."""
    innovations = rng.normal(0.0, SPREAD * np.sqrt(1 - PHI**2), size=size)
    logs = np.empty(size)
    logs[0] = rng.normal(0.0, SPREAD)
    for i in range(1, size):
        logs[i] = PHI * logs[i - 1] + innovations[i]
    return MEDIAN_MS * scale * np.exp(logs)


def verdict_counts(scale: float, draw=latencies, block_lengths=None) -> Counter:
    """Verdicts of candidate (median scaled by ``scale``) against baseline over ``DRAWS`` seeded draws;
    ``block_lengths=(1, 1)`` for the iid bootstrap."""
    counts = Counter()
    for seed in range(DRAWS):
        rng = np.random.default_rng(seed)
        verdict = sample_verdict("end_to_end", draw(rng), draw(rng, scale), block_lengths=block_lengths)
        counts[verdict.verdict] += 1
    return counts


def test_equal_distributions_give_no_change():
    assert verdict_counts(1.0)["no change"] >= 99


def test_a_20_percent_slowdown_is_found():
    assert verdict_counts(1.2)["slower"] >= 95


def test_a_20_percent_speedup_is_found():
    assert verdict_counts(1 / 1.2)["faster"] >= 95


def test_autocorrelated_equal_runs_give_no_change_where_the_iid_bootstrap_errs():
    assert verdict_counts(1.0, autocorrelated_latencies)["no change"] >= 95
    iid = verdict_counts(1.0, autocorrelated_latencies, block_lengths=(1.0, 1.0))
    assert iid["no change"] <= 90  # 89: 5 "slower", 6 "faster"


def test_an_autocorrelated_30_percent_slowdown_is_found():
    assert verdict_counts(1.3, autocorrelated_latencies)["slower"] >= 90


# A same-commit pair of one real forward pass (ms, time order, 2-core VM): the baseline drifts from
# about 500 to 650 ms within its run, the candidate stays near 640 ms.
REAL_BASE = [509, 447, 460, 537, 560, 574, 485, 599, 622, 581, 534, 462, 481, 465, 489, 586, 592, 633, 639,
             572, 661, 710, 597, 695]
REAL_CANDIDATE = [643, 638, 633, 625, 639, 645, 650, 651, 705, 686, 695, 667, 661, 623, 609, 640, 631, 637,
                  635, 665, 602]


def test_the_real_a_a_pair_records_its_block_lengths_and_a_wider_interval():
    verdict = sample_verdict("forward", REAL_BASE, REAL_CANDIDATE)
    iid = sample_verdict("forward", REAL_BASE, REAL_CANDIDATE, block_lengths=(1.0, 1.0))
    assert verdict.block_a == pytest.approx(3.228, abs=1e-3)
    assert verdict.block_b == pytest.approx(2.717, abs=1e-3)
    assert (iid.block_a, iid.block_b) == (1.0, 1.0)
    assert verdict.ci_high - verdict.ci_low > iid.ci_high - iid.ci_low
    # The low end cannot reach 1 + threshold / 2 for any block length: median(candidate) = 640 ms, and
    # only 6 of the baseline's 24 samples lie above 640 / 1.05 = 609.5 ms, so hardly a resample of the
    # baseline has a median that high, whatever the blocks. The run levels differ, not the spells.
    a, b = np.asarray(REAL_BASE, dtype=float), np.asarray(REAL_CANDIDATE, dtype=float)
    for block in (1, 2, 4, 8, 16, 24):
        assert median_ratio_interval(a, b, VerdictRule(), block, verdict.block_b)[0] > 1.05


@pytest.mark.xfail(strict=True, reason="within-run resampling cannot see a difference of run levels: the "
                   "interval's low end stays near 1.07 for every block length (see the test above)")
def test_the_real_a_a_pair_is_no_change():
    assert sample_verdict("forward", REAL_BASE, REAL_CANDIDATE).verdict == "no change"


def test_the_interval_is_deterministic_for_a_seed():
    rng = np.random.default_rng(11)
    a, b = autocorrelated_latencies(rng), autocorrelated_latencies(rng, 1.1)
    blocks = block_length(a), block_length(b)
    first = median_ratio_interval(a, b, VerdictRule(), *blocks)
    assert median_ratio_interval(a.copy(), b.copy(), VerdictRule(), *blocks) == first
    assert sample_verdict("forward", a, b) == sample_verdict("forward", a, b)
    assert median_ratio_interval(a, b, VerdictRule(seed=1), *blocks) != first


def test_stationary_indices_follow_arch():
    """The vectorised resampling draws the indices arch.bootstrap.StationaryBootstrap (the oracle)
    draws from the same uniform numbers (one resample at a time: starts, then uniforms)."""
    arch_bootstrap = pytest.importorskip("arch.bootstrap", reason="the oracles extra")
    StationaryBootstrap = arch_bootstrap.StationaryBootstrap

    size, resamples = 30, 50
    for block in (1.0, 2.7, 6.0):
        bootstrap = StationaryBootstrap(block, np.arange(size), seed=np.random.default_rng(5))
        expected = np.stack([bootstrap.update_indices() for _ in range(resamples)])
        rng = np.random.default_rng(5)
        draws = [(rng.integers(size, size=size, dtype=np.int64), rng.random(size)) for _ in range(resamples)]
        starts, uniforms = (np.stack(column) for column in zip(*draws, strict=True))
        assert np.array_equal(stationary_indices(starts, uniforms, block), expected)


def test_the_block_length_rule_is_arch_to_the_last_bit():
    """Politis-White with the Patton-Politis-White correction, ported: the mean block length arch's
    optimal_block_length (the oracle) chooses, on 300 seeded series of 8 to 300 samples, independent,
    autocorrelated (AR(1) from -0.5 to 0.95) and log-normal."""
    arch_bootstrap = pytest.importorskip("arch.bootstrap", reason="the oracles extra")
    optimal_block_length = arch_bootstrap.optimal_block_length
    rng = np.random.default_rng(11)
    for draw in range(300):
        size, phi = int(rng.integers(MIN_BLOCK_SAMPLES, 300)), rng.uniform(-0.5, 0.95)
        series = np.empty(size)
        series[0] = rng.normal()
        for i in range(1, size):
            series[i] = phi * series[i - 1] + rng.normal()
        if draw % 2:
            series = MEDIAN_MS * np.exp(SPREAD * series)
        with np.errstate(divide="ignore", invalid="ignore"):
            expected = float(optimal_block_length(series)["stationary"].iloc[0])
            assert politis_white_block_length(series) == pytest.approx(expected, rel=0, abs=0, nan_ok=True)


def test_block_length_one_is_independent_resampling():
    starts = np.random.default_rng(0).integers(10, size=(20, 10))
    uniforms = np.random.default_rng(1).random((20, 10))
    assert np.array_equal(stationary_indices(starts, uniforms, 1.0), starts)


def test_block_lengths_are_chosen_from_the_data():
    rng = np.random.default_rng(4)
    assert block_length(autocorrelated_latencies(rng, size=200)) > 3 > block_length(latencies(rng, size=200))
    trend = np.linspace(100.0, 150.0, 40)
    assert 1.0 <= block_length(trend) <= trend.size


@pytest.mark.parametrize("size", [2, MIN_BLOCK_SAMPLES - 1])
def test_short_or_constant_samples_use_block_length_one(size):
    rng = np.random.default_rng(6)
    assert block_length(latencies(rng, size=size)) == 1.0
    assert block_length(np.full(20, 3.0)) == 1.0
    verdict = sample_verdict("decode", latencies(rng, size=size), latencies(rng, 3.0, size=size))
    assert (verdict.block_a, verdict.block_b) == ((1.0, 1.0) if verdict.p_value is not None else (None, None))
    assert MIN_BLOCK_SAMPLES == 8 and block_length(latencies(rng, size=MIN_BLOCK_SAMPLES)) >= 1.0


def test_a_significant_shift_below_the_threshold_is_no_change():
    rng = np.random.default_rng(0)
    baseline, candidate = latencies(rng, size=1000), latencies(rng, 1.05, size=1000)
    verdict = sample_verdict("forward", baseline, candidate)
    assert verdict.p_value < 1e-6 and verdict.verdict == "no change"
    assert sample_verdict("forward", baseline, candidate, VerdictRule(threshold=0.02)).verdict == "slower"


def test_record_holds_medians_ratio_interval_and_p_value():
    rng = np.random.default_rng(7)
    baseline, candidate = latencies(rng), latencies(rng, 1.3)
    verdict = sample_verdict("match", baseline, candidate)
    assert (verdict.stage, verdict.n_a, verdict.n_b) == ("match", SAMPLES, SAMPLES)
    assert verdict.median_a == pytest.approx(np.median(baseline))
    assert verdict.ratio == pytest.approx(np.median(candidate) / np.median(baseline))
    assert verdict.ci_low < verdict.ratio < verdict.ci_high
    assert verdict.ci_low < 1.3 < verdict.ci_high
    assert verdict.block_a >= 1.0 and verdict.block_b >= 1.0
    assert sample_verdict("match", baseline, candidate) == verdict  # the bootstrap is seeded


@pytest.mark.parametrize(("n_a", "n_b"), [(1, 30), (3, 3), (3, 4)])
def test_counts_that_cannot_reach_alpha_are_too_few(n_a, n_b):
    rng = np.random.default_rng(1)
    verdict = sample_verdict("decode", latencies(rng, size=n_a), latencies(rng, 3.0, size=n_b))
    assert verdict.verdict == "too few samples"
    assert verdict.p_value is None and verdict.ci_low is None and verdict.block_a is None
    assert verdict.ratio == pytest.approx(verdict.median_b / verdict.median_a)


def test_four_samples_each_can_reach_alpha():
    assert smallest_p_value(3, 3) == pytest.approx(0.1)
    assert smallest_p_value(4, 4) == pytest.approx(2 / 70)
    assert smallest_p_value(5000, 5000) == 0.0
    verdict = sample_verdict("decode", [10.0, 10.1, 10.2, 10.3], [20.0, 20.1, 20.2, 20.3])
    assert verdict.verdict == "slower" and verdict.p_value < 0.05


def test_constant_samples_give_an_exact_interval():
    verdict = sample_verdict("to_device", [2.0] * 10, [2.0] * 10)
    assert (verdict.verdict, verdict.ratio, verdict.ci_low, verdict.ci_high) == ("no change", 1.0, 1.0, 1.0)


def test_summaries_without_samples_are_too_few():
    with_samples = StageStats.from_samples(list(latencies(np.random.default_rng(2), size=200)))
    summary_only = dataclasses.replace(with_samples, samples_ms=None)
    verdict = stats_verdict("forward", summary_only, with_samples)
    assert verdict.verdict == "too few samples" and (verdict.n_a, verdict.n_b) == (200, 200)
    assert verdict.median_a == verdict.median_b == with_samples.p50_ms


def test_reports_of_different_machines_are_never_tested(environment):
    timings = {"forward": StageStats.from_samples(list(latencies(np.random.default_rng(3))))}

    def make(fingerprint: str, device: str = "cpu"):
        return new_report("profile", profile_record(device=device), command=["test"], timings=timings,
                          environment=dataclasses.replace(environment, fingerprint_id=fingerprint))

    steady = VerdictRule(cv_limit=0.5)  # these latencies scatter by about 10%, the default limit
    (verdict,) = report_verdicts(make("aaaa00000000"), make("aaaa00000000"), steady)
    assert verdict.verdict == "no change"
    for other in (make("bbbb00000000"), make("aaaa00000000", device="cuda")):
        with pytest.raises(ValueError, match="not compared for speed"):
            report_verdicts(make("aaaa00000000"), other)


@pytest.mark.parametrize("changes", [{"alpha": 0.0}, {"threshold": -0.1}, {"threshold": float("inf")},
                                     {"confidence": 1.0}, {"resamples": 10}])
def test_bad_rules_are_rejected(changes):
    with pytest.raises(ValueError):
        VerdictRule(**changes)
