"""Other image sets from matches already made: some of a run's images, or two runs mixed image by image.

Matching is per image (:mod:`bench.evaluation.matching`), so the matches of a selection of images, or of
a set whose images take their predictions from one run or the other, are the runs' own matches cut and
put together: the numbers accumulated from them are exactly those of evaluating that set again
(tested), without matching any image twice. ``bench gate`` scores its subset this way, and its
simulations rescore thousands of mixed sets.
"""

from __future__ import annotations

import numpy as np

from bench.evaluation.matching import ImageMatches


def select_images(matches: ImageMatches, positions: np.ndarray) -> ImageMatches:
    """The matches of the images at ``positions`` [J] (sorted, into ``matches.image_ids``)."""
    positions = np.asarray(positions, dtype=np.int64)
    kept = np.isin(matches.det_image, positions)
    return ImageMatches(image_ids=matches.image_ids[positions], crowd_index=matches.crowd_index[positions],
                        positive_gt=matches.positive_gt[positions],
                        det_image=np.searchsorted(positions, matches.det_image[kept]),
                        scores=matches.scores[kept],
                        true_positive=matches.true_positive[:, kept], ignored=matches.ignored[:, kept],
                        matched_oks=matches.matched_oks[:, kept])


def mix_images(a: ImageMatches, b: ImageMatches, from_b: np.ndarray) -> ImageMatches:
    """The matches of the set whose image ``i`` has ``b``'s predictions where ``from_b`` [I] is True,
    else ``a``'s (two runs on the same images and GT).

    Raises:
        ValueError: the runs are not on the same images.
    """
    if not np.array_equal(a.image_ids, b.image_ids):
        raise ValueError("mixing needs both runs on the same images")
    from_b = np.asarray(from_b, dtype=bool)
    kept_a, kept_b = ~from_b[a.det_image], from_b[b.det_image]
    det_image = np.concatenate([a.det_image[kept_a], b.det_image[kept_b]])
    order = np.argsort(det_image, kind="stable")  # images in id order, each still by descending score

    def joined(field: str) -> np.ndarray:
        both = np.concatenate([getattr(a, field)[..., kept_a], getattr(b, field)[..., kept_b]], axis=-1)
        return both[..., order]

    return ImageMatches(image_ids=a.image_ids, crowd_index=a.crowd_index, positive_gt=a.positive_gt,
                        det_image=det_image[order], scores=joined("scores"),
                        true_positive=joined("true_positive"), ignored=joined("ignored"),
                        matched_oks=joined("matched_oks"))
