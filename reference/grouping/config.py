"""Grouping settings: one frozen dataclass named and defaulted as mmpose 0.29.0's CrowdPose ``test_cfg``."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields
from typing import Literal, get_args

import numpy as np

Matcher = Literal["scipy", "munkres"]
GroupLimit = Literal["mmpose-0.29", "2020"]
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
