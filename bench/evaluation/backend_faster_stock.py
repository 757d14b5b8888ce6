"""faster-coco-eval's own ``keypoints_crowd`` evaluation, unchanged (``use_area=False``, CrowdPose sigmas).

It matched crowdposetools bit for bit on every case measured; it is about 4x slower than the default
backend because its summary evaluates all images and then each crowdIndex split again, computing
OKS in Python each time. Kept as the reference the default backend is checked against.
"""

from __future__ import annotations

from bench.evaluation import protocol
from bench.evaluation.backend_support import import_evaluator
from bench.evaluation.inputs import Detections, GroundTruth

NAME = "faster-coco-eval-stock"
OFFICIAL = False
INSTALL_HINT = "Install it with `pip install faster-coco-eval` (a dependency of this project)."


def version() -> str:
    """The installed version; BenchError when the evaluator cannot be imported (or is refused)."""
    return import_evaluator("faster_coco_eval", NAME, INSTALL_HINT).__version__


def run(gt: GroundTruth, detections: Detections) -> dict[str, float]:
    """The nine metrics of :data:`protocol.METRIC_NAMES` for at least one detection."""
    import_evaluator("faster_coco_eval", NAME, INSTALL_HINT)
    from faster_coco_eval import COCO
    from faster_coco_eval.core.faster_eval_api import COCOeval_faster

    coco_gt = COCO(gt.data, print_function=print)
    coco_dt = coco_gt.loadRes(detections.records())
    evaluator = COCOeval_faster(coco_gt, coco_dt, "keypoints_crowd", print_function=print,
                                kpt_oks_sigmas=protocol.CROWDPOSE_SIGMAS, use_area=False)
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    return {name: float(value) for name, value in zip(protocol.METRIC_NAMES, evaluator.stats, strict=False)}
