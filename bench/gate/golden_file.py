"""A golden's file: a compressed numpy ``.npz`` that records the sha256 of its own content.

Members: ``header`` (the JSON header as UTF-8 bytes), ``image_ids`` (int64 [I]), ``image_sha256``
(uint8 [I, 32]), per row ``row<r>_people`` (int32 [I]), ``row<r>_keypoints`` (float32 [P, 14, 3]) and
``row<r>_scores`` (float32 [P]), and ``sha256``: the sha256 over every other member in name order (its
name, dtype, shape and bytes). Loading recomputes it, so a golden edited after it was recorded, or
damaged, is refused (a BenchError: exit status 2), as is a file too large to be one before it is
unpacked. ``np.load`` reads the file as it is.

Size, measured by writing one: 8,000 images with 20 people each in two rows (320,000 people of 14
joints) take 55.4 MB of arrays (ids and digests 0.3 MB of it) and a 50.9 MB file (48.5 MiB; random
positions and scores, the least compressible case: a network's grid-bound coordinates pack tighter).
Writing it took 2.5 s, loading and checking it 0.4 s (2-core CPU, one run).
"""

from __future__ import annotations

import hashlib
import io
import zipfile
import zlib
from pathlib import Path

import numpy as np

from bench import atomic
from bench.errors import BenchError
from bench.gate.golden import FORMAT, VERSION, Golden, GoldenHeader, RowPoses
from bench.reading import parse_json, read_bytes
from bench.reports.typed import from_data, to_data
from reference.crowdpose import NUM_JOINTS

MAX_GOLDEN_BYTES = 1024**3
"""Largest golden file read: 8,000 images with 20 people in two rows take 51 MB."""
MAX_UNPACKED_BYTES = 4 * 1024**3
"""Largest golden content unpacked (checked on the archive's listing before anything is unpacked)."""
DIGEST = "sha256"
ROW_FIELDS = {"people": np.int32, "keypoints": np.float32, "scores": np.float32}


def content_digest(members: dict[str, np.ndarray]) -> str:
    """sha256 over ``members`` in name order: each one's name, dtype, shape and bytes."""
    digest = hashlib.sha256()
    for name in sorted(members):
        array = np.ascontiguousarray(members[name])
        digest.update(f"{name}\0{array.dtype.str}\0{array.shape}\0".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def golden_members(golden: Golden) -> dict[str, np.ndarray]:
    """The golden as the file's members, without its digest."""
    header = np.frombuffer(atomic.json_bytes(to_data(golden.header), indent=None), dtype=np.uint8)
    members = {"header": header, "image_ids": golden.image_ids.astype(np.int64),
               "image_sha256": golden.image_sha256.astype(np.uint8)}
    for index, poses in enumerate(golden.poses):
        members.update({f"row{index}_{field}": getattr(poses, field).astype(dtype)
                        for field, dtype in ROW_FIELDS.items()})
    return members


def write_golden(golden: Golden, path: Path) -> str:
    """Write ``golden`` to ``path`` (atomically) and return the sha256 of its content."""
    members = golden_members(golden)
    digest = content_digest(members)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **members, **{DIGEST: np.array(digest)})
    atomic.write_bytes(path, buffer.getvalue())
    return digest


def load_golden(path: Path) -> tuple[Golden, str]:
    """The golden at ``path`` and the sha256 of its content, once that is the one it records."""
    members = _members(path)
    recorded = members.pop(DIGEST, None)
    digest = content_digest(members)
    claimed = str(recorded) if recorded is not None and recorded.shape == () else "none"
    if claimed != digest:
        claimed = claimed if claimed == "none" else claimed[:16] + "..."
        raise BenchError(f"golden {path} was changed after it was recorded: its content has sha256 "
                         f"{digest[:16]}..., it records {claimed}; record it again with "
                         "`python -m bench golden record`")
    if "header" not in members:
        raise BenchError(f"golden {path} has no header member: not a golden file")
    header = parse_json(members.pop("header").tobytes(), f"golden {path}: header")
    try:
        golden_header = from_data(GoldenHeader, header, "header")
    except ValueError as error:
        raise BenchError(f"golden {path}: {error}") from None
    if (golden_header.format, golden_header.version) != (FORMAT, VERSION):
        raise BenchError(f"golden {path}: format {golden_header.format} {golden_header.version}, this bench "
                         f"reads {FORMAT} {VERSION}")
    return _golden(path, golden_header, members), digest


def _members(path: Path) -> dict[str, np.ndarray]:
    """Every member of the archive at ``path``; BenchError for anything that is not a readable one."""
    data = read_bytes(path, "golden file", MAX_GOLDEN_BYTES)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
        if unpacked > MAX_UNPACKED_BYTES:
            raise BenchError(f"golden {path} unpacks to {unpacked:,} bytes, more than the limit of "
                             f"{MAX_UNPACKED_BYTES:,}")
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError, KeyError) as error:
        raise BenchError(f"golden {path} is not a golden file, or is damaged: {error}") from None


def _golden(path: Path, header: GoldenHeader, members: dict[str, np.ndarray]) -> Golden:
    """The golden from its checked header and members; BenchError where an array does not fit."""
    expected = {"image_ids", "image_sha256"} | {f"row{index}_{field}" for index in range(len(header.rows))
                                                 for field in ROW_FIELDS}
    if set(members) != expected:
        raise BenchError(f"golden {path}: members {sorted(members)}, expected {sorted(expected)}")
    dtypes = {"image_ids": np.int64, "image_sha256": np.uint8} | {
        f"row{index}_{field}": dtype for index in range(len(header.rows))
        for field, dtype in ROW_FIELDS.items()}
    problems = [f"{name} holds {members[name].dtype}, not {np.dtype(dtype)}" for name, dtype in dtypes.items()
                if members[name].dtype != dtype]
    image_ids, image_sha256 = members["image_ids"], members["image_sha256"]
    num_images = header.data.num_images
    if image_ids.shape != (num_images,) or image_sha256.shape != (num_images, 32) \
            or not np.all(np.diff(image_ids) > 0):
        problems.append(f"{num_images} images, but image_ids {image_ids.shape} (sorted and distinct: "
                        f"{bool(np.all(np.diff(image_ids) > 0))}) and image_sha256 {image_sha256.shape}")
    poses = []
    for index in range(len(header.rows)):
        people, keypoints, scores = (members[f"row{index}_{field}"] for field in ROW_FIELDS)
        total = int(people.sum()) if people.shape == (num_images,) and (people >= 0).all() else -1
        if total < 0 or keypoints.shape != (total, NUM_JOINTS, 3) or scores.shape != (total,):
            problems.append(f"row {index}: people {people.shape}, keypoints {keypoints.shape}, scores "
                            f"{scores.shape} do not fit {num_images} images")
        poses.append(RowPoses(people, keypoints, scores))
    if problems:
        raise BenchError(f"golden {path}: " + "; ".join(problems))
    return Golden(header, image_ids, image_sha256, tuple(poses))
