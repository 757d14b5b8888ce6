"""Test oracles: other implementations of the CrowdPose protocol, each through its public API.

Nothing at run time uses them; the tests hold ``bench.evaluation`` to their numbers. Each takes a GT
dict and a non-empty list of detections and returns the nine numbers, or skips the calling test with
how to install it:

* ``crowdposetools``: the official API (github.com/Jeff-sjtu/CrowdPose, not on PyPI; on Python 3.11 and
  numpy >= 1.24 it needs ``np.float`` replaced by ``np.float64`` in ``cocoeval.py`` and its ``_mask.c``
  regenerated with Cython 3). Its ``loadRes`` takes a path, and its split step re-reads the GT file.
* ``faster-coco-eval`` (the ``oracles`` extra): its own ``keypoints_crowd`` summary.
* ``pycocotools`` (the ``oracles`` extra): the COCO keypoint evaluator with the CrowdPose protocol
  supplied around it (sigmas, the 0.53 x box area as object scale, maxDets 20, one area range, and the
  crowdIndex splits each evaluated by a fresh evaluator, as the official API re-evaluates them).
* ``xtcocotools`` (>= 1.12, built from source for numpy 2): mmpose's evaluator, whose ``keypoints_crowd``
  differs from the official protocol in two documented ways (``bench.evaluation.protocol_xtcocotools``).
"""

from __future__ import annotations

import copy
import importlib
import json
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from io import StringIO
from pathlib import Path

import numpy as np
import pytest

from bench.evaluation import METRIC_NAMES
from bench.evaluation.protocol import (
    AREA_RANGE_ALL,
    CROWDPOSE_SIGMAS,
    MAX_DETECTIONS,
    OKS_AREA_FACTOR,
    SPLIT_NAMES,
    SPLIT_THRESHOLDS,
    split_average_precision,
    summarize,
)

CROWDPOSETOOLS_STATS = (0, 1, 2, 5, 6, 7, 8, 9, 10)  # the nine numbers in its 11-entry stats
INSTALL = {
    "crowdposetools": "build it from github.com/Jeff-sjtu/CrowdPose crowdpose-api/PythonAPI (np.float -> "
                      "np.float64 in cocoeval.py, _mask.c regenerated with Cython 3)",
    "faster_coco_eval": "pip install -e .[oracles]",
    "pycocotools": "pip install -e .[oracles]",
    "xtcocotools": "pip install Cython && pip install --no-binary xtcocotools --no-build-isolation "
                   "'xtcocotools>=1.12'",
}


def require(module: str) -> None:
    """Skip the calling test unless ``module`` imports (a wheel built for another numpy raises ValueError)."""
    try:
        importlib.import_module(module)
    except (ImportError, ValueError) as error:
        pytest.skip(f"oracle {module} is not available ({error}): {INSTALL[module.split('.')[0]]}")


@contextmanager
def input_files(gt: dict, detections: list[dict]) -> Iterator[tuple[Path, Path]]:
    """The GT and the detections as JSON files, for the APIs that read only paths."""
    with tempfile.TemporaryDirectory(prefix="oracle-") as folder:
        gt_path, results_path = Path(folder) / "gt.json", Path(folder) / "results.json"
        gt_path.write_text(json.dumps(gt))
        results_path.write_text(json.dumps(detections))
        yield gt_path, results_path


def crowdposetools(gt: dict, detections: list[dict]) -> dict[str, float]:
    require("crowdposetools.cocoeval")
    from crowdposetools.coco import COCO
    from crowdposetools.cocoeval import COCOeval

    with input_files(gt, detections) as (gt_path, results_path), redirect_stdout(StringIO()):
        coco_gt = COCO(str(gt_path))
        evaluator = COCOeval(coco_gt, coco_gt.loadRes(str(results_path)), "keypoints")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {name: float(evaluator.stats[index]) for name, index in zip(METRIC_NAMES, CROWDPOSETOOLS_STATS,
                                                                        strict=True)}


def faster_coco_eval(gt: dict, detections: list[dict]) -> dict[str, float]:
    require("faster_coco_eval")
    from faster_coco_eval import COCO, COCOeval_faster

    coco_gt = COCO(copy.deepcopy(gt), print_function=lambda *args: None)
    evaluator = COCOeval_faster(coco_gt, coco_gt.loadRes(copy.deepcopy(detections)), "keypoints_crowd",
                                print_function=lambda *args: None, kpt_oks_sigmas=CROWDPOSE_SIGMAS,
                                use_area=False)
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    return {name: float(value) for name, value in zip(METRIC_NAMES, evaluator.stats, strict=False)}


def pycocotools(gt: dict, detections: list[dict]) -> dict[str, float]:
    require("pycocotools.cocoeval")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def accumulated(image_ids: list[int]) -> dict:
        evaluator = COCOeval(coco_gt, coco_dt, "keypoints")
        params = evaluator.params
        params.kpt_oks_sigmas = CROWDPOSE_SIGMAS
        params.maxDets = [MAX_DETECTIONS]
        params.areaRng, params.areaRngLbl = [list(AREA_RANGE_ALL)], ["all"]
        params.imgIds = image_ids
        with redirect_stdout(StringIO()):
            evaluator.evaluate()
            evaluator.accumulate()
        return evaluator.eval

    data = copy.deepcopy(gt)
    for ann in data["annotations"]:  # pycocotools' area is the OKS scale and the area range's measure
        ann["area"] = ann["bbox"][3] * ann["bbox"][2] * OKS_AREA_FACTOR
        ann.setdefault("iscrowd", 0)
    coco_gt = COCO()
    coco_gt.dataset = data
    with redirect_stdout(StringIO()):
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(detections))
    overall = accumulated(sorted(coco_gt.getImgIds()))
    metrics = summarize(np.asarray(overall["precision"]), np.asarray(overall["recall"]))
    low, high = SPLIT_THRESHOLDS
    crowd = {image["id"]: image["crowdIndex"] for image in data["images"]}
    splits = ([i for i, c in crowd.items() if c < low], [i for i, c in crowd.items() if low <= c < high],
              [i for i, c in crowd.items() if c >= high])
    for name, split_ids in zip(SPLIT_NAMES, splits, strict=True):
        metrics[name] = split_average_precision(accumulated(split_ids)["precision"])
    return metrics


def xtcocotools(gt: dict, detections: list[dict]) -> dict[str, float]:
    require("xtcocotools.cocoeval")
    from xtcocotools.coco import COCO
    from xtcocotools.cocoeval import COCOeval

    with input_files(gt, detections) as (gt_path, results_path), redirect_stdout(StringIO()):
        coco_gt = COCO(str(gt_path))
        evaluator = COCOeval(coco_gt, coco_gt.loadRes(str(results_path)), "keypoints_crowd", CROWDPOSE_SIGMAS,
                             use_area=False)
        evaluator.params.useSegm = None
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {name: float(value) for name, value in zip(METRIC_NAMES, evaluator.stats, strict=False)}


OFFICIAL_PROTOCOL_ORACLES: dict[str, Callable[[dict, list[dict]], dict[str, float]]] = {
    "crowdposetools": crowdposetools, "faster-coco-eval": faster_coco_eval, "pycocotools": pycocotools}
"""The implementations of the official protocol; xtcocotools follows its own (see the module docstring)."""
