"""The declared matrix (``environments.toml``): its environments, each a name and the package versions that
differ from ``constraints.txt``, checked where they are read (an unknown key, a name twice, a package that
constraints.txt does not pin, a version that is not an exact release or equals the pinned one, or not
exactly one environment without pins: BenchError naming the file and the entry)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from bench.errors import BenchError
from bench.reading import read_text, read_toml

DECLARED = Path(__file__).with_name("environments.toml")
CONSTRAINTS = Path(__file__).parents[2] / "constraints.txt"
NAME = re.compile(r"[a-z0-9][a-z0-9.+-]*")
"""An environment's name: a folder name and a nox session parameter, so lowercase, digits, '.', '+', '-'."""
KEYS = {"name", "pins"}


@dataclass(frozen=True)
class Environment:
    """One environment of the matrix: its ``name`` and ``pins`` (canonical package name -> exact
    version), the versions that differ from constraints.txt; none for the reference."""

    name: str
    pins: Mapping[str, str]

    @property
    def is_reference(self) -> bool:
        """The pinned environment: constraints.txt as it is."""
        return not self.pins


def pinned_versions(path: Path = CONSTRAINTS) -> dict[str, str]:
    """Canonical package name -> the version a constraints file pins with ``==`` (comments and other
    lines left out)."""
    pinned = {}
    for line in read_text(path, "constraints file").splitlines():
        requirement = constraint_requirement(line)
        specifiers = requirement.specifier if requirement else ()
        exact = [specifier.version for specifier in specifiers if specifier.operator == "=="]
        if exact:
            pinned[canonicalize_name(requirement.name)] = exact[0]
    return pinned


def constraint_requirement(line: str) -> Requirement | None:
    """The requirement a constraints-file line holds; None for a comment, a blank or an option line."""
    text = line.split("#", 1)[0].strip()
    try:
        return Requirement(text) if text else None
    except InvalidRequirement:
        return None


def load_environments(path: Path = DECLARED, constraints: Path = CONSTRAINTS) -> tuple[Environment, ...]:
    """The environments ``path`` declares, in its order, checked against ``constraints``."""
    entries = read_toml(path, "environment matrix").get("environment")
    if not isinstance(entries, list) or not entries:
        raise BenchError(f"{path}: no [[environment]] entries")
    pinned = pinned_versions(constraints)
    environments = tuple(_environment(entry, f"{path}: [[environment]] {number}", pinned, constraints)
                         for number, entry in enumerate(entries, start=1))
    names = [environment.name for environment in environments]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise BenchError(f"{path}: environment names must be unique; {', '.join(twice)} appear more than "
                         "once")
    references = [environment.name for environment in environments if environment.is_reference]
    if len(references) != 1:
        raise BenchError(f"{path}: exactly one environment must have no pins (the reference, constraints.txt "
                         f"as it is); found {len(references)}: {', '.join(references) or 'none'}")
    return environments


def _environment(entry: object, where: str, pinned: Mapping[str, str], constraints: Path) -> Environment:
    """One [[environment]] table as an Environment; BenchError naming ``where`` and what is wrong."""
    if not isinstance(entry, dict) or set(entry) != KEYS:
        keys = sorted(entry) if isinstance(entry, dict) else entry
        raise BenchError(f"{where}: must have exactly the keys {sorted(KEYS)}, has {keys}")
    name, pins = entry["name"], entry["pins"]
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise BenchError(f"{where}: name {name!r} must match {NAME.pattern} (it names a folder)")
    where = f"{where} ({name})"
    if not isinstance(pins, dict):
        raise BenchError(f"{where}: pins must be a table of package = \"version\"")
    checked = {}
    for package, version in pins.items():
        canonical = canonicalize_name(package)
        if canonical not in pinned:
            raise BenchError(f"{where}: {package} is not pinned in {constraints}: pins name versions that "
                             "differ from it")
        if not isinstance(version, str) or not _is_exact_release(version):
            raise BenchError(f"{where}: {package} = {version!r} is not an exact version as pip pins it "
                             "(e.g. \"4.10.0.84\")")
        if Version(version) == Version(pinned[canonical]):
            raise BenchError(f"{where}: {package} {version} is the version {constraints} pins: a pin names "
                             "a version that differs from it")
        checked[canonical] = version
    return Environment(name, MappingProxyType(checked))


def _is_exact_release(version: str) -> bool:
    """``version`` is a version written as pip prints it (no ranges, wildcards or spaces)."""
    try:
        return str(Version(version)) == version
    except InvalidVersion:
        return False


def find_environment(environments: tuple[Environment, ...], name: str, path: Path = DECLARED) -> Environment:
    """The environment called ``name``; BenchError listing the declared names when there is none."""
    for environment in environments:
        if environment.name == name:
            return environment
    names = ", ".join(environment.name for environment in environments)
    raise BenchError(f"{path} declares no environment {name!r} (declared: {names})")


def reference_environment(environments: tuple[Environment, ...]) -> Environment:
    """The environment without pins (``load_environments`` checks there is exactly one)."""
    return next(environment for environment in environments if environment.is_reference)
