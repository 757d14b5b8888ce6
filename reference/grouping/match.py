"""Grouping stage 2: joint-by-joint tag matching of candidates into people (mmpose's ``_match_by_tag``).

Shapes: K joints, M candidates per joint, L tag values, N people. A person is a [K, 3+L] float32 array
of (x, y, heatmap value, tag_1..tag_L) rows, zeros for joints it does not have.

Per joint (in ``joint_order``), the candidates above ``detection_threshold`` either start people (first
joint, or nobody exists yet) or are assigned to the existing people by a minimum-cost assignment on
``round(distance) * 100 - value`` (``distance`` = L2 distance between the candidate's tag and the mean tag
of the person; columns padded with 1e10 when there are more candidates than people). A pair is
accepted when its unrounded distance is below ``tag_threshold``; every other candidate starts a new
person. The arithmetic (float64 costs, float32 tag means from ``np.mean``) is mmpose's, so the munkres
solver reproduces mmpose bit for bit.

The fast solver (``matcher="scipy"``) solves the same matrix with scipy's ``linear_sum_assignment``.
Where several assignments are optimal, the grouping would depend on which one a solver picks; the fast
solver detects when another optimum would accept a different candidate-person pair (`has_deciding_tie`)
and then takes munkres' pairs from `reference.grouping.hungarian.munkres_assignment` (munkres 1.1.4's
algorithm step for step, vectorized: the same pairs as the package, at numpy speed), so both matchers
give identical people. Such ties are common: tags are nearly one-dimensional (the flip-test tag repeats
the original) and distances are rounded, so moving a person's own candidate elsewhere often costs exactly
what it saves a stray one (on the broad speed case 10 of 13 joints per image). The literal matcher
(``matcher="munkres"``) calls the munkres package itself.

People are keyed, as in mmpose, by the first tag value of the candidate that started them: a new
person whose key equals an existing one reuses that person (the joint is overwritten and its tag list
restarted). People come out in order of creation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from munkres import Munkres
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from reference.grouping.config import GroupingConfig
from reference.grouping.hungarian import munkres_assignment

PADDING_COST = 1e10


def solve_with_munkres(cost: np.ndarray) -> list[tuple[int, int]]:
    """munkres 1.1.4 ``Munkres().compute``, as mmpose calls it (it overwrites ``cost``); the literal port's
    solver (`munkres_assignment` returns the same pairs, faster, for the fast path).

    Among equally cheap assignments it returns the one its step order finds: zeros are starred row by
    row, then augmenting paths follow its cyclic zero search. For three candidates with equal costs to
    two people it leaves the FIRST candidate to a padding column: pairs (0, 2), (1, 1), (2, 0)."""
    return [(int(row), int(col)) for row, col in Munkres().compute(cost)]


def solve_with_scipy(cost: np.ndarray) -> list[tuple[int, int]]:
    """``scipy.optimize.linear_sum_assignment`` alone (shortest augmenting paths), rows ascending.

    Among equally cheap assignments it returns its own: for three candidates with equal costs to two
    people it leaves the LAST candidate to the padding column: (0, 0), (1, 1), (2, 2)."""
    rows, cols = linear_sum_assignment(cost)
    return list(zip(rows.tolist(), cols.tolist(), strict=True))


def has_deciding_tie(cost: np.ndarray, pairs: list[tuple[int, int]], acceptable: np.ndarray) -> bool:
    """True when another assignment about as cheap as ``pairs`` moves a candidate into or out of an
    ``acceptable`` [C, P] pair (P real people; padding columns are never acceptable).

    Alternatives to an assignment are cycles in a graph on the columns: an edge c -> c' moves the row
    on c to c' at cost ``cost[row, c'] - cost[row, c]``; a free column leads to every used one at 0
    (the chain that frees that column). The assignment is optimal, so no cycle is negative; one of
    (near) zero cost is another optimum. Shortest-path potentials make every such cycle consist of edges
    of zero reduced cost, which then lie in one strongly connected component of those edges. "Near":
    within the rounding that munkres' float arithmetic can accumulate on this matrix.
    """
    num_rows, num_cols = cost.shape
    rows, cols = (np.array(side) for side in zip(*pairs, strict=True))
    weight = np.full((num_cols, num_cols), np.inf)
    weight[cols] = cost[rows] - cost[rows, cols][:, None]
    free = np.ones(num_cols, dtype=bool)
    free[cols] = False
    weight[np.ix_(free, ~free)] = 0.0
    np.fill_diagonal(weight, np.inf)

    potential = np.zeros(num_cols)
    for _ in range(num_cols):  # Bellman-Ford from a virtual source joined to every column
        relaxed = np.minimum(potential, (potential[:, None] + weight).min(axis=0))
        if np.array_equal(relaxed, potential):
            break
        potential = relaxed
    tolerance = num_cols * num_cols * np.finfo(np.float64).eps * max(1.0, float(np.abs(cost).max()))
    tight = weight + potential[:, None] - potential[None, :] <= tolerance
    _, component = connected_components(csr_matrix(tight), directed=True, connection="strong")

    deciding = np.zeros((num_cols, num_cols), dtype=bool)
    padded = np.zeros((num_rows, num_cols), dtype=bool)
    padded[:, :acceptable.shape[1]] = acceptable
    deciding[cols] = padded[rows] | padded[rows, cols][:, None]
    return bool((tight & deciding & (component[:, None] == component[None, :])).any())


def solve_fast(cost: np.ndarray, acceptable: np.ndarray) -> list[tuple[int, int]]:
    """scipy's assignment; where another optimum would group differently, munkres' pairs (as the literal
    port), from its vectorized port `munkres_assignment`."""
    pairs = solve_with_scipy(cost)
    if acceptable.any() and has_deciding_tie(cost, pairs, acceptable):
        return munkres_assignment(cost)
    return pairs


def assignment_cost(distance: np.ndarray, values: np.ndarray, use_detection_val: bool) -> np.ndarray:
    """mmpose's cost matrix [C, max(C, P)] for C candidates and P people (new: solvers may write it)."""
    cost = np.round(distance) * 100 - values[:, None] if use_detection_val else distance.copy()
    num_candidates, num_people = cost.shape
    if num_candidates > num_people:
        padding = np.full((num_candidates, num_candidates - num_people), PADDING_COST)
        cost = np.concatenate((cost, padding), axis=1)
    return cost


class _People:
    """People found so far, in order of creation, with the tags assigned to each (for their mean tag)."""

    def __init__(self, num_joints: int, num_columns: int):
        self._shape = (num_joints, num_columns)
        self._index_by_key: dict[float, int] = {}
        self._joints: list[np.ndarray] = []
        self._tags: list[list[np.ndarray]] = []
        self._mean_tags: list[np.ndarray | None] = []

    def __len__(self) -> int:
        return len(self._joints)

    def start(self, joint: int, row: np.ndarray, tag: np.ndarray) -> None:
        """A new person keyed by ``tag[0]``; an existing key keeps its person (overwritten, as mmpose)."""
        index = self._index_by_key.setdefault(float(tag[0]), len(self._joints))
        if index == len(self._joints):
            self._joints.append(np.zeros(self._shape, dtype=np.float32))
            self._tags.append([])
            self._mean_tags.append(None)
        self._joints[index][joint] = row
        self._tags[index] = [tag]
        self._mean_tags[index] = None

    def extend(self, index: int, joint: int, row: np.ndarray, tag: np.ndarray) -> None:
        self._joints[index][joint] = row
        self._tags[index].append(tag)
        self._mean_tags[index] = None

    def mean_tags(self, count: int) -> np.ndarray:
        """[count, L] float32 mean tag of each of the first ``count`` people (``np.mean`` as mmpose)."""
        for index in range(count):
            if self._mean_tags[index] is None:
                self._mean_tags[index] = np.mean(self._tags[index], axis=0)
        return np.array(self._mean_tags[:count])

    def as_array(self, limit: int | None) -> np.ndarray:
        """[N, K, 3+L] float32 of the first ``limit`` people (all when None)."""
        kept = self._joints[:limit]
        return np.array(kept, dtype=np.float32) if kept else np.zeros((0, *self._shape), dtype=np.float32)


def _matchable_count(num_people: int, config: GroupingConfig) -> int | None:
    """How many of the first people a joint's candidates may join; None: skip the joint (2020 code)."""
    capped = min(num_people, config.max_num_people)
    if config.group_limit == "2020":
        return None if config.ignore_too_much and capped == config.max_num_people else capped
    return capped if config.ignore_too_much else num_people


def match_by_tag(
    values: np.ndarray, locations: np.ndarray, tags: np.ndarray, config: GroupingConfig
) -> np.ndarray:
    """Group one image's candidates (values [K,M], locations [K,M,2], tags [K,M,L]) into people [N,K,3+L]."""
    num_joints, _, num_tag_dims = tags.shape
    people = _People(num_joints, 3 + num_tag_dims)
    order: Sequence[int] = config.joint_order or range(num_joints)
    for position, joint in enumerate(order):
        # float64 rows (int64 locations promote), as mmpose's concatenation
        rows = np.concatenate((locations[joint], values[joint, :, None], tags[joint]), axis=1)
        keep = rows[:, 2] > config.detection_threshold
        rows, joint_tags = rows[keep], tags[joint][keep]
        if len(rows) == 0:
            continue
        if position == 0 or len(people) == 0:
            for row, tag in zip(rows, joint_tags, strict=True):
                people.start(joint, row, tag)
            continue
        num_matchable = _matchable_count(len(people), config)
        if num_matchable is None:
            continue
        difference = rows[:, None, 3:] - people.mean_tags(num_matchable)[None, :, :]
        distance = np.linalg.norm(difference, ord=2, axis=2)
        acceptable = distance < config.tag_threshold
        cost = assignment_cost(distance, rows[:, 2], config.use_detection_val)
        pairs = solve_with_munkres(cost) if config.matcher == "munkres" else solve_fast(cost, acceptable)
        for row, col in pairs:
            if col < num_matchable and acceptable[row, col]:
                people.extend(col, joint, rows[row], joint_tags[row])
            else:
                people.start(joint, rows[row], joint_tags[row])
    truncate = config.group_limit == "mmpose-0.29" and config.ignore_too_much
    return people.as_array(config.max_num_people if truncate else None)
