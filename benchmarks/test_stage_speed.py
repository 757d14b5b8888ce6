"""Per-stage speed of the one pipeline (pytest-benchmark, `nox -s benchmark`).

The stages are timed as the pipeline runs them: each benchmark drives a half of
``reference.pipeline.Predictor`` with a batch of a ``bench.speed.timer.StageTimer`` as its observer and
stores every stage's median in ``extra_info["stage_p50_ms"]``. The decoding half (aggregate, grouping,
to_image) groups rendered 20-person maps at 512x704 with flip-test tags (the aggregated-map size of a 640x480
CrowdPose image), handed to the pipeline in place of the network's through ``replace_maps``; the
network half on a bundled sample image at input 256 (synthetic weights) so the suite stays short on
a CPU. Groups: "input", "decode-512x704", "network-256".

The broad case, group "broad fan-in seed 5 103319": both halves on the maps where post-processing is
hardest (sample image 103319, input 512 -> 704x512 maps, flip, the fan-in weights of
``bench.speed.network_maps``: 59 people, 602 joints missing before refine), so that post-processing
over the network time is read from one run: the network half once, the decoding half with the fast
path and with the literal port on the same network outputs (identical poses asserted).
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
import torch

from bench.data.images import read_image
from bench.data.sample import SAMPLE_DIR
from bench.reports.stats import END_TO_END
from bench.speed.network_maps import BROAD_FILL, BROAD_IMAGE_ID, BROAD_SEED, sample_image
from bench.speed.synthetic_maps import SyntheticMapsConfig, render_maps
from bench.speed.timer import StageTimer
from bench.testing.synthetic_weights import deterministic_state_dict
from bench.weights import Weights
from reference.model import higher_hrnet_w32
from reference.pipeline import NetworkMaps, Predictor

SAMPLE_IMAGE = SAMPLE_DIR / "103319.jpg"
MAP_CONFIG = SyntheticMapsConfig(height=512, width=704, num_people=20, num_tag_dims=2, seed=0)


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return read_image(SAMPLE_IMAGE)


@pytest.fixture(scope="module")
def network() -> torch.nn.Module:
    model = higher_hrnet_w32()
    model.load_state_dict(deterministic_state_dict(model, seed=0))
    return model


def rendered(maps: NetworkMaps) -> NetworkMaps:
    """The replace_maps of this benchmark: rendered maps of the same size instead of the network's."""
    drawn = render_maps(MAP_CONFIG)
    assert maps.heatmaps.shape[-2:] == (MAP_CONFIG.height, MAP_CONFIG.width)
    return dataclasses.replace(maps, heatmaps=torch.from_numpy(drawn.heatmaps[None]),
                               tags=torch.from_numpy(drawn.tags[None]))


def observed_run(benchmark, timer: StageTimer, step, rounds: int):
    """Benchmark ``step(observer)`` for ``rounds`` rounds, each round one batch of the timer; every
    stage's median goes to extra_info."""
    batches = itertools.count()

    def one_round():
        index = next(batches)
        result = step(timer.batch(index))
        timer.finished(index)
        return result

    result = benchmark.pedantic(one_round, rounds=rounds, iterations=1, warmup_rounds=1)
    benchmark.extra_info["stage_p50_ms"] = {stage: stats.p50_ms for stage, stats in timer.stats().items()
                                            if stage != END_TO_END}
    return result


def test_read_image(benchmark):
    benchmark.group = "input"
    assert benchmark(read_image, SAMPLE_IMAGE).shape == (480, 640, 3)


@pytest.mark.parametrize("matcher", ["scipy", "munkres"])
def test_decoding_half(benchmark, image, matcher):
    benchmark.group = "decode-512x704"
    predictor = Predictor(torch.nn.Identity(), matcher=matcher)
    outputs = predictor.run_network([image])
    captured: list[NetworkMaps] = []
    predictor.decode(outputs, replace_maps=lambda found: captured.append(rendered(found)) or captured[0])
    maps = captured[0]
    timer = StageTimer(warmup=1)
    (keypoints, scores), = observed_run(
        benchmark, timer, lambda observer: predictor.decode(outputs, observer, replace_maps=lambda _: maps),
        rounds=5 if matcher == "scipy" else 2)
    assert set(benchmark.extra_info["stage_p50_ms"]) == {"aggregate", "nms_topk", "match", "adjust", "refine",
                                                         "to_image"}
    other = Predictor(torch.nn.Identity(), matcher="munkres" if matcher == "scipy" else "scipy")
    (expected_keypoints, expected_scores), = other.decode(outputs, replace_maps=lambda _: maps)
    np.testing.assert_array_equal(keypoints, expected_keypoints)  # both matchers group identically
    np.testing.assert_array_equal(scores, expected_scores)
    assert abs(len(scores) - MAP_CONFIG.num_people) <= MAP_CONFIG.num_people // 2


def test_network_half(benchmark, network, image):
    benchmark.group = "network-256"
    predictor = Predictor(network, input_size=256)
    outputs = observed_run(benchmark, StageTimer(warmup=1),
                           lambda observer: predictor.run_network([image], observer), rounds=3)
    assert set(benchmark.extra_info["stage_p50_ms"]) == {"preprocess", "to_device", "forward_x1"}
    low, high = outputs.outputs[0].original
    assert tuple(low.shape) == (1, 28, 64, 88) and tuple(high.shape) == (1, 14, 128, 176)
    assert torch.isfinite(low).all() and torch.isfinite(high).all()


BROAD_GROUP = f"broad {BROAD_FILL} seed {BROAD_SEED} {BROAD_IMAGE_ID}"
DECODING_STAGES = {"aggregate", "nms_topk", "match", "adjust", "refine", "to_image"}


@pytest.fixture(scope="module")
def broad_predictor() -> Predictor:
    return Predictor(Weights.synthetic(BROAD_FILL, seed=BROAD_SEED).build_model())


@pytest.fixture(scope="module")
def broad_outputs(broad_predictor):
    return broad_predictor.run_network([read_image(sample_image(BROAD_IMAGE_ID))])


@pytest.fixture(scope="module")
def broad_poses() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """matcher -> poses of the broad decoding benchmarks run so far."""
    return {}


def test_broad_network_half(benchmark, broad_predictor):
    benchmark.group = BROAD_GROUP
    image = read_image(sample_image(BROAD_IMAGE_ID))
    outputs = observed_run(benchmark, StageTimer(warmup=1),
                           lambda observer: broad_predictor.run_network([image], observer), rounds=2)
    assert outputs.batch.base_size == (704, 512)


@pytest.mark.parametrize("matcher", ["scipy", "munkres"])
def test_broad_decoding_half(benchmark, broad_predictor, broad_outputs, broad_poses, matcher):
    benchmark.group = BROAD_GROUP
    grouping = dataclasses.replace(broad_predictor.config.grouping, matcher=matcher)
    variant = dataclasses.replace(broad_predictor.config, grouping=grouping)
    (keypoints, scores), = observed_run(
        benchmark, StageTimer(warmup=1),
        lambda observer: broad_predictor.decode(broad_outputs, observer, variant=variant),
        rounds=5 if matcher == "scipy" else 1)
    assert set(benchmark.extra_info["stage_p50_ms"]) == DECODING_STAGES
    benchmark.extra_info["people"] = len(scores)
    broad_poses[matcher] = (keypoints, scores)
    if len(broad_poses) == 2:
        (fast_keypoints, fast_scores), (literal_keypoints, literal_scores) = broad_poses.values()
        np.testing.assert_array_equal(fast_keypoints, literal_keypoints)
        np.testing.assert_array_equal(fast_scores, literal_scores)
    assert len(scores) == 59
