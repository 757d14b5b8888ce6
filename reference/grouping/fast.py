"""The refine search kernels: for (person, joint) pairs, the first maximum of the penalised map
``heatmap - round(|tag - person tag|)``, the same float32 operations as `reference.grouping.literal`.

`first_maxima_whole_maps` scores whole maps, batched over many pairs (the path off the CPU); on the CPU,
`reference.grouping.block_maxima.first_maxima` scores one map only in the pixel blocks that can still
hold the maximum. Both are bit-identical to the literal port (on a GPU for L < 8 tag values, which numpy
sums in order; it sums 8 or more pairwise).
Shapes: B images, K joints, H x W maps, L tag values, Q pairs.
"""

from __future__ import annotations

import torch

# bytes of temporaries the whole-map search works in at a time
WHOLE_MAP_BYTES = 256 * 2**20


def first_maxima_whole_maps(heatmaps: torch.Tensor, tags: torch.Tensor, image: torch.Tensor,
                            joint: torch.Tensor, person_tags: torch.Tensor) -> torch.Tensor:
    """Flat index [Q] of the first maximum of the penalised map for each pair q: heatmaps[image[q],
    joint[q]] [H,W] against person_tags[q] [L], scoring whole maps batched over the pairs on the maps'
    device (`block_maxima.penalised`'s float32 operations, for L < 8), ``WHOLE_MAP_BYTES`` of
    temporaries at a time. heatmaps [B,K,H,W], tags [B,K,H,W,L]; raises ValueError where a maximum is
    NaN (one host sync)."""
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
