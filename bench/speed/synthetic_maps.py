"""Synthetic heatmaps and tag maps of CrowdPose-style crowds, for grouping tests and benchmarks.

Each person is a 14-joint skeleton (CrowdPose order, `reference.crowdpose.JOINT_NAMES`) at a random
position and size; its joints are Gaussian peaks (``sigma`` px) of random height, some joints are left
out, and background noise stays below the grouping's 0.1 detection threshold. Tag maps carry one value
per person (people ``tag_spacing`` apart, each pixel jittered by ``tag_jitter``): the person whose peak
dominates a pixel, else the person with the nearest joint. The maps are at the size the grouping sees
(the aggregated maps are at network input size, e.g. 512x704 for a 640x480 CrowdPose image).
Deterministic for a given seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.errors import BenchError
from reference.crowdpose import FLIP_INDEX, NUM_JOINTS

# (height, width) of the maps for typical CrowdPose images: 640x480 -> 512x704, 640x427 -> 512x768
# (landscape), 427x640 -> 832x512 (portrait).
CROWDPOSE_MAP_SIZES = ((512, 704), (512, 768), (832, 512))

# Joint positions of a person facing the camera, in units of its height: x from the body axis (the
# person's left is on the image's right), y down from the top of the head.
_SKELETON = np.array([
    (0.12, 0.18), (-0.12, 0.18),  # shoulders
    (0.16, 0.33), (-0.16, 0.33),  # elbows
    (0.17, 0.46), (-0.17, 0.46),  # wrists
    (0.08, 0.52), (-0.08, 0.52),  # hips
    (0.09, 0.72), (-0.09, 0.72),  # knees
    (0.09, 0.92), (-0.09, 0.92),  # ankles
    (0.0, 0.02),  # head top
    (0.0, 0.12),  # neck
])

# stride of the coarse grid on which the nearest person (background tags) is computed
_BACKGROUND_STRIDE = 8


@dataclass(frozen=True)
class SyntheticMapsConfig:
    """What to render; the defaults are a 20-person crowd at 512x704 with flip-test tags (L=2)."""

    height: int = 512
    width: int = 704
    num_people: int = 20
    num_tag_dims: int = 2
    sigma: float = 2.0
    missing_joint_rate: float = 0.1
    noise_level: float = 0.05
    tag_spacing: float = 2.0
    tag_jitter: float = 0.05
    min_person_height: float = 0.15
    max_person_height: float = 0.6
    seed: int = 0

    def __post_init__(self) -> None:
        checks = (
            ("height", self.height >= 16), ("width", self.width >= 16), ("num_people", self.num_people >= 0),
            ("num_tag_dims", self.num_tag_dims >= 1), ("sigma", self.sigma > 0),
            ("missing_joint_rate", 0 <= self.missing_joint_rate < 1), ("noise_level", self.noise_level >= 0),
            ("tag_spacing", self.tag_spacing > 0), ("tag_jitter", self.tag_jitter >= 0),
            ("min_person_height", 0 < self.min_person_height <= self.max_person_height),
            ("max_person_height", self.max_person_height <= 2),
        )
        for name, valid in checks:
            if not valid:
                raise BenchError(f"synthetic maps: {name}={getattr(self, name)!r} is out of range")


@dataclass(frozen=True)
class SyntheticMaps:
    """heatmaps [K,H,W] and tags [K,H,W,L] float32, and the truth: joints [P,K,2] (x, y) where each
    joint was placed, visible [P,K] (the joint has a peak), person_tags [P] (each person's tag value)."""

    heatmaps: np.ndarray
    tags: np.ndarray
    joints: np.ndarray
    visible: np.ndarray
    person_tags: np.ndarray


def _place_people(config: SyntheticMapsConfig, rng: np.random.Generator) -> np.ndarray:
    """[P,K,2] joint positions: a skeleton per person, randomly sized, stretched, mirrored and moved."""
    count = config.num_people
    heights = rng.uniform(config.min_person_height, config.max_person_height, count) * config.height
    widths = heights * rng.uniform(0.8, 1.2, count)
    centres = rng.uniform(0, config.width, count)
    tops = rng.uniform(-0.2, 1.0, count) * (config.height - 0.8 * heights)
    skeletons = np.repeat(_SKELETON[None], count, axis=0)
    back_view = rng.random(count) < 0.3  # seen from behind: left and right joints swap sides
    skeletons[back_view] = skeletons[back_view][:, list(FLIP_INDEX)]
    joints = np.empty((count, NUM_JOINTS, 2))
    joints[..., 0] = centres[:, None] + skeletons[..., 0] * widths[:, None]
    joints[..., 1] = tops[:, None] + skeletons[..., 1] * heights[:, None]
    joints += rng.normal(0, 0.03, joints.shape) * heights[:, None, None]
    return joints


def _person_tags(config: SyntheticMapsConfig, rng: np.random.Generator) -> np.ndarray:
    """[P] tag values: shuffled multiples of ``tag_spacing`` around 0, each shifted by up to 10 %."""
    slots = rng.permutation(config.num_people) - (config.num_people - 1) / 2
    return (slots + rng.uniform(-0.1, 0.1, config.num_people)) * config.tag_spacing


def _nearest_person(joints: np.ndarray, height: int, width: int) -> np.ndarray:
    """[H,W] index of the person with the nearest joint, on a coarse grid repeated to full size."""
    stride = _BACKGROUND_STRIDE
    ys = np.arange(0, height, stride) + stride / 2
    xs = np.arange(0, width, stride) + stride / 2
    dx = xs[None, None, None, :] - joints[:, :, 0, None, None]
    dy = ys[None, None, :, None] - joints[:, :, 1, None, None]
    coarse = (dx * dx + dy * dy).min(axis=1).argmin(axis=0)
    return np.repeat(np.repeat(coarse, stride, axis=0), stride, axis=1)[:height, :width]


def _render_peaks(
    config: SyntheticMapsConfig, joints: np.ndarray, visible: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """heatmaps [K,H,W] of the visible joints' Gaussian peaks and owner [K,H,W]: whose peak is the
    highest at each pixel (-1: none)."""
    heatmaps = np.zeros((NUM_JOINTS, config.height, config.width), dtype=np.float32)
    owner = np.full(heatmaps.shape, -1, dtype=np.int64)
    radius = int(np.ceil(3 * config.sigma))
    amplitudes = rng.uniform(0.5, 1.0, visible.shape)
    for person, joint in zip(*np.nonzero(visible), strict=True):
        x, y = joints[person, joint]
        x0, x1 = max(0, int(x) - radius), min(config.width, int(x) + radius + 1)
        y0, y1 = max(0, int(y) - radius), min(config.height, int(y) + radius + 1)
        gx, gy = np.arange(x0, x1) - x, np.arange(y0, y1) - y
        squared_distance = gy[:, None] ** 2 + gx[None, :] ** 2
        peak = amplitudes[person, joint] * np.exp(-squared_distance / (2 * config.sigma ** 2))
        window = (joint, slice(y0, y1), slice(x0, x1))
        higher = peak > heatmaps[window]
        heatmaps[window] = np.where(higher, peak, heatmaps[window])
        owner[window] = np.where(higher, person, owner[window])
    return heatmaps, owner


def render_maps(config: SyntheticMapsConfig = SyntheticMapsConfig()) -> SyntheticMaps:
    """Render one image's heatmaps and tag maps (and the truth behind them) for ``config``."""
    rng = np.random.default_rng(config.seed)
    joints = _place_people(config, rng)
    inside = (joints[..., 0] >= 0) & (joints[..., 0] <= config.width - 1) \
        & (joints[..., 1] >= 0) & (joints[..., 1] <= config.height - 1)
    visible = inside & (rng.random(inside.shape) >= config.missing_joint_rate)
    person_tags = _person_tags(config, rng)

    heatmaps, owner = _render_peaks(config, joints, visible, rng)
    heatmaps += rng.random(heatmaps.shape, dtype=np.float32) * np.float32(config.noise_level)

    if config.num_people:
        background = _nearest_person(joints, config.height, config.width)
        tag_owner = np.where(owner >= 0, owner, background[None])
        tag_values = person_tags[tag_owner].astype(np.float32)
    else:
        tag_values = np.zeros(heatmaps.shape, dtype=np.float32)
    noise = rng.standard_normal((*heatmaps.shape, config.num_tag_dims), dtype=np.float32)
    tags = tag_values[..., None] + noise * np.float32(config.tag_jitter)
    return SyntheticMaps(heatmaps, tags, joints.astype(np.float32), visible, person_tags.astype(np.float32))
