"""The refine search kernels: for (person, joint) pairs, the first maximum of the penalised map
``heatmap - round(|tag - person tag|)``, the same float32 operations as `reference.grouping.literal`.

`first_maxima_whole_maps` scores whole maps, batched over many pairs (the GPU path); `first_maxima_pruned`
scores one map on the CPU only at the pixels whose heatmap value reaches the best score of a sparse probe
grid (no other pixel can score higher). Both are bit-identical to the literal port (on a GPU for L < 8
tag values, which numpy sums in order; it sums 8 or more pairwise).
Shapes: B images, K joints, H x W maps, L tag values, Q pairs.
"""

from __future__ import annotations

import numpy as np
import torch

# spacing of the pixel grid whose best score bounds where the maximum can be, on the CPU
PROBE_STRIDE = 4
# above this share of the map's pixels left to score, scoring the whole map is faster
WHOLE_MAP_SHARE = 0.25
# person tags whose tag differences are computed together (bounds the temporary memory)
_PAIRS_PER_CHUNK = 8
# bytes of temporaries the whole-map search works in at a time
WHOLE_MAP_BYTES = 256 * 2**20


def _chunks(person_tags: np.ndarray) -> list[np.ndarray]:
    return np.array_split(person_tags, -(-len(person_tags) // _PAIRS_PER_CHUNK))


def _penalised(heatmap: np.ndarray, tag: np.ndarray, person_tag: np.ndarray) -> np.ndarray:
    """mmpose's ``heatmap - round(sqrt(sum((tag - person_tag) ** 2)))`` for heatmap [...], tag [..., L].

    numpy's ``sum`` adds fewer than 8 values one after the other; written out, the same sum is several
    times faster."""
    squared = (tag - person_tag) ** 2
    if squared.shape[-1] >= 8:
        total = squared.sum(axis=-1)
    else:
        total = squared[..., 0].copy()
        for dim in range(1, squared.shape[-1]):
            total += squared[..., dim]
    return heatmap - np.round(total ** 0.5)


def first_maxima_whole_maps(heatmaps: torch.Tensor, tags: torch.Tensor, image: torch.Tensor,
                            joint: torch.Tensor, person_tags: torch.Tensor) -> torch.Tensor:
    """Flat index [Q] of the first maximum of the penalised map for each pair q: heatmaps[image[q],
    joint[q]] [H,W] against person_tags[q] [L], scoring whole maps batched over the pairs on the maps'
    device (`_penalised`'s float32 operations, for L < 8), ``WHOLE_MAP_BYTES`` of temporaries at a time.
    heatmaps [B,K,H,W], tags [B,K,H,W,L]; raises ValueError where a maximum is NaN (one host sync)."""
    height, width, dims = tags.shape[-3:]
    per_chunk = max(1, WHOLE_MAP_BYTES // (4 * height * width * (2 * dims + 3)))
    found, nan = [], torch.zeros((), dtype=torch.bool, device=heatmaps.device)
    for start in range(0, len(image), per_chunk):
        pairs = slice(start, start + per_chunk)
        difference = tags[image[pairs], joint[pairs]] - person_tags[pairs, None, None, :]
        squared = difference * difference
        total = squared[..., 0].clone()
        for dim in range(1, dims):
            total += squared[..., dim]
        penalised = (heatmaps[image[pairs], joint[pairs]] - torch.round(torch.sqrt(total))).flatten(1)
        index = penalised.argmax(dim=1)
        nan |= torch.isnan(penalised.gather(1, index[:, None])).any()
        found.append(index)
    if nan.item():
        raise ValueError("refine: the heatmaps or tag maps contain NaN")
    return torch.cat(found)


def first_maxima_pruned(heat: np.ndarray, tags: np.ndarray, person_tags: np.ndarray) -> np.ndarray:
    """As `first_maxima_whole_map` for maps [H,W] and [H,W,L] in numpy, scoring only the pixels that can hold
    the maximum.

    A pixel scores at most its heatmap value (the rounded distance is >= 0), so once some pixel has
    reached a score (the best of a sparse probe grid), only pixels with a heatmap value at least as high
    can hold the first maximum. Where that leaves much of the map, the whole map is scored instead.
    """
    if np.isnan(heat).any() or np.isnan(tags).any():
        raise ValueError("refine: the heatmaps or tag maps contain NaN")
    flat_heat, flat_tag = heat.reshape(-1), tags.reshape(-1, tags.shape[-1])
    probe_heat = np.ascontiguousarray(heat[::PROBE_STRIDE, ::PROBE_STRIDE])
    probe_tag = np.ascontiguousarray(tags[::PROBE_STRIDE, ::PROBE_STRIDE])
    reached = np.concatenate([
        _penalised(probe_heat, probe_tag[None], chunk[:, None, None, :]).max(axis=(1, 2))
        for chunk in _chunks(person_tags)])
    found = np.empty(len(person_tags), dtype=np.int64)
    for pair, person_tag in enumerate(person_tags):
        candidates = np.flatnonzero(flat_heat >= reached[pair])
        if len(candidates) > flat_heat.size * WHOLE_MAP_SHARE:
            found[pair] = np.argmax(_penalised(flat_heat, flat_tag, person_tag))
        else:
            scores = _penalised(flat_heat[candidates], flat_tag[candidates], person_tag)
            found[pair] = candidates[np.argmax(scores)]
    return found
