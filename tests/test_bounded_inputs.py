"""Hostile input files are refused before they are expanded in memory: images by their header's pixel
count, checkpoints by the sizes their zip entries declare, and weights far beyond any trained value."""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from bench.checkpoint import loading
from bench.checkpoint.loading import MAX_ABS_WEIGHT, MAX_CHECKPOINT_BYTES, load_state_dict
from bench.data.images import MAX_IMAGE_PIXELS, image_problem, read_image
from bench.errors import BenchError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header(width: int, height: int) -> bytes:
    """The signature and IHDR chunk of an 8-bit grayscale PNG."""
    return PNG_SIGNATURE + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))


def black_png(width: int, height: int) -> bytes:
    """A valid black grayscale PNG, compressed row by row so that its pixels are never held whole."""
    compressor = zlib.compressobj(9)
    row = bytes(width + 1)  # filter byte 0, then the row's pixels
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return png_header(width, height) + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")


def refuse_decoding(monkeypatch) -> None:
    def decode(*_):
        raise AssertionError("the image was decoded")
    monkeypatch.setattr(cv2, "imdecode", decode)


def test_an_image_above_the_pixel_limit_is_refused_from_its_header(tmp_path, monkeypatch):
    width, height = 10_000, MAX_IMAGE_PIXELS // 10_000 + 1
    path = tmp_path / "large.png"
    path.write_bytes(black_png(width, height))
    assert path.stat().st_size < 200_000  # a small file that would decode to 150 MB of RGB
    refuse_decoding(monkeypatch)
    limit = f"{width}x{height} pixels ({width * height:,}), more than the limit of {MAX_IMAGE_PIXELS:,}"
    assert image_problem(path) == f"{limit} pixels"
    with pytest.raises(BenchError, match=re.escape(f"cannot read image {path}: {limit} pixels")):
        read_image(path)


def test_a_truncated_header_of_a_huge_png_is_a_named_problem(tmp_path, monkeypatch):
    """69 bytes claiming 60000x30000 pixels: OpenCV's own size assertion escaped as cv2.error."""
    path = tmp_path / "header.png"
    path.write_bytes(png_header(60_000, 30_000) + png_chunk(b"IDAT", bytes(24)))
    assert path.stat().st_size == 69
    refuse_decoding(monkeypatch)
    assert f"more than the limit of {MAX_IMAGE_PIXELS:,} pixels" in image_problem(path)
    with pytest.raises(BenchError, match=f"cannot read image {re.escape(str(path))}: more than the limit"):
        read_image(path)


def test_a_truncated_small_png_is_not_decodable(tmp_path):
    path = tmp_path / "cut.png"
    path.write_bytes(black_png(64, 48)[:-40])
    assert image_problem(path) == "not a decodable image"
    with pytest.raises(BenchError, match="not a decodable image"):
        read_image(path)


def encoded(image: Image.Image, kind: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, kind, **options)
    return buffer.getvalue()


def rotated_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    return exif


GRADIENT = np.arange(24 * 32 * 4, dtype=np.uint32).reshape(24, 32, 4)
FORMATS = {
    "16-bit png": lambda: cv2.imencode(".png", (GRADIENT[..., :3] * 37).astype(np.uint16))[1].tobytes(),
    "rgba png": lambda: cv2.imencode(".png", (GRADIENT % 251).astype(np.uint8))[1].tobytes(),
    "cmyk jpeg": lambda: encoded(Image.fromarray((GRADIENT % 251).astype(np.uint8), "CMYK"), "JPEG"),
    "exif-rotated jpeg": lambda: encoded(Image.fromarray((GRADIENT[..., :3] % 251).astype(np.uint8)), "JPEG",
                                         exif=rotated_exif()),
}


@pytest.mark.parametrize("kind", FORMATS)
def test_images_within_the_limit_decode_exactly_as_opencv_does(kind, tmp_path):
    data = FORMATS[kind]()
    path = tmp_path / "image"
    path.write_bytes(data)
    expected = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert image_problem(path) is None
    assert np.array_equal(read_image(path), expected)
    if kind.startswith("exif"):
        assert expected.shape == (32, 24, 3)


def rezipped(saved: io.BytesIO, path: Path, replaced: dict[str, bytes] | None = None) -> None:
    """The torch.save archive ``saved`` written to ``path`` with every entry deflated (torch.load reads
    deflated entries too), and the data of the entries named in ``replaced`` replaced."""
    replaced = replaced or {}
    with zipfile.ZipFile(saved) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, replaced.get(info.filename) or source.read(info))


def declare_size(path: Path, name: str, size: int) -> None:
    """Make the zip entry ``name`` at ``path`` declare ``size`` unpacked bytes, in its local header and
    in the central directory (the last place its name appears)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        struct.pack_into("<I", data, archive.getinfo(name).header_offset + 22, size)
    struct.pack_into("<I", data, data.rindex(name.encode()) - 46 + 24, size)
    path.write_bytes(data)


def test_a_zip_bomb_checkpoint_is_refused_before_it_is_unpacked(tmp_path):
    saved = io.BytesIO()
    torch.save({"state_dict": {"weight": torch.zeros(2**21)}}, saved)  # 8 MiB of zeros
    path = tmp_path / "bomb.pth"
    rezipped(saved, path)
    assert path.stat().st_size < 100_000
    with pytest.raises(BenchError, match=re.escape(f"checkpoint {path} unpacks ") + ".* zip bomb"):
        load_state_dict(path)


def test_a_checkpoint_whose_storage_claims_more_than_the_limit_is_refused(tmp_path):
    """A float32 tensor of over 1 GiB, crafted without allocating it: a 7-element tensor's pickle made to
    say ``numel`` elements, and its storage entry 1 KiB of deflated zeros that declares ``numel * 4``
    bytes, which torch.load would allocate before finding the data short."""
    numel = MAX_CHECKPOINT_BYTES // 4 + 1
    saved = io.BytesIO()
    torch.save({"weight": torch.zeros(7)}, saved)
    with zipfile.ZipFile(saved) as archive:
        pickled = archive.read("archive/data.pkl")
    assert pickled.count(b"K\x07") == 2  # BININT1 7, the storage's size and the tensor's
    claim = pickled.replace(b"K\x07", b"J" + struct.pack("<i", numel))
    path = tmp_path / "huge.pth"
    rezipped(saved, path, {"archive/data.pkl": claim, "archive/data/0": bytes(1024)})
    declare_size(path, "archive/data/0", numel * 4)
    with pytest.raises(BenchError, match=re.escape(f"checkpoint {path} unpacks to ") + r"[\d,]+ bytes, "
                       + re.escape(f"more than the limit of {MAX_CHECKPOINT_BYTES:,} bytes")):
        load_state_dict(path)


def test_a_legacy_pickle_checkpoint_is_bounded_by_its_file_size(tmp_path, monkeypatch):
    path = tmp_path / "legacy.pth"
    torch.save({"state_dict": {"weight": torch.ones(1000)}}, path, _use_new_zipfile_serialization=False)
    assert path.read_bytes()[:1] == b"\x80"
    assert torch.equal(load_state_dict(path)["weight"], torch.ones(1000))
    monkeypatch.setattr(loading, "MAX_CHECKPOINT_BYTES", 4000)
    with pytest.raises(BenchError, match=re.escape(f"checkpoint {path} has {path.stat().st_size:,} bytes, "
                                                   "more than the limit of 4,000 bytes")):
        load_state_dict(path)


def test_finite_but_huge_weights_are_refused_naming_the_tensors(tmp_path):
    path = tmp_path / "huge_weights.pth"
    torch.save({"state_dict": {"head.weight": torch.tensor([1.0, 3e38, -2.0]),
                               "head.bias": torch.tensor([-1e6]),
                               "bn.running_var": torch.tensor([0.5, 900.0]),
                               "bn.num_batches_tracked": torch.tensor(10**12)}}, path)
    with pytest.raises(BenchError, match=re.escape(
            f"checkpoint {path} holds values beyond ±{MAX_ABS_WEIGHT:g}, far above any trained weight, in 2 "
            "tensor(s): head.weight (up to 3e+38), head.bias (up to 1e+06)")):
        load_state_dict(path)


def test_tensors_without_values_are_refused(tmp_path):
    path = tmp_path / "meta.pth"
    torch.save({"head.weight": torch.empty(3, device="meta"), "head.bias": torch.zeros(3)}, path)
    with pytest.raises(BenchError, match=re.escape(f"checkpoint {path} holds tensors without values (saved "
                                                   "from the meta device) in 1 tensor(s): head.weight")):
        load_state_dict(path)
