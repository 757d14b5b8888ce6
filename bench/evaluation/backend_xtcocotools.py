"""xtcocotools ``keypoints_crowd`` with ``use_area=False``: the evaluator mmpose 0.29.0 reports with.

Known differences from the official API (measured in shared/evaluation.md):

* xtcocotools >= 1.7 drops detections none of whose 14 keypoint scores is > 0 before the top-20 cut;
  the official API keeps them. A warning is issued when the input has such detections.
* xtcocotools >= 1.10 marks "unmatched" with -1, so a detection matched to GT id 0 counts as a true
  positive; the official API (0 = unmatched) counts it as a false positive. Also warned about.
* 1.7 to 1.11 are refused: 1.7 ignored head/neck-only people wrongly (mmpose#655, fixed in 1.8) and
  1.10/1.11 broke the area-range ignore test (xtcocoapi#24, fixed in 1.12).

Its ``get_type_result`` re-reads the GT file and expects exactly one results file, so both inputs
are passed as temporary files.
"""

from __future__ import annotations

import re
import warnings

from bench.errors import BenchError
from bench.evaluation import protocol
from bench.evaluation.backend_support import import_evaluator, temporary_input_files
from bench.evaluation.inputs import Detections, GroundTruth

NAME = "xtcocotools"
OFFICIAL = False
INSTALL_HINT = ("Install it with `pip install \"xtcocotools>=1.12\"`; if its wheel fails to import with "
                "numpy 2 (\"numpy.dtype size changed\"), build it from source: "
                "`pip install Cython && "
                "pip install --no-binary xtcocotools --no-build-isolation xtcocotools`.")
REFUSED_VERSIONS = ((1, 7), (1, 11))  # inclusive range of (major, minor)


def _major_minor(version_text: str) -> tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", version_text)
    if not match:
        raise BenchError(f"cannot read the xtcocotools version {version_text!r}")
    return int(match.group(1)), int(match.group(2))


def version() -> str:
    """The installed version; BenchError when the evaluator cannot be imported (or is refused)."""
    import_evaluator("xtcocotools.cocoeval", NAME, INSTALL_HINT)
    found = import_evaluator("xtcocotools.version", NAME, INSTALL_HINT).__version__
    low, high = REFUSED_VERSIONS
    if low <= _major_minor(found) <= high:
        raise BenchError(f"xtcocotools {found} gives wrong CrowdPose numbers (1.7 ignores head/neck-only "
                         "people wrongly, mmpose#655; 1.10-1.11 break the area-range ignore test, "
                         "xtcocoapi#24): install xtcocotools>=1.12")
    return found


def warn_about_known_differences(detections: Detections, gt: GroundTruth) -> None:
    """Warn when the input holds what xtcocotools evaluates differently from the official API."""
    zero_score = int(detections.zero_score_mask().sum())
    if zero_score:
        warnings.warn(f"{zero_score} detections have all-zero keypoint scores: xtcocotools drops them "
                      "before the top-20 cut while the official CrowdPose API keeps them, so the numbers "
                      "will differ from crowdposetools", stacklevel=3)
    if any(ann["id"] == 0 for ann in gt.data["annotations"]):
        warnings.warn("the GT has an annotation with id 0: xtcocotools counts a detection matched to it "
                      "as a true positive while the official CrowdPose API counts it as a false positive",
                      stacklevel=3)


def run(gt: GroundTruth, detections: Detections) -> dict[str, float]:
    """The nine metrics of :data:`protocol.METRIC_NAMES` for at least one detection."""
    version()
    from xtcocotools.coco import COCO
    from xtcocotools.cocoeval import COCOeval

    warn_about_known_differences(detections, gt)
    with temporary_input_files(gt, detections) as (gt_path, results_path):
        coco_gt = COCO(str(gt_path))
        coco_dt = coco_gt.loadRes(str(results_path))
        evaluator = COCOeval(coco_gt, coco_dt, "keypoints_crowd", protocol.CROWDPOSE_SIGMAS, use_area=False)
        evaluator.params.useSegm = None
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {name: float(value) for name, value in zip(protocol.METRIC_NAMES, evaluator.stats, strict=False)}
