"""The Predictor end to end, with a stand-in network whose outputs are designed from known people."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from helpers import TinyPoseNet
from torch import nn

from reference.aggregate import ScaleOutputs
from reference.crowdpose import FLIP_INDEX, NUM_JOINTS
from reference.grouping import GroupingConfig
from reference.pipeline import (
    Batch,
    ForwardOutputs,
    NetworkMaps,
    PipelineConfig,
    Predictor,
    network_precision,
    pipeline_config,
)
from reference.preprocess import IMAGENET_MEAN, IMAGENET_STD, ImageError, InputLimits
from reference.stages import stage_names

SIGMA_INPUT_PX = 5.0  # Gaussian width of the rendered heatmaps, in network-input pixels


@dataclass(frozen=True)
class Scene:
    """An image size, a green level that identifies the image, and its people [P, 14, 2] (x, y in pixels)."""

    height: int
    width: int
    green: int
    people: np.ndarray
    tags: tuple[float, ...]

    def image(self) -> np.ndarray:
        """RGB uint8: red ramps up left to right (so a mirrored input is recognisable), green = id."""
        image = np.empty((self.height, self.width, 3), np.uint8)
        image[..., 0] = np.linspace(0, 255, self.width).round().astype(np.uint8)
        image[..., 1] = self.green
        image[..., 2] = 128
        return image


class SceneNetwork(nn.Module):
    """Stand-in for HigherHRNet: renders Gaussian heatmaps and constant-per-person tag maps of the
    scene its input shows, at 1/4 (heatmaps + tags) and 1/2 (heatmaps) of the input size.

    It recognises the scene by the green level at the input centre and a mirrored input by the red
    ramp; for a mirrored input it draws joint j where the mirror of joint FLIP_INDEX[j] lies, as a
    real network would see the mirrored person.
    """

    def __init__(self, scenes: list[Scene]):
        super().__init__()
        self.scenes = scenes

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        rendered = [self._render_one(sample) for sample in x.float()]
        return [torch.stack([low for low, _ in rendered]), torch.stack([high for _, high in rendered])]

    def _render_one(self, sample: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        height, width = sample.shape[-2:]
        mean = torch.as_tensor(IMAGENET_MEAN, device=sample.device)[:, None, None]
        std = torch.as_tensor(IMAGENET_STD, device=sample.device)[:, None, None]
        rgb = (sample * std + mean) * 255
        green = float(rgb[1, height // 2, width // 2])
        scene = min(self.scenes, key=lambda s: abs(s.green - green))
        middle_row = rgb[0, height // 2]
        mirrored = bool(middle_row[: width // 2].mean() > middle_row[width // 2:].mean())
        # The warp scales the image uniformly about its centre pixel (round(w/2), round(h/2)).
        zoom = height / scene.height if scene.width >= scene.height else width / scene.width
        center = np.array([round(scene.width / 2), round(scene.height / 2)])
        joints = (scene.people - center) * zoom + np.array([width / 2, height / 2])
        if mirrored:
            joints = joints[:, list(FLIP_INDEX)]
            joints[..., 0] = width - 1 - joints[..., 0]
        joints = torch.as_tensor(joints, dtype=torch.float32, device=sample.device)
        tags = torch.as_tensor(scene.tags, dtype=torch.float32, device=sample.device)
        low_heat, low_tags = _gaussians(joints, tags, height // 4, width // 4, 4)
        high_heat, _ = _gaussians(joints, tags, height // 2, width // 2, 2)
        return torch.cat([low_heat, low_tags]), high_heat


def _gaussians(joints: torch.Tensor, tags: torch.Tensor, height: int, width: int, stride: int):
    """Heatmaps [K, h, w] (max over people of a unit Gaussian) and tag maps [K, h, w] (tag of the person
    whose Gaussian is largest) for ``joints`` [P, K, 2] in input pixels, on a map of the given stride."""
    if len(joints) == 0:
        empty = torch.zeros(NUM_JOINTS, height, width, device=joints.device)
        return empty, empty.clone()
    # Map pixel u covers input pixel (u + 0.5) * stride - 0.5 (half-pixel centres, like bilinear resizing).
    centres = (joints + 0.5) / stride - 0.5
    ys = torch.arange(height, device=joints.device, dtype=torch.float32)[:, None]
    xs = torch.arange(width, device=joints.device, dtype=torch.float32)[None, :]
    sigma = SIGMA_INPUT_PX / stride
    dist2 = (xs - centres[..., 0, None, None]) ** 2 + (ys - centres[..., 1, None, None]) ** 2
    gauss = torch.exp(-dist2 / (2 * sigma**2))  # [P, K, h, w]
    heat, owner = gauss.max(dim=0)
    return heat, tags[owner]


def _person(x0: float, y0: float, jitter: np.ndarray) -> np.ndarray:
    """14 joints in two columns 12 px apart, rows 11 px apart, from (x0, y0), plus sub-pixel jitter."""
    grid = np.array([[12.0 * (j % 2), 11.0 * (j // 2)] for j in range(NUM_JOINTS)])
    return grid + np.array([x0, y0]) + jitter


def _scene(height: int, width: int, green: int, num_people: int, seed: int) -> Scene:
    rng = np.random.default_rng(seed)
    starts = [(8 + 40 * p + rng.uniform(0, 6), 8 + rng.uniform(0, 20)) for p in range(num_people)]
    people = np.array([_person(x, y, rng.uniform(-0.4, 0.4, (NUM_JOINTS, 2))) for x, y in starts])
    return Scene(height, width, green, people.reshape(num_people, NUM_JOINTS, 2),
                 tuple(float(3 * p - 2) for p in range(num_people)))


def _assert_recovers(scene: Scene, keypoints: np.ndarray, scores: np.ndarray, tolerance_px: float) -> None:
    assert keypoints.shape == (len(scene.people), NUM_JOINTS, 3) and scores.shape == (len(scene.people),)
    order = np.argsort(keypoints[:, :, 0].mean(axis=1))  # people were laid out left to right
    errors = np.linalg.norm(keypoints[order, :, :2] - scene.people, axis=-1)
    assert errors.max() < tolerance_px, f"max keypoint error {errors.max():.2f} px"
    assert (keypoints[..., 2] > 0.5).all() and (scores > 0.5).all()


# Base maps of 256 x 384 for the 160 x 120 scenes: fast, and still about 2 input pixels per image pixel.
SMALL = {"input_size": 256}


@pytest.mark.parametrize("stage_aggregation", ["mmpose-0.29", "2020"])
@pytest.mark.parametrize("scales", [(1,), (2, 1)], ids=["1", "2,1"])
@pytest.mark.parametrize("flip", [True, False], ids=["flip", "noflip"])
def test_recovers_designed_people(stage_aggregation, scales, flip):
    scene = _scene(120, 160, green=90, num_people=3, seed=0)
    predictor = Predictor(SceneNetwork([scene]), scales=scales, flip=flip,
                          stage_aggregation=stage_aggregation, **SMALL)
    keypoints, scores = predictor(scene.image())
    _assert_recovers(scene, keypoints, scores, tolerance_px=1.0)


@pytest.mark.parametrize("matcher", ["scipy", "munkres"])
def test_recovers_designed_people_with_either_matcher_at_full_size(matcher):
    scene = _scene(425, 640, green=150, num_people=4, seed=1)
    predictor = Predictor(SceneNetwork([scene]), matcher=matcher)
    keypoints, scores = predictor(scene.image())
    assert predictor.config.grouping.matcher == matcher
    _assert_recovers(scene, keypoints, scores, tolerance_px=1.5)


def test_portrait_image_and_no_people():
    portrait = _scene(160, 120, green=30, num_people=2, seed=2)
    empty = _scene(120, 160, green=210, num_people=0, seed=3)
    predictor = Predictor(SceneNetwork([portrait, empty]), **SMALL)
    _assert_recovers(portrait, *predictor(portrait.image()), tolerance_px=1.0)
    keypoints, scores = predictor(empty.image())
    assert keypoints.shape == (0, NUM_JOINTS, 3) and scores.shape == (0,)


def test_batch_equals_single_for_mixed_sizes():
    scenes = [
        _scene(120, 160, green=30, num_people=3, seed=4),
        _scene(100, 150, green=70, num_people=2, seed=5),  # same 384 x 256 input as 160 x 120, other frame
        _scene(160, 120, green=110, num_people=2, seed=6),  # portrait: its own bucket
        _scene(120, 160, green=150, num_people=1, seed=7),
        _scene(100, 200, green=190, num_people=3, seed=8),  # 512 x 256
        _scene(120, 160, green=230, num_people=0, seed=9),
    ]
    predictor = Predictor(SceneNetwork(scenes), scales=(2, 1), batch_size=2, **SMALL)
    images = [scene.image() for scene in scenes]
    batched = predictor.predict_batch(images)
    assert len(batched) == len(scenes)
    for scene, image, (keypoints, scores) in zip(scenes, images, batched, strict=True):
        single_keypoints, single_scores = predictor(image)
        np.testing.assert_allclose(keypoints, single_keypoints, atol=1e-4, rtol=0)
        np.testing.assert_array_equal(scores, single_scores)
        if len(scene.people):
            _assert_recovers(scene, keypoints, scores, tolerance_px=1.0)
    assert predictor.predict_batch([]) == []


class RecordingObserver:
    """Records every start and stop the pipeline reports, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def start(self, stage: str) -> None:
        self.events.append(("start", stage))

    def stop(self, stage: str) -> None:
        self.events.append(("stop", stage))


def test_stages_run_in_order_through_the_two_halves_and_are_observed():
    scene = _scene(120, 160, green=90, num_people=2, seed=10)
    predictor = Predictor(SceneNetwork([scene]), scales=(1, 2), **SMALL)
    observer = RecordingObserver()
    outputs = predictor.run_network([scene.image(), scene.image()], observer)
    assert isinstance(outputs, ForwardOutputs) and isinstance(outputs.batch, Batch)
    assert len(outputs.batch) == 2
    assert outputs.batch.scales == (2, 1) and [item.scale for item in outputs.outputs] == [2, 1]
    assert [tuple(x.shape) for x in outputs.batch.inputs] == [(2, 3, 512, 768), (2, 3, 256, 384)]
    assert outputs.batch.base_size == (384, 256) == predictor.map_size(120, 160)
    assert outputs.batch.frames[0].center == (80, 60)
    assert tuple(outputs.outputs[0].original[0].shape) == (2, 2 * NUM_JOINTS, 128, 192)
    assert tuple(outputs.outputs[1].flipped[1].shape) == (2, NUM_JOINTS, 128, 192)
    seen: list[NetworkMaps] = []
    poses = predictor.decode(outputs, observer, replace_maps=lambda maps: seen.append(maps) or maps)
    assert tuple(seen[0].heatmaps.shape) == (2, NUM_JOINTS, 256, 384)
    assert tuple(seen[0].tags.shape) == (2, NUM_JOINTS, 256, 384, 2)
    for keypoints, scores in poses:
        _assert_recovers(scene, keypoints, scores, tolerance_px=1.0)
    expected = [(event, stage) for stage in stage_names((1, 2)) for event in ("start", "stop")]
    assert observer.events == expected
    assert stage_names((1, 2))[2:4] == ("forward_x2", "forward_x1")


def test_predict_batch_reports_the_same_stages_per_network_batch():
    scenes = [_scene(120, 160, green=90, num_people=2, seed=10), _scene(160, 120, green=90, num_people=1,
                                                                          seed=12)]
    predictor = Predictor(SceneNetwork(scenes), **SMALL)
    observer = RecordingObserver()
    predictor.predict_batch([scene.image() for scene in scenes], observer)
    started = [stage for event, stage in observer.events if event == "start"]
    assert started == list(stage_names((1,))) * 2  # two input sizes: two network batches


def test_replaced_maps_are_what_gets_decoded():
    scene, other = _scene(120, 160, green=90, num_people=2, seed=10), _scene(120, 160, green=150,
                                                                             num_people=3, seed=13)
    predictor = Predictor(SceneNetwork([scene, other]), **SMALL)
    seen: list[NetworkMaps] = []
    predictor.predict_batch([other.image()], replace_maps=lambda maps: seen.append(maps) or maps)
    (keypoints, scores), = predictor.predict_batch(
        [scene.image()], replace_maps=lambda maps: dataclasses.replace(
            maps, heatmaps=seen[0].heatmaps, tags=seen[0].tags))
    _assert_recovers(other, keypoints, scores, tolerance_px=1.0)


def test_mixed_sizes_in_one_network_batch_are_refused():
    predictor = Predictor(SceneNetwork([]), **SMALL)
    with pytest.raises(ValueError, match="resize-aligned"):
        predictor.run_network([np.zeros((120, 160, 3), np.uint8), np.zeros((160, 120, 3), np.uint8)])
    with pytest.raises(ValueError, match="at least one image"):
        predictor.run_network([])


def test_bad_images_name_their_position():
    predictor = Predictor(SceneNetwork([]), **SMALL)
    with pytest.raises(ImageError, match=r"images\[1\].*uint8"):
        predictor.predict_batch([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.float32)])
    with pytest.raises(ImageError, match="shape"):
        predictor(np.zeros((8, 8), np.uint8))
    with pytest.raises(ImageError, match="wrap a single image in a list"):
        predictor.predict_batch(np.zeros((8, 8, 3), np.uint8))


def test_real_network_runs_through_on_a_small_image():
    from reference.model import higher_hrnet_w32

    torch.manual_seed(0)
    image = np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    predictor = Predictor(higher_hrnet_w32(), scales=(1,), input_size=128, detection_threshold=1e6)
    seen: list[NetworkMaps] = []
    [(keypoints, scores)] = predictor.decode(predictor.run_network([image]),
                                             replace_maps=lambda maps: seen.append(maps) or maps)
    assert tuple(seen[0].heatmaps.shape) == (1, NUM_JOINTS, 128, 192)
    assert tuple(seen[0].tags.shape) == (1, NUM_JOINTS, 128, 192, 2)
    assert torch.isfinite(seen[0].heatmaps).all() and seen[0].heatmaps.abs().max() < 1e6
    assert keypoints.shape == (0, NUM_JOINTS, 3) and scores.shape == (0,)


def test_config_from_flat_options_and_unknown_names():
    predictor = Predictor(SceneNetwork([]), scales=[2, 1], flip=False, stage_aggregation="2020",
                          matcher="munkres", precision="bfloat16", batch_size=3)
    config = predictor.config
    assert config.scales == (2, 1) and not config.flip
    assert config.stage_aggregation == "2020" and config.grouping.matcher == "munkres"
    assert config.precision == "bfloat16" and predictor.batch_size == 3
    report = json.loads(json.dumps(config.to_dict()))
    assert report["scales"] == [2.0, 1.0] and report["grouping"]["matcher"] == "munkres"
    assert report["stage_aggregation"] == "2020" and report["input_size"] == 512
    with pytest.raises(TypeError, match="bogus_option.*other_bogus|other_bogus.*bogus_option"):
        Predictor(SceneNetwork([]), bogus_option=1, other_bogus=2)
    same = Predictor.from_config(SceneNetwork([]), config)
    assert same.config == config


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"scales": (2, 0.5)}, ValueError, "must include 1"),
        ({"stage_aggregation": "2019"}, ValueError, "stage_aggregation"),
        ({"precision": "int8"}, ValueError, "precision"),
        ({"flip": "yes"}, TypeError, "flip"),
        ({"input_size": -1}, ValueError, "input_size"),
        ({"grouping": {"matcher": "scipy"}}, TypeError, "GroupingConfig"),
    ],
)
def test_config_validation(options, error, message):
    with pytest.raises(error, match=message):
        pipeline_config(**options)


def test_pipeline_config_defaults_follow_mmpose_config():
    config = PipelineConfig()
    assert (config.input_size, config.scales, config.flip) == (512, (1,), True)
    assert config.stage_aggregation == "mmpose-0.29"
    assert (config.precision, config.channels_last, config.compile) == ("float32", False, False)
    assert config.grouping == GroupingConfig()


def test_network_precision_sets_and_restores_flags():
    saved = (torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision)
    with network_precision("float32", "cpu"):
        assert torch.backends.cudnn.conv.fp32_precision == "ieee"
        assert torch.backends.cuda.matmul.fp32_precision == "ieee"
    with network_precision("tf32", "cpu"):
        assert torch.backends.cudnn.conv.fp32_precision == "tf32"
    with network_precision("bfloat16", "cpu"):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
    assert not torch.is_autocast_enabled("cpu")
    assert (torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision) == saved


@pytest.mark.parametrize("options", [{"precision": "bfloat16"}, {"channels_last": True}])
def test_precision_and_memory_format_options_still_recover_people(options):
    scene = _scene(120, 160, green=90, num_people=2, seed=11)
    predictor = Predictor(SceneNetwork([scene]), **SMALL, **options)
    _assert_recovers(scene, *predictor(scene.image()), tolerance_px=1.0)


def test_channels_last_leaves_the_callers_model_unchanged():
    from reference.model import higher_hrnet_w32

    model = higher_hrnet_w32()
    Predictor(model, channels_last=True)
    weight = model.backbone.conv1.weight
    assert weight.is_contiguous() and not weight.is_contiguous(memory_format=torch.channels_last)


VARIANTS = [
    {"scales": (1,)},
    {"scales": (2, 1), "flip": False},
    {"scales": (1,), "flip": False, "stage_aggregation": "2020"},
    {"scales": (2, 1), "matcher": "munkres", "refine": False},
    {"scales": (2, 1), "adjust": False, "detection_threshold": 0.2, "nms_kernel": 3},
]


def _options_id(options: dict) -> str:
    return ",".join(f"{name}={value}" for name, value in options.items())


@pytest.mark.parametrize("variant", VARIANTS, ids=_options_id)
def test_a_variant_decoded_from_a_shared_forward_equals_its_own_predictor_bit_for_bit(variant):
    scenes = [_scene(120, 160, green=90, num_people=3, seed=20), _scene(120, 160, green=150, num_people=2,
                                                                          seed=21)]
    images = [scene.image() for scene in scenes]
    network = SceneNetwork(scenes)
    shared = Predictor(network, scales=(2, 1), **SMALL)
    alone = Predictor(network, **{**SMALL, **variant})
    decoded = shared.decode(shared.run_network(images), variant=alone.config)
    for (keypoints, scores), (own_keypoints, own_scores) in zip(decoded, alone.predict_batch(images),
                                                                strict=True):
        np.testing.assert_array_equal(keypoints, own_keypoints)
        np.testing.assert_array_equal(scores, own_scores)


@pytest.mark.parametrize(("forward", "variant", "message"), [
    ({"scales": (2, 1)}, {"scales": (1,), "input_size": 128}, "input_size=128 changes the network"),
    ({"scales": (2, 1)}, {"scales": (1,), "precision": "bfloat16"}, "precision='bfloat16' changes"),
    ({"scales": (2, 1)}, {"scales": (3, 1)}, "not a subset"),
    ({"scales": (1, 0.5)}, {"scales": (1,)}, "smallest scale"),
    ({"scales": (1,), "flip": False}, {"scales": (1,)}, "mirrored pass"),
])
def test_a_variant_that_needs_another_forward_is_refused_by_name(forward, variant, message):
    scene = _scene(120, 160, green=90, num_people=1, seed=1)
    shared = Predictor(SceneNetwork([scene]), **{**SMALL, **forward})
    outputs = shared.run_network([scene.image()])
    with pytest.raises(ValueError, match=message):
        shared.decode(outputs, variant=pipeline_config(**{**SMALL, **variant}))


def test_an_image_over_the_input_limits_is_refused_before_any_work():
    network = TinyPoseNet()
    predictor = Predictor(network, input_size=64)
    with pytest.raises(ImageError, match=r"images\[1\]: a 2000x20 image needs a 6400x64 network input: its "
                                         r"aspect ratio 100.0 is over the limit 8"):
        predictor.predict_batch([np.zeros((60, 80, 3), np.uint8), np.zeros((20, 2000, 3), np.uint8)])
    assert network.calls == 0
    small = Predictor(network, input_size=64, scales=(2, 1), input_limits=InputLimits(max_pixels=64 * 128))
    assert small.input_problem(60, 80) == ("a 80x60 image needs a 256x128 network input: 32,768 pixels, "
                                           "over the limit of 8,192")
    assert Predictor(network, input_size=64, input_limits=InputLimits(max_aspect_ratio=200)).predict_batch(
        [np.zeros((20, 2000, 3), np.uint8)])
    with pytest.raises(ValueError, match="max_aspect_ratio must be a finite number >= 1"):
        InputLimits(max_aspect_ratio=0.5)


class CallCounting(nn.Module):
    """Passes through to ``network``, recording the batch size of every call."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network
        self.batch_sizes: list[int] = []

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        self.batch_sizes.append(len(x))
        return self.network(x)


def _two_call_outputs(predictor: Predictor, outputs: ForwardOutputs) -> ForwardOutputs:
    """The network outputs as two calls per scale would give them: the input, then its mirror."""
    with torch.inference_mode():
        scales = tuple(
            ScaleOutputs(scale, tuple(predictor.model(x)), tuple(predictor.model(torch.flip(x, [3]))))
            for scale, x in zip(outputs.batch.scales, outputs.batch.inputs, strict=True))
    return ForwardOutputs(scales, outputs.batch)


def test_flip_test_sends_input_and_mirror_through_the_network_in_one_call():
    scenes = [_scene(120, 160, green=40, num_people=3, seed=20),
              _scene(120, 160, green=160, num_people=0, seed=21)]
    network = CallCounting(SceneNetwork(scenes))
    predictor = Predictor(network, scales=(2, 1), **SMALL)
    images = [scene.image() for scene in scenes]
    outputs = predictor.run_network(images)
    assert network.batch_sizes == [4, 4]  # 2B per scale: one call each
    one_call = predictor.decode(outputs)
    two_calls = predictor.decode(_two_call_outputs(predictor, outputs))
    for (keypoints, scores), (expected_keypoints, expected_scores) in zip(one_call, two_calls, strict=True):
        np.testing.assert_array_equal(keypoints, expected_keypoints)
        np.testing.assert_array_equal(scores, expected_scores)
    _assert_recovers(scenes[0], *one_call[0], tolerance_px=1.0)


@pytest.mark.parametrize("batch", [1, 2])
def test_real_network_outputs_of_one_flip_call_equal_two_calls_up_to_float_rounding(batch):
    """A convolution may pick another algorithm for batch 2B than for B (oneDNN does for B = 1), so the
    outputs agree to float32 rounding, not always bit for bit."""
    from reference.model import higher_hrnet_w32

    torch.manual_seed(0)
    images = [np.random.default_rng(seed).integers(0, 256, (64, 96, 3), dtype=np.uint8)
              for seed in range(batch)]
    predictor = Predictor(higher_hrnet_w32(), scales=(1,), input_size=64)
    outputs = predictor.run_network(images)
    expected = _two_call_outputs(predictor, outputs).outputs[0]
    for one_call, two_calls in zip(outputs.outputs[0].original + outputs.outputs[0].flipped,
                                   expected.original + expected.flipped, strict=True):
        torch.testing.assert_close(one_call, two_calls, rtol=0, atol=1e-5)


def test_on_the_cpu_inputs_are_neither_pinned_nor_copied_on_a_stream():
    scene = _scene(120, 160, green=90, num_people=1, seed=22)
    predictor = Predictor(SceneNetwork([scene]), **SMALL)
    batch = predictor._preprocess([scene.image()])
    assert predictor._copy_stream is None and not batch.inputs[0].is_pinned()
    on_device = predictor._to_device(batch)
    assert on_device.inputs[0].device.type == "cpu" and torch.equal(on_device.inputs[0], batch.inputs[0])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("channels_last", [False, True])
def test_cuda_inputs_are_pinned_and_copied_on_the_copy_stream(channels_last):
    scenes = [_scene(120, 160, green=40, num_people=3, seed=23),
              _scene(120, 160, green=160, num_people=2, seed=24)]
    on_cpu = Predictor(SceneNetwork(scenes), **SMALL)
    on_cuda = Predictor(SceneNetwork(scenes), device="cuda", channels_last=channels_last, **SMALL)
    images = [scene.image() for scene in scenes]
    batch = on_cuda._preprocess(images)
    assert all(x.is_pinned() for x in batch.inputs)
    assert on_cuda._copy_stream != torch.cuda.current_stream()
    on_device = on_cuda._to_device(batch)
    for x, expected in zip(on_device.inputs, on_cpu._preprocess(images).inputs, strict=True):
        assert x.is_cuda and torch.equal(x.cpu(), expected)
    for (keypoints, scores), (expected, expected_scores) in zip(on_cuda.predict_batch(images),
                                                               on_cpu.predict_batch(images), strict=True):
        np.testing.assert_allclose(keypoints, expected, rtol=0, atol=1e-3)
        np.testing.assert_allclose(scores, expected_scores, rtol=0, atol=1e-5)
