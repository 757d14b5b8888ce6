"""Associative-embedding grouping as mmpose 0.29.0's ``HeatmapParser.parse(heatmaps, tags, adjust=True,
refine=True)``: from heatmaps and tag maps to people.

Shapes: B images, K joints, H x W map size (the aggregated maps, at network input size), L tag values
per pixel (2 with flip test: original and flipped), M candidates per joint (``max_num_people``),
N people found. A person is a [K, 3+L] float32 array of (x, y, heatmap value, tag_1..tag_L) in heatmap
pixels; missing joints are zeros.

Stages, each callable on its own; `group_batch` runs them in order and tells an observer (see
`reference.stages`) when each starts and stops:

1. `nms_topk` (batched, on the maps' device; the candidates reach the host in one copy): keep pixels
   equal to their ``nms_kernel`` window maximum (plateaus keep all their pixels), then the M largest
   values per joint with their (x, y) and tags.
2. `match_candidates`: joint by joint, assign the candidates above ``detection_threshold`` to people
   by tag distance, or start new people (see `reference.grouping.match`).
3. `adjust_people`: each found joint moves 0.25 px toward its larger neighbour per axis, then +0.5.
4. `person_scores`: mean heatmap value over the K joints, after adjust and before refine.
5. `refine_people`: each joint a person lacks takes the maximum of ``heatmap - round(distance of the tag
   to the person's mean tag)`` if the heatmap value there is > 0 (its tag columns stay 0).

``GroupingConfig.matcher`` picks the implementation of stages 2, 3 and 5: "munkres" is the literal port
(munkres 1.1.4 per joint and mmpose's per-person loops, numpy on the CPU) that reproduces mmpose exactly;
"scipy" is the fast path (scipy's ``linear_sum_assignment`` on the same cost matrix; adjust and refine
batched over all images of a batch on the maps' device, refine only where a joint is missing, see
`reference.grouping.batched`). Both give identical people and scores: where a joint's assignment
problem has several optimal solutions that would group differently,
the fast path takes munkres' pairs (`reference.grouping.match.solve_fast`), from a vectorized port of
munkres 1.1.4 that returns the package's pairs (`reference.grouping.hungarian`).
Inputs are converted to float32, the dtype of the network output mmpose parses. Candidates whose heatmap
values are exactly equal come in ``torch.topk`` order, which may differ between CPU and GPU.
"""

from reference.grouping.config import HIGHERHRNET_CROWDPOSE_JOINT_ORDER, GroupingConfig
from reference.grouping.group import (
    adjust_people,
    group_batch,
    group_keypoints,
    match_candidates,
    nms_topk,
    person_scores,
    refine_people,
)
from reference.grouping.nms import Candidates

__all__ = [
    "HIGHERHRNET_CROWDPOSE_JOINT_ORDER", "Candidates", "GroupingConfig", "adjust_people", "group_batch",
    "group_keypoints", "match_candidates", "nms_topk", "person_scores", "refine_people",
]
