"""``bisect --package NAME --good V1 --bad V2``: the released versions of one dependency as bisect's
candidates, each an environment REF on the current HEAD commit.

The versions are those the configured index lists (``bench.moved.package_index``) from V1 to V2,
both included, that pip can install here without building anything big: a version is kept when it
has a wheel whose tags this interpreter accepts (``packaging.tags.sys_tags``), or, having no wheel at
all, an sdist (a pure-Python project that only ships sources); a version whose wheels are all for
other platforms or interpreters is left out even when it has an sdist (building it is rarely what a
bisection wants: OpenCV from source takes an hour). Yanked files do not count. Only final releases
(post releases included) are kept, unless V1 or V2 is itself a pre or dev release; they are ordered
by ``packaging.version.Version``.

Each version's environment file is generated as just ``NAME==V`` (``CACHE/requirements/NAME-V.txt``),
not a copy of a constraints file with one line replaced: the environment is built on the current one
(``bench.moved.environments``), so everything else stays as installed here and only NAME (and a
dependency its version needs that is missing here) is installed; pip's own configuration (index,
find-links) applies as always.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from packaging.tags import Tag, sys_tags
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from bench import atomic
from bench.errors import BenchError
from bench.moved.bisection import Candidates
from bench.moved.environments import read_environment_file
from bench.moved.package_index import IndexFile, configured_index, project_files
from bench.moved.revisions import resolve
from bench.moved.sides import Ref

REQUIREMENTS = "requirements"
"""The cache's subfolder of the generated environment files, one per package and version."""
SHOWN_VERSIONS = 8
PROJECT_NAME = re.compile(r"[A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9]", re.IGNORECASE)
"""A valid project name (the core metadata's rule)."""


def installable_versions(project: str, files: Iterable[IndexFile],
                         tags: frozenset[Tag] | None = None) -> set[Version]:
    """The versions of ``project`` among ``files`` that install here (see the module): a wheel with one
    of ``tags`` (default: this interpreter's), or only sdists."""
    accepted = frozenset(sys_tags()) if tags is None else tags
    name = canonicalize_name(project)
    wheels: dict[Version, bool] = {}
    sdists: set[Version] = set()
    for file in files:
        if file.yanked:
            continue
        try:
            if file.filename.endswith(".whl"):
                wheel_name, version, _, wheel_tags = parse_wheel_filename(file.filename)
                if wheel_name == name:
                    wheels[version] = wheels.get(version, False) or bool(wheel_tags & accepted)
            elif file.filename.endswith((".tar.gz", ".zip")):
                sdist_name, version = parse_sdist_filename(file.filename)
                if sdist_name == name:
                    sdists.add(version)
        except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
            continue
    return {version for version, fits in wheels.items() if fits} | (sdists - wheels.keys())


def parse_version(text: str, flag: str) -> Version:
    """``text`` as a version; BenchError naming ``flag`` when it is not one."""
    try:
        return Version(text)
    except InvalidVersion:
        raise BenchError(f"{flag} {text!r} is not a version (with --package, --good and --bad are versions "
                         "of the package, e.g. 4.10.0.84)") from None


def versions_between(project: str, available: set[Version], good: Version, bad: Version,
                     index: str) -> list[Version]:
    """The versions from ``good`` to ``bad`` (both included) among ``available``, oldest first, pre and
    dev releases only when an end is one; BenchError unless good < bad and both are available."""
    if not good < bad:
        raise BenchError(f"--good {good} is not older than --bad {bad}: bisect searches the versions from "
                         "good to bad")
    for flag, version in (("--good", good), ("--bad", bad)):
        if version not in available:
            shown = ", ".join(map(str, sorted(available)[-SHOWN_VERSIONS:])) or "none"
            raise BenchError(f"{flag} {project} {version} is not on the index {index} as a file that "
                             f"installs here (a wheel for this interpreter, or only an sdist); the latest "
                             f"that do: {shown}")
    prereleases = good.is_prerelease or bad.is_prerelease
    return sorted(version for version in available
                  if good <= version <= bad and (prereleases or not version.is_prerelease))


def released_versions(project: str, good: str, bad: str) -> list[Version]:
    """The versions of ``project`` that bisect searches, from ``good`` to ``bad``, read from the index
    pip is configured with; BenchError for bad versions, an unreadable index or versions absent."""
    if not PROJECT_NAME.fullmatch(project):
        raise BenchError(f"--package {project!r} is not a package name (letters, digits, '.', '_', '-')")
    good_version, bad_version = parse_version(good, "--good"), parse_version(bad, "--bad")
    index = configured_index()
    available = installable_versions(project, project_files(index, project))
    return versions_between(project, available, good_version, bad_version, index)


def version_candidates(repo: Path, project: str, versions: list[Version], cache: Path) -> Candidates:
    """The candidates of a search over ``versions`` (oldest first, the first good, the last bad): each
    an environment REF ``NAME==V`` on the HEAD commit, its file written into the cache."""
    head = resolve(repo, "HEAD")
    name = canonicalize_name(project)
    refs = [Ref(f"{name}=={version}", head, read_environment_file(
        atomic.write_text(Path(cache) / REQUIREMENTS / f"{name}-{version}.txt", f"{name}=={version}\n")))
        for version in versions]
    return Candidates(refs[0], tuple(refs[1:]), "version",
                      f"{len(refs) - 1} versions of {name} after good {versions[0]} up to bad "
                      f"{versions[-1]}, each pinned over this environment on commit {head}", lambda ref: "")
