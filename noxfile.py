"""Sessions: `nox -l` lists them. Every session installs the pinned versions in constraints.txt; the
sessions that run the network share one environment (``SHARED_ENV``)."""

from __future__ import annotations

import hashlib
import platform
import sys
import tomllib
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests", "lint"]
nox.options.reuse_venv = "yes"

CONSTRAINTS = ("-c", "constraints.txt")

SHARED_ENV = Path(".nox/shared")
"""The one environment (torch, the project editable, the test extras, the evaluator oracles and the network
runtimes) that every session running the network shares: it is built once (about 1.7 GB), not once per
session."""

SHARED_EXTRAS = "test,oracles,runtimes"

WRITE_IMPORTED_BYTECODE = (
    "import sys; sys.dont_write_bytecode = False; import pytest; "
    "raise SystemExit(pytest.main(['--collect-only', '-q', '-p', 'no:cacheprovider']))")
"""Collect the tests with bytecode writing on (whatever PYTHONDONTWRITEBYTECODE says): every module the
tests import is compiled once, before the workers start."""


def shared_python(session: nox.Session) -> str:
    """The Python of the shared environment, created and brought up to date with the pinned versions
    when ``constraints.txt`` or ``pyproject.toml`` changed since it was last installed (pip's
    progress shown), also under ``--install-only``. Installed without pip's byte-compilation of every
    file (11,666 files, about 75 s on 2 cores, most never imported): modules are compiled as they are
    imported."""
    python = SHARED_ENV / "bin" / "python"
    stamp = SHARED_ENV / "installed.sha256"
    inputs = b"".join(Path(name).read_bytes() for name in ("constraints.txt", "pyproject.toml"))
    wanted = hashlib.sha256(inputs + SHARED_EXTRAS.encode()).hexdigest()
    if not python.exists():
        session.run_install(sys.executable, "-m", "venv", str(SHARED_ENV), external=True)
    if not stamp.exists() or stamp.read_text() != wanted:
        session.log(f"installing the shared environment {SHARED_ENV} (torch: a few minutes the first time)")
        session.run_install(str(python), "-m", "pip", "install", "--no-compile", "--progress-bar", "on",
                            *CONSTRAINTS, "-e", f".[{SHARED_EXTRAS}]", external=True,
                            silent=False)
        stamp.write_text(wanted)
    return str(python)


@nox.session(python=False)
def tests(session: nox.Session) -> None:
    """Unit and integration tests, offline, one worker per core (posargs go to pytest; `-- -n 0`: serial).

    On the bundled sample and generated data, with the evaluator oracles installed; test files are kept
    whole on a worker (module fixtures are built once), with one thread per worker.

    Bytecode is written only for the modules the tests import (a collection run), not for every file
    of every package: on a fresh 2-core machine that takes 22 s where pip's compilation takes 75 s."""
    python = shared_python(session)
    session.run(python, "-c", WRITE_IMPORTED_BYTECODE, silent=True, external=True)
    session.run(python, "-m", "pytest", "-n", "auto", "--dist", "loadfile", *session.posargs,
                env={"OMP_NUM_THREADS": "1"}, external=True)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the whole tree, and the architecture contracts of pyproject.toml (import-linter)."""
    session.install(*CONSTRAINTS, "--no-compile", "ruff", "import-linter")
    session.run("ruff", "check", ".")
    session.run("lint-imports")


@nox.session(python=False, default=False)
def reproduce(session: nox.Session) -> None:
    """Main job: rerun the published CrowdPose rows, write a report, then gate it with the suites.

    Posargs go to `python -m bench reproduce` (e.g. `-- --data-root D --checkpoint PATH --strict`).
    """
    python = shared_python(session)
    out = Path(_option(session.posargs, "--out", "runs"))
    before = set(out.glob("reproduce-*.json"))
    session.run(python, "-m", "bench", "reproduce", *session.posargs, success_codes=[0, 1], external=True)
    written = sorted(set(out.glob("reproduce-*.json")) - before, key=lambda path: path.stat().st_mtime)
    if not written:
        session.error(f"bench reproduce wrote no report into {out}")
    gate = ["--gate"] if "--strict" in session.posargs else []
    session.run(python, "-m", "pytest", "suites", f"--report={written[-1]}",
                "--junitxml=build/junit-reproduce.xml", "-p", "no:cacheprovider", "-q", *gate, external=True)


@nox.session(python=False, default=False)
def gate(session: nox.Session) -> None:
    """`bench gate`: rerun a stratified subset of a golden's images on this machine and compare them.

    Posargs go to `python -m bench gate` (e.g. `-- --golden golden.npz --subset 200 --data-root D
    --device cpu`; `-- --power` or `-- --coverage` for the gate's own statistics). The golden comes from
    a full run: `python -m bench golden record REPORT --out golden.npz` (README, "Gating pull requests")."""
    session.run(shared_python(session), "-m", "bench", "gate", *session.posargs, external=True)


@nox.session(python=False, default=False)
def sweep(session: nox.Session) -> None:
    """The bundled post-processing sweep: one forward, every variant decoded from it, a row each.

    The sweep is bench/accuracy/semantics.toml; posargs go to `bench reproduce` (e.g. `-- --data-root D`)."""
    sweep_file = "bench/accuracy/semantics.toml"
    session.run(shared_python(session), "-m", "bench", "reproduce", "--sweep", sweep_file, *session.posargs,
                external=True)


@nox.session(python=False, default=False)
def suites(session: nox.Session) -> None:
    """The reproduction suites alone, rerun from scratch (posargs go to pytest: `-- --data-root D --gate`)."""
    session.run(shared_python(session), "-m", "pytest", "suites", "--junitxml=build/junit-suites.xml",
                *session.posargs, external=True)


@nox.session(python=False, default=False)
def profile(session: nox.Session) -> None:
    """Per-stage latency profile on this machine (posargs go to `bench profile`)."""
    session.run(shared_python(session), "-m", "bench", "profile", *session.posargs, external=True)


@nox.session(python=False, default=False)
def device(session: nox.Session) -> None:
    """`bench device-check` on a CUDA machine, about 6 minutes (posargs: `-- --quick --out DIR`).

    Runs the gpu tests, the profile matrix, the poses against the CPU and torchrun. torch is the pinned
    version from pip, whose Linux wheel is the CUDA build (another CUDA build: set PIP_EXTRA_INDEX_URL)."""
    session.run(shared_python(session), "-m", "bench", "device-check", *session.posargs, external=True)


@nox.session(default=False)
def compare(session: nox.Session) -> None:
    """Cross-hardware tables and the page from the committed reports and your runs, without torch.

    Posargs go to `bench compare`; without them: `results runs --out runs/compare --html runs/index.html`
    (nothing committed changes). compare reads reports only, so its environment has the project's
    dependencies except torch (seconds to install, not minutes)."""
    install_without_torch(session)
    default = ["results", *(["runs"] if Path("runs").is_dir() else []), "--out", "runs/compare",
               "--html", "runs/index.html"]
    session.run("python", "-m", "bench", "compare", *(session.posargs or default), success_codes=[0, 1])


@nox.session(default=False)
def publish(session: nox.Session) -> None:
    """Copy chosen reports into results/ and rebuild its tables and page (posargs: the report files)."""
    install_without_torch(session)
    session.run("python", "-m", "bench", "publish", *session.posargs)


def install_without_torch(session: nox.Session) -> None:
    """The project and its dependencies except torch, for the sessions that only read reports."""
    project = tomllib.loads(Path("pyproject.toml").read_text())["project"]
    light = [dependency for dependency in project["dependencies"] if not dependency.startswith("torch")]
    session.install(*CONSTRAINTS, "--no-compile", *light)
    session.install(*CONSTRAINTS, "--no-compile", "--no-deps", "-e", ".")


@nox.session(python=False, default=False)
def benchmark(session: nox.Session) -> None:
    """pytest-benchmark suites, stored per machine under .benchmarks/<machine>."""
    storage = f"file://.benchmarks/{platform.node() or 'machine'}"
    session.run(shared_python(session), "-m", "pytest", "benchmarks", f"--benchmark-storage={storage}",
                "--benchmark-autosave", *session.posargs, external=True)


def _option(args: list[str], name: str, default: str) -> str:
    """The value of ``name`` in ``args`` (``--name V`` or ``--name=V``), else ``default``."""
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
    return default
