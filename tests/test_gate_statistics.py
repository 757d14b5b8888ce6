"""The gate's statistics: matches cut and mixed image by image score exactly as evaluating that set again,
the exact binomial bound, the expanded and count-widened intervals, and (reduced, seeded) the simulations
behind `bench gate --coverage` and `--power`; the full 200-trial coverage is `python -m bench gate
--coverage`."""

from __future__ import annotations

import numpy as np
import pytest

from bench.evaluation import evaluate
from bench.evaluation.accumulate import point_metrics
from bench.evaluation.bootstrap import INTERVAL_METRICS, BootstrapSettings, PairedDelta
from bench.evaluation.protocol import SPLIT_NAMES
from bench.evaluation.selection import mix_images, select_images
from bench.evaluation.subset import draw_subset
from bench.gate.estimate import changed_fraction_bound, count_upper, expanded_level, full_set_changes, widened
from bench.gate.simulation import Regression, coverage, power_table, regressed, simulated_set
from bench.testing.synthetic_data import DetectionSpec, GroundTruthSpec, make_detections, make_ground_truth


@pytest.fixture(scope="module")
def runs():
    """Generated GT full of edge cases, its detections and the same regressed."""
    gt = make_ground_truth(GroundTruthSpec(num_images=60, seed=8, max_crowd_index=2.0))
    detections = make_detections(gt, DetectionSpec(seed=9))
    return gt, detections, regressed(detections, Regression(), seed=10)


def test_selected_and_mixed_matches_score_as_evaluating_that_set(runs):
    gt, golden, changed = runs
    a, b = evaluate(gt, golden).matches, evaluate(gt, changed).matches
    from_b = np.random.default_rng(0).random(len(a.image_ids)) < 0.4
    ids = set(a.image_ids[from_b].tolist())
    mixed = ([det for det in golden if det["image_id"] not in ids]
             + [det for det in changed if det["image_id"] in ids])
    assert point_metrics(mix_images(a, b, from_b)) == evaluate(gt, mixed).metrics
    positions = np.flatnonzero(~from_b)
    kept = set(a.image_ids[positions].tolist())
    subset = dict(gt, images=[image for image in gt["images"] if image["id"] in kept],
                  annotations=[ann for ann in gt["annotations"] if ann["image_id"] in kept])
    assert point_metrics(select_images(a, positions)) == evaluate(
        subset, [det for det in golden if det["image_id"] in kept]).metrics


def test_the_bound_is_the_exact_binomial_one_and_the_interval_widens_with_few_values():
    assert changed_fraction_bound(0, 200) == pytest.approx(1 - 0.05 ** (1 / 200))
    assert changed_fraction_bound(0, 200) == pytest.approx(0.01487, abs=1e-5)
    assert changed_fraction_bound(3, 3) == 1.0
    assert expanded_level(100_000, 0.95) == pytest.approx(0.95, abs=1e-4)
    assert 0.95 < expanded_level(30, 0.95) < expanded_level(5, 0.95) < expanded_level(2, 0.95) <= 1
    assert expanded_level(0, 0.95) == expanded_level(2, 0.95)  # the whole range of the resamples


def test_few_differing_images_widen_the_interval_past_the_resamples():
    """One differing image: the bootstrap's values are 0, 1, 2, ... copies of its change, so no percentile
    reaches past about 6 of them; the count-scaled t interval does (t(1) and a Poisson mean of up to 5.6)."""
    assert count_upper(0, 0.95) == pytest.approx(3.689, abs=1e-3)
    assert count_upper(1, 0.95) == pytest.approx(5.572, abs=1e-3)
    assert 1.2 < count_upper(100, 0.95) / 100 < 1.25
    copies = np.random.default_rng(0).poisson(1.0, 1000)
    differences = -0.001 * copies
    percentile = PairedDelta(-0.001, (float(differences.min()), float(differences.max())))
    low, high = widened(percentile, differences, 1, 0.95).ci95
    assert low < -0.02 and high > 0.015
    many = widened(PairedDelta(-0.001, (-0.003, 0.001)), np.random.default_rng(1).normal(-0.001, 0.001, 1000),
                   400, 0.95).ci95
    assert many[0] == pytest.approx(-0.003, abs=2e-4) and many[1] == pytest.approx(0.001, abs=2e-4)


def test_a_subset_without_differences_estimates_no_change(runs):
    gt, golden, _ = runs
    matches = evaluate(gt, golden).matches
    ids, draw = draw_subset(matches.image_ids, matches.crowd_index, 20, seed=1)
    subset = select_images(matches, np.searchsorted(matches.image_ids, ids))
    estimate = full_set_changes(subset, subset, draw, np.zeros(20, dtype=bool),
                                BootstrapSettings(resamples=30))
    defined = [name for name in INTERVAL_METRICS if estimate[name].delta is not None]
    assert defined and {name: (estimate[name].delta, estimate[name].ci95) for name in defined} == {
        name: (0.0, (0.0, 0.0)) for name in defined}


@pytest.fixture(scope="module")
def simulated():
    return simulated_set(num_images=600, seed=3)


@pytest.mark.simulation
def test_reduced_coverage_of_the_full_set_estimates(simulated):
    """24 seeded trials of 15% of the set regressed and 100 images drawn (the full run: 200 trials per case
    on 8,000 images, `bench gate --coverage`): a split's interval rests on about 3 differing images (20
    drawn easy ones), as AP(E)'s does in the full run's sparse cases. The intervals hold the true change
    in every split in at least 90% of trials; the expanded percentiles alone held it in 83% to 88%."""
    table = coverage(simulated, [(0.15, 100)], trials=24, bootstrap=BootstrapSettings(resamples=100))
    (case,) = table.to_dict("records")
    assert case["estimated"] == 24 and case["true AP change"] < 0
    assert min(case[name] for name in SPLIT_NAMES) >= 0.9
    assert np.mean([case[name] for name in INTERVAL_METRICS]) >= 0.9


@pytest.mark.simulation
def test_power_grows_with_the_subset(simulated):
    """Detecting a change needs a changed image drawn: with 90% power about 1 - 0.1^(1/N) of the set."""
    table = power_table(simulated, sizes=(30, 60), trials=400, sets=5)
    needed = table["changed images"].tolist()
    assert needed[0] > needed[1]
    for size, count in zip((30, 60), needed, strict=True):
        assert count == pytest.approx(600 * (1 - 0.1 ** (1 / size)), rel=0.25)
    assert (table["AP change (mean)"] < 0).all()
