"""Bootstrap intervals at CrowdPose size (group ``bootstrap-crowdpose-size``).

The 8,000 generated images of ``test_evaluation_speed`` (the ``crowdpose_sized`` fixture of
conftest.py, up to 20 detections each, edge cases included). ``test_matching`` times the one-off
per-image matching (OKS included); ``test_resamples`` times 1,000 image resamples re-accumulated from
those matches (AP, AP50, AP75, AP(E/M/H) each). Goal: the 1,000 resamples in at most 60 s on a
2-core CPU.
"""

from __future__ import annotations

import pytest

from bench.evaluation import evaluate
from bench.evaluation.api import image_matches
from bench.evaluation.bootstrap import (
    INTERVAL_METRICS,
    BootstrapSettings,
    bootstrap_distributions,
    point_metrics,
)

SETTINGS = BootstrapSettings(resamples=1000, seed=0)


@pytest.fixture(scope="module")
def matches(crowdpose_sized):
    return image_matches(*crowdpose_sized)


def test_matching(benchmark, crowdpose_sized):
    benchmark.group = "bootstrap-crowdpose-size"
    found = benchmark.pedantic(image_matches, args=crowdpose_sized, rounds=1, iterations=1)
    expected = evaluate(*crowdpose_sized)
    assert point_metrics(found) == {metric: expected[metric] for metric in INTERVAL_METRICS}


def test_resamples(benchmark, matches):
    benchmark.group = "bootstrap-crowdpose-size"
    benchmark.extra_info.update(images=len(matches.image_ids), detections=len(matches.scores),
                                resamples=SETTINGS.resamples)
    samples = benchmark.pedantic(bootstrap_distributions, args=([matches], SETTINGS), rounds=1, iterations=1)
    assert samples.shape == (SETTINGS.resamples, 1, len(INTERVAL_METRICS))
