"""Environment REFs: a pip requirements or constraints file (``env:PATH``) that a side runs under, in a
virtual environment of its own built on top of the current interpreter's.

The environment is built once per file content and interpreter, under the cache's ``envs/KEY``
(``KEY``: 16 hex digits of the sha256 of the file's bytes, this interpreter's path and its Python
version), and reused by every later ``ab`` or ``bisect`` that names the same file:

1. ``venv`` with the system site-packages, and a ``.pth`` file that adds this interpreter's own
   site-packages after the new environment's (``site.addsitedir``, so the editable installs and
   ``.pth`` files there work as they do here): every package installed here is visible there, and
   one installed there comes first;
2. ``python -m pip install -r FILE -c FILE`` in it (pip imported from this environment; run from the
   file's folder, so relative paths in it mean what they do beside it): pip finds the packages whose
   versions already match installed and installs only the others, so a file that changes OpenCV
   downloads OpenCV, not torch. pip reads the file's option lines (``--find-links``,
   ``--no-index``, ``--index-url``) and its own configuration as always.

It is built in a temporary folder beside its place and renamed there whole (``built_once``), so a
failed build leaves nothing behind and is a SideFailed that quotes pip's last lines (the whole log is
kept beside, ``envs/KEY-build.log``). Console scripts pip installs point at the temporary folder; the
sides run ``python -m`` only.

Since an environment leans on the current one, a package it found satisfied here and did not install
changes when this environment's does. Each time a side is made its versions are read again in its
interpreter (``pinned_versions``), and a version that no longer meets the file's requirement is a
SideFailed that says to delete the environment's folder so that it is built again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import site
import subprocess
import sys
import sysconfig
import venv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from bench import atomic
from bench.errors import BenchError
from bench.moved.checkouts import built_once
from bench.moved.runner import SideFailed, failure
from bench.reading import read_text

ENVS = "envs"
"""The cache's subfolder of environments, one folder per key."""
KEY_DIGITS = 16
MAX_FILE_BYTES = 1024**2
BASE_SITE_PTH = "bench-ab-base-site.pth"
"""The file that makes this interpreter's site-packages visible in an environment built on it."""
COMMENT = re.compile(r"(^|\s+)#.*$")
"""A comment of a requirements file, as pip strips it: ``#`` at the start or after whitespace."""
VERSIONS_SCRIPT = ("import importlib.metadata as metadata, json, sys\n"
                   "def version(name):\n"
                   "    try:\n"
                   "        return metadata.version(name)\n"
                   "    except metadata.PackageNotFoundError:\n"
                   "        return None\n"
                   "print(json.dumps({name: version(name) for name in sys.argv[1:]}))\n")


@dataclass(frozen=True)
class EnvironmentFile:
    """A requirements or constraints file: where it is, its sha256, the environment's cache key and the
    distributions its requirement lines name with what they require of each (canonical name and
    version specifier, in order; lines whose markers exclude this interpreter left out)."""

    path: Path
    sha256: str
    key: str
    pins: tuple[tuple[str, str], ...]

    @property
    def packages(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.pins)


def read_environment_file(path: Path) -> EnvironmentFile:
    """The file at ``path``; BenchError when it cannot be read or a requirement line is not one."""
    text = read_text(path, "environment file", MAX_FILE_BYTES)
    data = text.encode("utf-8")  # the file's bytes: UTF-8 decodes and encodes back exactly
    base_interpreter = f"\0{sys.executable}\0{sys.version}".encode()
    key = hashlib.sha256(data + base_interpreter).hexdigest()[:KEY_DIGITS]
    return EnvironmentFile(Path(path).resolve(), hashlib.sha256(data).hexdigest(), key,
                           requirement_pins(text, path))


def requirement_pins(text: str, source: Path) -> tuple[tuple[str, str], ...]:
    """Each distribution the requirement lines of a pip requirements file name (canonical name, once,
    in order) with the specifiers of all its lines together. Option lines (``-r``, ``-c``,
    ``--find-links`` ...) are pip's; a requirement's own options (``--hash=...``) are dropped, and so
    is a line whose marker excludes this interpreter; BenchError for a line that names no
    distribution."""
    pins: dict[str, SpecifierSet] = {}
    for number, line in logical_lines(text):
        line = COMMENT.sub("", line).strip()
        if not line or line.startswith("-"):
            continue
        try:
            requirement = Requirement(line.split(" --")[0].strip())
        except InvalidRequirement as error:
            raise BenchError(f"environment file {source} line {number}: {line!r} is not a requirement "
                             f"naming its distribution (NAME==VERSION, NAME @ URL): {error}") from None
        if requirement.marker is None or requirement.marker.evaluate():
            name = canonicalize_name(requirement.name)
            pins[name] = pins.get(name, SpecifierSet()) & requirement.specifier
    return tuple((name, str(specifier)) for name, specifier in pins.items())


def logical_lines(text: str) -> list[tuple[int, str]]:
    """The lines of a requirements file with their first line's number, a line ending in ``\\`` joined
    to the next one (as pip joins them)."""
    joined, start, parts = [], None, []
    for number, line in enumerate(text.splitlines(), start=1):
        start = start or number
        if line.endswith("\\"):
            parts.append(line[:-1])
            continue
        joined.append((start, "".join([*parts, line])))
        start, parts = None, []
    if parts:
        joined.append((start, "".join(parts)))
    return joined


def environment_python(environment: EnvironmentFile, cache: Path) -> Path:
    """The interpreter of the environment ``environment`` makes (``cache/envs/KEY``), built if absent;
    SideFailed when pip cannot install it."""
    log = Path(cache) / ENVS / f"{environment.key}-build.log"
    folder = built_once(Path(cache) / ENVS / environment.key,
                        lambda staging: build_environment(environment, staging, log))
    return interpreter(folder)


def interpreter(folder: Path) -> Path:
    """The Python interpreter of the virtual environment in ``folder``."""
    scripts = Path(sysconfig.get_path("scripts", "venv", vars={"base": str(folder), "platbase": str(folder)}))
    return scripts / ("python.exe" if os.name == "nt" else "python")


def build_environment(environment: EnvironmentFile, folder: Path, log: Path) -> None:
    """Make the environment in the empty ``folder`` (see the module), pip's output going to ``log``."""
    venv.create(folder, system_site_packages=True, with_pip=False, symlinks=os.name != "nt")
    purelib = Path(sysconfig.get_path("purelib", "venv", vars={"base": str(folder), "platbase": str(folder)}))
    atomic.write_text(purelib / BASE_SITE_PTH, "".join(f"import site; site.addsitedir({path!r})\n"
                                                       for path in site.getsitepackages()))
    file = str(environment.path)
    command = [str(interpreter(folder)), "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
               "-r", file, "-c", file]
    finished = subprocess.run(command, capture_output=True, check=False, cwd=environment.path.parent)
    atomic.write_bytes(log, finished.stdout + finished.stderr)
    if finished.returncode:
        raise failure(f"`pip install -r {file} -c {file}` into a new environment", finished.returncode, log)


def pinned_versions(environment: EnvironmentFile, python: Path) -> dict[str, str | None]:
    """The version of each distribution the file names as the environment's interpreter ``python``
    finds it; SideFailed where one no longer meets the file's requirement (see the module)."""
    versions = installed_versions(python, environment.packages)
    unmet = [f"{name} {versions[name] or 'not installed'} against {specifier or 'any version'}"
             for name, specifier in environment.pins
             if versions[name] is None
             or not SpecifierSet(specifier).contains(versions[name], prereleases=True)]
    if unmet:
        raise SideFailed(f"the environment of {environment.path} ({python.parent.parent}) no longer meets "
                         f"the file: {'; '.join(unmet)}. The environment it is built on changed since it "
                         "was built: delete its folder to build it again")
    return versions


def installed_versions(python: Path, names: Sequence[str]) -> dict[str, str | None]:
    """The version of each distribution ``names`` as ``python`` finds it (``importlib.metadata``: the
    first one on its path, the one it imports); None for one it does not have."""
    finished = subprocess.run([str(python), "-c", VERSIONS_SCRIPT, *names], capture_output=True, text=True,
                              check=False)
    if finished.returncode:
        raise SideFailed(f"{python} cannot say which versions it has: {finished.stderr.strip()[-2000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])
