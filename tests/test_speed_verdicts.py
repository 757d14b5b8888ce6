"""Speed verdicts from samples: error rates over seeded draws of known distributions (no timing here)."""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np
import pytest
from helpers import profile_record

from bench.reports.speed_verdicts import (
    VerdictRule,
    report_verdicts,
    sample_verdict,
    smallest_p_value,
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


def verdict_counts(scale: float) -> Counter:
    """Verdicts of candidate (median scaled by ``scale``) against baseline over ``DRAWS`` seeded draws."""
    counts = Counter()
    for seed in range(DRAWS):
        rng = np.random.default_rng(seed)
        counts[sample_verdict("end_to_end", latencies(rng), latencies(rng, scale)).verdict] += 1
    return counts


def test_equal_distributions_give_no_change():
    assert verdict_counts(1.0)["no change"] >= 99


def test_a_20_percent_slowdown_is_found():
    assert verdict_counts(1.2)["slower"] >= 95


def test_a_20_percent_speedup_is_found():
    assert verdict_counts(1 / 1.2)["faster"] >= 95


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
    assert sample_verdict("match", baseline, candidate) == verdict  # the bootstrap is seeded


@pytest.mark.parametrize(("n_a", "n_b"), [(1, 30), (3, 3), (3, 4)])
def test_counts_that_cannot_reach_alpha_are_too_few(n_a, n_b):
    rng = np.random.default_rng(1)
    verdict = sample_verdict("decode", latencies(rng, size=n_a), latencies(rng, 3.0, size=n_b))
    assert verdict.verdict == "too few samples"
    assert verdict.p_value is None and verdict.ci_low is None
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
                          environment={**environment, "fingerprint_id": fingerprint})

    (verdict,) = report_verdicts(make("aaaa00000000"), make("aaaa00000000"))
    assert verdict.verdict == "no change"
    for other in (make("bbbb00000000"), make("aaaa00000000", device="cuda")):
        with pytest.raises(ValueError, match="not compared for speed"):
            report_verdicts(make("aaaa00000000"), other)


@pytest.mark.parametrize("changes", [{"alpha": 0.0}, {"threshold": -0.1}, {"threshold": float("inf")},
                                     {"confidence": 1.0}, {"resamples": 10}])
def test_bad_rules_are_rejected(changes):
    with pytest.raises(ValueError):
        VerdictRule(**changes)
