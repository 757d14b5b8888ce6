"""The CrowdPose test set as users have it: finding the files, selecting images, checking everything.

Standard layout (``--data-root`` or the ``CROWDPOSE_ROOT`` environment variable)::

    <root>/annotations/crowdpose_test.json        official file (preferred), or
    <root>/annotations/mmpose_crowdpose_test.json mmpose's copy
    <root>/images/<file_name>

Other layouts are given with an explicit annotation file and image folder. A selection (first N
images by id, or explicit ids) keeps the path of the full GT file; :meth:`CrowdPoseDataset.ground_truth`
returns the GT restricted to the selected images as a dict (``bench.evaluation.evaluate`` takes it
directly).
"""

from __future__ import annotations

import argparse
import hashlib
import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bench.data.ground_truth import (
    escapes_folder,
    format_problems,
    ground_truth_problems,
    image_index_problem,
    is_int,
    structure_problem,
)
from bench.data.images import image_problem
from bench.errors import BenchError
from bench.reading import read_json

ROOT_ENV_VAR = "CROWDPOSE_ROOT"
ANNOTATION_FILE_NAMES = ("crowdpose_test.json", "mmpose_crowdpose_test.json")  # in order of preference
CROWDPOSE_URL = "https://github.com/Jeff-sjtu/CrowdPose"
HOW_TO_SUPPLY = (
    f"Set {ROOT_ENV_VAR} or pass --data-root DIR for the standard layout (DIR/annotations/"
    f"{ANNOTATION_FILE_NAMES[0]} or {ANNOTATION_FILE_NAMES[1]}, DIR/images/), or pass --ann-file FILE "
    f"and --img-dir DIR for another layout. CrowdPose images and annotations: {CROWDPOSE_URL}"
)


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
        if ann_path.is_dir():
            raise BenchError(f"annotation file {ann_path} (from --ann-file) is a folder; give the JSON file")
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
        """Path of the image file of ``record`` (an entry of ``images``); a file name that would reach
        outside the image folder is a BenchError."""
        if escapes_folder(record["file_name"]):
            raise BenchError(f"{self.ann_file}: image id {record['id']}: file_name {record['file_name']!r} "
                             f"points outside the image folder {self.img_dir}")
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


def load_dataset(data_root: str | os.PathLike | None = None, *, ann_file: str | os.PathLike | None = None,
                 img_dir: str | os.PathLike | None = None) -> CrowdPoseDataset:
    """Locate (see :func:`locate_files`) and read the annotation file; all its images, sorted by id.

    Only the structure needed to index the file is checked here (a BenchError names the problem);
    call :func:`validate` for the full check before a long run.
    """
    files = locate_files(data_root, ann_file, img_dir)
    gt = read_json(files.ann_file, "annotation file")
    structure = structure_problem(gt, str(files.ann_file))
    if structure:
        raise BenchError(structure)
    unindexable = [f"images[{index}]: {problem}" for index, image in enumerate(gt["images"])
                   if (problem := image_index_problem(image, need_file_names=True))]
    if unindexable:
        raise BenchError(format_problems(f"cannot index the images of {files.ann_file}", unindexable))
    images = tuple(sorted(gt["images"], key=lambda record: record["id"]))
    return CrowdPoseDataset(files.ann_file, files.img_dir, gt, images, files.note)


@dataclass(frozen=True)
class DataConfig:
    """Where the CrowdPose test set is (see :func:`locate_files`) and which images to use.

    ``image_ids`` (explicit ids) is applied first, then ``limit`` (the first N by id) or ``subset`` (N
    drawn at random within the crowd-index splits with ``subset_seed``; the run's plan draws them, the
    splits being the evaluation protocol's); None means all.
    """

    data_root: Path | None = None
    ann_file: Path | None = None
    img_dir: Path | None = None
    limit: int | None = None
    image_ids: tuple[int, ...] | None = None
    subset: int | None = None
    subset_seed: int = 0



def add_data_arguments(parser: argparse.ArgumentParser, selection: bool = True) -> argparse._ArgumentGroup:
    """The CrowdPose location options of the commands that read the test set, and with ``selection`` the
    options that pick images (``--limit``, ``--subset``); returns their group."""
    group = parser.add_argument_group("CrowdPose data")
    group.add_argument("--data-root", type=Path, help=f"standard layout root (default: ${ROOT_ENV_VAR})")
    group.add_argument("--ann-file", type=Path, help="annotation file, for another layout")
    group.add_argument("--img-dir", type=Path, help="image folder, for another layout")
    if selection:
        group.add_argument("--limit", type=int, metavar="N", help="only the first N images by id")
        add_subset_arguments(group)
    return group


def add_subset_arguments(group: argparse._ArgumentGroup) -> None:
    """``--subset N`` and ``--subset-seed S``: N images drawn at random within the crowd-index splits."""
    group.add_argument("--subset", type=int, metavar="N",
                       help="N images drawn at random within the crowd-index splits (easy/medium/hard in the "
                            "set's proportions); a labelled subset")
    group.add_argument("--subset-seed", type=int, default=0, metavar="S",
                       help="seed of the --subset draw (default: %(default)s)")


def open_dataset(config: DataConfig) -> CrowdPoseDataset:
    """Load the dataset ``config`` points at and apply its selection."""
    dataset = load_dataset(config.data_root, ann_file=config.ann_file, img_dir=config.img_dir)
    return dataset.select(limit=config.limit, image_ids=config.image_ids)


def image_set_digest(dataset: CrowdPoseDataset, digests: Mapping[int, str]) -> str:
    """sha256 over the selected images in id order, each as its file name and the sha256 of its bytes
    (``digests``, by image id): it changes when any image is replaced, renamed, added or dropped."""
    digest = hashlib.sha256()
    for record in dataset.images:
        digest.update(f"{record['file_name']}\0{digests.get(record['id'], 'unreadable')}\n".encode())
    return digest.hexdigest()


def validate(dataset: CrowdPoseDataset, check_images: bool = True,
             input_problem: Callable[[int, int], str | None] | None = None) -> None:
    """Check the annotation file and (with ``check_images``) the selected image files before a long run.

    ``input_problem(height, width)`` says why an image of that size is over the pipeline's input
    limits; it is asked for every selected image whose record gives its ``width`` and ``height``, so a
    run over an image that would exhaust memory stops here, not hours later.
    Raises one BenchError listing every problem (the first :data:`MAX_LISTED_PROBLEMS`, plus a count),
    each naming the file and the offending entry.
    """
    source = str(dataset.ann_file)
    problems = ground_truth_problems(dataset.gt, source)
    if input_problem is not None:
        for record in dataset.images:
            height, width = record.get("height"), record.get("width")
            if is_int(height) and is_int(width) and height > 0 and width > 0:
                problem = input_problem(height, width)
                if problem:
                    problems.append(f"{source}: image id {record['id']} ({record['file_name']}): {problem}")
    if check_images:
        records = [record for record in dataset.images if not escapes_folder(record["file_name"])]
        paths = [dataset.image_path(record) for record in records]
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            results = list(tqdm(pool.map(image_problem, paths), total=len(paths), desc="checking images",
                                unit="img", disable=None, leave=False))
        problems += [f"{path}: {problem} (image id {record['id']})"
                     for path, problem, record in zip(paths, results, records, strict=True) if problem]
    if problems:
        header = f"CrowdPose data in {dataset.ann_file} / {dataset.img_dir}"
        raise BenchError(format_problems(header, problems))
