"""Per-image differences between two runs on the same images, from their matches.

Per image and run: the detections the evaluator scores (its top 20), the people matched at OKS >= 0.5
(true positives at the first threshold, exactly as the evaluator matches: greedy by score, ignored GT
not counted) and the mean OKS of those matches (NaN without any). How far an image *moved* is

    moved = |matched_B - matched_A| + |mean_oks_B - mean_oks_A|

with the mean OKS of an image without matched people taken as 0 there, so losing or gaining a person
counts at least 1 and a shift of every matched person's OKS by x counts x.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.evaluation.matching import ImageMatches

MATCH_THRESHOLD_INDEX = 0  # OKS .50, the first of the protocol's thresholds


def per_image(matches: ImageMatches) -> pd.DataFrame:
    """One row per image (sorted id): detections, matched, mean_oks (NaN without matches)."""
    num_images = len(matches.image_ids)
    matched = matches.true_positive[MATCH_THRESHOLD_INDEX]
    oks_sum = np.bincount(matches.det_image[matched], matches.matched_oks[MATCH_THRESHOLD_INDEX, matched],
                          minlength=num_images)
    count = np.bincount(matches.det_image[matched], minlength=num_images)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_oks = np.where(count > 0, oks_sum / count, np.nan)
    return pd.DataFrame({"detections": np.bincount(matches.det_image, minlength=num_images),
                         "matched": count, "mean_oks": mean_oks}, index=pd.Index(matches.image_ids,
                                                                                 name="image_id"))


def image_differences(a: ImageMatches, b: ImageMatches) -> pd.DataFrame:
    """Both runs' per-image numbers side by side with their differences (B - A) and ``moved``, the
    images that moved most first (ties by image id); ``image_id`` is the first column.

    Raises:
        ValueError: the runs are not on the same images.
    """
    if not np.array_equal(a.image_ids, b.image_ids):
        raise ValueError("the runs are not on the same images")
    frame = per_image(a).add_suffix("_a").join(per_image(b).add_suffix("_b"))
    frame.insert(0, "crowd_index", a.crowd_index)
    frame["delta_detections"] = frame["detections_b"] - frame["detections_a"]
    frame["delta_matched"] = frame["matched_b"] - frame["matched_a"]
    frame["delta_mean_oks"] = frame["mean_oks_b"].fillna(0.0) - frame["mean_oks_a"].fillna(0.0)
    frame["moved"] = frame["delta_matched"].abs() + frame["delta_mean_oks"].abs()
    frame = frame.reset_index()
    return frame.sort_values(["moved", "image_id"], ascending=[False, True], kind="stable",
                             ignore_index=True)
