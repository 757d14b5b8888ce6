"""The official CrowdPose API: ``crowdposetools`` (github.com/Jeff-sjtu/CrowdPose, crowdpose-api/PythonAPI).

It is not on PyPI. On Python 3.11 / numpy >= 1.24 it needs ``np.float`` replaced by ``np.float64`` in
``cocoeval.py`` and its ``_mask.c`` regenerated with Cython 3.
Its ``loadRes`` accepts only a path, and its split step re-reads the GT file, so both inputs are
passed as temporary files.
"""

from __future__ import annotations

from bench.evaluation import protocol
from bench.evaluation.backend_support import distribution_version, import_evaluator, temporary_input_files
from bench.evaluation.inputs import Detections, GroundTruth

NAME = "crowdposetools"
OFFICIAL = True
INSTALL_HINT = ("It is not on PyPI: clone https://github.com/Jeff-sjtu/CrowdPose, replace np.float by "
                "np.float64 in crowdpose-api/PythonAPI/crowdposetools/cocoeval.py, delete _mask.c there and "
                "run `pip install --no-build-isolation .` in crowdpose-api/PythonAPI (needs Cython).")
# Positions of the nine numbers in crowdposetools' 11-entry stats (3 and 4 are unused there).
STATS_INDICES = (0, 1, 2, 5, 6, 7, 8, 9, 10)


def version() -> str:
    """The installed version; BenchError when the evaluator cannot be imported (or is refused)."""
    import_evaluator("crowdposetools.cocoeval", NAME, INSTALL_HINT)
    return distribution_version("crowdposetools")


def run(gt: GroundTruth, detections: Detections) -> dict[str, float]:
    """The nine metrics of :data:`protocol.METRIC_NAMES` for at least one detection."""
    import_evaluator("crowdposetools.cocoeval", NAME, INSTALL_HINT)
    from crowdposetools.coco import COCO
    from crowdposetools.cocoeval import COCOeval

    with temporary_input_files(gt, detections) as (gt_path, results_path):
        coco_gt = COCO(str(gt_path))
        coco_dt = coco_gt.loadRes(str(results_path))
        evaluator = COCOeval(coco_gt, coco_dt, "keypoints")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {name: float(evaluator.stats[index]) for name, index in zip(protocol.METRIC_NAMES, STATS_INDICES,
                                                                        strict=True)}
