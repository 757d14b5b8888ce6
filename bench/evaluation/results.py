"""Poses as mmpose's results-JSON entries, the format the evaluators score and ``bench evaluate`` reads."""

from __future__ import annotations

import numpy as np


def people_to_results(image_id: int, keypoints: np.ndarray, scores: np.ndarray) -> list[dict]:
    """One image's entries: per person (keypoints [N, K, 3+] as x, y, score; scores [N]) the flattened
    (x, y, score) keypoints, the person score and the keypoint-extent box, in the predictor's order."""
    results = []
    for person, score in zip(keypoints, scores, strict=True):
        x_min, y_min = person[:, :2].min(axis=0)
        x_max, y_max = person[:, :2].max(axis=0)
        results.append({
            "image_id": int(image_id),
            "category_id": 1,
            "keypoints": [float(v) for v in person[:, :3].reshape(-1)],
            "score": float(score),
            "bbox": [float(x_min), float(y_min), float(x_max - x_min), float(y_max - y_min)],
        })
    return results
