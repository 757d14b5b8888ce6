"""HigherHRNet = HRNet backbone + AE higher-resolution head, with mmpose 0.29.0's state_dict layout."""

from __future__ import annotations

import torch
from torch import nn

from reference.ae_head import AEHigherResolutionHead
from reference.crowdpose import NUM_JOINTS
from reference.hrnet import HRNET_W32, HRNet, HRNetConfig

TOTAL_STRIDE = 32
"""The coarsest HRNet branch is at 1/32 resolution, so H and W must be multiples of this."""


class HigherHRNet(nn.Module):
    """HRNet backbone + AE head; ``forward(images)`` maps [B, 3, H, W] images to two outputs.

    Outputs: [B, 2J, H/4, W/4] (J heatmaps, then J tag maps) and [B, J, H/2, W/2] (J heatmaps).
    Submodules ``backbone`` (HRNet, returns ``[features [B, C, H/4, W/4]]``) and ``keypoint_head``.
    """

    def __init__(self, backbone: HRNetConfig, num_joints: int) -> None:
        super().__init__()
        if isinstance(num_joints, bool) or not isinstance(num_joints, int) or num_joints < 1:
            raise ValueError(f"num_joints must be a positive int, got {num_joints!r}")
        if backbone.multiscale_output:
            raise ValueError("HigherHRNet needs a backbone with multiscale_output=False (one 1/4 output)")
        self.backbone = HRNet(backbone)
        self.keypoint_head = AEHigherResolutionHead(backbone.stages[-1].out_channels[0], num_joints)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        check_images(images)
        return self.keypoint_head(self.backbone(images))


def check_images(images: torch.Tensor) -> None:
    """Raise a ValueError unless ``images`` is [B, 3, H, W] with H and W multiples of 32."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor [B,3,H,W], got {type(images).__name__}")
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images must have shape [B, 3, H, W], got {list(images.shape)}")
    height, width = images.shape[-2:]
    if height % TOTAL_STRIDE or width % TOTAL_STRIDE:
        raise ValueError(f"image height and width must be multiples of {TOTAL_STRIDE} (the test pipeline "
                         f"uses multiples of 64), got {height}x{width}")


def higher_hrnet_w32(num_joints: int = NUM_JOINTS) -> HigherHRNet:
    """HigherHRNet-W32 + AE head (tag per joint), in eval mode, with PyTorch's default initialisation.

    Its ``state_dict()`` has the keys, shapes and order of mmpose 0.29.0's model, so published mmpose
    checkpoints load with ``strict=True``.
    """
    return HigherHRNet(HRNET_W32, num_joints).eval()
