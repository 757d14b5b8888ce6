"""The official CrowdPose keypoint protocol, as crowdposetools' ``COCOeval`` (iouType 'keypoints') runs it.

* OKS with the 14 CrowdPose sigmas and, as object scale, 0.53 x the GT box area (the GT files have no
  ``area``). A GT without labelled joints is compared through its doubled box instead of joints.
* GT with ``iscrowd`` or ``num_keypoints == 0`` is ignored (head/neck-only people count 0 joints).
* At most 20 detections per image (highest score first, stable sort); IoU thresholds .50:.05:.95,
  101 recall thresholds, one area range "all" = [0, 1e10].
* AP, AP50, AP75, AR, AR50, AR75 over all images; AP(easy/medium/hard) re-evaluate the images with
  crowdIndex < 0.2, < 0.8 and the rest, and are the mean of the *whole* precision array (its -1
  entries included) rounded to 4 decimals; a split without non-ignored GT gives -1.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

# The same expression as crowdposetools: 1.07 / 10 differs from 0.107 in the last bit, and keeping
# the official value keeps the OKS bit-identical to the official API.
CROWDPOSE_SIGMAS = np.array([.79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89, .79, .79]) / 10.0
OKS_AREA_FACTOR = 0.53
MAX_DETECTIONS = 20
AREA_RANGE_ALL = (0.0, 1e5 ** 2)
SPLIT_THRESHOLDS = (0.2, 0.8)
SPLIT_DECIMALS = 4
SUMMARY_NAMES = ("AP", "AP50", "AP75", "AR", "AR50", "AR75")
SPLIT_NAMES = ("AP_easy", "AP_medium", "AP_hard")
METRIC_NAMES = SUMMARY_NAMES + SPLIT_NAMES


def iou_thresholds() -> np.ndarray:
    """The 10 OKS thresholds .50:.05:.95, computed as the COCO API does (linspace, not arange)."""
    return np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)


def recall_thresholds() -> np.ndarray:
    """The 101 recall thresholds 0:.01:1, computed as the COCO API does."""
    return np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)


def split_image_ids(images: Iterable[Mapping[str, Any]]) -> tuple[list[int], list[int], list[int]]:
    """Image ids of the easy / medium / hard splits, in file order (crowdIndex < 0.2, < 0.8, rest)."""
    easy, medium, hard = [], [], []
    for image in images:
        if image["crowdIndex"] < SPLIT_THRESHOLDS[0]:
            easy.append(image["id"])
        elif image["crowdIndex"] < SPLIT_THRESHOLDS[1]:
            medium.append(image["id"])
        else:
            hard.append(image["id"])
    return easy, medium, hard


def _mean_valid(values: np.ndarray) -> float:
    valid = values[values > -1]
    return float(np.mean(valid)) if valid.size else -1.0


def summarize(precision: np.ndarray, recall: np.ndarray) -> dict[str, float]:
    """AP, AP50, AP75, AR, AR50, AR75 from COCO accumulate arrays, as crowdposetools' ``_summarize``.

    Args:
        precision: [T, R, K, A, M] with area range 0 = "all" and max-detections index 0 = 20.
        recall: [T, K, A, M].
    """
    thresholds = iou_thresholds()
    ap = precision[:, :, :, 0, 0]
    ar = recall[:, :, 0, 0]
    ap_at = {thr: ap[np.where(abs(thr - thresholds) < 0.01)[0]] for thr in (0.5, 0.75)}
    ar_at = {thr: ar[np.where(thr == thresholds)[0]] for thr in (0.5, 0.75)}
    return {
        "AP": _mean_valid(ap), "AP50": _mean_valid(ap_at[0.5]), "AP75": _mean_valid(ap_at[0.75]),
        "AR": _mean_valid(ar), "AR50": _mean_valid(ar_at[0.5]), "AR75": _mean_valid(ar_at[0.75]),
    }


def split_average_precision(precision: np.ndarray) -> float:
    """AP of one crowdIndex split: the official ``round(np.mean(precision[:, :, :, 0, :]), 4)``.

    The mean includes -1 entries, so it is -1 only when the split has no non-ignored GT. numpy's
    rounding of a float64 is kept (it can differ from Python's ``round`` of a float in the last digit).
    """
    return float(round(np.mean(precision[:, :, :, 0, :]), SPLIT_DECIMALS))


def is_ignored(ann: Mapping[str, Any]) -> bool:
    """The official GT ignore rule: crowd regions and annotations with ``num_keypoints == 0``."""
    return bool(ann.get("iscrowd", 0)) or ann["num_keypoints"] == 0


def metrics_without_detections(gt: Mapping[str, Any]) -> dict[str, float]:
    """The nine numbers for an empty result list (the official API raises on one; this is its logic).

    With no detections every precision and recall entry is 0 where there is non-ignored GT and -1
    where there is none, so each metric is 0.0 or -1.0.
    """
    low, high = AREA_RANGE_ALL
    scored_images = {ann["image_id"] for ann in gt["annotations"] if not is_ignored(ann)
                     and low <= ann["bbox"][2] * ann["bbox"][3] * OKS_AREA_FACTOR <= high}

    def value(image_ids: Iterable[int]) -> float:
        return 0.0 if scored_images.intersection(image_ids) else -1.0

    metrics = dict.fromkeys(SUMMARY_NAMES, value(image["id"] for image in gt["images"]))
    metrics.update(zip(SPLIT_NAMES, map(value, split_image_ids(gt["images"])), strict=True))
    return metrics
