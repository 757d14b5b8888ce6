"""Refine's search on the CPU: for each person tag, the first maximum (flat order) of the penalised map
``heatmap - round(sqrt(sum((tag - person_tag) ** 2)))``, found exactly without scoring the whole map.

The map is cut into square pixel blocks at two sizes (``FINE`` pixels, ``COARSE`` fine blocks a side); each
block keeps its largest heatmap value and the box of its tags (per tag value, the smallest and the
largest). Tags vary smoothly over the image, so a block's box is small. Every float32 operation of the
penalty is monotone, so the penalty of the box point nearest to (farthest from) the person tag, computed
with the same operations, bounds the penalty of every pixel of the block from below (above): no margin
is needed. A block whose bounds agree has one penalty k, so its best score is exactly
``heatmap max - k``, reached at one of its pixels: the best such block gives a score the maximum must
reach. Only blocks whose bound ``heatmap max - lowest penalty`` reaches it can hold the maximum; the
coarse blocks pick the fine blocks to bound, and the fine blocks the pixels to score exactly. First the
pixels of each person's ``PROBED`` most promising fine blocks are scored (best first): that usually
lifts the score to reach to the maximum itself and prunes nearly all the rest. Among the pixels that
reach the best score the smallest flat index wins, as ``argmax`` over the whole map.
The work is one pass over the map per block statistic, plus the few candidate blocks; where the
tags change much within blocks (noise) it degrades towards scoring the whole map, never inexactly.

Shapes: H x W map, L tag values, P person tags, B blocks, N candidate (person, block) pairs.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

FINE = 8  # side, in pixels, of the blocks whose pixels are scored
COARSE = 4  # side, in fine blocks, of the blocks that pick the fine blocks to bound
PROBED = 4  # fine blocks per person scored first, those of highest bound
# candidate pixels scored together (bounds the temporary memory)
_PIXELS_PER_CHUNK = 1 << 20


def _summed(squared: np.ndarray) -> np.ndarray:
    """``squared.sum(axis=-1)`` with numpy's order: fewer than 8 values are added one after the other
    (written out, several times faster), 8 or more pairwise."""
    if squared.shape[-1] >= 8:
        return squared.sum(axis=-1)
    total = squared[..., 0].copy()
    for dim in range(1, squared.shape[-1]):
        total += squared[..., dim]
    return total


def penalised(heatmap: np.ndarray, tag: np.ndarray, person_tag: np.ndarray) -> np.ndarray:
    """mmpose's ``heatmap - round(sqrt(sum((tag - person_tag) ** 2)))`` for heatmap [...], tag [..., L],
    with its float32 operations in its order."""
    return heatmap - _rounded_distance((tag - person_tag) ** 2)


def _rounded_distance(squared: np.ndarray) -> np.ndarray:
    """``round(sqrt(sum(squared)))`` over the last axis, numpy's round (half to even)."""
    return np.round(_summed(squared) ** 0.5)


def _block_reduce(reduce: np.ufunc, array: np.ndarray, side: int) -> np.ndarray:
    """``reduce`` (np.maximum or np.minimum) over each ``side`` x ``side`` block of array [H, W, ...] ->
    [ceil(H/side), ceil(W/side), ...]; edge blocks repeat the last row and column (no change to either)."""
    height, width = array.shape[:2]
    rows, columns = -(-height // side), -(-width // side)
    pad = [(0, rows * side - height), (0, columns * side - width)] + [(0, 0)] * (array.ndim - 2)
    padded = np.pad(array, pad, mode="edge") if pad[0][1] or pad[1][1] else array
    # whole rows at a time first (contiguous, fast); then the columns, with W as the last axis, as
    # ``side`` strided elementwise operations (a reduction over a short strided axis is several times slower)
    strips = np.moveaxis(reduce.reduce(padded.reshape(rows, side, *padded.shape[1:]), axis=1), 1, -1)
    strips = np.ascontiguousarray(strips)  # [rows, ..., W]
    blocks = strips[..., 0::side].copy()
    for offset in range(1, side):
        reduce(blocks, strips[..., offset::side], out=blocks)
    return np.moveaxis(blocks, -1, 1)


@functools.lru_cache(maxsize=8)
def _block_layout(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """For H x W maps: the flat pixel indices of each fine block [Bf, FINE^2] and the fine blocks of each
    coarse block [Bc, COARSE^2], both in flat order. Narrow edge blocks repeat their last row and
    column, which changes neither a maximum nor the smallest index that reaches it."""
    rows = np.minimum(np.arange(0, height, FINE)[:, None] + np.arange(FINE), height - 1)  # [Hf, FINE]
    columns = np.minimum(np.arange(0, width, FINE)[:, None] + np.arange(FINE), width - 1)  # [Wf, FINE]
    pixels = rows[:, None, :, None] * width + columns[None, :, None, :]  # [Hf, Wf, FINE, FINE]
    fine_rows, fine_columns = len(rows), len(columns)
    pixels = pixels.reshape(fine_rows * fine_columns, FINE * FINE)
    block_rows = np.minimum(np.arange(0, fine_rows, COARSE)[:, None] + np.arange(COARSE), fine_rows - 1)
    block_columns = np.minimum(np.arange(0, fine_columns, COARSE)[:, None] + np.arange(COARSE),
                               fine_columns - 1)
    fine = block_rows[:, None, :, None] * fine_columns + block_columns[None, :, None, :]
    for table in (pixels, fine):
        table.flags.writeable = False
    return pixels, fine.reshape(-1, COARSE * COARSE)


def _penalty_bounds(low: np.ndarray, high: np.ndarray, person_tags: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest rounded penalty [...] of any tag in the boxes low, high [..., L] to the person
    tags [..., L] (broadcast): the penalty of the box point nearest to, and farthest from, the tag."""
    to_low, to_high = (low - person_tags) ** 2, (high - person_tags) ** 2
    inside = (low <= person_tags) & (person_tags <= high)
    nearest = np.where(inside, np.zeros_like(to_low), np.minimum(to_low, to_high))
    return _rounded_distance(nearest), _rounded_distance(np.maximum(to_low, to_high))


def _block_bounds(heat_max: np.ndarray, low: np.ndarray, high: np.ndarray, person_tags: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (person, block): the lowest penalty of its pixels, the bound ``heat_max - lowest`` no pixel of
    the block can exceed, and the block's exact best score where the block has one penalty (else -inf).

    heat_max [..., B], low and high [..., B, L], person_tags [..., 1, L] -> three [..., B]."""
    lowest, highest = _penalty_bounds(low, high, person_tags)
    bound = heat_max - lowest
    return lowest, bound, np.where(lowest == highest, bound, -np.inf)


def _check_finite(heat_max: np.ndarray, tag_low: np.ndarray, tag_high: np.ndarray) -> None:
    """ValueError for NaN anywhere, a heatmap value +inf or an infinite tag (the whole-map argmax would
    compare inf - inf); the block maxima and tag boxes carry them."""
    if np.isnan(heat_max).any() or np.isnan(tag_low).any() or np.isnan(tag_high).any():
        raise ValueError("refine: the heatmaps or tag maps contain NaN")
    if np.isposinf(heat_max).any() or not (np.isfinite(tag_low).all() and np.isfinite(tag_high).all()):
        raise ValueError("refine: the heatmaps or tag maps contain infinite values")


@dataclass(frozen=True)
class _Blocks:
    """Statistics of one map's blocks: largest heatmap value [B] and tag box low, high [B, L]."""

    heat_max: np.ndarray
    low: np.ndarray
    high: np.ndarray

    def bounds(self, blocks: np.ndarray, person_tags: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`_block_bounds` of blocks [N, M] for person_tags [N, L]: three [N, M]."""
        return _block_bounds(self.heat_max[blocks], self.low[blocks], self.high[blocks], person_tags[:, None])


def _highest_per_person(owner: np.ndarray, bound: np.ndarray, count: int, many: int) -> np.ndarray:
    """Indices of each person's ``many`` pairs of highest ``bound`` [N]; owner [N] is sorted."""
    order = np.lexsort((-bound, owner))
    rank = np.arange(len(order)) - np.searchsorted(owner, np.arange(count))[owner[order]]
    return order[rank < many]


def _per_person(reduce: np.ufunc, values: np.ndarray, owner: np.ndarray, count: int, empty: float | int
                ) -> np.ndarray:
    """[count] ``reduce`` (np.maximum or np.minimum) of values [n] per person, ``empty`` for a person
    without any; owner [n] is sorted."""
    starts = np.searchsorted(owner, np.arange(count))
    present = starts < np.append(starts[1:], len(owner))
    reduced = np.full(count, empty, dtype=values.dtype)
    reduced[present] = reduce.reduceat(values, starts[present]) if present.any() else []
    return reduced


def _person_max(scores: np.ndarray, owner: np.ndarray, count: int) -> np.ndarray:
    """[count] the largest of scores [n] per person (-inf for a person without any); owner [n] is sorted."""
    return _per_person(np.maximum, scores, owner, count, -np.inf)


def _scores(flat: np.ndarray, owner: np.ndarray, heat: np.ndarray, tags: np.ndarray,
            person_tags: np.ndarray) -> np.ndarray:
    """Exact penalised scores [n] of the pixels flat [n] for the persons owner [n], in chunks of at most
    ``_PIXELS_PER_CHUNK`` (bounds the temporary memory)."""
    flat_heat, flat_tags = heat.reshape(-1), tags.reshape(-1, tags.shape[-1])
    chunks = [slice(start, start + _PIXELS_PER_CHUNK)
              for start in range(0, max(len(flat), 1), _PIXELS_PER_CHUNK)]
    return np.concatenate([penalised(flat_heat[flat[chunk]], flat_tags[flat[chunk]],
                                     person_tags[owner[chunk]]) for chunk in chunks])


def _fine_pairs(owner: np.ndarray, coarse: np.ndarray, fine_of_coarse: np.ndarray, fine: _Blocks,
                person_tags: np.ndarray, reached: np.ndarray) -> tuple[np.ndarray, ...]:
    """The (person, fine block) pairs inside the (person, coarse block) pairs owner, coarse [n] whose
    bound reaches ``reached`` [P] (raised first by the pairs' exact one-penalty blocks): owner, block,
    lowest penalty and bound, each [N] in person order, and the raised reached [P]."""
    blocks = fine_of_coarse[coarse]  # [n, COARSE^2]
    lowest, bound, exact = fine.bounds(blocks, person_tags[owner])
    reached = np.maximum(reached, _person_max(exact.max(axis=1), owner, len(reached)))
    pair, member = np.nonzero(bound >= reached[owner][:, None])
    return owner[pair], blocks[pair, member], lowest[pair, member], bound[pair, member], reached


def first_maxima(heat: np.ndarray, tags: np.ndarray, person_tags: np.ndarray) -> np.ndarray:
    """Flat index [P] of the first maximum of ``penalised(heat, tags, person_tag)`` for each of
    person_tags [P, L], on maps heat [H, W] and tags [H, W, L]: bit-identical to ``argmax`` over the
    whole penalised map. ValueError if the maps contain NaN or infinite values (see `_check_finite`)."""
    height, width = heat.shape
    count, num_tags = person_tags.shape
    heat_max = _block_reduce(np.maximum, heat, FINE)
    low, high = _block_reduce(np.minimum, tags, FINE), _block_reduce(np.maximum, tags, FINE)
    _check_finite(heat_max, low, high)
    if count == 0:
        return np.empty(0, dtype=np.int64)
    pixels, fine_of_coarse = _block_layout(height, width)
    fine = _Blocks(heat_max.reshape(-1), low.reshape(-1, num_tags), high.reshape(-1, num_tags))
    coarse = _Blocks(fine.heat_max[fine_of_coarse].max(axis=1), fine.low[fine_of_coarse].min(axis=1),
                     fine.high[fine_of_coarse].max(axis=1))

    _, bound, exact = _block_bounds(coarse.heat_max, coarse.low, coarse.high, person_tags[:, None])
    reached = exact.max(axis=1)  # [P]: a score each person's maximum reaches (its best one-penalty block)
    owner, block = np.nonzero(bound >= reached[:, None])
    bound = bound[owner, block]

    # best first: the pixels of the PROBED fine blocks of highest bound inside each person's PROBED coarse
    # blocks of highest bound score what the maximum reaches; that prunes the rest at every level
    probed = _highest_per_person(owner, bound, count, PROBED)
    probe_owner, probe_block, _, probe_bound, reached = _fine_pairs(
        owner[probed], block[probed], fine_of_coarse, fine, person_tags, reached)
    probed = _highest_per_person(probe_owner, probe_bound, count, PROBED)
    flat = pixels[probe_block[probed]].reshape(-1)
    probe_owner = np.repeat(probe_owner[probed], FINE * FINE)
    reached = np.maximum(reached, _person_max(_scores(flat, probe_owner, heat, tags, person_tags),
                                              probe_owner, count))

    keep = bound >= reached[owner]
    owner, block, lowest, _, reached = _fine_pairs(owner[keep], block[keep], fine_of_coarse, fine,
                                                   person_tags, reached)
    return _first_best_pixels(owner, block, lowest, reached, heat, tags, person_tags, pixels)


def _first_best_pixels(owner: np.ndarray, block: np.ndarray, lowest: np.ndarray, reached: np.ndarray,
                       heat: np.ndarray, tags: np.ndarray, person_tags: np.ndarray, pixels: np.ndarray
                       ) -> np.ndarray:
    """[P] flat index of each person's first best pixel in its candidate (person, fine block) pairs owner,
    block [N] (person order), scoring exactly only the pixels whose heatmap value minus the block's
    ``lowest`` penalty [N] (float32, as the score) reaches ``reached`` [P]. In chunks of pairs (bounds the
    temporary memory); each chunk's per-person best merges into the running one (ties: smaller index)."""
    count = len(reached)
    best = np.full(count, -np.inf, dtype=np.result_type(heat, tags, person_tags))
    first = np.full(count, np.iinfo(np.int64).max, dtype=np.int64)
    flat_heat = heat.reshape(-1)
    step = max(1, _PIXELS_PER_CHUNK // (FINE * FINE))
    for start in range(0, len(block), step):
        part = slice(start, start + step)
        flat = pixels[block[part]]  # [n, FINE^2]
        pair, member = np.nonzero(flat_heat[flat] - lowest[part, None] >= reached[owner[part]][:, None])
        flat, who = flat[pair, member], owner[part][pair]  # the pixels that can reach, in person order
        scores = _scores(flat, who, heat, tags, person_tags)
        chunk_best = _person_max(scores, who, count)
        winners = np.where(scores == chunk_best[who], flat, np.iinfo(np.int64).max)
        chunk_first = _per_person(np.minimum, winners, who, count, np.iinfo(np.int64).max)
        first = np.where(chunk_best > best, chunk_first,
                         np.where(chunk_best == best, np.minimum(first, chunk_first), first))
        best = np.maximum(best, chunk_best)
    return first
