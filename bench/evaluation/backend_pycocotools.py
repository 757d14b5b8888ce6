"""pycocotools' COCO keypoint evaluator with the CrowdPose protocol applied around it.

pycocotools knows neither CrowdPose's sigmas, nor its object scale, nor the crowdIndex split, so this
module supplies them: the 14 sigmas, ``area = 0.53 * h * w`` on every GT (pycocotools uses ``area``
both as the OKS scale and for the area range), maxDets 20 and the single area range "all", then the
summary and the split APs of :mod:`bench.evaluation.protocol`, each split evaluated by a fresh
evaluator as the official API re-evaluates it. Its ignore rule (iscrowd or num_keypoints == 0),
matching and accumulation are the ones crowdposetools copied from it.
"""

from __future__ import annotations

import numpy as np

from bench.evaluation import protocol
from bench.evaluation.backend_support import distribution_version, import_evaluator
from bench.evaluation.inputs import Detections, GroundTruth

NAME = "pycocotools"
OFFICIAL = False
INSTALL_HINT = "Install it with `pip install pycocotools` (a dependency of this project)."


def version() -> str:
    """The installed version; BenchError when the evaluator cannot be imported (or is refused)."""
    import_evaluator("pycocotools.cocoeval", NAME, INSTALL_HINT)
    return distribution_version("pycocotools")


def _accumulate(coco_gt, coco_dt, image_ids: list[int]) -> dict:
    from pycocotools.cocoeval import COCOeval

    evaluator = COCOeval(coco_gt, coco_dt, "keypoints")
    params = evaluator.params
    params.kpt_oks_sigmas = protocol.CROWDPOSE_SIGMAS
    params.maxDets = [protocol.MAX_DETECTIONS]
    params.areaRng = [list(protocol.AREA_RANGE_ALL)]
    params.areaRngLbl = ["all"]
    params.imgIds = image_ids
    evaluator.evaluate()
    evaluator.accumulate()
    return evaluator.eval


def run(gt: GroundTruth, detections: Detections) -> dict[str, float]:
    """The nine metrics of :data:`protocol.METRIC_NAMES` for at least one detection."""
    import_evaluator("pycocotools.coco", NAME, INSTALL_HINT)
    from pycocotools.coco import COCO

    def with_area(ann: dict) -> dict:
        return dict(ann, area=ann["bbox"][3] * ann["bbox"][2] * protocol.OKS_AREA_FACTOR)

    data = dict(gt.data, annotations=[with_area(ann) for ann in gt.data["annotations"]])
    coco_gt = COCO()
    coco_gt.dataset = data
    coco_gt.createIndex()
    coco_dt = coco_gt.loadRes(detections.records())
    overall = _accumulate(coco_gt, coco_dt, sorted(coco_gt.getImgIds()))
    metrics = protocol.summarize(np.asarray(overall["precision"]), np.asarray(overall["recall"]))
    splits = protocol.split_image_ids(data["images"])
    for name, split_ids in zip(protocol.SPLIT_NAMES, splits, strict=True):
        precision = _accumulate(coco_gt, coco_dt, split_ids)["precision"]
        metrics[name] = protocol.split_average_precision(precision)
    return metrics
