"""CrowdPose-sized evaluation, every installed backend side by side (group ``evaluation-crowdpose-size``).

8,000 generated images (the size of the CrowdPose test set) with up to 20 detections each (18 on
average), edge cases included. ``from_files`` scores JSON files as ``python -m bench evaluate`` does
(parsing and checking included, for every backend); ``from_objects`` starts from parsed lists, which
isolates the evaluation itself. Every backend must give exactly the default backend's numbers
(xtcocotools excepted: it drops all-zero-score detections). Goal for the default: the test set in
under 10 s on a 2-core CPU; faster-coco-eval's own keypoints_crowd summary
(``faster-coco-eval-stock``) re-evaluates everything four times and is several times slower.
"""

from __future__ import annotations

import json

import pytest

from bench.errors import BenchError
from bench.evaluation import BACKEND_NAMES, DEFAULT_BACKEND, api, evaluate_with_info

NUM_IMAGES = 8000  # the crowdpose_sized fixture of conftest.py
ROUNDS = {DEFAULT_BACKEND: 3}  # the slow backends take 30 s to minutes: one round each


@pytest.fixture(scope="module")
def crowdpose_sized_files(crowdpose_sized, tmp_path_factory):
    folder = tmp_path_factory.mktemp("evaluation-speed")
    for name, content in zip(("gt.json", "results.json"), crowdpose_sized, strict=True):
        (folder / name).write_text(json.dumps(content))
    return folder / "gt.json", folder / "results.json"


@pytest.fixture(scope="module")
def default_metrics(crowdpose_sized) -> dict[str, float]:
    return evaluate_with_info(*crowdpose_sized).metrics


def run_benchmark(benchmark, inputs, backend: str, default_metrics: dict[str, float]) -> None:
    try:
        api.backend_module(backend).version()
    except BenchError as error:
        pytest.skip(str(error))
    benchmark.group = "evaluation-crowdpose-size"
    result = benchmark.pedantic(evaluate_with_info, args=(*inputs, backend), rounds=ROUNDS.get(backend, 1),
                                iterations=1)
    report = result.input_report
    benchmark.extra_info.update(backend_version=result.backend_version, images=report.num_images,
                                ground_truth=report.num_ground_truth, detections=report.num_detections)
    assert report.num_images == NUM_IMAGES and report.num_detections > 17 * NUM_IMAGES
    if backend != "xtcocotools":
        assert result.metrics == default_metrics


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::ResourceWarning")
@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_from_files(benchmark, crowdpose_sized_files, default_metrics, backend):
    run_benchmark(benchmark, crowdpose_sized_files, backend, default_metrics)


@pytest.mark.parametrize("backend", [DEFAULT_BACKEND, "faster-coco-eval-stock"])
def test_from_objects(benchmark, crowdpose_sized, default_metrics, backend):
    run_benchmark(benchmark, crowdpose_sized, backend, default_metrics)
