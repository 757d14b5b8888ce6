"""An environment's interpreter: the current one for the reference, else a virtual environment built on
top of it by ``bench.moved.environments`` (the machinery of ``bench ab env:FILE``: the current
interpreter's packages visible, only what differs installed, cached by the file's content), from a
requirements file this module generates:

    -c constraints-<sha256 prefix>.txt      constraints.txt with the environment's pins in place
    numpy==2.2.6                            the pins, one a line

so pip installs the pins and nothing else moves: a pin that needs another version of a pinned package
(OpenCV 4.12.0.88 needs numpy < 2.3) cannot be installed, and pip's reason is what the table shows.
The constraints file is named by its content, so a changed constraints.txt gives a new environment.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping
from pathlib import Path

from packaging.utils import canonicalize_name

from bench import atomic
from bench.matrix.declared import CONSTRAINTS, Environment, constraint_requirement
from bench.moved.environments import environment_python, read_environment_file
from bench.reading import read_text

REQUIREMENTS = "requirements"
"""The cache's subfolder of the generated requirements and constraints files."""
DIGITS = 12


def matrix_python(environment: Environment, cache: Path, constraints: Path = CONSTRAINTS) -> Path:
    """The interpreter that runs ``environment``: this one for the reference, else its environment under
    ``cache`` (built if absent); ``bench.moved.runner.SideFailed`` quoting pip when it cannot be built."""
    if environment.is_reference:
        return Path(sys.executable)
    requirements = read_environment_file(requirements_file(environment, cache, constraints))
    return environment_python(requirements, cache)


def requirements_file(environment: Environment, cache: Path, constraints: Path = CONSTRAINTS) -> Path:
    """Write the environment's requirements file (see the module) and its constraints under ``cache``."""
    folder = Path(cache) / REQUIREMENTS
    merged = constraints_with_pins(read_text(constraints, "constraints file"), environment.pins)
    digest = hashlib.sha256(merged.encode()).hexdigest()[:DIGITS]
    constraints_file = atomic.write_text(folder / f"constraints-{digest}.txt", merged)
    pins = "".join(f"{package}=={version}\n" for package, version in sorted(environment.pins.items()))
    return atomic.write_text(folder / f"{environment.name}.txt", f"-c {constraints_file.name}\n{pins}")


def constraints_with_pins(text: str, pins: Mapping[str, str]) -> str:
    """``text`` (a constraints file) with the line of each package in ``pins`` (canonical name ->
    version) replaced by ``name==version``."""
    lines = []
    for line in text.splitlines():
        requirement = constraint_requirement(line)
        name = canonicalize_name(requirement.name) if requirement else None
        lines.append(f"{name}=={pins[name]}" if name in pins else line)
    return "\n".join(lines) + "\n"
