"""Checkpoint download, verification, registry and loading; offline, against a loopback HTTP server."""

from __future__ import annotations

import argparse
import hashlib
import io
import re
import socket
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from loopback_http import LoopbackServer
from torch import nn

from bench.checkpoint import default_checkpoint, fetch, hash_prefix_in_name, resolve_checkpoint
from bench.checkpoint.loading import load_into, load_state_dict
from bench.checkpoint.registry import load_registry
from bench.commands import fetch as fetch_command
from bench.errors import BenchError
from bench.testing.synthetic_weights import deterministic_state_dict, save_mmpose_checkpoint
from reference.model import higher_hrnet_w32

PUBLISHED_URL = ("https://download.openmmlab.com/mmpose/bottom_up/"
                 "higher_hrnet32_crowdpose_512x512-1aa4a132_20201017.pth")


def tiny_model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Conv2d(4, 2, 1))


def checkpoint_bytes(tmp_path: Path, state_dict: dict | None = None) -> bytes:
    path = tmp_path / "scratch.pth"
    save_mmpose_checkpoint(state_dict or deterministic_state_dict(tiny_model()), path, {"epoch": 300})
    return path.read_bytes()


def mmpose_name(data: bytes, stem: str = "tiny") -> str:
    """The mmpose naming convention: ``<stem>-<first 8 hex of sha256>_<date>.pth``."""
    return f"{stem}-{hashlib.sha256(data).hexdigest()[:8]}_20201017.pth"


@pytest.fixture
def payload(tmp_path: Path) -> tuple[str, bytes]:
    data = checkpoint_bytes(tmp_path)
    return mmpose_name(data), data


@pytest.fixture
def server(payload: tuple[str, bytes]) -> LoopbackServer:
    name, data = payload
    with LoopbackServer({name: data}) as running:
        yield running


def files_in(folder: Path) -> list[Path]:
    """Every file under ``folder``, at any depth (the cache keys each URL's files by a subfolder)."""
    return sorted(path for path in folder.rglob("*") if path.is_file())


def closed_port_url(name: str) -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"


def test_fetch_downloads_into_cache_and_reuses_it_offline(server, payload, tmp_path):
    name, data = payload
    cache = tmp_path / "cache"
    path = fetch(server.url(name), cache_dir=cache, progress=True)
    assert path.name == name and path.is_relative_to(cache)
    assert path.read_bytes() == data
    assert files_in(cache) == [path]
    server.stop()
    assert fetch(server.url(name), cache_dir=cache, progress=False) == path
    assert len(server.requests) == 1


def test_fetch_resumes_an_interrupted_download_with_a_range_request(server, payload, tmp_path):
    name, data = payload
    cut = len(data) // 3
    server.cut_after = cut
    with pytest.raises(BenchError, match=f"stopped after {cut} of {len(data)} bytes.*run the same command"):
        fetch(server.url(name), cache_dir=tmp_path, progress=False)
    (part,) = tmp_path.rglob(f"{name}.part")
    assert part.stat().st_size == cut
    assert not list(tmp_path.rglob(name))

    path = fetch(server.url(name), cache_dir=tmp_path, progress=False)
    assert path.read_bytes() == data
    assert server.requests[1]["Range"] == f"bytes={cut}-"
    assert not part.exists()


def test_fetch_restarts_when_the_server_ignores_range(server, payload, tmp_path):
    name, data = payload
    server.cut_after = 100
    with pytest.raises(BenchError, match="stopped after 100"):
        fetch(server.url(name), cache_dir=tmp_path, progress=False)
    server.honour_range = False
    path = fetch(server.url(name), cache_dir=tmp_path, progress=False)
    assert path.read_bytes() == data
    assert server.requests[1]["Range"] == "bytes=100-"


def interrupted_part(server: LoopbackServer, name: str, cache: Path) -> Path:
    """The ``.part`` file (with its record) that a download cut after 100 bytes leaves in ``cache``."""
    server.cut_after = 100
    with pytest.raises(BenchError, match="stopped after 100"):
        fetch(server.url(name), cache_dir=cache, progress=False)
    (part,) = cache.rglob(f"{name}.part")
    return part


def test_fetch_finishes_a_complete_part_file_on_416(server, payload, tmp_path):
    name, data = payload
    interrupted_part(server, name, tmp_path).write_bytes(data)
    assert fetch(server.url(name), cache_dir=tmp_path, progress=False).read_bytes() == data
    assert [request.get("Range") for request in server.requests] == [None, f"bytes={len(data)}-"]


def test_fetch_restarts_after_416_for_an_oversized_part_file(server, payload, tmp_path):
    name, data = payload
    interrupted_part(server, name, tmp_path).write_bytes(data + b"junk")
    assert fetch(server.url(name), cache_dir=tmp_path, progress=False).read_bytes() == data
    assert server.requests[1]["Range"] == f"bytes={len(data) + 4}-" and "Range" not in server.requests[2]


def test_fetch_rejects_a_file_whose_hash_differs_from_its_name(payload, tmp_path):
    _, data = payload
    wrong_name = "tiny-deadbeef_20201017.pth"
    cache = tmp_path / "cache"
    with LoopbackServer({wrong_name: data}) as running, pytest.raises(BenchError) as caught:
        fetch(running.url(wrong_name), cache_dir=cache, progress=False)
    assert "deadbeef" in str(caught.value) and hashlib.sha256(data).hexdigest() in str(caught.value)
    assert files_in(cache) == []


def test_fetch_checks_a_pinned_full_sha256(server, payload, tmp_path):
    name, data = payload
    digest = hashlib.sha256(data).hexdigest()
    with pytest.raises(BenchError, match=f"expected sha256 {'0' * 64}"):
        fetch(server.url(name), cache_dir=tmp_path, progress=False, sha256="0" * 64)
    assert fetch(server.url(name), cache_dir=tmp_path, progress=False, sha256=digest).is_file()
    with pytest.raises(BenchError, match="64 lowercase hex"):
        fetch(server.url(name), cache_dir=tmp_path, progress=False, sha256="1aa4a132")


def test_fetch_replaces_a_corrupt_cached_file(server, payload, tmp_path):
    name, data = payload
    cached = fetch(server.url(name), cache_dir=tmp_path, progress=False)
    cached.write_bytes(data[: len(data) // 2])
    with pytest.warns(UserWarning, match="failed verification"):
        path = fetch(server.url(name), cache_dir=tmp_path, progress=False)
    assert path == cached and path.read_bytes() == data


def test_fetch_without_network_says_what_to_do(payload, tmp_path):
    name, _ = payload
    url = closed_port_url(name)
    with pytest.raises(BenchError) as caught:
        fetch(url, cache_dir=tmp_path, progress=False)
    message = str(caught.value)
    assert f"could not download {url}" in message
    assert "--checkpoint PATH" in message and f"place it at {tmp_path}" in message and name in message


def test_fetch_reports_http_errors(server, tmp_path):
    with pytest.raises(BenchError, match="HTTP 404"):
        fetch(server.url("missing-1aa4a132_20201017.pth"), cache_dir=tmp_path, progress=False)


@pytest.mark.parametrize("url", ["ftp://example.org/a-1aa4a132.pth", "http://127.0.0.1:1/"])
def test_fetch_rejects_unusable_urls(url, tmp_path):
    with pytest.raises(BenchError, match="URL"):
        fetch(url, cache_dir=tmp_path, progress=False)


def test_resolve_checkpoint_downloads_urls_and_verifies_local_files(server, payload, tmp_path):
    name, data = payload
    digest = hashlib.sha256(data).hexdigest()
    downloaded = resolve_checkpoint(server.url(name), cache_dir=tmp_path / "cache", progress=False)
    assert (downloaded.sha256, downloaded.source) == (digest, server.url(name))

    local = tmp_path / name
    local.write_bytes(data)
    resolved = resolve_checkpoint(str(local))
    assert (resolved.path, resolved.sha256, resolved.source) == (local.resolve(), digest, str(local))

    renamed = tmp_path / "tiny-0badc0de_20201017.pth"
    renamed.write_bytes(data)
    with pytest.raises(BenchError, match=f"{renamed}.*0badc0de"):
        resolve_checkpoint(str(renamed))
    with pytest.raises(BenchError, match="neither an http"):
        resolve_checkpoint(str(tmp_path / "absent.pth"))


def test_resolve_checkpoint_checks_the_registry_pin_of_a_local_file(tmp_path):
    published = tmp_path / default_checkpoint().file_name
    published.write_bytes(b"not the published checkpoint")
    with pytest.raises(BenchError, match="1aa4a132"):
        resolve_checkpoint(str(published))


@pytest.mark.parametrize(("name", "prefix"), [
    ("higher_hrnet32_crowdpose_512x512-1aa4a132_20201017.pth", "1aa4a132"),
    ("resnet18-f37072fd.pth", "f37072fd"),
    ("model-f37072fd0123456789.pth", "f37072fd0123456789"),
    ("model.pth", None),
    ("model-abc.pth", None),
    ("model-F37072FD.pth", None),
])
def test_hash_prefix_in_name(name, prefix):
    assert hash_prefix_in_name(name) == prefix


def test_the_registry_names_the_published_checkpoint_and_says_it_is_verified_by_prefix_alone():
    """The full digest is not pinned yet (nobody here could download the file): the entry checks the
    prefix, and says so wherever a verdict names the checkpoint."""
    entry = default_checkpoint()
    assert entry.url == PUBLISHED_URL and entry.sha256_prefix == "1aa4a132" and entry.sha256 is None
    assert entry.matches("1aa4a132" + "0" * 56) and not entry.matches("1aa4a133" + "0" * 56)
    assert entry.verification.startswith("prefix-verified (32 bits; full digest not pinned")


def test_registry_rejects_an_inconsistent_entry(tmp_path):
    registry = tmp_path / "published.toml"
    registry.write_text(
        '[expected]\ncheckpoint = "m-1aa4a132_20201017.pth"\n[checkpoints."m-1aa4a132_20201017.pth"]\n'
        'url = "https://example.org/m-1aa4a132_20201017.pth"\nsha256_prefix = "2bb5b243"\nsha256 = ""\n')
    with pytest.raises(BenchError, match="sha256_prefix '2bb5b243' differs"):
        load_registry(registry)


@pytest.mark.parametrize("wrap", [
    lambda sd: {"meta": {"epoch": 300}, "state_dict": sd},
    lambda sd: {"model": sd},
    lambda sd: sd,
    lambda sd: {f"module.{key}": value for key, value in sd.items()},
    lambda sd: {"meta": {"best_score": np.float64(0.655), "seed": np.int64(3)}, "state_dict": sd},
], ids=["mmpose", "model", "plain", "module-prefix", "numpy-meta"])
def test_load_state_dict_accepts_common_layouts(wrap, tmp_path):
    expected = deterministic_state_dict(tiny_model())
    torch.save(wrap(expected), tmp_path / "weights.pth")
    loaded = load_state_dict(tmp_path / "weights.pth")
    assert list(loaded) == list(expected)
    assert all(torch.equal(loaded[key], expected[key]) for key in expected)


def test_load_state_dict_accepts_numpy1_metadata(tmp_path):
    """Checkpoints pickled under numpy 1.x name ``numpy.core`` where numpy 2 says ``numpy._core``."""
    expected = deterministic_state_dict(tiny_model())
    buffer = io.BytesIO()
    meta = {"best_score": np.float64(0.655), "mean": np.zeros(3)}
    torch.save({"meta": meta, "state_dict": expected}, buffer)
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(tmp_path / "old.pth", "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith("data.pkl"):
                assert b"numpy._core.multiarray" in data
                data = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
            target.writestr(info, data)
    loaded = load_state_dict(tmp_path / "old.pth")
    assert all(torch.equal(loaded[key], expected[key]) for key in expected)


@pytest.mark.parametrize(("content", "message"), [
    (lambda data: data[: len(data) // 2], "cannot read checkpoint {path}"),
    (lambda data: b"", "checkpoint {path} is not a PyTorch checkpoint: it starts with b''"),
    (lambda data: b"<html>not found</html>", "checkpoint {path} is not a PyTorch checkpoint: it starts with "
                                            "b'<htm'"),
    (lambda data: b"e\x00\x00\x00 text", "checkpoint {path} is not a PyTorch checkpoint"),  # was KeyError
], ids=["truncated", "empty", "html", "text"])
def test_load_state_dict_reports_unreadable_files(content, message, tmp_path):
    path = tmp_path / "broken.pth"
    path.write_bytes(content(checkpoint_bytes(tmp_path)))
    with pytest.raises(BenchError, match=re.escape(message.format(path=path))):
        load_state_dict(path)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_checkpoint_with_non_finite_weights_is_refused_naming_the_file_and_tensor(bad, tmp_path):
    path = tmp_path / "nan.pth"
    torch.save({"state_dict": {"head.weight": torch.tensor([1.0, bad, 2.0]), "steps": torch.tensor([3])}},
               path)
    with pytest.raises(BenchError, match=re.escape(f"checkpoint {path} holds NaN or infinite values in 1 "
                                                   "tensor(s): head.weight (1 of 3)")):
        load_state_dict(path)


@pytest.mark.parametrize("content", [[1, 2, 3], {"state_dict": {"a": 1}}, {}], ids=["list", "ints", "empty"])
def test_load_state_dict_reports_files_without_a_state_dict(content, tmp_path):
    torch.save(content, tmp_path / "other.pth")
    with pytest.raises(BenchError, match="holds no state dict"):
        load_state_dict(tmp_path / "other.pth")


def test_load_state_dict_refuses_executable_pickles(tmp_path):
    torch.save({"state_dict": {}, "meta": argparse.Namespace(a=1)}, tmp_path / "code.pth")
    with pytest.raises(BenchError, match="weights-only loading refuses .*argparse.Namespace"):
        load_state_dict(tmp_path / "code.pth")


def test_load_into_loads_a_synthesized_mmpose_checkpoint_strictly(tmp_path):
    source = higher_hrnet_w32()
    weights = deterministic_state_dict(source)
    save_mmpose_checkpoint(weights, tmp_path / "hhrnet.pth", {"mmpose_version": "0.29.0"})
    assert torch.load(tmp_path / "hhrnet.pth", weights_only=True)["meta"] == {"mmpose_version": "0.29.0"}
    model = higher_hrnet_w32()
    load_into(model, tmp_path / "hhrnet.pth")
    loaded = model.state_dict()
    assert all(torch.equal(loaded[key], weights[key]) for key in weights)


def test_load_into_names_missing_unexpected_and_misshapen_keys(tmp_path):
    weights = deterministic_state_dict(tiny_model())
    del weights["1.running_var"]
    weights["extra.weight"] = torch.zeros(1)
    weights["2.weight"] = torch.zeros(5, 4, 1, 1)
    save_mmpose_checkpoint(weights, tmp_path / "wrong.pth")
    with pytest.raises(BenchError) as caught:
        load_into(tiny_model(), tmp_path / "wrong.pth")
    message = str(caught.value)
    assert "missing keys (1): 1.running_var" in message
    assert "unexpected keys (1): extra.weight" in message
    assert "2.weight [5, 4, 1, 1] vs model [2, 4, 1, 1]" in message


def test_fetch_command_prints_path_and_sha256(server, payload, tmp_path, capsys):
    name, data = payload
    parser = argparse.ArgumentParser()
    fetch_command.register(parser.add_subparsers())
    args = parser.parse_args(["fetch", server.url(name), "--cache-dir", str(tmp_path)])
    assert args.run(args) == 0
    (path,) = tmp_path.rglob(name)
    assert capsys.readouterr().out.splitlines() == [str(path), f"sha256 {hashlib.sha256(data).hexdigest()}"]
