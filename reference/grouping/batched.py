"""Grouping stages 3 and 5 for all images of a batch at once, on the maps' device: the same adjust and
refine as `reference.grouping.literal`, bit for bit on the CPU.

The people of every image travel to the maps' device together (one copy, `people_to_device`), adjust and
refine work on all of them with batched gathers (no loop over images or joints on the device), and they
come back in one copy (`people_to_host`). What refine needs from the host, which (person, joint) pairs
lack a joint and each person's mean tag, travels in the same copy: match knows both (adjust never
changes a value, and moves a joint less than a pixel, so its tag pixel stays the candidate's).
Shapes: B images, K joints, H x W maps, L tag values, P people of all images, Q (person, joint) pairs a
person lacks; people [P,K,C] with (x, y, value, tag_1..tag_L) columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from reference.grouping.block_maxima import first_maxima
from reference.grouping.fast import first_maxima_whole_maps
from reference.grouping.transfer import to_device, to_host


@dataclass(frozen=True)
class BatchPeople:
    """The people of a batch on the maps' device: ``people`` [P,K,C] float32; ``image`` [P] int64, the image
    of each person; the pairs refine may fill, ``missing_person`` / ``missing_joint`` [Q] int64 (also kept
    on the host as ``host_missing`` [2,Q] and ``host_image`` [P]); ``person_tags`` [P,L] float32; ``counts``
    people per image."""

    people: torch.Tensor
    image: torch.Tensor
    missing_person: torch.Tensor
    missing_joint: torch.Tensor
    person_tags: torch.Tensor
    host_image: np.ndarray
    host_missing: np.ndarray
    counts: tuple[int, ...]


def mean_person_tags(people: np.ndarray, picked: np.ndarray) -> np.ndarray:
    """[N,L] float32: per person, ``np.mean`` (mmpose's summation) of ``picked`` [N,K,L], the tags at its
    joints, over the joints with value > 0 (every person needs one)."""
    found = people[:, :, 2] > 0
    return np.stack([np.mean(tags[mask], axis=0) for tags, mask in zip(picked, found, strict=True)]) \
        if len(people) else np.zeros((0, picked.shape[2]), dtype=np.float32)


def people_to_device(per_image: Sequence[np.ndarray], device: torch.device,
                     joint_tags: np.ndarray | None = None) -> BatchPeople:
    """The people [N_b,K,C] of each image as one `BatchPeople` on ``device``, in one copy. ``joint_tags``
    [P,K,L], the tags at their joints, default to their tag columns (what match leaves there)."""
    people = np.concatenate(per_image).astype(np.float32, copy=False)
    counts = tuple(len(found) for found in per_image)
    image = np.repeat(np.arange(len(per_image)), counts)
    missing = np.stack(np.nonzero(people[:, :, 2] == 0))
    person_tags = mean_person_tags(people, people[:, :, 3:] if joint_tags is None else joint_tags)
    on_device = to_device((people, image, missing, person_tags), device)
    return BatchPeople(on_device[0], on_device[1], on_device[2][0], on_device[2][1], on_device[3],
                       image, missing, counts)


def people_to_host(batch: BatchPeople) -> list[np.ndarray]:
    """The people of each image [N_b,K,C] float32 on the host, in one copy."""
    people, = to_host((batch.people,))
    return np.split(people, np.cumsum(batch.counts)[:-1])


def _quarter_offsets(heatmaps: torch.Tensor, image: torch.Tensor, joint: torch.Tensor, ys: torch.Tensor,
                     xs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(dx, dy) float32: +0.25 toward the larger neighbour along each axis (ties: -0.25), per point of
    heatmaps [B,K,H,W] (all index tensors of one shape)."""
    height, width = heatmaps.shape[-2:]
    rows = torch.stack((ys, ys, (ys + 1).clamp(max=height - 1), (ys - 1).clamp(min=0)))
    columns = torch.stack(((xs + 1).clamp(max=width - 1), (xs - 1).clamp(min=0), xs, xs))
    right, left, below, above = heatmaps[image, joint, rows, columns]
    return torch.where(right > left, 0.25, -0.25), torch.where(below > above, 0.25, -0.25)


def adjust_batch(batch: BatchPeople, heatmaps: torch.Tensor) -> BatchPeople:
    """Stage 3 for every person of the batch: each joint with value > 0 moves a quarter pixel toward its
    larger neighbours, then by +0.5 (heatmaps [B,K,H,W] on the people's device)."""
    people = batch.people
    found = people[:, :, 2] > 0
    joint = torch.arange(people.shape[1], device=people.device).expand(found.shape)
    image = batch.image[:, None].expand(found.shape)
    xs, ys = people[:, :, 0], people[:, :, 1]
    dx, dy = _quarter_offsets(heatmaps, image, joint, (ys * found).long(), (xs * found).long())
    adjusted = people.clone()
    adjusted[:, :, 0] = torch.where(found, xs + dx + 0.5, xs)
    adjusted[:, :, 1] = torch.where(found, ys + dy + 0.5, ys)
    return _with_people(batch, adjusted)


def _with_people(batch: BatchPeople, people: torch.Tensor) -> BatchPeople:
    return BatchPeople(people, batch.image, batch.missing_person, batch.missing_joint, batch.person_tags,
                       batch.host_image, batch.host_missing, batch.counts)


def _first_maxima_per_map(heatmaps: torch.Tensor, tags: torch.Tensor, batch: BatchPeople) -> torch.Tensor:
    """Flat index of each missing pair's first maximum from the CPU kernel, one call per (image, joint)
    map: the one call site of `block_maxima.first_maxima`."""
    person, joint = batch.host_missing
    image = batch.host_image[person]
    person_tags = batch.person_tags.numpy()
    flat_index = np.empty(len(person), dtype=np.int64)
    pair_map = image * heatmaps.shape[1] + joint
    for key in np.unique(pair_map):
        pairs = np.flatnonzero(pair_map == key)
        map_image, map_joint = divmod(int(key), heatmaps.shape[1])
        heat, tag = heatmaps[map_image, map_joint].numpy(), tags[map_image, map_joint].numpy()
        flat_index[pairs] = first_maxima(heat, tag, person_tags[person[pairs]])
    return torch.from_numpy(flat_index)


def refine_batch(batch: BatchPeople, heatmaps: torch.Tensor, tags: torch.Tensor,
                 whole_maps: bool | None = None) -> BatchPeople:
    """Stage 5 for every person of the batch: each missing joint takes the first maximum of ``heatmap -
    round(tag distance to the person's mean tag)`` when the heatmap value there is > 0.

    The maxima come from whole maps, batched over all missing pairs on the maps' device (``whole_maps``;
    the default off the CPU), or from the pruned CPU kernel per (image, joint) map (the default on the
    CPU). Both find the same pixels. heatmaps [B,K,H,W], tags [B,K,H,W,L].
    """
    if not batch.host_missing.shape[1]:
        return batch
    if whole_maps is None:
        whole_maps = heatmaps.device.type != "cpu"
    image, joint = batch.image[batch.missing_person], batch.missing_joint
    if whole_maps:
        person_tags = batch.person_tags[batch.missing_person]
        flat_index = first_maxima_whole_maps(heatmaps, tags, image, joint, person_tags)
    else:
        flat_index = _first_maxima_per_map(heatmaps, tags, batch)
    width = heatmaps.shape[-1]
    ys, xs = flat_index // width, flat_index % width
    values = heatmaps[image, joint, ys, xs]
    dx, dy = _quarter_offsets(heatmaps, image, joint, ys, xs)
    fill = values > 0
    refined = batch.people.clone()
    person = batch.missing_person
    old = refined[person, joint]
    refined[person, joint, 0] = torch.where(fill, xs + 0.5 + dx, old[:, 0])
    refined[person, joint, 1] = torch.where(fill, ys + 0.5 + dy, old[:, 1])
    refined[person, joint, 2] = torch.where(fill, values, old[:, 2])
    return _with_people(batch, refined)
