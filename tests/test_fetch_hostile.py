"""Checkpoint downloads against a hostile or broken server: a cache keyed by URL, unsafe file names,
empty and short bodies, a body that trickles forever. Offline (127.0.0.1), tiny bodies, short deadlines."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from loopback_http import LoopbackServer

from bench.__main__ import main
from bench.checkpoint import RegistryEntry, default_checkpoint, download, fetch
from bench.errors import BenchError

FIRST = bytes(range(40))
SECOND = bytes(range(100, 140))


@pytest.fixture
def server() -> LoopbackServer:
    """Two URLs that end in the same file name (no hash in it: only the URL tells them apart)."""
    with LoopbackServer({"a/model.pth": FIRST, "b/model.pth": SECOND, "empty.pth": b""}) as running:
        yield running


def cut_download(server: LoopbackServer, url: str, cache: Path, after: int = 4) -> None:
    """A download of ``url`` that the server drops after ``after`` bytes (the ``.part`` file stays)."""
    server.cut_after = after
    with pytest.raises(BenchError, match=f"stopped after {after} of"):
        fetch(url, cache_dir=cache, progress=False)


def files_in(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file())


def cli_error(capsys: pytest.CaptureFixture, *args: str) -> str:
    """The one line that ``python -m bench fetch ARGS`` prints when it exits 2 (bad input)."""
    assert main(["fetch", *args]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("error: ")
    return err


# 1. The cache is keyed by URL, and a .part is resumed only for the URL and version that started it.

def test_another_url_with_the_same_file_name_is_downloaded_not_served_from_the_cache(server, tmp_path):
    first = fetch(server.url("a/model.pth"), cache_dir=tmp_path, progress=False)
    second = fetch(server.url("b/model.pth"), cache_dir=tmp_path, progress=False)
    assert (first.read_bytes(), second.read_bytes()) == (FIRST, SECOND)
    assert first.name == second.name == "model.pth" and first != second
    assert len(server.requests) == 2
    assert fetch(server.url("a/model.pth"), cache_dir=tmp_path, progress=False).read_bytes() == FIRST


def test_a_part_file_of_another_url_is_not_resumed(server, tmp_path):
    cut_download(server, server.url("a/model.pth"), tmp_path)
    assert fetch(server.url("b/model.pth"), cache_dir=tmp_path, progress=False).read_bytes() == SECOND
    assert "Range" not in server.requests[1]


def test_a_part_file_without_its_record_is_not_resumed(server, tmp_path):
    """A ``.part`` left by an older version (or by hand) says nothing of where it came from."""
    cut_download(server, server.url("a/model.pth"), tmp_path)
    (part,) = tmp_path.rglob("model.pth.part")
    part.write_bytes(b"\xff" * 4)
    for record in tmp_path.rglob("*.part.json"):
        record.unlink()
    assert fetch(server.url("a/model.pth"), cache_dir=tmp_path, progress=False).read_bytes() == FIRST
    assert "Range" not in server.requests[1]


def test_a_part_file_is_restarted_when_the_server_has_another_version(server, tmp_path):
    server.etag = '"v1"'
    cut_download(server, server.url("a/model.pth"), tmp_path)
    server.files["a/model.pth"], server.etag = SECOND, '"v2"'
    assert fetch(server.url("a/model.pth"), cache_dir=tmp_path, progress=False).read_bytes() == SECOND
    assert server.requests[1]["Range"] == "bytes=4-" and "Range" not in server.requests[2]


def test_a_part_file_is_resumed_while_the_server_has_the_same_version(server, tmp_path):
    server.etag = '"v1"'
    cut_download(server, server.url("a/model.pth"), tmp_path)
    assert fetch(server.url("a/model.pth"), cache_dir=tmp_path, progress=False).read_bytes() == FIRST
    assert [request.get("Range") for request in server.requests] == [None, "bytes=4-"]


def test_a_registry_checkpoint_stays_at_the_top_of_the_cache_and_no_other_url_is_served_it(
        server, tmp_path, monkeypatch):
    """The registry's URL is cached at ``<cache>/<name>`` (torch hub's place, where a file put by hand is
    found); another URL ending in that name gets its own file, which must still match the pin."""
    url = server.url("a/model.pth")
    entry = RegistryEntry("model.pth", url, "", hashlib.sha256(FIRST).hexdigest())
    monkeypatch.setattr(download, "registry_entry", lambda name: entry if name == "model.pth" else None)
    assert fetch(url, cache_dir=tmp_path, progress=False) == tmp_path / "model.pth"
    with pytest.raises(BenchError, match="(pinned)"):
        fetch(server.url("b/model.pth"), cache_dir=tmp_path, progress=False)
    assert len(server.requests) == 2 and (tmp_path / "model.pth").read_bytes() == FIRST


def test_the_published_checkpoint_is_looked_up_where_torch_hub_keeps_it(tmp_path):
    published = default_checkpoint()
    assert download.cache_path(published.url, tmp_path) == tmp_path / published.file_name
    mirror = download.cache_path(f"https://mirror.example.org/{published.file_name}", tmp_path)
    assert mirror.name == published.file_name and mirror.parent.parent == tmp_path / "by-url"


# 2. A URL whose last segment is no safe file name is refused before anything is written.

@pytest.mark.parametrize("tail", ["a/%2E%2E", "a/%2e%2e", "a/..", "a/%2E", "a/.", "a/", "a/b%2Fc.pth",
                                  "a/b%00.pth", "a/" + "x" * 250 + ".pth"])
def test_a_url_without_a_safe_file_name_is_refused_before_anything_is_written(tail, server, tmp_path):
    url = server.url(tail)
    with pytest.raises(BenchError, match="not a usable file name") as caught:
        fetch(url, cache_dir=tmp_path / "cache", progress=False)
    assert url in str(caught.value)
    assert not (tmp_path / "cache").exists() and server.requests == []


def test_fetch_refuses_a_dot_dot_url_with_one_line_and_exit_2(server, tmp_path, capsys):
    url = server.url("a/%2E%2E")
    assert url in cli_error(capsys, url, "--cache-dir", str(tmp_path / "cache"))
    assert not (tmp_path / "cache").exists()


# 3. An empty body, or one shorter than the headers say, is a failure.

def test_an_empty_body_is_a_failure_and_leaves_nothing(server, tmp_path, capsys):
    with pytest.raises(BenchError, match="empty file"):
        fetch(server.url("empty.pth"), cache_dir=tmp_path, progress=False)
    assert files_in(tmp_path) == []
    assert "empty file" in cli_error(capsys, server.url("empty.pth"), "--cache-dir", str(tmp_path))


def test_a_resumed_body_short_of_its_content_range_is_a_failure_and_is_resumed_later(server, tmp_path):
    url = server.url("a/model.pth")
    cut_download(server, url, tmp_path)
    server.send_only = 6
    with pytest.raises(BenchError, match=f"stopped after 10 of {len(FIRST)} bytes.*run the same command"):
        fetch(url, cache_dir=tmp_path, progress=False)
    (part,) = tmp_path.rglob("model.pth.part")
    assert part.read_bytes() == FIRST[:10]
    server.send_only = None
    assert fetch(url, cache_dir=tmp_path, progress=False).read_bytes() == FIRST
    assert server.requests[2]["Range"] == "bytes=10-"


# 4. A download has an overall deadline; the .part it leaves is resumed by the same command.

def test_a_trickling_body_stops_at_the_deadline_and_the_rerun_resumes(server, tmp_path):
    url = server.url("a/model.pth")
    server.trickle_s = 0.1
    started = time.monotonic()
    with pytest.raises(BenchError, match=r"deadline of 0\.5 s.*kept: run the same command again"):
        fetch(url, cache_dir=tmp_path, progress=False, deadline=0.5)
    assert time.monotonic() - started < 1.5
    (part,) = tmp_path.rglob("model.pth.part")
    received = part.stat().st_size
    assert 0 < received < len(FIRST)
    server.trickle_s = None
    assert fetch(url, cache_dir=tmp_path, progress=False).read_bytes() == FIRST
    assert server.requests[1]["Range"] == f"bytes={received}-"


def test_fetch_deadline_option_exits_2_with_one_line(server, tmp_path, capsys):
    server.trickle_s = 0.1
    err = cli_error(capsys, server.url("a/model.pth"), "--cache-dir", str(tmp_path), "--deadline", "0.3")
    assert "deadline of 0.3 s" in err and "--deadline" in err


def test_fetch_help_documents_the_deadline(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["fetch", "--help"])
    assert exited.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--deadline SECONDS" in help_text and "(default 1800;" in help_text


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "soon"])
def test_fetch_refuses_a_deadline_that_is_not_a_positive_number(value, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["fetch", "--deadline", value])
    assert exited.value.code == 2 and "positive number of seconds" in capsys.readouterr().err
