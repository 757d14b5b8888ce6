"""Grouping stages 3 and 5, literal port: mmpose 0.29.0's per-person loops of ``adjust`` and ``refine``.

Kept loop for loop (numpy on the CPU, every joint of every person) so that it is the exact reference
for the vectorised `reference.grouping.fast` and the baseline of the speed benchmark.
Shapes: N people, K joints, H x W maps, L tag values; people [N,K,C] with (x, y, value, ...) columns.
"""

from __future__ import annotations

import numpy as np


def _quarter_offset(heatmap: np.ndarray, y: int, x: int) -> tuple[float, float]:
    """(dx, dy): +0.25 toward the larger of the two neighbours along each axis (ties: -0.25)."""
    height, width = heatmap.shape
    dx = 0.25 if heatmap[y, min(width - 1, x + 1)] > heatmap[y, max(0, x - 1)] else -0.25
    dy = 0.25 if heatmap[min(height - 1, y + 1), x] > heatmap[max(0, y - 1), x] else -0.25
    return dx, dy


def adjust_people_literal(people: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
    """Every joint with value > 0 moves a quarter pixel toward its larger neighbours, then by +0.5."""
    adjusted = people.copy()
    for person in adjusted:
        for joint, keypoint in enumerate(person):
            if keypoint[2] > 0:
                x, y = keypoint[0:2]
                dx, dy = _quarter_offset(heatmaps[joint], int(y), int(x))
                person[joint, 0:2] = (x + dx + 0.5, y + dy + 0.5)
    return adjusted


def _refine_person(keypoints: np.ndarray, heatmaps: np.ndarray, tags: np.ndarray) -> None:
    """Fill, in place, the missing joints of one person [K,C] from the maps [K,H,W] and tags [K,H,W,L]."""
    num_joints, height, width = heatmaps.shape
    detected_tags = []
    for joint in range(num_joints):
        if keypoints[joint, 2] > 0:
            x, y = keypoints[joint, :2].astype(int)
            detected_tags.append(tags[joint, np.clip(y, 0, height - 1), np.clip(x, 0, width - 1)])
    person_tag = np.mean(detected_tags, axis=0)

    found = []
    for heatmap, tag in zip(heatmaps, tags, strict=True):
        distance = ((tag - person_tag[None, None, :]) ** 2).sum(axis=2) ** 0.5
        penalised = heatmap - np.round(distance)
        y, x = np.unravel_index(np.argmax(penalised), heatmap.shape)
        if np.isnan(penalised[y, x]):
            raise ValueError("refine: the tag maps contain NaN")
        dx, dy = _quarter_offset(heatmap, y, x)
        found.append((x + 0.5 + dx, y + 0.5 + dy, heatmap[y, x]))

    for joint, (x, y, value) in enumerate(found):
        if value > 0 and keypoints[joint, 2] == 0:
            keypoints[joint, :3] = (x, y, value)


def refine_people_literal(people: np.ndarray, heatmaps: np.ndarray, tags: np.ndarray) -> np.ndarray:
    """For every person: mean tag of its joints, then for each joint the maximum of
    ``heatmap - round(tag distance)``; joints the person lacks (value 0) take it if its heatmap value > 0."""
    refined = people.copy()
    for keypoints in refined:
        _refine_person(keypoints, heatmaps, tags)
    return refined
