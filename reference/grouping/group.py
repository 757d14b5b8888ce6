"""The grouping stages and their one sequence, `group_batch`, which reports each stage to an observer.

Shapes: B images, K joints, H x W map size, L tag values per pixel, M candidates per joint, N people;
see the package docstring for what each stage does.
"""

from __future__ import annotations

import numpy as np
import torch

from reference.grouping.batched import (
    BatchPeople,
    adjust_batch,
    people_to_device,
    people_to_host,
    refine_batch,
)
from reference.grouping.config import DEFAULT_CONFIG, GroupingConfig
from reference.grouping.literal import adjust_people_literal, refine_people_literal
from reference.grouping.match import match_by_tag
from reference.grouping.nms import Candidates, top_candidates
from reference.grouping.transfer import to_host
from reference.stages import ADJUST, MATCH, NMS_TOPK, NO_OBSERVER, REFINE, StageObserver, observed

ArrayLike = np.ndarray | torch.Tensor



def _as_float_tensor(array: ArrayLike, name: str) -> torch.Tensor:
    """float32 tensor on the array's device (numpy arrays become CPU tensors)."""
    if isinstance(array, np.ndarray):
        if array.dtype.kind not in "fiu":
            raise TypeError(f"{name} must hold numbers, got dtype {array.dtype}")
        array = np.asarray(array, dtype=np.float32)
        return torch.from_numpy(array if array.flags.writeable else array.copy())
    if not isinstance(array, torch.Tensor):
        raise TypeError(f"{name} must be a numpy array or a torch tensor, got {type(array).__name__}")
    if array.is_complex() or array.dtype == torch.bool:
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    return array.detach().float()


def _as_maps(heatmaps: ArrayLike, tags: ArrayLike, batched: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """heatmaps [(B,)K,H,W] and tags [(B,)K,H,W,L] (or [(B,)K,H,W], L=1) as float32 tensors, checked."""
    lead = "B,K,H,W" if batched else "K,H,W"
    heatmaps = _as_float_tensor(heatmaps, "heatmaps")
    tags = _as_float_tensor(tags, "tags")
    if heatmaps.dim() != len(lead.split(",")):
        raise ValueError(f"heatmaps must be [{lead}], got shape {tuple(heatmaps.shape)}")
    if min(heatmaps.shape[-3:]) < 1:
        raise ValueError(f"heatmaps need at least one joint and one pixel, got shape {tuple(heatmaps.shape)}")
    if tags.dim() == heatmaps.dim():
        tags = tags[..., None]
    if tags.dim() != heatmaps.dim() + 1 or tags.shape[:-1] != heatmaps.shape or tags.shape[-1] < 1:
        raise ValueError(f"tags must be [{lead},L] or [{lead}] matching heatmaps {tuple(heatmaps.shape)}, "
                         f"got shape {tuple(tags.shape)}")
    if heatmaps.device != tags.device:
        raise ValueError(f"heatmaps ({heatmaps.device}) and tags ({tags.device}) must be on one device")
    return heatmaps, tags


def _as_people(people: np.ndarray, num_joints: int) -> np.ndarray:
    """people [N,K,C>=3] as float32 numpy, checked against the maps' K."""
    people = np.asarray(people, dtype=np.float32)
    if people.ndim != 3 or people.shape[1] != num_joints or people.shape[2] < 3:
        raise ValueError(f"people must be [N,{num_joints},3+L] (x, y, value, tags), got shape {people.shape}")
    if not np.isfinite(people).all():
        raise ValueError("people contain NaN or inf")
    return people


def nms_topk(heatmaps: ArrayLike, tags: ArrayLike, config: GroupingConfig = DEFAULT_CONFIG) -> Candidates:
    """Stage 1 for a batch, on the maps' device: heatmaps [B,K,H,W], tags [B,K,H,W,L] (or [B,K,H,W])
    -> Candidates with values [B,K,M], locations [B,K,M,2] (x, y), tags [B,K,M,L]; M = min(max_num_people,
    H*W). NaN or inf in the maps (they rank first in top-k) raise a ValueError."""
    heatmaps, tags = _as_maps(heatmaps, tags, batched=True)
    candidates = top_candidates(heatmaps, tags, config.nms_kernel, config.max_num_people)
    if not (np.isfinite(candidates.values).all() and np.isfinite(candidates.tags).all()):
        raise ValueError("heatmaps or tags contain NaN or inf (found among the top-k candidates)")
    return candidates


def match_candidates(
    values: np.ndarray, locations: np.ndarray, tags: np.ndarray, config: GroupingConfig = DEFAULT_CONFIG
) -> np.ndarray:
    """Stage 2 for one image: values [K,M], locations [K,M,2] (x, y), tags [K,M,L] -> people [N,K,3+L]
    float32 in order of creation (N may be 0), with ``config.matcher``."""
    values = np.asarray(values, dtype=np.float32)
    locations = np.asarray(locations, dtype=np.int64)
    tags = np.asarray(tags, dtype=np.float32)
    if values.ndim != 2 or locations.shape != (*values.shape, 2) or tags.ndim != 3 \
            or tags.shape[:2] != values.shape or tags.shape[2] < 1:
        raise ValueError("match_candidates needs values [K,M], locations [K,M,2], tags [K,M,L]; got "
                         f"{values.shape}, {locations.shape}, {tags.shape}")
    if not (np.isfinite(values).all() and np.isfinite(tags).all()):
        raise ValueError("candidate values or tags contain NaN or inf")
    if config.joint_order is not None and len(config.joint_order) != values.shape[0]:
        raise ValueError(f"joint_order has {len(config.joint_order)} joints, the candidates {len(values)}")
    return match_by_tag(values, locations, tags, config)


def adjust_people(
    people: np.ndarray, heatmaps: ArrayLike, config: GroupingConfig = DEFAULT_CONFIG
) -> np.ndarray:
    """Stage 3 for one image: people [N,K,C] and heatmaps [K,H,W] -> adjusted copy of people."""
    heatmaps = _as_float_tensor(heatmaps, "heatmaps")
    if heatmaps.dim() != 3:
        raise ValueError(f"heatmaps must be [K,H,W], got shape {tuple(heatmaps.shape)}")
    people = _as_people(people, heatmaps.shape[0])
    found = people[:, :, 2] > 0
    _, height, width = heatmaps.shape
    xs, ys = people[:, :, 0][found], people[:, :, 1][found]
    if ((xs <= -1) | (xs >= width) | (ys <= -1) | (ys >= height)).any():
        raise ValueError(f"people have found joints outside the {width}x{height} heatmaps")
    if config.literal_port:
        return adjust_people_literal(people, heatmaps.cpu().numpy())
    return people_to_host(adjust_batch(people_to_device([people], heatmaps.device), heatmaps[None]))[0]


def person_scores(people: np.ndarray) -> np.ndarray:
    """Stage 4: [N] float32 mean over the K joints of the value column (missing joints count 0)."""
    people = np.asarray(people, dtype=np.float32)
    if people.ndim != 3 or people.shape[2] < 3:
        raise ValueError(f"people must be [N,K,3+L], got shape {people.shape}")
    return people[:, :, 2].mean(axis=1)


def refine_people(
    people: np.ndarray, heatmaps: ArrayLike, tags: ArrayLike, config: GroupingConfig = DEFAULT_CONFIG
) -> np.ndarray:
    """Stage 5 for one image: people [N,K,C], heatmaps [K,H,W], tags [K,H,W,L] (or [K,H,W]) -> a copy of
    people with their missing joints filled where possible."""
    heatmaps, tags = _as_maps(heatmaps, tags, batched=False)
    people = _as_people(people, heatmaps.shape[0])
    lonely = np.flatnonzero(~(people[:, :, 2] > 0).any(axis=1))
    if len(lonely):
        raise ValueError(f"refine needs a joint with value > 0 in every person; person {lonely[0]} has none")
    if config.literal_port:
        return refine_people_literal(people, heatmaps.cpu().numpy(), tags.cpu().numpy())
    batch = people_to_device([people], heatmaps.device, _tags_at_joints(people, tags))
    return people_to_host(refine_batch(batch, heatmaps[None], tags[None]))[0]


def _tags_at_joints(people: np.ndarray, tags: torch.Tensor) -> np.ndarray:
    """[N,K,L] tags [K,H,W,L] read at int() of each joint's clipped (x, y), as mmpose's refine reads them."""
    _, height, width, _ = tags.shape
    xs = torch.from_numpy(people[:, :, 0]).long().clamp(0, width - 1).to(tags.device)
    ys = torch.from_numpy(people[:, :, 1]).long().clamp(0, height - 1).to(tags.device)
    joint = torch.arange(people.shape[1], device=tags.device).expand(xs.shape)
    picked, = to_host((tags[joint, ys, xs],))
    return picked


def group_batch(
    heatmaps: ArrayLike, tags: ArrayLike, config: GroupingConfig = DEFAULT_CONFIG,
    observer: StageObserver = NO_OBSERVER,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """All stages, in order, for a batch: heatmaps [B,K,H,W], tags [B,K,H,W,L] (or [B,K,H,W]) -> per
    image (people [N,K,3+L] float32, scores [N] float32). Each stage covers every image of the batch
    and runs between ``observer.start`` and ``observer.stop``; person scores are part of ``adjust``.

    NMS/top-k, adjust and refine run batched over the images on the maps' device; only match runs on the
    host, per image, on the candidates copied there in one transfer; the matched people go to the device
    in one transfer and come back in one. The literal port (``matcher="munkres"``) adjusts and refines
    per image on the host. The same result as grouping each image alone.
    """
    with observed(observer, NMS_TOPK):
        heatmaps, tags = _as_maps(heatmaps, tags, batched=True)
        candidates = nms_topk(heatmaps, tags, config)
    with observed(observer, MATCH):
        people = [match_candidates(values, locations, found_tags, config) for values, locations, found_tags
                  in zip(candidates.values, candidates.locations, candidates.tags, strict=True)]
    if config.literal_port:
        return _adjust_and_refine_per_image(people, heatmaps, tags, config, observer)
    batch: BatchPeople | None = None
    with observed(observer, ADJUST):
        scores = [person_scores(found) for found in people]  # adjust changes no value: scored on the host
        if config.adjust or config.refine:
            batch = people_to_device(people, heatmaps.device)
        if config.adjust:
            batch = adjust_batch(batch, heatmaps)
            if not config.refine:
                people = people_to_host(batch)
    with observed(observer, REFINE):
        if config.refine:
            people = people_to_host(refine_batch(batch, heatmaps, tags))
    return list(zip(people, scores, strict=True))


def _adjust_and_refine_per_image(
    people: list[np.ndarray], heatmaps: torch.Tensor, tags: torch.Tensor, config: GroupingConfig,
    observer: StageObserver,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stages 3 to 5 of the literal port, image by image."""
    with observed(observer, ADJUST):
        if config.adjust:
            people = [adjust_people(found, heatmaps[image], config) for image, found in enumerate(people)]
        scores = [person_scores(found) for found in people]
    with observed(observer, REFINE):
        if config.refine:
            people = [refine_people(found, heatmaps[image], tags[image], config)
                      for image, found in enumerate(people)]
    return list(zip(people, scores, strict=True))


def group_keypoints(
    heatmaps: ArrayLike, tags: ArrayLike, **settings: object
) -> tuple[np.ndarray, np.ndarray]:
    """Group one image: heatmaps [K,H,W], tags [K,H,W,L] (or [K,H,W]), numpy or torch on any device;
    ``settings`` are `GroupingConfig` fields.

    Returns poses [N,K,4] float32 (x, y, heatmap value, mean of the L tags; heatmap pixels, after adjust
    and refine) and scores [N] float32, people in mmpose's order (order of creation); N may be 0.
    """
    config = GroupingConfig.from_settings(**settings)
    heatmaps, tags = _as_maps(heatmaps, tags, batched=False)
    people, scores = group_batch(heatmaps[None], tags[None], config)[0]
    poses = np.concatenate((people[:, :, :3], people[:, :, 3:].mean(axis=2, keepdims=True)), axis=2)
    return poses, scores
