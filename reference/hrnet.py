"""HRNet backbone: parallel branches at 1/4, 1/8, 1/16 and 1/32 resolution, fused repeatedly.

The layout is built from a frozen :class:`HRNetConfig`; module names and nesting follow mmpose 0.29.0
(``conv1``, ``bn1``, ``layer1``, ``transition{n}``, ``stage{n}.{module}.branches/fuse_layers``), so the
state_dict keys of a published mmpose checkpoint match one to one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from reference.blocks import BasicBlock, Bottleneck, ResidualBlock, conv1x1, conv3x3, residual_layer


@dataclass(frozen=True)
class StageConfig:
    """One stage: ``num_modules`` HR modules, each with one branch per entry of ``num_channels``."""

    num_modules: int
    block: ResidualBlock
    num_blocks: tuple[int, ...]
    num_channels: tuple[int, ...]

    @property
    def out_channels(self) -> tuple[int, ...]:
        return tuple(channels * self.block.expansion for channels in self.num_channels)


@dataclass(frozen=True)
class HRNetConfig:
    """Stem width, the single-branch ``layer1`` and the multi-branch stages that follow it."""

    stem_channels: int
    layer1: StageConfig
    stages: tuple[StageConfig, ...]
    multiscale_output: bool = False


HRNET_W32 = HRNetConfig(
    stem_channels=64,
    layer1=StageConfig(1, Bottleneck, (4,), (64,)),
    stages=(
        StageConfig(1, BasicBlock, (4, 4), (32, 64)),
        StageConfig(4, BasicBlock, (4, 4, 4), (32, 64, 128)),
        StageConfig(3, BasicBlock, (4, 4, 4, 4), (32, 64, 128, 256)),
    ),
)
"""HRNet-W32 as in HigherHRNet-W32 (mmpose ``higherhrnet_w32_*`` configs)."""


def fuse_path(in_channels: int, out_channels: int, level_step: int) -> nn.Module:
    """Map branch j onto branch i's resolution and width, where ``level_step = j - i``.

    Coarser inputs (step > 0) get a 1x1 conv + BN and nearest upsampling by ``2**step``; finer inputs
    (step < 0) a chain of ``-step`` strided 3x3 conv + BN (ReLU between them, not after the last one).
    """
    if level_step == 0:
        return nn.Identity()
    if level_step > 0:
        return nn.Sequential(
            conv1x1(in_channels, out_channels),
            nn.BatchNorm2d(out_channels),
            nn.Upsample(scale_factor=2**level_step, mode="nearest"),
        )
    steps = [
        nn.Sequential(conv3x3(in_channels, in_channels, stride=2), nn.BatchNorm2d(in_channels), nn.ReLU())
        for _ in range(-level_step - 1)
    ]
    steps.append(nn.Sequential(conv3x3(in_channels, out_channels, stride=2), nn.BatchNorm2d(out_channels)))
    return nn.Sequential(*steps)


class HRModule(nn.Module):
    """Residual blocks per branch, then every output branch sums all branches resampled to it."""

    def __init__(self, block: ResidualBlock, num_blocks: tuple[int, ...], in_channels: tuple[int, ...],
                 num_channels: tuple[int, ...], multiscale_output: bool) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            residual_layer(block, cin, channels, blocks)
            for cin, channels, blocks in zip(in_channels, num_channels, num_blocks, strict=True)
        )
        widths = [channels * block.expansion for channels in num_channels]
        num_outputs = len(widths) if multiscale_output else 1
        self.fuse_layers = nn.ModuleList(
            nn.ModuleList(fuse_path(widths[j], widths[i], j - i) for j in range(len(widths)))
            for i in range(num_outputs)
        ) if len(widths) > 1 else nn.ModuleList()
        self.relu = nn.ReLU()

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        features = [branch(x) for branch, x in zip(self.branches, features, strict=True)]
        if not self.fuse_layers:
            return features
        return [self.relu(sum(path(x) for path, x in zip(paths, features, strict=True)))
                for paths in self.fuse_layers]


def transition(in_channels: tuple[int, ...], out_channels: tuple[int, ...]) -> nn.ModuleList:
    """Adapt a stage's branches to the next stage's: re-width kept branches, add new coarser ones.

    A new branch ``i`` is made from the coarsest existing branch by ``i - len(in_channels) + 1``
    strided 3x3 conv + BN + ReLU steps; only the last step changes the width.
    """
    paths: list[nn.Module] = []
    for i, cout in enumerate(out_channels):
        if i < len(in_channels):
            cin = in_channels[i]
            paths.append(nn.Identity() if cin == cout else
                         nn.Sequential(conv3x3(cin, cout), nn.BatchNorm2d(cout), nn.ReLU()))
            continue
        widths = [in_channels[-1]] * (i - len(in_channels) + 1) + [cout]
        paths.append(nn.Sequential(*(
            nn.Sequential(conv3x3(cin, step_out, stride=2), nn.BatchNorm2d(step_out), nn.ReLU())
            for cin, step_out in zip(widths, widths[1:], strict=False)
        )))
    return nn.ModuleList(paths)


def stage(config: StageConfig, in_channels: tuple[int, ...], multiscale_output: bool) -> nn.Sequential:
    """``config.num_modules`` HR modules; only the last may drop the coarser outputs."""
    modules = []
    for index in range(config.num_modules):
        last = index == config.num_modules - 1
        modules.append(HRModule(config.block, config.num_blocks, in_channels, config.num_channels,
                                multiscale_output or not last))
        in_channels = config.out_channels
    return nn.Sequential(*modules)


class HRNet(nn.Module):
    """Stem (two stride-2 3x3 convs), ``layer1``, then transition + stage pairs.

    ``forward(images [B,3,H,W])`` returns a list of feature maps; with ``multiscale_output`` False
    (HigherHRNet) it holds one tensor [B, C0, H/4, W/4].
    """

    def __init__(self, config: HRNetConfig) -> None:
        super().__init__()
        width = config.stem_channels
        self.conv1 = conv3x3(3, width, stride=2)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride=2)
        self.bn2 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = residual_layer(config.layer1.block, width, config.layer1.num_channels[0],
                                     config.layer1.num_blocks[0])
        channels = config.layer1.out_channels
        self.num_stages = len(config.stages)
        for number, stage_config in enumerate(config.stages, start=2):
            last = number == self.num_stages + 1
            self.add_module(f"transition{number - 1}", transition(channels, stage_config.out_channels))
            self.add_module(f"stage{number}", stage(stage_config, stage_config.out_channels,
                                                    config.multiscale_output or not last))
            channels = stage_config.out_channels

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        x = self.relu(self.bn1(self.conv1(images)))
        x = self.relu(self.bn2(self.conv2(x)))
        features = [self.layer1(x)]
        for number in range(2, self.num_stages + 2):
            paths = getattr(self, f"transition{number - 1}")
            features = [path(features[min(i, len(features) - 1)]) for i, path in enumerate(paths)]
            features = getattr(self, f"stage{number}")(features)
        return features
