"""Reading CrowdPose JSON files and checking a ground-truth dict entry by entry (no image decoding).

Every problem is reported with the file (``source``) and the entry it is in, so bad input stops with
a message a user can act on instead of a deep traceback or a silently wrong number.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import PurePath, PureWindowsPath
from typing import Any

import numpy as np

from reference.crowdpose import NUM_JOINTS

NUM_KEYPOINT_VALUES = NUM_JOINTS * 3
MAX_LISTED_PROBLEMS = 20


def is_int(value: Any) -> bool:
    """True for Python and numpy integers, False for bools (JSON true/false are not ids)."""
    return type(value) is int or (isinstance(value, Integral) and not isinstance(value, bool))


def is_number(value: Any) -> bool:
    """True for finite real numbers other than bools."""
    if type(value) is float:  # the common case first: JSON numbers are float or int
        return math.isfinite(value)
    return type(value) is int or (isinstance(value, Real) and not isinstance(value, bool)
                                  and math.isfinite(value))


def numeric_rows(rows: Sequence[Sequence[Any]], width: int) -> tuple[np.ndarray, list[int]]:
    """Stack ``rows`` (each ``width`` long) as float64 [N, width]; also the indices of rows holding
    something other than finite numbers (those rows are zero in the array).

    One numpy conversion in the common case; only when it meets a non-number (a string, None, ...)
    are the rows checked one by one.
    """
    raw = np.array(rows).reshape(len(rows), width) if len(rows) else np.zeros((0, width))
    if raw.dtype.kind in "iuf":
        values = raw.astype(np.float64)
        return values, np.flatnonzero(~np.isfinite(values).all(axis=1)).tolist()
    bad = [index for index, row in enumerate(rows) if not all(is_number(value) for value in row)]
    values = np.zeros((len(rows), width))
    good = np.setdiff1d(np.arange(len(rows)), bad)
    if good.size:
        values[good] = np.array([rows[i] for i in good], dtype=np.float64)
    return values, bad


def format_problems(header: str, problems: Sequence[str]) -> str:
    """``header``, the first :data:`MAX_LISTED_PROBLEMS` problems (one a line) and a count of the rest."""
    lines = [f"{header}: {len(problems)} problem{'s' if len(problems) != 1 else ''}"]
    lines += [f"  - {problem}" for problem in problems[:MAX_LISTED_PROBLEMS]]
    if len(problems) > MAX_LISTED_PROBLEMS:
        lines.append(f"  ... and {len(problems) - MAX_LISTED_PROBLEMS} more")
    return "\n".join(lines)


def structure_problem(gt: Any, source: str) -> str | None:
    """Why ``gt`` is not a COCO-style object with lists of images, annotations and categories."""
    if not isinstance(gt, Mapping):
        return (f"{source}: expected a JSON object with images, annotations and categories, "
                f"got {type(gt).__name__}")
    missing = [key for key in ("images", "annotations", "categories") if not isinstance(gt.get(key), list)]
    if missing:
        return f"{source}: {', '.join(missing)} missing or not a list"
    return None


def escapes_folder(file_name: str) -> bool:
    """True for a file name that would reach outside the image folder: absolute, or with a '..' part."""
    path = PurePath(file_name.replace("\\", "/"))
    return path.is_absolute() or PureWindowsPath(file_name).drive != "" or ".." in path.parts


def image_index_problem(image: Any, need_file_names: bool) -> str | None:
    """Why an image record cannot be indexed (no object, no integer id, no file name), or None."""
    if not isinstance(image, Mapping):
        return "not an object"
    if not is_int(image.get("id")):
        return f"id missing or not an integer ({image.get('id')!r})"
    if need_file_names and not (isinstance(image.get("file_name"), str) and image["file_name"]):
        return "file_name missing or empty"
    return None


def _image_problems(images: list, source: str, need_file_names: bool) -> list[str]:
    problems = []
    for index, image in enumerate(images):
        where = f"{source}: images[{index}]"
        index_problem = image_index_problem(image, need_file_names)
        if index_problem:
            problems.append(f"{where}: {index_problem}")
        elif "crowdIndex" not in image:
            problems.append(f"{where} (id {image['id']}): no crowdIndex (the easy/medium/hard split needs "
                            "it; is this the official CrowdPose test file?)")
        elif not is_number(image["crowdIndex"]) or image["crowdIndex"] < 0:
            problems.append(f"{where} (id {image['id']}): crowdIndex {image['crowdIndex']!r} "
                            "is not a finite non-negative number")
        if need_file_names and not index_problem and escapes_folder(image["file_name"]):
            problems.append(f"{where} (id {image['id']}): file_name {image['file_name']!r} points outside "
                            "the image folder (absolute, or with '..')")
    counts = Counter(image["id"] for image in images
                     if isinstance(image, Mapping) and is_int(image.get("id")))
    problems += [f"{source}: image id {image_id} appears {count} times"
                 for image_id, count in counts.items() if count > 1]
    return problems


def _category_problems(categories: list, source: str) -> list[str]:
    return [f"{source}: categories[{index}]: id missing or not an integer "
            f"({category.get('id') if isinstance(category, Mapping) else category!r})"
            for index, category in enumerate(categories)
            if not (isinstance(category, Mapping) and is_int(category.get("id")))]


def keypoint_length_problem(keypoints: Any) -> str | None:
    """Why ``keypoints`` is not a list of 42 values (the values themselves are checked by numeric_rows)."""
    if not isinstance(keypoints, list | tuple | np.ndarray):
        return f"keypoints missing or not a list ({type(keypoints).__name__})"
    if len(keypoints) != NUM_KEYPOINT_VALUES:
        return (f"keypoints has {len(keypoints)} values, expected {NUM_KEYPOINT_VALUES} "
                f"({NUM_JOINTS} joints x 3)")
    return None


def _annotation_problem(ann: Any, image_ids: set, category_ids: set) -> str | None:
    """The first thing wrong with one GT annotation apart from its keypoint and box values, or None."""
    if not isinstance(ann, Mapping):
        return "not an object"
    if not is_int(ann.get("id")) or ann["id"] < 0:
        return f"id missing or not a non-negative integer ({ann.get('id')!r})"
    if not is_int(ann.get("image_id")) or ann["image_id"] not in image_ids:
        return f"image_id {ann.get('image_id')!r} is not in images"
    if ann.get("category_id") not in category_ids:
        return f"category_id {ann.get('category_id')!r} is not in categories"
    keypoint_problem = keypoint_length_problem(ann.get("keypoints"))
    if keypoint_problem:
        return keypoint_problem
    if not is_int(ann.get("num_keypoints")) or not 0 <= ann["num_keypoints"] <= NUM_JOINTS:
        return f"num_keypoints {ann.get('num_keypoints')!r} is not an integer in [0, {NUM_JOINTS}]"
    bbox = ann.get("bbox")
    if not (isinstance(bbox, list | tuple) and len(bbox) == 4):
        return f"bbox must be 4 finite numbers [x, y, w, h], got {bbox!r}"
    if not (is_int(ann.get("iscrowd", 0)) and ann.get("iscrowd", 0) in (0, 1)):
        return f"iscrowd {ann.get('iscrowd')!r} is not 0 or 1"
    if "area" in ann and (not is_number(ann["area"]) or ann["area"] < 0):
        return f"area {ann['area']!r} is not a non-negative number"
    return None


def _all_plainly_valid(annotations: list, image_ids: set, category_ids: set) -> bool:
    """Quick screen for the common case (plain JSON types everywhere); when it says no,
    :func:`_annotation_problem` finds out what is wrong, annotation by annotation."""
    try:
        return all(type(ann) is dict and type(ann["id"]) is int and ann["id"] >= 0
                   and type(ann["image_id"]) is int and ann["image_id"] in image_ids
                   and ann["category_id"] in category_ids
                   and type(ann["keypoints"]) is list and len(ann["keypoints"]) == NUM_KEYPOINT_VALUES
                   and type(ann["num_keypoints"]) is int and 0 <= ann["num_keypoints"] <= NUM_JOINTS
                   and type(ann["bbox"]) is list and len(ann["bbox"]) == 4
                   and type(ann.get("iscrowd", 0)) is int and ann.get("iscrowd", 0) in (0, 1)
                   and ("area" not in ann or (type(ann["area"]) in (int, float) and ann["area"] >= 0))
                   for ann in annotations)
    except KeyError:
        return False


@dataclass(frozen=True, eq=False)
class GroundTruthTable:
    """A checked CrowdPose GT as arrays, everything in file order.

    Images: ``image_ids`` [I], ``crowd_index`` [I]; ``category_ids`` [C]. Annotations: ``ids``,
    ``ann_image_ids``, ``ann_category_ids``, ``num_keypoints`` [A] int64, ``keypoints`` [A, 42] and
    ``boxes`` [A, 4] float64, ``iscrowd`` [A] bool (0 where the file leaves it out).
    """

    image_ids: np.ndarray
    crowd_index: np.ndarray
    category_ids: np.ndarray
    ids: np.ndarray
    ann_image_ids: np.ndarray
    ann_category_ids: np.ndarray
    num_keypoints: np.ndarray
    keypoints: np.ndarray
    boxes: np.ndarray
    iscrowd: np.ndarray


def _annotation_problems(annotations: list, source: str, image_ids: set,
                         category_ids: set) -> tuple[list[str], dict[str, np.ndarray]]:
    """Every problem of the annotations, and the keypoints and boxes of the well-formed ones as arrays
    (converted once, for the checks and for the evaluator)."""
    def where(index: int) -> str:
        ann = annotations[index]
        ann_id = ann.get("id") if isinstance(ann, Mapping) else None
        return f"{source}: annotations[{index}]" + (f" (id {ann_id})" if ann_id is not None else "")

    well_formed = list(range(len(annotations)))
    problems = []
    if not _all_plainly_valid(annotations, image_ids, category_ids):
        found = [(index, _annotation_problem(ann, image_ids, category_ids))
                 for index, ann in enumerate(annotations)]
        problems = [f"{where(index)}: {problem}" for index, problem in found if problem]
        well_formed = [index for index, problem in found if not problem]
    value_checks = (("keypoints", NUM_KEYPOINT_VALUES, "keypoints holds a value that is not a finite number"),
                    ("bbox", 4, "bbox must be 4 finite numbers [x, y, w, h]"))
    values = {}
    for key, width, what in value_checks:
        values[key], bad = numeric_rows([annotations[i][key] for i in well_formed], width)
        problems += [f"{where(well_formed[i])}: {what}" for i in bad]
    visibility = values["keypoints"][:, 2::3]
    bad_visibility = ~np.isin(visibility, (0, 1, 2)).all(axis=1)
    for i in np.flatnonzero(bad_visibility):
        joint = int(np.flatnonzero(~np.isin(visibility[i], (0, 1, 2)))[0])
        problems.append(f"{where(well_formed[i])}: joint {joint} has visibility {visibility[i, joint]:g}; "
                        "it must be 0, 1 or 2")
    negative_size = (values["bbox"][:, 2:4] < 0).any(axis=1)
    problems += [f"{where(well_formed[i])}: bbox {annotations[well_formed[i]]['bbox']} has a negative width "
                 "or height" for i in np.flatnonzero(negative_size)]
    counts = Counter(annotations[i]["id"] for i in well_formed)
    problems += [f"{source}: annotation id {ann_id} appears {count} times"
                 for ann_id, count in counts.items() if count > 1]
    return problems, values


def inspect_ground_truth(gt: Any, source: str,
                         need_file_names: bool = True) -> tuple[list[str], GroundTruthTable | None]:
    """Everything wrong with a CrowdPose GT dict, each naming ``source`` and the entry, and, when
    nothing is, the GT as a table (else None).

    Checks: the top-level structure, at least one image, image ids (integers, unique), a finite
    non-negative crowdIndex on every image (it is not bounded by 1: the CrowdPose paper's crowd index
    is a mean ratio of other people's joints to a person's own, and the official API puts everything
    from 0.8 up in the hard split), file names inside the image folder (when ``need_file_names``),
    annotation ids (non-negative integers, unique), annotations pointing to unknown images or
    categories, keypoints (42 finite numbers, visibility 0, 1 or 2), num_keypoints in [0, 14], bbox
    (no negative width or height), iscrowd 0 or 1, and area (non-negative) where given.
    """
    structure = structure_problem(gt, source)
    if structure:
        return [structure], None
    if not gt["images"]:
        return [f"{source}: no images (an empty test set would give no metrics)"], None
    images, annotations = gt["images"], gt["annotations"]
    image_ids = {image.get("id") for image in images if isinstance(image, Mapping)}
    category_ids = {cat.get("id") for cat in gt["categories"] if isinstance(cat, Mapping)}
    found, values = _annotation_problems(annotations, source, image_ids, category_ids)
    problems = _image_problems(images, source, need_file_names) + _category_problems(gt["categories"], source)
    problems += found
    if problems:
        return problems, None
    count = len(annotations)

    def column(key: str, default: int | None = None) -> np.ndarray:
        return np.fromiter((ann.get(key, default) for ann in annotations), dtype=np.int64, count=count)

    return [], GroundTruthTable(
        image_ids=np.fromiter((image["id"] for image in images), dtype=np.int64, count=len(images)),
        crowd_index=np.fromiter((image["crowdIndex"] for image in images), dtype=np.float64,
                                count=len(images)),
        category_ids=np.array(sorted(category_ids), dtype=np.int64),
        ids=column("id"), ann_image_ids=column("image_id"), ann_category_ids=column("category_id"),
        num_keypoints=column("num_keypoints"), keypoints=values["keypoints"], boxes=values["bbox"],
        iscrowd=column("iscrowd", 0).astype(bool))


def ground_truth_problems(gt: Any, source: str, need_file_names: bool = True) -> list[str]:
    """Everything wrong with a CrowdPose GT dict (see :func:`inspect_ground_truth`)."""
    return inspect_ground_truth(gt, source, need_file_names)[0]
