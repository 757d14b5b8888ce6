"""Bootstrap intervals at CrowdPose size (group ``bootstrap-crowdpose-size``).

The 8,000 generated images of ``test_evaluation_speed`` (the ``crowdpose_sized`` fixture of
conftest.py, up to 20 detections each, edge cases included). ``test_matching`` times the evaluation,
whose per-image matches (OKS included) the intervals reuse; ``test_resamples`` times 1,000 image
resamples re-accumulated from those matches (AP, AP50, AP75, AP(E/M/H) each). Goal: the 1,000
resamples in at most 60 s on a 2-core CPU.
"""

from __future__ import annotations

import pytest

from bench.evaluation import evaluate
from bench.evaluation.accumulate import point_metrics
from bench.evaluation.bootstrap import INTERVAL_METRICS, BootstrapSettings, bootstrap_distributions

SETTINGS = BootstrapSettings(resamples=1000, seed=0)
GROUP = "bootstrap-crowdpose-size"


@pytest.fixture(scope="module")
def matches(crowdpose_sized):
    return evaluate(*crowdpose_sized).matches


def test_matching(benchmark, crowdpose_sized):
    benchmark.group = GROUP
    evaluation = benchmark.pedantic(evaluate, args=crowdpose_sized, rounds=1, iterations=1)
    assert point_metrics(evaluation.matches) == evaluation.metrics


def test_resamples(benchmark, matches):
    benchmark.group = GROUP
    benchmark.extra_info.update(images=len(matches.image_ids), detections=len(matches.scores),
                                resamples=SETTINGS.resamples)
    samples = benchmark.pedantic(bootstrap_distributions, args=([matches], SETTINGS), rounds=1, iterations=1)
    assert samples.shape == (SETTINGS.resamples, 1, len(INTERVAL_METRICS))
