"""Sessions: `nox -l` lists them. Every session installs the pinned versions in constraints.txt."""

from __future__ import annotations

import platform
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests", "lint"]
nox.options.reuse_venv = "yes"

CONSTRAINTS = ("-c", "constraints.txt")


WRITE_IMPORTED_BYTECODE = (
    "import sys; sys.dont_write_bytecode = False; import pytest; "
    "raise SystemExit(pytest.main(['--collect-only', '-q', '-p', 'no:cacheprovider']))")
"""Collect the tests with bytecode writing on (whatever PYTHONDONTWRITEBYTECODE says): every module the
tests import is compiled once, before the workers start."""


def install(session: nox.Session, extras: str = "", compile_all: bool = True) -> None:
    """Install this project (editable) with the pinned versions; torch comes from pip, not uv.
    ``compile_all=False`` skips pip's byte-compilation of every installed file (11,666 files, about 75 s
    on 2 cores, most of them never imported)."""
    session.install(*CONSTRAINTS, *([] if compile_all else ["--no-compile"]), "-e",
                    f".[{extras}]" if extras else ".")


@nox.session
def tests(session: nox.Session) -> None:
    """Unit and integration tests (offline; bundled sample and generated data), with the evaluator
    oracles installed, one pytest worker per core (test files kept whole on a worker, so module
    fixtures are built once) and one thread per worker. Posargs go to pytest (`-- -n 0`: serial).

    Bytecode is written only for the modules the tests import (a collection run), not for every file
    of every package: on a fresh 2-core machine that takes 22 s where pip's compilation takes 75 s."""
    install(session, "test,oracles", compile_all=False)
    session.run("python", "-c", WRITE_IMPORTED_BYTECODE, silent=True)
    session.run("pytest", "-n", "auto", "--dist", "loadfile", *session.posargs, env={"OMP_NUM_THREADS": "1"})


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the whole tree, and the architecture contracts of pyproject.toml (import-linter)."""
    session.install(*CONSTRAINTS, "--no-compile", "ruff", "import-linter")
    session.run("ruff", "check", ".")
    session.run("lint-imports")


@nox.session(default=False)
def reproduce(session: nox.Session) -> None:
    """Main job: rerun the published CrowdPose rows, write a report, then gate it with the suites.

    Posargs go to `python -m bench reproduce` (e.g. `-- --data-root D --checkpoint PATH --strict`).
    """
    install(session, "test")
    out = Path(_option(session.posargs, "--out", "results"))
    before = set(out.glob("reproduce-*.json"))
    session.run("python", "-m", "bench", "reproduce", *session.posargs, success_codes=[0, 1])
    written = sorted(set(out.glob("reproduce-*.json")) - before, key=lambda path: path.stat().st_mtime)
    if not written:
        session.error(f"bench reproduce wrote no report into {out}")
    gate = ["--gate"] if "--strict" in session.posargs else []
    session.run("pytest", "suites", f"--report={written[-1]}", "--junitxml=build/junit-reproduce.xml",
                "-p", "no:cacheprovider", "-q", *gate)


@nox.session(default=False)
def sweep(session: nox.Session) -> None:
    """The bundled post-processing sweep (bench/accuracy/semantics.toml): one forward, every variant
    decoded from it, one report row each. Posargs go to `bench reproduce` (e.g. `-- --data-root D`)."""
    install(session)
    session.run("python", "-m", "bench", "reproduce", "--sweep", "bench/accuracy/semantics.toml",
                *session.posargs)


@nox.session(default=False)
def suites(session: nox.Session) -> None:
    """The reproduction suites alone (rerun from scratch; posargs go to pytest, e.g. --data-root D --gate)."""
    install(session, "test")
    session.run("pytest", "suites", "--junitxml=build/junit-suites.xml", *session.posargs)


@nox.session(default=False)
def profile(session: nox.Session) -> None:
    """Per-stage latency profile on this machine (posargs go to `bench profile`)."""
    install(session)
    session.run("python", "-m", "bench", "profile", *session.posargs)


@nox.session(default=False)
def device(session: nox.Session) -> None:
    """`bench device-check` on a CUDA machine (about 6 minutes): gpu tests, profile matrix, poses against
    the CPU, torchrun. torch is the pinned version from pip, whose Linux wheel is the CUDA build (another
    CUDA build: set PIP_EXTRA_INDEX_URL). Posargs go to device-check (e.g. `-- --quick --out DIR`)."""
    install(session, "test")
    session.run("python", "-m", "bench", "device-check", *session.posargs)


@nox.session(default=False)
def compare(session: nox.Session) -> None:
    """Cross-hardware tables and the results page from the committed reports in results/ (posargs go
    to `bench compare`; without them: `results --out results/compare --html results/index.html`)."""
    install(session)
    default = ["results", "--out", "results/compare", "--html", "results/index.html"]
    session.run("python", "-m", "bench", "compare", *(session.posargs or default), success_codes=[0, 1])


@nox.session(default=False)
def benchmark(session: nox.Session) -> None:
    """pytest-benchmark suites, stored per machine under .benchmarks/<machine>."""
    install(session, "test")
    storage = f"file://.benchmarks/{platform.node() or 'machine'}"
    session.run("pytest", "benchmarks", f"--benchmark-storage={storage}", "--benchmark-autosave",
                *session.posargs)


def _option(args: list[str], name: str, default: str) -> str:
    """The value of ``name`` in ``args`` (``--name V`` or ``--name=V``), else ``default``."""
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
    return default
