"""The files a package index lists for one project, read from its simple API: the JSON form (PEP 691)
when the index offers it, else the HTML page (PEP 503). The index is the one pip is configured with
(``configured_index``), so the versions bisected are the ones pip here can install."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from http.client import HTTPException
from urllib.error import HTTPError
from urllib.parse import unquote, urlsplit
from urllib.request import Request, urlopen

from packaging.utils import canonicalize_name

from bench.errors import BenchError

DEFAULT_INDEX = "https://pypi.org/simple"
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
ACCEPT = f"{JSON_TYPE}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"
TIMEOUT_S = 60.0
MAX_PAGE_BYTES = 64 * 1024**2
PIP_INDEX_KEYS = ("install.index-url", "global.index-url")
"""pip's configuration keys of the index URL, the more specific first."""


@dataclass(frozen=True)
class IndexFile:
    """One file the index lists for the project: its name, and whether it is yanked (PEP 592)."""

    filename: str
    yanked: bool = False


def configured_index() -> str:
    """The index URL pip uses here: ``PIP_INDEX_URL``, else pip's configuration (``pip config list``:
    ``install.index-url``, then ``global.index-url``), else PyPI's."""
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"]
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                            check=False).stdout
    settings = dict(line.split("=", 1) for line in listed.splitlines() if "=" in line)
    found = [settings[key].strip().strip("'\"") for key in PIP_INDEX_KEYS if key in settings]
    return found[0] if found else DEFAULT_INDEX


def project_files(index: str, project: str) -> list[IndexFile]:
    """The files ``index`` lists for ``project``; BenchError when the page cannot be read or parsed."""
    url = f"{index.rstrip('/')}/{canonicalize_name(project)}/"
    if urlsplit(url).scheme == "file":
        url += "index.html"  # a folder on disk holds its page as index.html, as pip reads it
    try:
        with urlopen(Request(url, headers={"Accept": ACCEPT}), timeout=TIMEOUT_S) as response:
            content_type = response.headers.get("Content-Type", "")
            body = response.read(MAX_PAGE_BYTES + 1)
    except HTTPError as error:
        raise BenchError(f"the package index has no page for {project}: {url} answered HTTP {error.code} "
                         f"{error.reason}") from None
    except (OSError, HTTPException) as error:
        why = getattr(error, "reason", error)
        raise BenchError(f"cannot read the package index page {url}: {why}") from None
    if len(body) > MAX_PAGE_BYTES:
        raise BenchError(f"the package index page {url} is larger than {MAX_PAGE_BYTES:,} bytes")
    try:
        if content_type.split(";")[0].strip() == JSON_TYPE:
            return [IndexFile(entry["filename"], bool(entry.get("yanked", False)))
                    for entry in json.loads(body)["files"]]
        return html_files(body.decode("utf-8"))
    except (ValueError, KeyError, TypeError) as error:
        raise BenchError(f"the package index page {url} is not a simple API page: {error}") from None


def html_files(page: str) -> list[IndexFile]:
    """The files an HTML simple page (PEP 503) links to: each anchor's file name from its URL's last
    path component, yanked when it carries ``data-yanked``."""
    parser = AnchorParser()
    parser.feed(page)
    parser.close()
    return parser.files


class AnchorParser(HTMLParser):
    """Collects the anchors of a simple page as IndexFiles."""

    def __init__(self) -> None:
        super().__init__()
        self.files: list[IndexFile] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "a" and attributes.get("href"):
            filename = unquote(urlsplit(attributes["href"]).path.rsplit("/", 1)[-1])
            self.files.append(IndexFile(filename, "data-yanked" in attributes))
