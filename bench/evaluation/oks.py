"""Object keypoint similarity for many (detection, GT) pairs at once, bit-identical to the COCO APIs.

crowdposetools, pycocotools and faster-coco-eval compute OKS one GT (or one pair) at a time:
``e = (dx**2 + dy**2) / vars / (area + eps) / 2`` over the 14 joints, restricted to the joints the
GT labels (all 14, measured against the doubled GT box, when it labels none), then
``np.sum(np.exp(-e)) / len(e)``. Here the same float operations run on [pairs, 14] arrays; the only
reordering is of the final sum, which is taken per row over exactly the kept joints in joint order,
so numpy applies the same summation to each row as to the 1-D array of the per-pair code (the
parity tests check this on every generated case).
"""

from __future__ import annotations

import numpy as np

from bench.evaluation.protocol import CROWDPOSE_SIGMAS, OKS_AREA_FACTOR

PAIRS_PER_CHUNK = 1 << 16  # bounds the [pairs, 14] temporaries to a few MiB each


def joint_layout(gt_keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which joints count for each GT, as a gather order [G, 14] (counted joints first, in joint order)
    and their number [G]: the labelled joints (v > 0), or all 14 for a GT without labels."""
    visible = gt_keypoints[:, 2::3] > 0
    kept = visible | ~visible.any(axis=1, keepdims=True)
    return np.argsort(~kept, axis=1, kind="stable"), np.count_nonzero(kept, axis=1)


def joint_similarities(det_x: np.ndarray, det_y: np.ndarray, gt_x: np.ndarray, gt_y: np.ndarray,
                       unlabelled: np.ndarray, gt_boxes: np.ndarray,
                       sigmas: np.ndarray = CROWDPOSE_SIGMAS) -> np.ndarray:
    """``exp(-e)`` per pair and joint [P, 14], with e as in the COCO APIs' computeOks.

    ``det_x``, ``det_y``, ``gt_x``, ``gt_y`` [P, 14] are the pairs' joint coordinates, ``unlabelled``
    [P] marks a GT without labelled joints, whose distance is measured to its box (``gt_boxes`` [P, 4])
    doubled in each direction.
    """
    variances = (sigmas * 2) ** 2
    dx, dy = det_x - gt_x, det_y - gt_y
    rows = np.flatnonzero(unlabelled)
    if rows.size:
        box_x, box_y, box_w, box_h = (gt_boxes[rows, i:i + 1] for i in range(4))
        xu, yu = det_x[rows], det_y[rows]
        dx[rows] = np.maximum(0.0, (box_x - box_w) - xu) + np.maximum(0.0, xu - (box_x + box_w * 2))
        dy[rows] = np.maximum(0.0, (box_y - box_h) - yu) + np.maximum(0.0, yu - (box_y + box_h * 2))
    area = gt_boxes[:, 3:4] * gt_boxes[:, 2:3] * OKS_AREA_FACTOR
    return np.exp(-((dx ** 2 + dy ** 2) / variances / (area + np.spacing(1)) / 2))


def mean_over_counted_joints(similarities: np.ndarray, order: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per row, the sum of the counted joints in joint order divided by their number.

    Each row's values are packed to the front and summed by numpy over exactly ``count`` columns,
    so the summation order is the one numpy uses for the per-pair 1-D arrays of the COCO APIs.
    """
    packed = np.take_along_axis(similarities, order, axis=1)
    oks = np.empty(len(counts))
    for count in np.unique(counts):
        rows = counts == count
        oks[rows] = np.sum(packed[rows, :count], axis=1) / count
    return oks


def oks_matrices(gt_keys: np.ndarray, gt_keypoints: np.ndarray, gt_boxes: np.ndarray,
                 det_keys: np.ndarray, det_scores: np.ndarray, det_keypoints: np.ndarray,
                 max_detections: int) -> dict[int, np.ndarray]:
    """OKS matrices per group (an image, or an image and category), in the COCO API layout.

    Rows are the group's first ``max_detections`` detections by descending score (stable, so ties keep
    input order), columns its GT in input order. Groups missing detections or GT get no entry.

    Args:
        gt_keys: [G] integer group of each GT; gt_keypoints [G, 42]; gt_boxes [G, 4].
        det_keys: [N] integer group of each detection; det_scores [N]; det_keypoints [N, 42].
        max_detections: detections kept per group.

    Returns:
        {group: [D, G_group] float64}.
    """
    by_score = np.argsort(-det_scores, kind="stable")
    det_order = by_score[np.argsort(det_keys[by_score], kind="stable")]
    det_groups, det_start, det_count = np.unique(det_keys[det_order], return_index=True, return_counts=True)
    gt_order = np.argsort(gt_keys, kind="stable")
    gt_groups, gt_start, gt_count = np.unique(gt_keys[gt_order], return_index=True, return_counts=True)
    groups, in_det, in_gt = np.intersect1d(det_groups, gt_groups, assume_unique=True, return_indices=True)
    rows = np.minimum(det_count[in_det], max_detections)
    cols = gt_count[in_gt]
    offsets = np.concatenate([[0], np.cumsum(rows * cols)])
    pair_group = np.repeat(np.arange(len(groups)), rows * cols)
    local = np.arange(offsets[-1]) - offsets[pair_group]
    det_index = det_order[det_start[in_det][pair_group] + local // cols[pair_group]]
    gt_index = gt_order[gt_start[in_gt][pair_group] + local % cols[pair_group]]
    order, counts = joint_layout(gt_keypoints)
    unlabelled = ~np.any(gt_keypoints[:, 2::3] > 0, axis=1)
    det_x, det_y = (np.ascontiguousarray(det_keypoints[:, axis::3]) for axis in (0, 1))
    gt_x, gt_y = (np.ascontiguousarray(gt_keypoints[:, axis::3]) for axis in (0, 1))
    oks = np.empty(offsets[-1])
    for start in range(0, len(oks), PAIRS_PER_CHUNK):
        chunk = slice(start, start + PAIRS_PER_CHUNK)
        dets, gts = det_index[chunk], gt_index[chunk]
        similarities = joint_similarities(det_x[dets], det_y[dets], gt_x[gts], gt_y[gts], unlabelled[gts],
                                          gt_boxes[gts])
        oks[chunk] = mean_over_counted_joints(similarities, order[gts], counts[gts])
    return {int(group): oks[offsets[i]:offsets[i + 1]].reshape(rows[i], cols[i])
            for i, group in enumerate(groups)}
