"""Per-image greedy matching of the CrowdPose protocol, computed once and kept as flat arrays.

This is COCOeval's ``evaluateImg`` for the one area range "all" and maxDets 20, vectorised over all
images at once (images padded to the most GT and detections of any image) and over the 10 OKS
thresholds. Per image and threshold, detections are visited by descending score (stable); each takes
the still-unmatched non-ignored GT of highest OKS >= the threshold (ties: the later GT, as the COCO
loop's ``<`` keeps replacing), and only if there is none, an ignored GT the same way (crowd GT can be
taken again). GT are ordered non-ignored first, each group in input order, as COCOeval sorts them.
A detection matched to GT id 0 counts as unmatched (COCOeval's marker), and an unmatched detection
outside the area range is ignored. The OKS come from :mod:`bench.evaluation.oks`.

Shape letters: N detections kept (top 20 per image), T thresholds, I images, G GT per image (padded).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.evaluation import protocol
from bench.evaluation.inputs import Detections, GroundTruth
from bench.evaluation.oks import oks_matrices


@dataclass(frozen=True, eq=False)
class ImageMatches:
    """What accumulation needs from every image, in sorted image-id order.

    ``image_ids`` [I] sorted; ``crowd_index`` [I]; ``positive_gt`` [I] non-ignored GT per image;
    per kept detection (images in id order, each image's detections by descending score):
    ``det_image`` [N] position in ``image_ids``, ``scores`` [N], ``true_positive`` [T, N] and
    ``ignored`` [T, N] as COCOeval's ``dtm & ~dtIg`` and ``dtIg``, ``matched_oks`` [T, N] the OKS with
    the matched GT (NaN where unmatched).
    """

    image_ids: np.ndarray
    crowd_index: np.ndarray
    positive_gt: np.ndarray
    det_image: np.ndarray
    scores: np.ndarray
    true_positive: np.ndarray
    ignored: np.ndarray
    matched_oks: np.ndarray


def _gt_arrays(gt: GroundTruth, image_ids: np.ndarray):
    table = gt.table
    low, high = protocol.AREA_RANGE_ALL
    image = np.searchsorted(image_ids, table.ann_image_ids)
    area = table.boxes[:, 2] * table.boxes[:, 3] * protocol.OKS_AREA_FACTOR
    ignored = table.iscrowd | (table.num_keypoints == 0) | (area < low) | (area > high)
    return image, table.boxes, table.keypoints, ignored, table.iscrowd, table.ids


def match_images(gt: GroundTruth, detections: Detections) -> ImageMatches:
    """Match every image's top-20 detections to its GT at the 10 OKS thresholds (official protocol)."""
    by_id = np.argsort(gt.table.image_ids, kind="stable")
    image_ids = gt.table.image_ids[by_id]
    crowd_index = gt.table.crowd_index[by_id]
    thresholds = np.minimum(protocol.iou_thresholds(), 1 - 1e-10)
    num_thresholds = len(thresholds)
    gt_image, boxes, keypoints, gt_ignored, gt_crowd, gt_ids = _gt_arrays(gt, image_ids)
    det_image_all = np.searchsorted(image_ids, detections.image_ids)
    # Images in id order, each image's detections by descending score (stable), the top 20 kept.
    by_score = np.argsort(-detections.scores, kind="stable")
    order = by_score[np.argsort(det_image_all[by_score], kind="stable")]
    rank = np.arange(len(order)) - np.searchsorted(det_image_all[order], det_image_all[order])
    kept = order[rank < protocol.MAX_DETECTIONS]
    det_image, det_rank = det_image_all[kept], rank[rank < protocol.MAX_DETECTIONS]
    matrices = oks_matrices(gt_image, keypoints, boxes, det_image_all, detections.scores,
                            detections.keypoints, protocol.MAX_DETECTIONS)
    # GT per image: non-ignored first, then ignored, each in input order (COCOeval's stable sort).
    gt_order = np.lexsort((np.arange(len(gt_image)), gt_ignored, gt_image))
    gt_slot = np.arange(len(gt_order)) - np.searchsorted(gt_image[gt_order], gt_image[gt_order])
    slot_of = np.empty(len(gt_order), dtype=np.int64)
    slot_of[gt_order] = gt_slot
    num_images, width = len(image_ids), int(gt_slot.max(initial=-1)) + 1
    depth = int(det_rank.max(initial=-1)) + 1
    oks = np.full((num_images, depth, width), -np.inf)
    by_image = np.argsort(gt_image, kind="stable")  # each image's GT in input order: the OKS columns
    gt_start = np.searchsorted(gt_image[by_image], np.arange(num_images + 1))
    for image, matrix in matrices.items():
        columns = slot_of[by_image[gt_start[image]:gt_start[image + 1]]]
        oks[image, :matrix.shape[0], columns] = matrix.T  # indexed as [G, D]
    padded = np.zeros((num_images, width), dtype=bool)
    padded[gt_image, slot_of] = True
    slot_ignored = np.ones((num_images, width), dtype=bool)
    slot_ignored[gt_image, slot_of] = gt_ignored
    slot_crowd = np.zeros((num_images, width), dtype=bool)
    slot_crowd[gt_image, slot_of] = gt_crowd
    slot_id = np.zeros((num_images, width), dtype=np.int64)
    slot_id[gt_image, slot_of] = gt_ids
    taken = np.zeros((num_images, num_thresholds, width), dtype=bool)
    true_positive = np.zeros((num_thresholds, len(kept)), dtype=bool)
    ignored = np.zeros((num_thresholds, len(kept)), dtype=bool)
    matched_oks = np.full((num_thresholds, len(kept)), np.nan)
    det_position = np.searchsorted(det_image, np.arange(num_images))
    det_count = np.bincount(det_image, minlength=num_images)
    for step in range(depth if width else 0):  # without any GT nothing matches
        images = np.flatnonzero(det_count > step)
        rows = det_position[images] + step
        values = oks[images, step][:, None, :]  # [i, 1, G]
        usable = padded[images][:, None, :] & (~taken[images] | slot_crowd[images][:, None, :]) \
            & (values >= thresholds[None, :, None])
        best_slot = np.full((len(images), num_thresholds), -1)
        for group_ignored in (False, True):
            candidates = usable & (slot_ignored[images][:, None, :] == group_ignored)
            scored = np.where(candidates, values, -np.inf)
            last_best = width - 1 - np.argmax(scored[:, :, ::-1], axis=2)  # the last of equal maxima
            found = candidates.any(axis=2) & (best_slot < 0)
            best_slot = np.where(found, last_best, best_slot)
        matched = best_slot >= 0
        which_image, which_threshold = np.nonzero(matched)
        slot = best_slot[which_image, which_threshold]
        taken[images[which_image], which_threshold, slot] = True
        image_of = images[which_image]
        is_ignored = slot_ignored[image_of, slot]
        ignored[which_threshold, rows[which_image]] = is_ignored
        true_positive[which_threshold, rows[which_image]] = ~is_ignored & (slot_id[image_of, slot] != 0)
        matched_oks[which_threshold, rows[which_image]] = oks[image_of, step, slot]
    x, y = detections.keypoints[kept, 0::3], detections.keypoints[kept, 1::3]
    det_area = (x.max(axis=1) - x.min(axis=1)) * (y.max(axis=1) - y.min(axis=1))
    low, high = protocol.AREA_RANGE_ALL
    outside = (det_area < low) | (det_area > high)
    unmatched = ~true_positive & ~ignored  # includes a match to GT id 0, as COCOeval's dtm == 0 does
    ignored |= unmatched & outside[None, :]
    positive_gt = np.bincount(gt_image[~gt_ignored], minlength=num_images)
    return ImageMatches(image_ids=image_ids, crowd_index=crowd_index,
                        positive_gt=positive_gt, det_image=det_image, scores=detections.scores[kept],
                        true_positive=true_positive, ignored=ignored, matched_oks=matched_oks)
