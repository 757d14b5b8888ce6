"""The CrowdPose test set as users have it: finding the files, reading and checking them, decoding images.

Standard layout (``--data-root`` or the ``CROWDPOSE_ROOT`` environment variable)::

    <root>/annotations/crowdpose_test.json        official file (preferred), or
    <root>/annotations/mmpose_crowdpose_test.json mmpose's copy
    <root>/images/<file_name>

Other layouts are given with an explicit annotation file and image folder. A selection (first N
images by id, or explicit ids) keeps the path of the full GT file; :meth:`CrowdPoseDataset.ground_truth`
returns the GT restricted to the selected images as a dict (``bench.evaluation.evaluate`` takes it
directly) and :meth:`CrowdPoseDataset.write_ground_truth` writes it to a file.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from bench import atomic
from bench.errors import BenchError
from reference.crowdpose import NUM_JOINTS

ROOT_ENV_VAR = "CROWDPOSE_ROOT"
ANNOTATION_FILE_NAMES = ("crowdpose_test.json", "mmpose_crowdpose_test.json")  # in order of preference
NUM_KEYPOINT_VALUES = NUM_JOINTS * 3
MAX_LISTED_PROBLEMS = 20
CROWDPOSE_URL = "https://github.com/Jeff-sjtu/CrowdPose"
HOW_TO_SUPPLY = (
    f"Set {ROOT_ENV_VAR} or pass --data-root DIR for the standard layout (DIR/annotations/"
    f"{ANNOTATION_FILE_NAMES[0]} or {ANNOTATION_FILE_NAMES[1]}, DIR/images/), or pass --ann-file FILE "
    f"and --img-dir DIR for another layout. CrowdPose images and annotations: {CROWDPOSE_URL}"
)


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


def read_json(path: str | os.PathLike, what: str) -> Any:
    """Parse the JSON file ``path`` (``what`` names it in errors, e.g. "ground-truth file").

    Raises BenchError when the file is missing, unreadable or not valid JSON (with line and column).
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise BenchError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise BenchError(f"{what} {path} is a directory, expected a JSON file") from None
    except json.JSONDecodeError as error:
        raise BenchError(f"{what} {path} is not valid JSON: {error.msg} at line {error.lineno} "
                         f"column {error.colno} (char {error.pos})") from None
    except UnicodeDecodeError as error:
        raise BenchError(f"{what} {path} is not UTF-8 text (byte {error.start}); expected JSON") from None
    except OSError as error:
        raise BenchError(f"cannot read {what} {path}: {error.strerror}") from None


def _structure_error(gt: Any, source: str) -> str | None:
    """Why ``gt`` is not a COCO-style object with lists of images, annotations and categories."""
    if not isinstance(gt, Mapping):
        return (f"{source}: expected a JSON object with images, annotations and categories, "
                f"got {type(gt).__name__}")
    missing = [key for key in ("images", "annotations", "categories") if not isinstance(gt.get(key), list)]
    if missing:
        return f"{source}: {', '.join(missing)} missing or not a list"
    return None


def _image_index_problem(image: Any, need_file_names: bool) -> str | None:
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
        index_problem = _image_index_problem(image, need_file_names)
        if index_problem:
            problems.append(f"{where}: {index_problem}")
        elif "crowdIndex" not in image:
            problems.append(f"{where} (id {image['id']}): no crowdIndex (the easy/medium/hard split needs "
                            "it; is this the official CrowdPose test file?)")
        elif not is_number(image["crowdIndex"]):
            problems.append(f"{where} (id {image['id']}): crowdIndex {image['crowdIndex']!r} "
                            "is not a finite number")
    counts = Counter(image["id"] for image in images
                     if isinstance(image, Mapping) and is_int(image.get("id")))
    problems += [f"{source}: image id {image_id} appears {count} times"
                 for image_id, count in counts.items() if count > 1]
    return problems


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
    if not is_int(ann.get("num_keypoints")):
        return f"num_keypoints missing or not an integer ({ann.get('num_keypoints')!r})"
    bbox = ann.get("bbox")
    if not (isinstance(bbox, list | tuple) and len(bbox) == 4):
        return f"bbox must be 4 finite numbers [x, y, w, h], got {bbox!r}"
    if not isinstance(ann.get("iscrowd", 0), Real):
        return f"iscrowd {ann.get('iscrowd')!r} is not 0 or 1"
    return None


def _all_plainly_valid(annotations: list, image_ids: set, category_ids: set) -> bool:
    """Quick screen for the common case (plain JSON types everywhere); when it says no,
    :func:`_annotation_problem` finds out what is wrong, annotation by annotation."""
    try:
        return all(type(ann) is dict and type(ann["id"]) is int and ann["id"] >= 0
                   and type(ann["image_id"]) is int and ann["image_id"] in image_ids
                   and ann["category_id"] in category_ids
                   and type(ann["keypoints"]) is list and len(ann["keypoints"]) == NUM_KEYPOINT_VALUES
                   and type(ann["num_keypoints"]) is int
                   and type(ann["bbox"]) is list and len(ann["bbox"]) == 4
                   and type(ann.get("iscrowd", 0)) is int for ann in annotations)
    except KeyError:
        return False


def _annotation_problems(annotations: list, source: str, image_ids: set, category_ids: set) -> list[str]:
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
    for key, width, what in value_checks:
        _, bad = numeric_rows([annotations[i][key] for i in well_formed], width)
        problems += [f"{where(well_formed[i])}: {what}" for i in bad]
    counts = Counter(annotations[i]["id"] for i in well_formed)
    problems += [f"{source}: annotation id {ann_id} appears {count} times"
                 for ann_id, count in counts.items() if count > 1]
    return problems


def ground_truth_problems(gt: Any, source: str, need_file_names: bool = True) -> list[str]:
    """Everything wrong with a CrowdPose GT dict, each naming ``source`` and the entry.

    Checks: the top-level structure, image ids (integers, unique), crowdIndex on every image, file
    names (when ``need_file_names``), annotation ids (non-negative integers, unique), annotations
    pointing to unknown images or categories, keypoints (42 finite numbers), num_keypoints and bbox.
    """
    structure = _structure_error(gt, source)
    if structure:
        return [structure]
    image_ids = {image.get("id") for image in gt["images"] if isinstance(image, Mapping)}
    category_ids = {cat.get("id") for cat in gt["categories"] if isinstance(cat, Mapping)}
    return (_image_problems(gt["images"], source, need_file_names)
            + _annotation_problems(gt["annotations"], source, image_ids, category_ids))


@dataclass(frozen=True)
class DatasetFiles:
    """Where the annotation file and the image folder are, and how they were found."""

    ann_file: Path
    img_dir: Path
    note: str


def _pick_annotation_file(annotations_dir: Path) -> tuple[Path, str]:
    present = [annotations_dir / name for name in ANNOTATION_FILE_NAMES if (annotations_dir / name).is_file()]
    if not present:
        found = sorted(p.name for p in annotations_dir.glob("*.json")) if annotations_dir.is_dir() else []
        raise BenchError(
            f"no CrowdPose test annotations in {annotations_dir}: looked for "
            f"{' and '.join(ANNOTATION_FILE_NAMES)}"
            + (f" (JSON files there: {', '.join(found)})" if found else "")
            + f". Pass --ann-file for another file name. {HOW_TO_SUPPLY}")
    note = f"annotations: {present[0]}"
    if present[0].name == ANNOTATION_FILE_NAMES[0]:
        also = f"; {present[1].name} also there, not used" if len(present) > 1 else ""
        note += f" (official file{also})"
    else:
        note += " (mmpose's copy; the official crowdpose_test.json is not there)"
    return present[0], note


def locate_files(data_root: str | os.PathLike | None = None, ann_file: str | os.PathLike | None = None,
                 img_dir: str | os.PathLike | None = None) -> DatasetFiles:
    """Resolve the annotation file and image folder from explicit paths, ``data_root`` or $CROWDPOSE_ROOT.

    Explicit ``ann_file`` / ``img_dir`` win; what they leave open comes from the standard layout under
    the root. Raises BenchError saying what is missing, where it looked and how to supply it.
    """
    root = None
    if ann_file is None or img_dir is None:
        root_source = "--data-root" if data_root is not None else f"${ROOT_ENV_VAR}"
        root_value = data_root if data_root is not None else os.environ.get(ROOT_ENV_VAR)
        if not root_value:
            raise BenchError(f"no CrowdPose data location given. {HOW_TO_SUPPLY}")
        root = Path(root_value)
        if not root.is_dir():
            raise BenchError(f"CrowdPose root {root} (from {root_source}) is not a directory. "
                             f"{HOW_TO_SUPPLY}")
    if ann_file is None:
        ann_path, note = _pick_annotation_file(root / "annotations")
    else:
        ann_path, note = Path(ann_file), f"annotations: {ann_file} (given)"
        if not ann_path.is_file():
            raise BenchError(f"annotation file {ann_path} (from --ann-file) does not exist. {HOW_TO_SUPPLY}")
    images = Path(img_dir) if img_dir is not None else root / "images"
    if not images.is_dir():
        given = "from --img-dir" if img_dir is not None else f"standard layout under {root}"
        raise BenchError(f"image folder {images} ({given}) does not exist. {HOW_TO_SUPPLY}")
    return DatasetFiles(ann_path, images, f"{note}; images: {images}")


@dataclass(frozen=True, eq=False)
class CrowdPoseDataset:
    """A CrowdPose annotation file, its image folder and the selected image records (sorted by id).

    ``gt`` is the whole parsed annotation file; ``images`` the selection. Treat both as read-only.
    """

    ann_file: Path
    img_dir: Path
    gt: dict[str, Any]
    images: tuple[dict[str, Any], ...]
    note: str = ""

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_ids(self) -> tuple[int, ...]:
        return tuple(record["id"] for record in self.images)

    def image_path(self, record: Mapping[str, Any]) -> Path:
        """Path of the image file of ``record`` (an entry of ``images``)."""
        return self.img_dir / record["file_name"]

    def select(self, limit: int | None = None, image_ids: Iterable[int] | None = None) -> CrowdPoseDataset:
        """The images with the given ids (unknown ids are a BenchError), then the first ``limit`` by id."""
        images = self.images
        if image_ids is not None:
            wanted = set(image_ids)
            unknown = sorted(wanted - set(self.image_ids), key=str)
            if unknown:
                raise BenchError(format_problems(f"image ids not in {self.ann_file}",
                                                 [f"unknown image id {i!r}" for i in unknown]))
            images = tuple(record for record in images if record["id"] in wanted)
        if limit is not None:
            if limit < 0:
                raise BenchError(f"limit must be >= 0, got {limit}")
            images = images[:limit]
        return replace(self, images=images)

    def ground_truth(self) -> dict[str, Any]:
        """The GT restricted to the selected images: a new dict, other top-level keys kept."""
        selected = set(self.image_ids)
        subset = {key: value for key, value in self.gt.items() if key not in ("images", "annotations")}
        subset["images"] = list(self.images)
        subset["annotations"] = [ann for ann in self.gt["annotations"]
                                 if isinstance(ann, Mapping) and ann.get("image_id") in selected]
        return subset

    def write_ground_truth(self, path: str | os.PathLike) -> Path:
        """Write :meth:`ground_truth` to ``path`` (atomically) and return the path."""
        return atomic.write_json(path, self.ground_truth(), indent=None)


def load_dataset(data_root: str | os.PathLike | None = None, *, ann_file: str | os.PathLike | None = None,
                 img_dir: str | os.PathLike | None = None) -> CrowdPoseDataset:
    """Locate (see :func:`locate_files`) and read the annotation file; all its images, sorted by id.

    Only the structure needed to index the file is checked here (a BenchError names the problem);
    call :func:`validate` for the full check before a long run.
    """
    files = locate_files(data_root, ann_file, img_dir)
    gt = read_json(files.ann_file, "annotation file")
    structure = _structure_error(gt, str(files.ann_file))
    if structure:
        raise BenchError(structure)
    unindexable = [f"images[{index}]: {problem}" for index, image in enumerate(gt["images"])
                   if (problem := _image_index_problem(image, need_file_names=True))]
    if unindexable:
        raise BenchError(format_problems(f"cannot index the images of {files.ann_file}", unindexable))
    images = tuple(sorted(gt["images"], key=lambda record: record["id"]))
    return CrowdPoseDataset(files.ann_file, files.img_dir, gt, images, files.note)


@dataclass(frozen=True)
class DataConfig:
    """Where the CrowdPose test set is (see :func:`locate_files`) and which images to use.

    ``image_ids`` (explicit ids) is applied first, then ``limit`` (the first N by id); None means all.
    """

    data_root: Path | None = None
    ann_file: Path | None = None
    img_dir: Path | None = None
    limit: int | None = None
    image_ids: tuple[int, ...] | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> DataConfig:
        """The config from the options :func:`add_data_arguments` defines."""
        return cls(data_root=args.data_root, ann_file=args.ann_file, img_dir=args.img_dir, limit=args.limit,
                   image_ids=tuple(args.image_ids) if args.image_ids is not None else None)


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """The CrowdPose location and selection options shared by the commands that read the test set."""
    group = parser.add_argument_group("CrowdPose data")
    group.add_argument("--data-root", type=Path, help=f"standard layout root (default: ${ROOT_ENV_VAR})")
    group.add_argument("--ann-file", type=Path, help="annotation file, for another layout")
    group.add_argument("--img-dir", type=Path, help="image folder, for another layout")
    group.add_argument("--limit", type=int, metavar="N", help="only the first N images by id")
    group.add_argument("--image-ids", type=int, nargs="+", metavar="ID", help="only these images")


def open_dataset(config: DataConfig) -> CrowdPoseDataset:
    """Load the dataset ``config`` points at and apply its selection."""
    dataset = load_dataset(config.data_root, ann_file=config.ann_file, img_dir=config.img_dir)
    return dataset.select(limit=config.limit, image_ids=config.image_ids)


def image_problem(path: Path) -> str | None:
    """Why the image file at ``path`` cannot be used, or None; decodes at 1/8 scale to stay quick."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        return "missing"
    except OSError as error:
        return f"unreadable ({error.strerror})"
    if data.size == 0:
        return "empty file"
    if cv2.imdecode(data, cv2.IMREAD_REDUCED_GRAYSCALE_8) is None:
        return "not a decodable image"
    return None


def validate(dataset: CrowdPoseDataset, check_images: bool = True) -> None:
    """Check the annotation file and (with ``check_images``) the selected image files before a long run.

    Raises one BenchError listing every problem (the first :data:`MAX_LISTED_PROBLEMS`, plus a count),
    each naming the file and the offending entry.
    """
    source = str(dataset.ann_file)
    problems = ground_truth_problems(dataset.gt, source)
    if check_images:
        paths = [dataset.image_path(record) for record in dataset.images]
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            results = list(tqdm(pool.map(image_problem, paths), total=len(paths), desc="checking images",
                                unit="img", disable=None, leave=False))
        problems += [f"{path}: {problem} (image id {record['id']})"
                     for path, problem, record in zip(paths, results, dataset.images, strict=True) if problem]
    if problems:
        header = f"CrowdPose data in {dataset.ann_file} / {dataset.img_dir}"
        raise BenchError(format_problems(header, problems))


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file to RGB uint8 [H, W, 3] like mmpose's LoadImageFromFile (imdecode, BGR->RGB)."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as error:
        raise BenchError(f"cannot read image {path}: {error.strerror or error}") from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise BenchError(f"cannot decode image {path}: not an image file OpenCV can read")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
