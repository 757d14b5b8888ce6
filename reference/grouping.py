"""Associative-embedding grouping as mmpose 0.29.0's ``HeatmapParser.parse(heatmaps, tags, adjust=True,
refine=True)``: from heatmaps and tag maps to people.

Shapes: B images, K joints, H x W map size (the aggregated maps, at network input size), L tag values
per pixel (2 with flip test: original and flipped), M candidates per joint (``max_num_people``),
N people found. A person is a [K, 3+L] float32 array of (x, y, heatmap value, tag_1..tag_L) in heatmap
pixels; missing joints are zeros.

Stages, each callable on its own so that a profiler can time it:

1. `nms_topk` (batched, on the maps' device): keep pixels equal to their ``nms_kernel`` window maximum
   (plateaus keep all their pixels), then the M largest values per joint with their (x, y) and tags.
2. `match_candidates`: joint by joint, assign the candidates above ``detection_threshold`` to people
   by tag distance, or start new people (see `reference.grouping_match`).
3. `adjust_people`: each found joint moves 0.25 px toward its larger neighbour per axis, then +0.5.
4. `person_scores`: mean heatmap value over the K joints, after adjust and before refine.
5. `refine_people`: each joint a person lacks takes the maximum of ``heatmap - round(distance of the tag
   to the person's mean tag)`` if the heatmap value there is > 0 (its tag columns stay 0).

``GroupingConfig.matcher`` picks the implementation of stages 2, 3 and 5: "munkres" is the literal port
(munkres 1.1.4 per joint and mmpose's per-person loops, numpy on the CPU) that reproduces mmpose exactly;
"scipy" is the fast path (scipy's ``linear_sum_assignment`` on the same cost matrix, vectorised adjust,
refine only where a joint is missing, see `reference.grouping_fast`). Both give identical people and
scores: where a joint's assignment problem has several optimal solutions that would group differently,
the fast path lets munkres decide (`reference.grouping_match.solve_fast`).
Inputs are converted to float32, the dtype of the network output mmpose parses. Candidates whose heatmap
values are exactly equal come in ``torch.topk`` order, which may differ between CPU and GPU.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields
from typing import Literal, get_args

import numpy as np
import torch

from reference.grouping_fast import adjust_people_fast, refine_people_fast
from reference.grouping_literal import adjust_people_literal, refine_people_literal
from reference.grouping_match import match_by_tag
from reference.grouping_nms import Candidates, top_candidates

__all__ = [
    "HIGHERHRNET_CROWDPOSE_JOINT_ORDER", "Candidates", "GroupingConfig", "adjust_people", "group_batch",
    "group_keypoints", "match_candidates", "nms_topk", "person_scores", "refine_people",
]

Matcher = Literal["scipy", "munkres"]
GroupLimit = Literal["mmpose-0.29", "2020"]
ArrayLike = np.ndarray | torch.Tensor

# The order in which HRNet/HigherHRNet-Human-Pose-Estimation's grouping visits CrowdPose's 14 joints
# (its COCO joint order cut to 14 entries); mmpose visits them in index order.
HIGHERHRNET_CROWDPOSE_JOINT_ORDER = (0, 1, 2, 3, 4, 5, 6, 11, 12, 7, 8, 9, 10, 13)


def _is_number(value: object, kind: type) -> bool:
    """``value`` is a ``kind`` number (numbers.Integral or numbers.Real), not a bool."""
    return isinstance(value, kind) and not isinstance(value, bool | np.bool_)


@dataclass(frozen=True)
class GroupingConfig:
    """Grouping settings, named and defaulted as mmpose 0.29.0's CrowdPose ``test_cfg``.

    Which people can take a joint's candidates when many people exist, by ``group_limit`` and
    ``ignore_too_much`` (P = ``max_num_people``):

    ============  ===============  =============================================================
    group_limit   ignore_too_much  behaviour (reproduces)
    ============  ===============  =============================================================
    mmpose-0.29   False (default)  every person is a candidate, no cap (mmpose >= 0.26, the
                                   0.29.0 CrowdPose config)
    mmpose-0.29   True             only the first P people are candidates; unmatched candidates
                                   still start people; the output keeps the first P people
    2020          False            only the first P people are candidates, no output cap
                                   (HigherHRNet repo and mmpose < 0.26 with their configs)
    2020          True             as above, but once P people exist later joints are skipped
    ============  ===============  =============================================================

    With at most P people all four agree. ``joint_order`` (None: 0..K-1, as mmpose) is the order in
    which joints are matched; ``HIGHERHRNET_CROWDPOSE_JOINT_ORDER`` reproduces the HigherHRNet repo.
    ``adjust`` / ``refine`` switch stages 3 / 5; ``matcher`` picks the implementation (module docstring).
    """

    max_num_people: int = 30
    nms_kernel: int = 5
    detection_threshold: float = 0.1
    tag_threshold: float = 1.0
    use_detection_val: bool = True
    ignore_too_much: bool = False
    adjust: bool = True
    refine: bool = True
    matcher: Matcher = "scipy"
    group_limit: GroupLimit = "mmpose-0.29"
    joint_order: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("use_detection_val", "ignore_too_much", "adjust", "refine"):
            value = getattr(self, name)
            if not isinstance(value, bool | np.bool_):
                raise TypeError(f"GroupingConfig.{name} must be True or False, got {value!r}")
            object.__setattr__(self, name, bool(value))
        for name in ("max_num_people", "nms_kernel"):
            value = getattr(self, name)
            if not _is_number(value, numbers.Integral) or value < 1:
                raise ValueError(f"GroupingConfig.{name} must be a positive integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        if self.nms_kernel % 2 == 0:
            raise ValueError(f"GroupingConfig.nms_kernel must be odd, got {self.nms_kernel}")
        for name in ("detection_threshold", "tag_threshold"):
            value = getattr(self, name)
            if not _is_number(value, numbers.Real) or not math.isfinite(value):
                raise ValueError(f"GroupingConfig.{name} must be a finite number, got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.detection_threshold < 0:
            raise ValueError("GroupingConfig.detection_threshold must be >= 0 (found joints need a value"
                             f" > 0), got {self.detection_threshold}")
        if self.tag_threshold <= 0:
            raise ValueError(f"GroupingConfig.tag_threshold must be > 0, got {self.tag_threshold}")
        for name, kind in (("matcher", Matcher), ("group_limit", GroupLimit)):
            value = getattr(self, name)
            if value not in get_args(kind):
                raise ValueError(f"GroupingConfig.{name} must be one of {get_args(kind)}, got {value!r}")
        if self.joint_order is not None:
            order = tuple(self.joint_order) if isinstance(self.joint_order, tuple | list) else ()
            if not order or not all(_is_number(joint, numbers.Integral) for joint in order) \
                    or sorted(order) != list(range(len(order))):
                raise ValueError("GroupingConfig.joint_order must be a permutation of 0..K-1, "
                                 f"got {self.joint_order!r}")
            object.__setattr__(self, "joint_order", tuple(int(joint) for joint in order))

    @classmethod
    def from_settings(cls, **settings: object) -> GroupingConfig:
        """The config from keyword settings; unknown names raise a TypeError that names them."""
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise TypeError(f"unknown grouping setting(s) {unknown}; known: {sorted(known)}")
        return cls(**settings)

    @property
    def literal_port(self) -> bool:
        """True when stages 2, 3 and 5 run mmpose's literal port (``matcher="munkres"``)."""
        return self.matcher == "munkres"


DEFAULT_CONFIG = GroupingConfig()


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
    return adjust_people_fast(people, heatmaps)


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
    return refine_people_fast(people, heatmaps, tags)


def group_batch(
    heatmaps: ArrayLike, tags: ArrayLike, config: GroupingConfig = DEFAULT_CONFIG
) -> list[tuple[np.ndarray, np.ndarray]]:
    """All stages for a batch: heatmaps [B,K,H,W], tags [B,K,H,W,L] (or [B,K,H,W]) -> per image
    (people [N,K,3+L] float32, scores [N] float32). The same result as grouping each image alone."""
    heatmaps, tags = _as_maps(heatmaps, tags, batched=True)
    candidates = nms_topk(heatmaps, tags, config)
    results = []
    for image in range(heatmaps.shape[0]):
        people = match_candidates(candidates.values[image], candidates.locations[image],
                                  candidates.tags[image], config)
        if config.adjust:
            people = adjust_people(people, heatmaps[image], config)
        scores = person_scores(people)
        if config.refine:
            people = refine_people(people, heatmaps[image], tags[image], config)
        results.append((people, scores))
    return results


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
