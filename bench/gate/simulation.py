"""How far a gate can be trusted, measured by simulation on a generated CrowdPose-sized set.

The set (``SimulatedSet``): generated ground truth and detections (``bench.testing.synthetic_data``) as
the golden, and the same detections after a ``Regression`` (every person's joints moved, its score
scaled, some people lost) as the predictions of a changed image. Both are matched once; a trial that
changes a known set of images mixes the two runs' matches image by image (``bench.evaluation.selection``)
and accumulates them again, so the true full-set change of every trial is exact and costs no matching.

* ``coverage``: per case (fraction of the set changed, subset size), seeded trials that change that
  fraction at random, draw a stratified subset, estimate the full-set change as the gate does
  (``bench.gate.estimate``) and record whether each 95% interval holds the true change.
* ``power_table``: per subset size, the fewest changed images the gate detects (some drawn image
  changed) in 90% of draws, and the full-set AP change that many regressed images make.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench.evaluation import AP_NAMES, evaluate
from bench.evaluation.accumulate import point_metrics
from bench.evaluation.bootstrap import BootstrapSettings
from bench.evaluation.matching import ImageMatches
from bench.evaluation.selection import mix_images, select_images
from bench.evaluation.subset import draw_subset
from bench.gate.estimate import full_set_changes
from bench.testing.synthetic_data import DetectionSpec, GroundTruthSpec, make_detections, make_ground_truth

SIMULATED_IMAGES = 8000
"""The size of the CrowdPose test set."""
COVERAGE_CASES = ((0.05, 500), (0.1, 200), (0.25, 200), (0.5, 100), (1.0, 100), (1.0, 200))
"""(fraction of the set changed, subset size) of ``bench gate --coverage``."""
DEFAULT_BOOTSTRAP = BootstrapSettings()
POWER_SIZES = (100, 200, 500)
POWER = 0.9


@dataclass(frozen=True)
class Regression:
    """What a change does to an image's detections: each joint moves by a normal offset of ``joint_px``
    pixels per coordinate, each person's score is scaled by exp(N(0, ``score_log_sd``)), and each person
    is lost with probability ``lost``."""

    joint_px: float = 3.0
    score_log_sd: float = 0.1
    lost: float = 0.05

    def describe(self) -> str:
        return (f"joints moved by N(0, {self.joint_px:g} px), scores scaled by "
                f"exp(N(0, {self.score_log_sd:g})), {self.lost:.0%} of people lost")


def regressed(detections: list[dict], regression: Regression, seed: int) -> list[dict]:
    """``detections`` after ``regression`` (new dicts; the input is not modified)."""
    generator = np.random.default_rng(seed)
    changed = []
    for detection in detections:
        moved = generator.normal(0.0, regression.joint_px, (len(detection["keypoints"]) // 3, 2))
        scale = float(np.exp(generator.normal(0.0, regression.score_log_sd)))
        if generator.random() < regression.lost:
            continue
        keypoints = np.asarray(detection["keypoints"], dtype=np.float64).reshape(-1, 3)
        keypoints[:, :2] += moved
        changed.append(dict(detection, keypoints=keypoints.ravel().tolist(),
                            score=detection["score"] * scale))
    return changed


@dataclass(frozen=True, eq=False)
class SimulatedSet:
    """The golden's matches and those of every image regressed, on one generated set, with the golden's
    published metrics [6] (``AP_NAMES``) and the regression."""

    golden: ImageMatches
    regressed: ImageMatches
    golden_metrics: np.ndarray
    regression: Regression

    @property
    def num_images(self) -> int:
        return len(self.golden.image_ids)

    def true_change(self, changed: np.ndarray) -> np.ndarray:
        """[6] the exact change of the published metrics when the images where ``changed`` [I] regress."""
        return published(mix_images(self.golden, self.regressed, changed)) - self.golden_metrics


def published(matches: ImageMatches) -> np.ndarray:
    """[6] the published metrics (``AP_NAMES``) of ``matches``."""
    metrics = point_metrics(matches)
    return np.array([metrics[name] for name in AP_NAMES])


def simulated_set(num_images: int = SIMULATED_IMAGES, seed: int = 0,
                  regression: Regression = Regression()) -> SimulatedSet:
    """A generated set of ``num_images`` (CrowdPose's image sizes, 1 to 10 people and up to 20 detections
    per image, no ties in score), matched as the golden and as regressed. Its crowd indices are uniform
    in [0, 1], as CrowdPose's are by construction, so the splits hold about 20%, 60% and 20% of the
    images; the evaluator tests' edge cases are left out (they put a seventh of the images at exactly
    0.2 and another at 0.8, leaving the easy split 14%, and add images without people)."""
    gt = make_ground_truth(GroundTruthSpec(num_images=num_images, seed=seed, max_people=10, min_size=320,
                                           max_size=640, edge_cases=False))
    detections = make_detections(gt, DetectionSpec(seed=seed + 1, false_positives=3.0, max_per_image=20,
                                                   edge_cases=False))
    golden = evaluate(gt, detections).matches
    changed = evaluate(gt, regressed(detections, regression, seed + 2)).matches
    return SimulatedSet(golden, changed, published(golden), regression)


@dataclass(frozen=True, eq=False)
class Trial:
    """One coverage trial: the true change [6], and where the subset held a changed image, the estimate
    [6] and its interval bounds [6] each (NaN where a metric has none); ``changed`` drawn images."""

    truth: np.ndarray
    changed: int
    estimate: np.ndarray
    low: np.ndarray
    high: np.ndarray

    @property
    def covered(self) -> np.ndarray:
        """[6] whether each interval holds the true change."""
        return (self.low <= self.truth) & (self.truth <= self.high)


def coverage_trial(simulated: SimulatedSet, fraction: float, size: int, seed: int,
                   bootstrap: BootstrapSettings) -> Trial:
    """Regress ``fraction`` of the images at random, draw a stratified subset of ``size`` and estimate."""
    perturbation, draw_seed, bootstrap_seed = np.random.SeedSequence(seed).generate_state(3)
    images = simulated.num_images
    changed = np.zeros(images, dtype=bool)
    regressing = np.random.default_rng(perturbation).choice(images, round(fraction * images), replace=False)
    changed[regressing] = True
    truth = simulated.true_change(changed)
    golden = simulated.golden
    ids, draw = draw_subset(golden.image_ids, golden.crowd_index, size, int(draw_seed))
    positions = np.searchsorted(golden.image_ids, ids)
    drawn = changed[positions]
    nothing = np.full(len(AP_NAMES), np.nan)
    if not drawn.any():
        return Trial(truth, 0, nothing, nothing, nothing)
    before = select_images(golden, positions)
    after = mix_images(before, select_images(simulated.regressed, positions), drawn)
    settings = BootstrapSettings(bootstrap.resamples, int(bootstrap_seed), bootstrap.confidence)
    estimate = full_set_changes(before, after, draw, drawn, settings)
    deltas = [estimate[name] for name in AP_NAMES]
    return Trial(truth, int(drawn.sum()), np.array([np.nan if d.delta is None else d.delta for d in deltas]),
                 *(np.array([np.nan if d.ci95 is None else d.ci95[side] for d in deltas]) for side in (0, 1)))


def coverage(simulated: SimulatedSet, cases: Iterable[tuple[float, int]] = COVERAGE_CASES, trials: int = 200,
             bootstrap: BootstrapSettings = DEFAULT_BOOTSTRAP) -> pd.DataFrame:
    """Per case: the trials, how many of them drew a changed image (the gate failed and estimated), the
    mean true AP change, and per published metric the share of those trials whose interval held it."""
    records = []
    for fraction, size in cases:
        results = [coverage_trial(simulated, fraction, size, seed, bootstrap) for seed in range(trials)]
        estimated = [trial for trial in results if trial.changed]
        covered = np.array([trial.covered for trial in estimated]).reshape(len(estimated), len(AP_NAMES))
        records.append({"fraction changed": fraction, "N": size, "trials": trials,
                        "estimated": len(estimated),
                        "true AP change": float(np.mean([trial.truth[0] for trial in results])),
                        **{name: float(covered[:, m].mean()) if len(estimated) else float("nan")
                           for m, name in enumerate(AP_NAMES)}})
    return pd.DataFrame.from_records(records)


def power_table(simulated: SimulatedSet, sizes: Iterable[int] = POWER_SIZES, power: float = POWER,
                trials: int = 2000, sets: int = 50, seed: int = 0) -> pd.DataFrame:
    """Per subset size N: the fewest changed images a gate of N detects with ``power``, simulated over
    ``trials`` draws (each with the changed images at random), and the full-set AP change that many
    regressed images make (mean and 5-95% range over ``sets`` random sets of them)."""
    golden = simulated.golden
    images = simulated.num_images
    records = []
    for size in sizes:
        generator = np.random.default_rng([seed, size])
        # the rank of each image in a random order: the k changed images are those of rank below k, so
        # a draw detects k changed images when its lowest rank is below k
        lowest = np.array([generator.permutation(images)[np.searchsorted(golden.image_ids, draw_subset(
            golden.image_ids, golden.crowd_index, size, int(generator.integers(2**32)))[0])].min()
                           for _ in range(trials)])
        needed = int(np.quantile(lowest, power, method="higher")) + 1
        changes = [simulated.true_change(np.isin(np.arange(images), generator.choice(images, needed,
                                                                                      replace=False)))[0]
                   for _ in range(sets)]
        low, high = np.quantile(changes, [0.05, 0.95])
        records.append({"N": size, "changed images": needed, "share of the set (%)": 100 * needed / images,
                        "AP change (mean)": float(np.mean(changes)), "AP change 5%": float(low),
                        "AP change 95%": float(high)})
    return pd.DataFrame.from_records(records)
