"""The reference HigherHRNet-W32: mmpose 0.29.0 state_dict layout, forward parity, shapes, precisions."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from bench.testing.synthetic_weights import deterministic_state_dict
from reference.blocks import BasicBlock, Bottleneck
from reference.hrnet import HRNetConfig, StageConfig
from reference.model import HigherHRNet, higher_hrnet_w32

PARITY_TOLERANCE = 1e-5
"""max|ours - mmpose| / max|mmpose| (fixture README: ~4x the observed float32 noise)."""

BFLOAT16_TOLERANCE = 5e-2
"""max|bf16 - fp32| / max|fp32| after ~80 layers at bfloat16's 8-bit mantissa (measured ~2e-2)."""


@pytest.fixture(scope="module")
def fixture_weights_model() -> torch.nn.Module:
    """The model with the fixture's deterministic weights (seed 0), in eval mode; tests must not change it."""
    model = higher_hrnet_w32()
    model.load_state_dict(deterministic_state_dict(model, seed=0), strict=True)
    return model


@pytest.fixture(scope="module")
def forward_fixture(mmpose_fixtures) -> dict[str, np.ndarray]:
    with np.load(mmpose_fixtures / "mmpose_forward_w0_x1.npz") as data:
        return dict(data)


def relative_error(ours: torch.Tensor, reference: torch.Tensor) -> float:
    return float((ours.float() - reference).abs().max() / reference.abs().max())


def test_state_dict_has_mmpose_keys_shapes_dtypes_in_order(mmpose_fixtures):
    expected = json.loads((mmpose_fixtures / "state_dict_keys.json").read_text())
    model = higher_hrnet_w32()
    ours = [[key, list(value.shape), str(value.dtype).removeprefix("torch.")]
            for key, value in model.state_dict().items()]
    assert ours == expected["keys"]
    assert sum(p.numel() for p in model.parameters()) == expected["num_parameters"]
    assert sum(p.numel() for p in model.backbone.parameters()) == 28_535_552
    assert sum(value.numel() for value in model.state_dict().values()) == expected["num_state_dict_elements"]
    assert not model.training


def test_forward_matches_mmpose_with_deterministic_weights(fixture_weights_model, forward_fixture):
    weights = fixture_weights_model.state_dict()
    checksums = [float(weights[key].double().sum()) for key in sorted(weights)]
    np.testing.assert_allclose(checksums, forward_fixture["weight_checksums"], rtol=1e-12, atol=0)

    with torch.no_grad():
        features = fixture_weights_model.backbone(torch.from_numpy(forward_fixture["input"]))
        outputs = fixture_weights_model.keypoint_head(features)
    assert len(features) == 1 and len(outputs) == 2
    ours = {"output_0": outputs[0], "output_1": outputs[1], "backbone_out_0": features[0]}
    for name, tensor in ours.items():
        reference = torch.from_numpy(forward_fixture[name])
        assert tensor.shape == reference.shape, name
        assert relative_error(tensor, reference) <= PARITY_TOLERANCE, name


def test_deterministic_state_dict_follows_the_fill_rule():
    model = higher_hrnet_w32()
    before = {key: value.clone() for key, value in model.state_dict().items()}
    weights = deterministic_state_dict(model, seed=0)
    assert list(weights) == list(before)
    assert all(torch.equal(value, before[key]) for key, value in model.state_dict().items())
    assert all(weights[key].item() == 0 for key in weights if key.endswith("num_batches_tracked"))
    assert all(weights[key].dtype == before[key].dtype for key in weights)
    var = weights["backbone.bn1.running_var"]
    assert var.min() >= 0.5 and var.max() < 1.5
    assert abs(float(weights["backbone.bn1.weight"].mean()) - 1) < 0.05
    assert not torch.equal(deterministic_state_dict(model, seed=1)["backbone.conv1.weight"],
                           weights["backbone.conv1.weight"])
    doubled = deterministic_state_dict(copy.deepcopy(model).double(), seed=0)
    assert torch.equal(doubled["backbone.conv1.weight"], weights["backbone.conv1.weight"].double())


@pytest.mark.parametrize(("batch", "height", "width", "joints"), [(2, 64, 128, 14), (1, 128, 64, 17)])
def test_output_shapes(batch, height, width, joints):
    model = higher_hrnet_w32(num_joints=joints)
    with torch.no_grad():
        features = model.backbone(torch.zeros(batch, 3, height, width))
        outputs = model(torch.zeros(batch, 3, height, width))
    assert [list(f.shape) for f in features] == [[batch, 32, height // 4, width // 4]]
    assert [list(o.shape) for o in outputs] == [[batch, 2 * joints, height // 4, width // 4],
                                                [batch, joints, height // 2, width // 2]]


@pytest.mark.parametrize("shape", [(1, 3, 100, 128), (1, 3, 64, 80), (3, 64, 64), (1, 1, 64, 64)])
def test_rejects_images_it_cannot_process(fixture_weights_model, shape):
    with pytest.raises(ValueError, match="images|multiples of 32"):
        fixture_weights_model(torch.zeros(shape))


@pytest.mark.parametrize("joints", [0, -1, 2.5, True])
def test_rejects_bad_joint_counts(joints):
    with pytest.raises(ValueError, match="num_joints"):
        higher_hrnet_w32(num_joints=joints)


def test_head_wants_the_backbone_list(fixture_weights_model):
    with pytest.raises(TypeError, match="list of feature maps"):
        fixture_weights_model.keypoint_head(torch.zeros(1, 32, 16, 16))


@pytest.fixture(scope="module")
def small_batch() -> torch.Tensor:
    return torch.randn(2, 3, 128, 192, generator=torch.Generator().manual_seed(3))


def test_channels_last_matches_contiguous(fixture_weights_model, small_batch):
    channels_last = copy.deepcopy(fixture_weights_model).to(memory_format=torch.channels_last)
    with torch.no_grad():
        expected = fixture_weights_model(small_batch)
        outputs = channels_last(small_batch.contiguous(memory_format=torch.channels_last))
    for ours, reference in zip(outputs, expected, strict=True):
        assert relative_error(ours, reference) <= PARITY_TOLERANCE


def test_bfloat16_autocast_stays_close_to_float32(fixture_weights_model):
    """At a 64x64 input: bfloat16 convolutions are slow on CPUs without bfloat16 units, and the
    precision of ~80 layers does not depend on the image size."""
    images = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = fixture_weights_model(images)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            outputs = fixture_weights_model(images)
    for ours, reference in zip(outputs, expected, strict=True):
        assert ours.shape == reference.shape
        assert relative_error(ours, reference) <= BFLOAT16_TOLERANCE


SMALL_HRNET = HRNetConfig(
    stem_channels=16,
    layer1=StageConfig(1, Bottleneck, (1,), (16,)),
    stages=(StageConfig(1, BasicBlock, (1, 1), (8, 16)), StageConfig(1, BasicBlock, (1, 1, 1), (8, 16, 32)),
            StageConfig(1, BasicBlock, (1, 1, 1, 1), (8, 16, 32, 64))),
)
"""HigherHRNet's every kind of module (stem, bottleneck and basic blocks, transitions, fuse layers up
and down, the AE head with its deconvolution) once each: what dynamo traces is the same code as W32's."""


def test_compiles_to_one_graph():
    """Dynamo captures the whole forward without graph breaks (on a small HigherHRNet of the same code:
    tracing W32's 1800 tensors takes ~30 s on 2 CPU cores and tests nothing more)."""
    model = HigherHRNet(SMALL_HRNET, 14).eval()
    images = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    compiled = torch.compile(model, backend="eager", fullgraph=True)
    with torch.no_grad():
        expected = model(images)
        outputs = compiled(images)
    for ours, reference in zip(outputs, expected, strict=True):
        assert torch.equal(ours, reference)


@pytest.mark.slow
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason="inductor compilation takes ~100 s on 2 CPU cores; run on a CUDA machine")
def test_inductor_compile_matches_eager_on_cuda(fixture_weights_model):
    model = copy.deepcopy(fixture_weights_model).cuda()
    images = torch.randn(1, 3, 128, 128, generator=torch.Generator().manual_seed(5)).cuda()
    with torch.no_grad():
        expected = model(images)
        outputs = torch.compile(model)(images)
    for ours, reference in zip(outputs, expected, strict=True):
        assert relative_error(ours, reference) <= 1e-3
