"""Grouping stage 1: heatmap non-maximum suppression and the top-k candidates of every joint.

Shapes: B images, K joints, H x W map size, L tag values per pixel, M candidates per joint.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from reference.grouping.transfer import to_host


@dataclass(frozen=True)
class Candidates:
    """The M largest heatmap peaks of every image and joint, on the CPU, in ``torch.topk`` order.

    ``values`` [B,K,M] float32 (descending per joint), ``locations`` [B,K,M,2] int64 as (x, y),
    ``tags`` [B,K,M,L] float32: the tag maps read at those locations. Peaks with equal values come in
    the order ``torch.topk`` returns them (the same as mmpose on the same torch build and device).
    """

    values: np.ndarray
    locations: np.ndarray
    tags: np.ndarray


def window_maximum(maps: torch.Tensor, kernel: int) -> torch.Tensor:
    """Maximum over the ``kernel`` x ``kernel`` window (odd ``kernel``) centred on every pixel of
    [..., H, W] maps.

    Windows are cut at the map border, so the values equal ``torch.nn.MaxPool2d(kernel, 1, kernel // 2)``
    (mmpose's NMS pool). On the CPU each map is dilated by OpenCV (a maximum is exact, so any order of
    comparisons gives the same values; it is an order of magnitude faster than torch's pool there), on
    other devices separable shifted maxima stay on the device.
    """
    return _dilated(maps, kernel) if maps.device.type == "cpu" else _shifted(maps, kernel)


def _shifted(maps: torch.Tensor, kernel: int) -> torch.Tensor:
    """`window_maximum` as separable shifted maxima, on the maps' device."""
    radius = kernel // 2
    rows = maps.clone()
    for shift in range(1, min(radius, maps.shape[-1] - 1) + 1):
        rows[..., :-shift] = torch.maximum(rows[..., :-shift], maps[..., shift:])
        rows[..., shift:] = torch.maximum(rows[..., shift:], maps[..., :-shift])
    window = rows.clone()
    for shift in range(1, min(radius, maps.shape[-2] - 1) + 1):
        window[..., :-shift, :] = torch.maximum(window[..., :-shift, :], rows[..., shift:, :])
        window[..., shift:, :] = torch.maximum(window[..., shift:, :], rows[..., :-shift, :])
    return window


def _dilated(maps: torch.Tensor, kernel: int) -> torch.Tensor:
    """`window_maximum` of CPU float maps [..., H, W], one ``cv2.dilate`` per map; outside the map the
    border counts as -inf, so windows are cut there."""
    height, width = maps.shape[-2:]
    flat = np.ascontiguousarray(maps.reshape(-1, height, width).numpy())
    window = np.empty_like(flat)
    footprint = np.ones((kernel, kernel), dtype=np.uint8)
    for source, target in zip(flat, window, strict=True):
        cv2.dilate(source, footprint, dst=target, borderType=cv2.BORDER_CONSTANT, borderValue=-np.inf)
    return torch.from_numpy(window).reshape(maps.shape)


def suppress_non_maxima(heatmaps: torch.Tensor, kernel: int) -> torch.Tensor:
    """mmpose's NMS: a pixel equal to its window maximum keeps its value (plateaus keep every pixel),
    any other pixel is multiplied by 0 (the boolean mask promotes to 1.0 and 0.0 in the product)."""
    return heatmaps * (window_maximum(heatmaps, kernel) == heatmaps)


def top_candidates(heatmaps: torch.Tensor, tags: torch.Tensor, kernel: int, count: int) -> Candidates:
    """NMS, then per joint the ``min(count, H*W)`` largest values with their (x, y) and tags.

    heatmaps [B,K,H,W] and tags [B,K,H,W,L] float32 on one device; the work runs there and only the
    candidates are copied to the CPU, in one transfer.
    """
    batch, joints, height, width = heatmaps.shape
    flat = suppress_non_maxima(heatmaps, kernel).reshape(batch, joints, height * width)
    values, index = flat.topk(min(count, height * width), dim=2)
    flat_tags = tags.reshape(batch, joints, height * width, tags.shape[-1])
    picked_tags = torch.gather(flat_tags, 2, index[..., None].expand(-1, -1, -1, tags.shape[-1]))
    locations = torch.stack((index % width, index // width), dim=3)
    return Candidates(*to_host((values, locations, picked_tags)))
