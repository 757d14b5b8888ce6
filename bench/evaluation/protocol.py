"""The official CrowdPose keypoint protocol, as crowdposetools' ``COCOeval`` (iouType 'keypoints') runs it.

* OKS with the 14 CrowdPose sigmas and, as object scale, 0.53 x the GT box area (the GT files have no
  ``area``). A GT without labelled joints is compared through its doubled box instead of joints.
* GT with ``iscrowd`` or ``num_keypoints == 0`` is ignored (head/neck-only people count 0 joints).
* At most 20 detections per image (highest score first, stable sort); IoU thresholds .50:.05:.95,
  101 recall thresholds, one area range "all" = [0, 1e10].
* AP, AP50, AP75, AR, AR50, AR75 over all images; AP(easy/medium/hard) re-evaluate the images with
  crowdIndex < 0.2, < 0.8 and the rest (from 0.8 up, however large: the crowd index is not bounded
  by 1), and are the mean of the *whole* precision array (its -1 entries included) rounded to 4
  decimals; a split without non-ignored GT gives -1.
"""

from __future__ import annotations

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
AP_NAMES = ("AP", "AP50", "AP75") + SPLIT_NAMES
"""The average precisions: the published table's metrics, and the ones with bootstrap intervals."""

NO_GROUND_TRUTH = -1.0
"""The value the protocol gives a metric with nothing to score (no non-ignored GT in the split)."""

NO_GROUND_TRUTH_NOTE = "n/a: no ground truth to score in that split (the official protocol's -1)"
"""How every output explains ``n/a``, once, where it shows one."""


def metric_text(value: float | None, digits: int = 4) -> str:
    """A metric as every table prints it: ``n/a`` for :data:`NO_GROUND_TRUTH`, ``-`` where nothing was
    measured (None), else the value with ``digits`` decimals."""
    if value is None:
        return "-"
    return "n/a" if value == NO_GROUND_TRUTH else f"{value:.{digits}f}"


def no_ground_truth_note(values) -> list[str]:
    """``[NO_GROUND_TRUTH_NOTE]`` when any of ``values`` is :data:`NO_GROUND_TRUTH`, else ``[]``."""
    return [NO_GROUND_TRUTH_NOTE] if any(value == NO_GROUND_TRUTH for value in values) else []


def iou_thresholds() -> np.ndarray:
    """The 10 OKS thresholds .50:.05:.95, computed as the COCO API does (linspace, not arange)."""
    return np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)


def recall_thresholds() -> np.ndarray:
    """The 101 recall thresholds 0:.01:1, computed as the COCO API does."""
    return np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)


def split_masks(crowd_index: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which images [I] are in the easy, medium and hard splits: crowdIndex < 0.2, < 0.8 and the rest
    (any value from 0.8 up, the crowd index being unbounded)."""
    low, high = SPLIT_THRESHOLDS
    return crowd_index < low, (crowd_index >= low) & (crowd_index < high), crowd_index >= high


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
