"""Grouping stages 3 and 5, vectorised: the same adjust and refine as `reference.grouping.literal`.

Adjust gathers the neighbours of all found joints at once. Refine only looks at the (person, joint)
pairs it can fill, the joints a person lacks, and finds for each the first maximum of the penalised map
``heatmap - round(|tag - person tag|)``: on a GPU over the whole map; on the CPU only in the pixel
blocks whose heatmap maximum and tag box can still hold it (`reference.grouping.block_maxima`).
Results are bit-identical to the literal port: the same float32 operations on the same values (on a
GPU for L < 8 tag values, which numpy sums in order; it sums 8 or more pairwise).
Shapes: N people, K joints, H x W maps, L tag values; people [N,K,C] with (x, y, value, ...) columns.
"""

from __future__ import annotations

import numpy as np
import torch

from reference.grouping.block_maxima import first_maxima

# person tags whose tag differences are computed together (bounds the temporary memory)
_PAIRS_PER_CHUNK = 8


def _gather(maps: torch.Tensor, *index: np.ndarray) -> np.ndarray:
    """``maps[index]`` for numpy index arrays, computed on the maps' device and returned as numpy."""
    on_device = tuple(torch.as_tensor(np.ascontiguousarray(part), device=maps.device) for part in index)
    return maps[on_device].cpu().numpy()


def _quarter_offsets(
    heatmaps: torch.Tensor, joints: np.ndarray, ys: np.ndarray, xs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(dx, dy) float32: +0.25 toward the larger neighbour along each axis (ties: -0.25), per point."""
    _, height, width = heatmaps.shape
    rows = np.stack((ys, ys, np.minimum(height - 1, ys + 1), np.maximum(0, ys - 1)))
    columns = np.stack((np.minimum(width - 1, xs + 1), np.maximum(0, xs - 1), xs, xs))
    right, left, below, above = _gather(heatmaps, np.tile(joints, (4, 1)), rows, columns)
    quarter = np.float32(0.25)
    return np.where(right > left, quarter, -quarter), np.where(below > above, quarter, -quarter)


def adjust_people_fast(people: np.ndarray, heatmaps: torch.Tensor) -> np.ndarray:
    """Every joint with value > 0 moves a quarter pixel toward its larger neighbours, then by +0.5."""
    adjusted = people.copy()
    person, joint = np.nonzero(people[:, :, 2] > 0)
    x, y = people[person, joint, 0], people[person, joint, 1]
    dx, dy = _quarter_offsets(heatmaps, joint, y.astype(np.int64), x.astype(np.int64))
    half = np.float32(0.5)
    adjusted[person, joint, 0] = x + dx + half
    adjusted[person, joint, 1] = y + dy + half
    return adjusted


def _mean_person_tags(people: np.ndarray, tags: torch.Tensor) -> np.ndarray:
    """[N, L] mean tag of each person's joints with value > 0, read at int() of their clipped (x, y)."""
    _, height, width, _ = tags.shape
    person, joint = np.nonzero(people[:, :, 2] > 0)
    xs = np.clip(people[person, joint, 0].astype(np.int64), 0, width - 1)
    ys = np.clip(people[person, joint, 1].astype(np.int64), 0, height - 1)
    picked = _gather(tags, joint, ys, xs)
    bounds = np.searchsorted(person, np.arange(len(people) + 1))
    # np.mean of each person's [n, L] block: the summation of mmpose's np.mean over its list of tags
    return np.stack([np.mean(picked[start:end], axis=0)
                     for start, end in zip(bounds[:-1], bounds[1:], strict=True)])


def _chunks(person_tags: np.ndarray) -> list[np.ndarray]:
    return np.array_split(person_tags, -(-len(person_tags) // _PAIRS_PER_CHUNK))


def first_maxima_whole_map(heatmap: torch.Tensor, tag: torch.Tensor, person_tags: np.ndarray) -> np.ndarray:
    """Flat index of the first maximum of the penalised map [H,W] for each of person_tags [P,L], from
    whole maps on the maps' device (`block_maxima.penalised`'s float32 operations, for L < 8)."""
    found = []
    for chunk in _chunks(person_tags):
        difference = tag[None] - torch.as_tensor(chunk, device=tag.device)[:, None, None, :]
        squared = difference * difference
        total = squared[..., 0].clone()
        for dim in range(1, squared.shape[-1]):
            total += squared[..., dim]
        penalised = (heatmap[None] - torch.round(torch.sqrt(total))).flatten(1)
        index = penalised.argmax(dim=1)
        if torch.isnan(penalised.gather(1, index[:, None])).any():
            raise ValueError("refine: the heatmaps or tag maps contain NaN")
        found.append(index.cpu().numpy())
    return np.concatenate(found)


def refine_people_fast(people: np.ndarray, heatmaps: torch.Tensor, tags: torch.Tensor) -> np.ndarray:
    """Fill each person's missing joints (value 0) with the first maximum of ``heatmap - round(tag distance
    to the person's mean tag)`` when the heatmap value there is > 0; other joints are left unchanged."""
    refined = people.copy()
    missing_person, missing_joint = np.nonzero(people[:, :, 2] == 0)
    if len(missing_person) == 0:
        return refined
    _, height, width = heatmaps.shape
    person_tags = _mean_person_tags(people, tags)
    on_cpu = heatmaps.device.type == "cpu"

    flat_index = np.empty(len(missing_person), dtype=np.int64)
    for joint in np.unique(missing_joint):
        pairs = np.flatnonzero(missing_joint == joint)
        chosen_tags = person_tags[missing_person[pairs]]
        if on_cpu:
            flat_index[pairs] = first_maxima(heatmaps[joint].numpy(), tags[joint].numpy(), chosen_tags)
        else:
            flat_index[pairs] = first_maxima_whole_map(heatmaps[joint], tags[joint], chosen_tags)

    ys, xs = np.divmod(flat_index, width)
    values = _gather(heatmaps, missing_joint, ys, xs)
    dx, dy = _quarter_offsets(heatmaps, missing_joint, ys, xs)
    fill = values > 0
    person, joint = missing_person[fill], missing_joint[fill]
    refined[person, joint, 0] = xs[fill] + np.float32(0.5) + dx[fill]
    refined[person, joint, 1] = ys[fill] + np.float32(0.5) + dy[fill]
    refined[person, joint, 2] = values[fill]
    return refined
