"""Default backend: faster-coco-eval's C++ matching and accumulation, OKS computed once for all splits.

faster-coco-eval's own ``keypoints_crowd`` summary evaluates everything four times (all images, then
easy, medium and hard) with a per-image Python OKS loop. Here the OKS matrices come from
:mod:`bench.evaluation.oks` in one vectorised pass, the C++ engine matches every image once for the
"all" area range, and the four accumulations reuse those per-image results. The numbers are
bit-identical to ``backend_faster_stock`` (checked by the parity tests on every generated case):
per-image matching does not depend on which other images are evaluated, and the image order, the
detection fields and the summary formulas are the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.errors import BenchError
from bench.evaluation import protocol
from bench.evaluation.backend_support import import_evaluator
from bench.evaluation.inputs import Detections, GroundTruth
from bench.evaluation.oks import oks_matrices

NAME = "faster-coco-eval"
OFFICIAL = False
INSTALL_HINT = "Install it with `pip install faster-coco-eval` (a dependency of this project)."
ENGINE_FUNCTIONS = ("COCOevalEvaluateImages", "COCOevalAccumulate")


@dataclass(frozen=True)
class AccumulateParams:
    """The attributes faster-coco-eval's C++ ``Accumulate`` reads (names fixed by that API)."""

    imgIds: list[int]  # noqa: N815
    catIds: list[int]  # noqa: N815
    iouThrs: np.ndarray  # noqa: N815
    recThrs: np.ndarray  # noqa: N815
    maxDets: list[int]  # noqa: N815
    areaRng: list[list[float]]  # noqa: N815
    useCats: int = 1  # noqa: N815


def _engine():
    """faster-coco-eval's C++ module, checked for the per-image API this backend uses (>= 1.7)."""
    package = import_evaluator("faster_coco_eval", NAME, INSTALL_HINT)
    engine = import_evaluator("faster_coco_eval.faster_eval_api_cpp", NAME, INSTALL_HINT)
    if not all(hasattr(engine, name) for name in ENGINE_FUNCTIONS) or not hasattr(engine, "Dataset") \
            or not hasattr(engine.Dataset, "append_ref"):
        raise BenchError(f"faster-coco-eval {package.__version__} lacks the per-image C++ API that backend "
                         f"{NAME!r} uses (added in 1.7); upgrade it (`pip install -U faster-coco-eval`) or "
                         "use backend 'faster-coco-eval-stock'")
    return engine


def version() -> str:
    """The installed version; BenchError when the evaluator cannot be imported (or is refused)."""
    _engine()
    return import_evaluator("faster_coco_eval", NAME, INSTALL_HINT).__version__


def _ground_truth_dataset(engine, gt: GroundTruth):
    dataset = engine.Dataset()
    for ann in gt.data["annotations"]:
        # The same fields faster-coco-eval's _prepare hands to C++: the annotation plus its ignore flag.
        dataset.append_ref(ann["image_id"], ann["category_id"], dict(ann, ignore=protocol.is_ignored(ann)))
    return dataset


def _detection_dataset(engine, detections: Detections):
    """Detections with the id (1-based input position) and area (keypoint extent) that loadRes gives them."""
    x, y = detections.keypoints[:, 0::3], detections.keypoints[:, 1::3]
    areas = (x.max(axis=1) - x.min(axis=1)) * (y.max(axis=1) - y.min(axis=1))
    dataset = engine.Dataset()
    for index, (image_id, category_id, score, area) in enumerate(zip(
            detections.image_ids.tolist(), detections.category_ids.tolist(), detections.scores.tolist(),
            areas.tolist(), strict=True)):
        dataset.append_ref(image_id, category_id, {"id": index + 1, "score": score, "area": area})
    return dataset


def _oks_lists(gt: GroundTruth, detections: Detections, image_ids: np.ndarray,
               category_ids: np.ndarray) -> list[list[list]]:
    """OKS matrices as nested lists [image][category] -> [D][G] (empty where either side is empty)."""
    anns = gt.data["annotations"]
    num_categories = len(category_ids)

    def group(image: np.ndarray, category: np.ndarray) -> np.ndarray:
        return np.searchsorted(image_ids, image) * num_categories + np.searchsorted(category_ids, category)

    matrices = oks_matrices(
        gt_keys=group(np.array([a["image_id"] for a in anns], dtype=np.int64),
                      np.array([a["category_id"] for a in anns], dtype=np.int64)),
        gt_keypoints=np.array([a["keypoints"] for a in anns], dtype=np.float64).reshape(len(anns), -1),
        gt_boxes=np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(len(anns), 4),
        det_keys=group(detections.image_ids, detections.category_ids),
        det_scores=detections.scores, det_keypoints=detections.keypoints,
        max_detections=protocol.MAX_DETECTIONS)
    return [[matrices[key].tolist() if key in matrices else []
             for key in range(image * num_categories, (image + 1) * num_categories)]
            for image in range(len(image_ids))]


def run(gt: GroundTruth, detections: Detections) -> dict[str, float]:
    """The nine metrics of :data:`protocol.METRIC_NAMES` for at least one detection."""
    engine = _engine()
    image_ids = np.unique(np.array([image["id"] for image in gt.data["images"]], dtype=np.int64))
    category_ids = np.unique(np.array([category["id"] for category in gt.data["categories"]], dtype=np.int64))
    area_ranges = [list(protocol.AREA_RANGE_ALL)]
    evaluations = engine.COCOevalEvaluateImages(
        area_ranges, protocol.MAX_DETECTIONS, protocol.iou_thresholds().tolist(),
        _oks_lists(gt, detections, image_ids, category_ids), _ground_truth_dataset(engine, gt),
        _detection_dataset(engine, detections), image_ids.tolist(), category_ids.tolist(), True)

    def accumulate(selected_ids: np.ndarray) -> dict:
        # Evaluations are laid out [category][image]; keep the selected images in sorted-id order.
        positions = np.searchsorted(image_ids, selected_ids)
        subset = [evaluations[c * len(image_ids) + p] for c in range(len(category_ids)) for p in positions]
        params = AccumulateParams(
            imgIds=selected_ids.tolist(), catIds=category_ids.tolist(), iouThrs=protocol.iou_thresholds(),
            recThrs=protocol.recall_thresholds(), maxDets=[protocol.MAX_DETECTIONS], areaRng=area_ranges)
        return engine.COCOevalAccumulate(params, subset)

    overall = accumulate(image_ids)
    metrics = protocol.summarize(overall["precision"], overall["recall"])
    splits = protocol.split_image_ids(gt.data["images"])
    for name, split_ids in zip(protocol.SPLIT_NAMES, splits, strict=True):
        split_ids = np.unique(np.asarray(split_ids, dtype=np.int64))
        metrics[name] = protocol.split_average_precision(accumulate(split_ids)["precision"])
    return metrics
