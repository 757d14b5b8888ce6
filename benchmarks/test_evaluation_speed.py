"""CrowdPose-sized evaluation: the one evaluator beside the oracles it is tested against (group
``evaluation-crowdpose-size``).

8,000 generated images (the size of the CrowdPose test set) with up to 20 detections each (18 on
average), edge cases included (the ``crowdpose_sized`` fixture of conftest.py). ``test_from_files``
scores JSON files as ``python -m bench evaluate`` does (parsing and checking included);
``test_from_objects`` starts from parsed lists. The oracles (``tests/oracles.py``: the official
crowdposetools, faster-coco-eval's own ``keypoints_crowd`` summary, pycocotools with the protocol
around it) run once each on the same objects, where installed, and must give the evaluator's numbers
to 1e-12. Goal: the test set in under 10 s on a 2-core CPU.
"""

from __future__ import annotations

import json

import pytest
from oracles import OFFICIAL_PROTOCOL_ORACLES

from bench.evaluation import evaluate

NUM_IMAGES = 8000  # the crowdpose_sized fixture of conftest.py
GROUP = "evaluation-crowdpose-size"


@pytest.fixture(scope="module")
def crowdpose_sized_files(crowdpose_sized, tmp_path_factory):
    folder = tmp_path_factory.mktemp("evaluation-speed")
    for name, content in zip(("gt.json", "results.json"), crowdpose_sized, strict=True):
        (folder / name).write_text(json.dumps(content))
    return folder / "gt.json", folder / "results.json"


@pytest.fixture(scope="module")
def expected_metrics(crowdpose_sized) -> dict[str, float]:
    return evaluate(*crowdpose_sized).metrics


def timed_evaluation(benchmark, inputs) -> None:
    benchmark.group = GROUP
    evaluation = benchmark.pedantic(evaluate, args=inputs, rounds=3, iterations=1)
    report = evaluation.inputs
    benchmark.extra_info.update(implementation="bench.evaluation", images=report.num_images,
                                ground_truth=report.num_ground_truth, detections=report.num_detections)
    assert report.num_images == NUM_IMAGES and report.num_detections > 17 * NUM_IMAGES


def test_from_files(benchmark, crowdpose_sized_files):
    timed_evaluation(benchmark, crowdpose_sized_files)


def test_from_objects(benchmark, crowdpose_sized):
    timed_evaluation(benchmark, crowdpose_sized)


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::ResourceWarning")
@pytest.mark.parametrize("oracle", list(OFFICIAL_PROTOCOL_ORACLES))
def test_oracle(benchmark, crowdpose_sized, expected_metrics, oracle):
    benchmark.group = GROUP
    benchmark.extra_info["implementation"] = oracle
    metrics = benchmark.pedantic(OFFICIAL_PROTOCOL_ORACLES[oracle], args=crowdpose_sized, rounds=1,
                                 iterations=1)
    assert metrics == pytest.approx(expected_metrics, abs=1e-12)
