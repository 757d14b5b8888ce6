"""pytest-benchmark plumbing: stamp every saved benchmark run with this machine's fingerprint.

The fingerprint (bench.reports.environment) is what `bench compare` uses to decide which measurements may be
compared for regressions, so benchmark JSON files carry the same id and the full description.
"""

from __future__ import annotations

import pytest

from bench.reports.machine import this_environment
from bench.reports.typed import to_data
from bench.testing.synthetic_data import DetectionSpec, GroundTruthSpec, make_detections, make_ground_truth


def pytest_benchmark_update_machine_info(config, machine_info: dict) -> None:
    environment = this_environment()
    machine_info["fingerprint_id"] = environment.fingerprint_id
    machine_info["bench_environment"] = to_data(environment)


@pytest.fixture(scope="session")
def crowdpose_sized() -> tuple[dict, list[dict]]:
    """8,000 generated images (the size of the CrowdPose test set), edge cases included, with up to 20
    detections each (18 on average): GT dict and results list."""
    gt = make_ground_truth(GroundTruthSpec(num_images=8000, seed=0, max_people=10, min_size=320,
                                           max_size=640))
    return gt, make_detections(gt, DetectionSpec(seed=1, false_positives=15.0, max_per_image=20))
