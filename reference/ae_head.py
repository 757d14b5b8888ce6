"""HigherHRNet's Associative Embedding head: 1/4-resolution heatmaps + tags, then 1/2-resolution heatmaps.

Module names follow mmpose 0.29.0's ``AEHigherResolutionHead`` (``final_layers``, ``deconv_layers``)
with one deconvolution stage whose input is the feature map concatenated with the first output.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from reference.blocks import BasicBlock


class AEHigherResolutionHead(nn.Module):
    """Two outputs: [B, J + T, H/4, W/4] (J heatmaps then T tag maps) and [B, J, H/2, W/2] heatmaps.

    ``T`` is ``num_joints`` with ``tag_per_joint`` (one tag map per joint), else 1.
    """

    def __init__(self, in_channels: int, num_joints: int, tag_per_joint: bool = True,
                 num_basic_blocks: int = 4) -> None:
        super().__init__()
        first_out = num_joints + (num_joints if tag_per_joint else 1)
        self.final_layers = nn.ModuleList([
            nn.Conv2d(in_channels, first_out, kernel_size=1),
            nn.Conv2d(in_channels, num_joints, kernel_size=1),
        ])
        upsample = nn.Sequential(
            nn.ConvTranspose2d(in_channels + first_out, in_channels, kernel_size=4, stride=2, padding=1,
                               output_padding=0, bias=False),
            nn.BatchNorm2d(in_channels),
            nn.ReLU(inplace=True),
        )
        refine = [nn.Sequential(BasicBlock(in_channels, in_channels)) for _ in range(num_basic_blocks)]
        self.deconv_layers = nn.ModuleList([nn.Sequential(upsample, *refine)])

    def forward(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """``features``: the backbone's output list; only its first (1/4-resolution) map is used."""
        if isinstance(features, torch.Tensor):
            raise TypeError("AEHigherResolutionHead expects the backbone's list of feature maps, got a "
                            "single tensor; wrap it in a list")
        x = features[0]
        heatmaps_and_tags = self.final_layers[0](x)
        x = self.deconv_layers[0](torch.cat((x, heatmaps_and_tags), dim=1))
        return [heatmaps_and_tags, self.final_layers[1](x)]
