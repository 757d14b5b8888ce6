"""`bench bisect --package`: the versions read from a simple index on 127.0.0.1 (its JSON and its HTML
form), which of them count, and a search over 8 versions of a fake distribution where version 5 moves
the poses, with sides that stand in for the environments (building real ones is tested once, in
test_ab_environments)."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from packaging.version import Version
from test_ab import FakeRunner, make_repo, pipeline_source
from test_ab_environments import PIPELINE, REPO_FILES, generated_data

from bench.errors import BenchError
from bench.evaluation.bootstrap import BootstrapSettings
from bench.moved.ab import AbSettings
from bench.moved.bisection import run_bisect
from bench.moved.package_index import JSON_TYPE, configured_index, project_files
from bench.moved.runner import Setup
from bench.moved.sides import Ref, Side
from bench.moved.versions import installable_versions, released_versions, version_candidates

LISTED = {"benchprobe-1.0-py3-none-any.whl": False, "benchprobe-2.0-cp27-cp27m-win32.whl": False,
          "benchprobe-2.0.tar.gz": False, "benchprobe-3.0.tar.gz": False,
          "benchprobe-4.0rc1-py3-none-any.whl": False, "benchprobe-5.0-py3-none-any.whl": True,
          "benchprobe-6.0.post1-py3-none-any.whl": False, "benchprobe-7.0-py3-none-any.whl": False,
          "otherprobe-1.5-py3-none-any.whl": False, "benchprobe-notes.txt": False}
"""File name -> yanked: a foreign wheel beside an sdist (2.0), only an sdist (3.0), a release candidate
(4.0rc1), a yanked file (5.0), a post release (6.0.post1), another project's wheel, not a dist."""


@contextmanager
def simple_index(pages: dict[str, tuple[str, bytes]]) -> Iterator[tuple[str, list[str]]]:
    """An index on 127.0.0.1 serving ``pages`` (path -> content type and body): its ``/simple`` URL and
    the Accept header of each request."""
    accepts: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            accepts.append(self.headers.get("Accept", ""))
            if self.path not in pages:
                self.send_error(404)
                return
            content_type, body = pages[self.path]
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple", accepts
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def json_page(files: dict[str, bytes], yanked: dict[str, bool]) -> tuple[str, bytes]:
    entries = [{"filename": name, "url": f"/files/{name}",
                "hashes": {"sha256": hashlib.sha256(data).hexdigest()},
                **({"yanked": True} if yanked.get(name) else {})} for name, data in files.items()]
    page = {"meta": {"api-version": "1.0"}, "name": "benchprobe", "files": entries}
    return JSON_TYPE, json.dumps(page).encode()


def html_page(yanked: dict[str, bool]) -> tuple[str, bytes]:
    anchors = "".join(f'<a href="../../files/{name}#sha256=00"{" data-yanked" if gone else ""}>{name}</a>\n'
                      for name, gone in yanked.items())
    return "text/html", f"<!DOCTYPE html><html><body>\n{anchors}</body></html>".encode()


@pytest.mark.parametrize("form", ["json", "html"])
def test_the_versions_are_the_final_releases_that_install_here(form):
    page = json_page(dict.fromkeys(LISTED, b""), LISTED) if form == "json" else html_page(LISTED)
    with simple_index({"/simple/benchprobe/": page}) as (index, accepts):
        files = project_files(index, "BenchProbe")
    assert accepts[0].startswith(JSON_TYPE)
    available = installable_versions("benchprobe", files)
    assert available == {Version(text) for text in ("1.0", "3.0", "4.0rc1", "6.0.post1", "7.0")}


def test_the_range_keeps_pre_releases_only_when_an_end_is_one_and_needs_both_ends(monkeypatch):
    page = json_page(dict.fromkeys(LISTED, b""), LISTED)
    with simple_index({"/simple/benchprobe/": page}) as (index, _):
        monkeypatch.setenv("PIP_INDEX_URL", index)
        finals = released_versions("benchprobe", "1.0", "7.0")
        assert finals == [Version(text) for text in ("1.0", "3.0", "6.0.post1", "7.0")]
        from_candidate = released_versions("benchprobe", "4.0rc1", "7")
        assert from_candidate == [Version(text) for text in ("4.0rc1", "6.0.post1", "7.0")]
        with pytest.raises(BenchError, match=r"--good benchprobe 2.0 is not on the index .* 6.0.post1, 7.0"):
            released_versions("benchprobe", "2.0", "7.0")
        with pytest.raises(BenchError, match="--good 7.0 is not older than --bad 3.0"):
            released_versions("benchprobe", "7.0", "3.0")
        with pytest.raises(BenchError, match="has no page for nosuchprobe: .* HTTP 404"):
            released_versions("nosuchprobe", "1.0", "2.0")


def test_the_index_is_the_one_pip_is_configured_with(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    assert configured_index() == "http://127.0.0.1:9/simple"
    monkeypatch.delenv("PIP_INDEX_URL")
    (tmp_path / "pip.conf").write_text("[global]\nindex-url = http://127.0.0.1:8/simple\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(tmp_path / "pip.conf"))
    assert configured_index() == "http://127.0.0.1:8/simple"


def pinned_sides(folder: Path) -> Callable[[str, Ref, Path, Path], Side]:
    """Sides without environments: each REF's tree holds a `pipeline.py` whose SHIFT_PX is the one
    `benchprobe` has in the version the REF pins (5.0 onwards moves the poses)."""

    def prepare(name: str, ref: Ref, repo: Path, cache: Path) -> Side:
        pinned = Version(ref.text.split("==")[1])
        tree = folder / str(pinned)
        tree.mkdir(parents=True, exist_ok=True)
        (tree / "pipeline.py").write_text(pipeline_source(shift_px=25.0 if pinned >= Version("5") else 0.0))
        return Side(name, ref, Setup(tree), {"benchprobe": str(pinned)})

    return prepare


def test_bisect_names_the_version_of_a_dependency_that_moved_the_poses(tmp_path, monkeypatch):
    listed = {f"benchprobe-{number}.0-py3-none-any.whl": b"" for number in range(1, 9)}
    make_repo(tmp_path / "repo", [PIPELINE], REPO_FILES)
    gt, detections = generated_data(tmp_path)
    fake = FakeRunner(gt, json.loads(detections.read_text()))
    settings = AbSettings(out=tmp_path / "bisect", cache=tmp_path / "cache", accuracy=True, max_rounds=0,
                          gt=gt, bootstrap=BootstrapSettings(resamples=50))
    with simple_index({"/simple/benchprobe/": json_page(listed, {})}) as (index, _):
        monkeypatch.setenv("PIP_INDEX_URL", index)
        versions = released_versions("benchprobe", "1.0", "8.0")
    candidates = version_candidates(tmp_path / "repo", "benchprobe", versions, settings.cache)
    result = run_bisect(tmp_path / "repo", candidates, fake.runner(), settings, None,
                        pinned_sides(tmp_path / "trees"))
    assert [step.ref.text for step in result.steps] == [f"benchprobe=={number}.0" for number in (4, 6, 5)]
    assert result.first_bad.ref.text == "benchprobe==5.0" and result.exit_code == 0
    lines = result.lines()
    assert lines[0].startswith("bisect: 7 versions of benchprobe after good 1.0 up to bad 8.0")
    assert "first bad version: benchprobe==5.0" in lines
    assert result.first_bad.evidence.startswith("accuracy: changed: 3 of 8 images changed")
    assert (settings.cache / "requirements" / "benchprobe-5.0.txt").read_text() == "benchprobe==5.0\n"
    fifth = candidates.refs[3]
    assert fifth.kind == "environment" and fifth.environment.packages == ("benchprobe",)
    assert fake.calls["predictions"] == 4  # good, then 3 versions
